"""`dockyard import`: a root filesystem tarball (plain, gzip or zstd) as a one-layer image,
as `docker import` makes it: no command, no environment (give them at run time), the
tarball kept as the layer exactly as given (its DiffID computed from the uncompressed tar).
"""

from __future__ import annotations

import json
import os
import time

from ..oci import image_spec
from ..oci.digest import Hasher, digest_bytes
from .layer import LayerError, open_stream

_CHUNK = 1 << 20


def diff_id(store, digest) -> str:
    """The digest of a stored layer's uncompressed tar."""
    h = Hasher()
    with store.blobs.open(digest) as f:
        s = open_stream(f)
        while chunk := s.read(_CHUNK):
            h.update(chunk)
    return str(h.digest())


def import_tarball(store, src, ref: str | None = None, message: str = "", run_config: dict | None = None,
                   created_by: str = "dockyard import"):
    """Store the tarball read from ``src`` (a binary stream) as an image; tag it with ``ref``.
    ``run_config`` is the image's run configuration (Cmd, Env...), empty as `docker import`."""
    head = b""  # the first bytes tell the compression (works for streams without peek())
    with store.blobs.ingest() as w:
        size = 0
        while chunk := src.read(_CHUNK):
            if len(head) < 4:
                head += chunk[:4 - len(head)]
            w.write(chunk)
            size += len(chunk)
    layer = w.digest
    if size == 0:
        raise LayerError("import: the tarball is empty")
    try:
        did = diff_id(store, layer)
    except (OSError, EOFError) as e:
        store.blobs.delete(layer)
        raise LayerError(f"import: not a readable (compressed) tarball: {e}") from None
    media = image_spec.layer_media_type(head)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    config = json.dumps({"architecture": arch, "os": "linux", "created": now, "config": run_config or {},
                         "rootfs": {"type": "layers", "diff_ids": [did]},
                         "history": [{"created": now, "created_by": created_by,
                                      **({"comment": message} if message else {})}]},
                        sort_keys=True, separators=(",", ":")).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": image_spec.OCI_MANIFEST,
                           "config": {"mediaType": image_spec.OCI_CONFIG, "digest": str(digest_bytes(config)),
                                      "size": len(config)},
                           "layers": [{"mediaType": media, "digest": str(layer), "size": size}]},
                          sort_keys=True, separators=(",", ":")).encode()
    img = store.add(manifest, config)
    if ref:
        store.tag(img.id, ref)
    return store.get(img.id)
