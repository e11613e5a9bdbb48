"""`manifest inspect --verbose`: Docker's shape of a manifest with what it describes.

For an image manifest, one object; for an index (manifest list), a list with one per entry,
each entry's manifest fetched by digest::

    {"Ref": "reg/app:1" (an index entry: "reg/app:1@sha256:..."),
     "Descriptor": {"mediaType", "digest", "size", "platform": {"architecture", "os"[, "variant"]}},
     "Raw": base64 of the manifest bytes,
     "OCIManifest" | "SchemaV2Manifest": the manifest document}

An entry's platform is the one the index gives it; a lone manifest's comes from its image config
(one more request), as Docker fills it.
"""

from __future__ import annotations

import base64
import json

from ..oci import image_spec
from .errors import RegistryError


def _entry(ref: str, data: bytes, media_type: str, digest, platform: dict | None) -> dict:
    desc = {"mediaType": media_type, "digest": str(digest), "size": len(data)}
    if platform:
        desc["platform"] = platform
    key = "OCIManifest" if media_type == image_spec.OCI_MANIFEST else "SchemaV2Manifest"
    return {"Ref": ref, "Descriptor": desc, "Raw": base64.b64encode(data).decode(), key: json.loads(data)}


def _config_platform(repo, manifest: image_spec.Manifest) -> dict | None:
    try:
        cfg = json.loads(repo.read_blob(manifest.config.digest))
    except ValueError:
        raise RegistryError(f"image config {manifest.config.digest} is not JSON") from None
    if not isinstance(cfg, dict) or not cfg.get("os"):
        return None
    platform = {"architecture": cfg.get("architecture"), "os": cfg.get("os")}
    if cfg.get("variant"):
        platform["variant"] = cfg["variant"]
    return platform


def verbose(repo, ref, data: bytes, media_type: str, digest):
    """The verbose document for a fetched manifest or index (``repo`` served it)."""
    doc = image_spec.parse(data, media_type)
    if isinstance(doc, image_spec.Manifest):
        return _entry(str(ref), data, media_type, digest, _config_platform(repo, doc))
    base = str(ref).split("@")[0]
    out = []
    for entry in doc.manifests:
        mdata, mtype, mdigest = repo.get_manifest(str(entry.digest))
        out.append(_entry(f"{base}@{entry.digest}", mdata, mtype, mdigest, entry.platform))
    return out
