"""save/load against the real thing: what `dockyard save` writes, skopeo reads as both a
docker-archive and an oci-archive; what skopeo writes in either format, dockyard loads and
runs. Hostile archives are refused without touching the host or the store's tags."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest

from dockyard.errors import DockyardError, ImageError
from dockyard.image.archive import load, save
from dockyard.image.base import make_busybox
from dockyard.image.store import ImageStore
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
