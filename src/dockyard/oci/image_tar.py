"""Write a single-layer OCI image archive (an ``oci-layout`` directory as a tar) from a rootfs
directory: what ``ctr images import``, ``skopeo copy oci-archive:`` and ``podman load`` accept.

Pure file writing with tarfile/hashlib/json; no daemon, no registry. The archive holds::

    oci-layout                      {"imageLayoutVersion": "1.0.0"}
    index.json                      -> manifest, annotated with the reference name
    blobs/sha256/<layer>            uncompressed tar of the rootfs (deterministic: sorted, mtime 0)
    blobs/sha256/<config>           image config (architecture, os, rootfs.diff_ids, config.Cmd ...)
    blobs/sha256/<manifest>         image manifest (config + one layer)

The reference is written both as ``org.opencontainers.image.ref.name`` (the full name, as
containerd's importer wants it) and ``io.containerd.image.name``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_INDEX = "application/vnd.oci.image.index.v1+json"

_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
           "s390x": "s390x", "riscv64": "riscv64", "i686": "386"}


def goarch() -> str:
    m = platform.machine()
    return _GOARCH.get(m, m)


def layer_tar(rootfs: str) -> bytes:
    """The rootfs as an uncompressed tar, entries sorted and with mtime 0, so the same tree
    always gives the same digest."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                arc = os.path.relpath(full, rootfs)
                ti = tar.gettarinfo(full, arcname=arc)
                if ti is None:  # a socket: nothing an image can carry
                    continue
                ti.mtime = 0
                ti.uname = ti.gname = ""  # numeric owners as on disk; names would depend on the host
                if ti.isfile():
                    with open(full, "rb") as f:
                        tar.addfile(ti, f)
                else:
                    tar.addfile(ti)
    return buf.getvalue()


def _blob(data: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def _jbytes(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_oci_archive(rootfs: str, out: str, ref: str, *, cmd: list[str] | None = None,
                      env: list[str] | None = None) -> dict:
    """Write ``out`` (a tar of an OCI layout) holding one image named ``ref`` whose single
    layer is ``rootfs``. Returns {"manifest": digest, "config": digest, "layer": digest}."""
    layer_digest, layer = _blob(layer_tar(rootfs))
    config = {
        "architecture": goarch(), "os": "linux",
        "config": {"Cmd": cmd or ["sh"],
                   "Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "dockyard.oci.image_tar", "created": "1970-01-01T00:00:00Z"}],
        "created": "1970-01-01T00:00:00Z",
    }
    config_digest, config_b = _blob(_jbytes(config))
    manifest = {
        "schemaVersion": 2, "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": len(config_b)},
        "layers": [{"mediaType": MT_LAYER, "digest": layer_digest, "size": len(layer)}],
    }
    manifest_digest, manifest_b = _blob(_jbytes(manifest))
    index = {
        "schemaVersion": 2, "mediaType": MT_INDEX,
        "manifests": [{"mediaType": MT_MANIFEST, "digest": manifest_digest, "size": len(manifest_b),
                       "platform": {"architecture": goarch(), "os": "linux"},
                       "annotations": {"org.opencontainers.image.ref.name": ref,
                                       "io.containerd.image.name": ref}}],
    }
    files = [("oci-layout", _jbytes({"imageLayoutVersion": "1.0.0"})), ("index.json", _jbytes(index))]
    for digest, data in ((layer_digest, layer), (config_digest, config_b), (manifest_digest, manifest_b)):
        files.append(("blobs/sha256/" + digest.split(":", 1)[1], data))
    tmp = out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(ti)
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            tar.addfile(ti, io.BytesIO(data))
    os.rename(tmp, out)
    return {"manifest": manifest_digest, "config": config_digest, "layer": layer_digest}
