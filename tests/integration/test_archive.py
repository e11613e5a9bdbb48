"""save/load against the real thing: what `dockyard save` writes, skopeo reads as both a
docker-archive and an oci-archive; what skopeo writes in either format, dockyard loads and
runs. Hostile archives are refused without touching the host or the store's tags."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

import pytest

from dockyard.errors import DockyardError, ImageError
from dockyard.image.archive import load, save
from dockyard.image.base import make_busybox
from dockyard.image.store import ImageStore
from dockyard.oci import image_spec
from dockyard.oci.digest import digest_bytes
from support import need_binary

pytestmark = pytest.mark.root


@pytest.fixture
def stores(tmp_path, need_root):
    a, b = ImageStore(str(tmp_path / "a")), ImageStore(str(tmp_path / "b"))
    yield a, b
    a.close()
    b.close()


def test_save_load_round_trip_keeps_the_image_id(stores, tmp_path):
    a, b = stores
    img = make_busybox(a)
    path = tmp_path / "bb.tar"
    with open(path, "wb") as f:
        save(a, ["busybox"], f)
    assert load(b, str(path)) == ["Loaded image: busybox:latest"]
    assert b.resolve("busybox").id == img.id


def test_skopeo_reads_what_we_save_and_we_load_what_it_writes(stores, tmp_path):
    skopeo = need_binary("skopeo")
    a, b = stores
    img = make_busybox(a)
    path = tmp_path / "bb.tar"
    with open(path, "wb") as f:
        save(a, ["busybox"], f)
    raw = json.loads(subprocess.run([skopeo, "inspect", "--raw", f"docker-archive:{path}"], capture_output=True,
                                    text=True, check=True).stdout)
    assert raw["config"]["digest"] == str(img.id)
    oci = json.loads(subprocess.run([skopeo, "inspect", f"oci-archive:{path}"], capture_output=True, text=True,
                                    check=True).stdout)
    assert oci["Digest"] == str(img.manifest_digest)  # the same manifest, byte for byte
    subprocess.run([skopeo, "copy", "-q", f"oci-archive:{path}", f"docker-archive:{tmp_path}/sk-d.tar:localhost/skd:1"],
                   check=True)
    subprocess.run([skopeo, "copy", "-q", f"docker-archive:{path}", f"oci-archive:{tmp_path}/sk-o.tar:localhost/sko:2"],
                   check=True)
    assert load(b, str(tmp_path / "sk-d.tar")) == ["Loaded image: localhost/skd:1"]
    assert load(b, str(tmp_path / "sk-o.tar")) == ["Loaded image: localhost/sko:2"]
    assert b.resolve("localhost/skd:1").id == img.id  # docker-archive keeps the config as is
    top = b.unpack(b.resolve("localhost/sko:2"))  # gzip layers from skopeo unpack too
    assert b.snapshots.has(top)


def _tar(entries: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in entries.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_hostile_and_broken_archives(stores, tmp_path):
    _, b = stores
    evil = tmp_path / "evil.tar"
    evil.write_bytes(_tar({"manifest.json": json.dumps([{"Config": "../../../etc/passwd", "RepoTags": ["evil:1"],
                                                         "Layers": []}]).encode()}))
    with pytest.raises(ImageError, match="missing"):
        load(b, str(evil))
    lying = tmp_path / "lying.tar"
    d = "sha256:" + "0" * 64
    lying.write_bytes(_tar({"oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
                            "index.json": json.dumps({"schemaVersion": 2, "manifests": [
                                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": 2,
                                 "annotations": {"io.containerd.image.name": "liar:1"}}]}).encode(),
                            f"blobs/sha256/{'0' * 64}": b"{}"}))
    with pytest.raises(DockyardError, match="does not match"):
        load(b, str(lying))
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ImageError):
        load(b, str(tmp_path / "junk.tar"))
    assert b.list() == []  # nothing registered, nothing tagged


def _layer(files: dict) -> bytes:
    return _tar({f"etc/{k}": v for k, v in files.items()})


def _config(*layers: bytes, cmd: str = "sh") -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": [cmd]},
                       "rootfs": {"type": "layers", "diff_ids": [str(digest_bytes(x)) for x in layers]}}).encode()


def _docker_archive(path, members: dict, links: dict, manifest: list) -> None:
    """A classic `docker save` archive: files, symlinks between members, manifest.json."""
    with tarfile.open(path, "w") as t:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        for name, target in links.items():
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            t.addfile(ti)
        data = json.dumps(manifest).encode()
        ti = tarfile.TarInfo("manifest.json")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))


def test_docker_archive_symlinked_and_zstd_layers(stores, tmp_path):
    """`docker save` of images sharing a layer links the second copy to the first
    (<id>/layer.tar -> ../<other>/layer.tar); a layer may be compressed (zstd too)."""
    zstd = need_binary("zstd")
    _, b = stores
    base, top = _layer({"base": b"1"}), _layer({"top": b"2"})
    top_zst = subprocess.run([zstd, "-q", "-c"], input=top, capture_output=True, check=True).stdout
    c1, c2 = _config(base), _config(base, top, cmd="top")
    _docker_archive(tmp_path / "d.tar", {"aaa/layer.tar": base, "ccc/layer.tar": top_zst, "c1.json": c1, "c2.json": c2},
                    {"bbb/layer.tar": "../aaa/layer.tar"},
                    [{"Config": "c1.json", "RepoTags": ["one:1"], "Layers": ["aaa/layer.tar"]},
                     {"Config": "c2.json", "RepoTags": ["two:2"], "Layers": ["./bbb/layer.tar", "ccc/layer.tar"]}])
    assert load(b, str(tmp_path / "d.tar")) == ["Loaded image: one:1", "Loaded image: two:2"]
    two = b.resolve("two:2")
    assert two.id == digest_bytes(c2)
    assert [x.media_type for x in two.manifest.layers] == [image_spec.OCI_LAYER, image_spec.OCI_LAYER_ZSTD]
    assert two.manifest.layers[0].digest == b.resolve("one:1").manifest.layers[0].digest  # one blob, shared
    top = b.unpack(two)  # the zstd layer unpacks, on the shared base
    fs_top, fs_base = b.snapshots.chain(top)  # overlay lower dirs, top first
    assert os.listdir(os.path.join(fs_top, "etc")) == ["top"] and os.listdir(os.path.join(fs_base, "etc")) == ["base"]


def test_docker_archive_links_and_layers_that_lie(stores, tmp_path):
    _, b = stores
    layer = _layer({"x": b"1"})
    cfg = _config(layer)
    for links in ({"l/layer.tar": "/etc/passwd"}, {"l/layer.tar": "../../../etc/passwd"},
                  {"l/layer.tar": "../m/layer.tar", "m/layer.tar": "../l/layer.tar"}):  # absolute, climbing, a loop
        _docker_archive(tmp_path / "bad.tar", {"c.json": cfg}, links,
                        [{"Config": "c.json", "RepoTags": ["bad:1"], "Layers": ["l/layer.tar"]}])
        with pytest.raises(ImageError, match="missing"):
            load(b, str(tmp_path / "bad.tar"))
    _docker_archive(tmp_path / "lie.tar", {"c.json": cfg, "l.tar": _layer({"x": b"other"})}, {},
                    [{"Config": "c.json", "RepoTags": ["lie:1"], "Layers": ["l.tar"]}])
    with pytest.raises(ImageError, match="DiffID"):
        load(b, str(tmp_path / "lie.tar"))
    _docker_archive(tmp_path / "short.tar", {"c.json": cfg}, {}, [{"Config": "c.json", "RepoTags": ["s:1"], "Layers": []}])
    with pytest.raises(ImageError, match="0 layers but 1 DiffIDs"):
        load(b, str(tmp_path / "short.tar"))
    assert b.list() == []
