"""Every manifest, index, config and oci-layout document dockyard writes validates against the
OCI image-spec JSON schemas (shared/reference/image-spec-schema): the images in a store made
by `dockyard bootstrap busybox`, `dockyard import` (plain and gzip tarballs) and `dockyard load`
(of our own archive, and of skopeo's docker-archive and oci-archive of it), and everything
inside a `dockyard save` archive. A failure here is a bug in the writer, not in the test."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest
from image_schemas import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, Schemas, check_image
from support import need_binary

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")


@pytest.fixture(scope="module")
def schemas():
    return Schemas()


def _dy(env, *args):
    p = subprocess.run([DOCKYARD, *args], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"dockyard {' '.join(args)}: {p.stderr}"
    return p.stdout


def _rootfs_tar(gz: bool) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("etc")
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        t.addfile(ti)
        data = b"imported\n"
        ti = tarfile.TarInfo("etc/motd")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0) if gz else buf.getvalue()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Two stores filled through the CLI, and the archives between them."""
    tmp = tmp_path_factory.mktemp("schemas")
    base = {**os.environ, "DOCKYARD_RUN_ROOT": str(tmp / "run"), "DOCKYARD_SECCOMP_CACHE": str(tmp / "seccomp")}
    src, dst = {**base, "DOCKYARD_ROOT": str(tmp / "src")}, {**base, "DOCKYARD_ROOT": str(tmp / "dst")}
    _dy(src, "bootstrap", "busybox")
    for gz in (False, True):
        (tmp / f"rootfs{int(gz)}.tar").write_bytes(_rootfs_tar(gz))
        # a message each: the same DiffID imported in the same second would be the same config
        _dy(src, "import", "-m", f"gzip={gz}", str(tmp / f"rootfs{int(gz)}.tar"), f"imported:gz{int(gz)}")
    archive = tmp / "saved.tar"
    _dy(src, "save", "-o", str(archive), "busybox", "imported:gz0", "imported:gz1")
    _dy(dst, "load", "-i", str(archive))
    skopeo = need_binary("skopeo")
    # skopeo rewrites our archive in both formats. Its oci-archive is kept as received; its
    # docker-archive has no manifest (the old format), so dockyard writes one: loaded into a
    # store of its own, since into `dst` it would be the busybox already there (same config).
    fromdocker = {**base, "DOCKYARD_ROOT": str(tmp / "fromdocker")}
    for fmt, name, into in (("docker-archive", "localhost/viadocker:1", fromdocker),
                            ("oci-archive", "localhost/viaoci:1", dst)):
        out = tmp / f"{fmt}.tar"
        subprocess.run([skopeo, "copy", "-q", f"docker-archive:{archive}:busybox:latest", f"{fmt}:{out}:{name}"],
                       check=True, capture_output=True)
        _dy(into, "load", "-i", str(out))
    return {"src": src["DOCKYARD_ROOT"], "dst": dst["DOCKYARD_ROOT"], "fromdocker": fromdocker["DOCKYARD_ROOT"],
            "archive": archive}


def _store_documents(schemas, root: str) -> tuple[int, int]:
    """Validate every image's manifest and config in the store at ``root``; (images, documents)."""
    from dockyard.image.store import ImageStore

    store = ImageStore(root)
    try:
        images, docs = store.list(), 0
        for img in images:
            with store.blobs.open(img.manifest_digest) as f:
                manifest = f.read()

            def blob(d):
                with store.blobs.open(d) as f:
                    return f.read()
            docs += check_image(schemas, manifest, img.manifest.media_type, blob, f"{root}: image {img.short_id}")
    finally:
        store.close()
    return len(images), docs


def test_the_validator_rejects_what_the_spec_forbids(schemas):
    """Guard against a validator that passes everything (a $ref resolved to nothing, say)."""
    good = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": "sha256:" + "a" * 64, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + "b" * 64,
                        "size": 1}]}
    assert schemas.errors(OCI_MANIFEST, good) == []
    bad = json.loads(json.dumps(good))
    bad["layers"][0]["size"] = "1"                # defs-descriptor.json#/definitions/size via content-descriptor
    bad["config"]["digest"] = "SHA256:nope"       # defs-descriptor.json#/definitions/digest
    bad["annotations"] = {"k": 1}                 # mapStringString, reached through an inner id
    errs = schemas.errors(OCI_MANIFEST, bad)
    assert len(errs) == 3, errs
    assert schemas.errors(OCI_CONFIG, {"architecture": "amd64", "os": "linux", "created": "yesterday",
                                       "rootfs": {"type": "layers", "diff_ids": []}})  # date-time
    assert schemas.errors(OCI_INDEX, {"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST}]})
    assert schemas.errors("oci-layout", {"imageLayoutVersion": "2.0"})


def test_images_in_the_stores_validate(schemas, made):
    images, docs = _store_documents(schemas, made["src"])
    assert images == 3 and docs == 6  # busybox + two imports, each a manifest and a config
    # the three loaded from our archive, and skopeo's oci-archive of busybox (a config skopeo
    # rewrote: a new image)
    assert _store_documents(schemas, made["dst"]) == (4, 8)
    assert _store_documents(schemas, made["fromdocker"]) == (1, 2)  # the manifest _load_docker wrote


def test_everything_in_a_saved_archive_validates(schemas, made):
    with tarfile.open(made["archive"]) as t:
        def read(name):
            return t.extractfile(t.getmember(name)).read()

        schemas.check("oci-layout", read("oci-layout"), "oci-layout")
        index = read("index.json")
        schemas.check(OCI_INDEX, index, "index.json")
        # manifest.json is Docker's own (unversioned, unschema'd) list for `docker load`;
        # test_archive.py checks that docker-archive readers (skopeo) accept it.
        entries = json.loads(index)["manifests"]
        assert len(entries) == 3
        docs = 0
        for e in entries:
            manifest = read(f"blobs/sha256/{e['digest'].split(':', 1)[1]}")
            assert len(manifest) == e["size"]
            docs += check_image(schemas, manifest, e["mediaType"],
                                lambda d: read(f"blobs/sha256/{d.split(':', 1)[1]}"), f"archive {e['digest']}")
        assert docs == 6
