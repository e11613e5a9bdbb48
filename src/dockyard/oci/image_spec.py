"""The OCI image spec (and Docker's v2.2 schema) as data: media types, descriptors,
manifests, indexes, image configs, ChainIDs, platform selection. Pure: bytes in, checked
objects out; a document that is malformed raises ImageError naming what is wrong.

Docker's v2.2 documents are read as their OCI equivalents (same shapes, other media types):
registries, `docker save` and podman produce both.
"""

from __future__ import annotations

from .. import _json
from ..errors import ImageError, StoreError
from .digest import Digest, digest_bytes

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
CONFIGS = (OCI_CONFIG, DOCKER_CONFIG)
LAYERS = (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, DOCKER_LAYER_GZIP,
          OCI_LAYER.replace("layer.", "layer.nondistributable."),
          OCI_LAYER_GZIP.replace("layer.", "layer.nondistributable."),
          OCI_LAYER_ZSTD.replace("layer.", "layer.nondistributable."), DOCKER_FOREIGN)


def layer_media_type(head: bytes) -> str:
    """The OCI media type of a tar layer, from its first bytes (gzip and zstd magic)."""
    if head[:2] == b"\x1f\x8b":
        return OCI_LAYER_GZIP
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return OCI_LAYER_ZSTD
    return OCI_LAYER


def _need(cond: bool, what: str, msg: str) -> None:
    if not cond:
        raise ImageError(f"{what}: {msg}")


class Descriptor:
    __slots__ = ("media_type", "digest", "size", "platform", "annotations", "urls")

    def __init__(self, d, what: str) -> None:
        _need(isinstance(d, dict), what, "a descriptor must be an object")
        self.media_type = d.get("mediaType")
        _need(isinstance(self.media_type, str) and self.media_type, what, "mediaType is required")
        try:
            self.digest = Digest(d.get("digest"))
        except (StoreError, TypeError):
            raise ImageError(f"{what}: invalid digest {d.get('digest')!r}") from None
        self.size = d.get("size")
        _need(isinstance(self.size, int) and self.size >= 0, what, f"invalid size {self.size!r}")
        self.platform = d.get("platform")
        self.annotations = d.get("annotations") or {}
        self.urls = d.get("urls") or []

    def to_dict(self) -> dict:
        out = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.platform:
            out["platform"] = self.platform
        if self.annotations:
            out["annotations"] = self.annotations
        return out


def _doc(data: bytes, what: str) -> dict:
    try:
        doc = _json.loads(data)
    except ValueError as e:
        raise ImageError(f"{what}: not valid JSON ({e})") from None
    _need(isinstance(doc, dict), what, "must be a JSON object")
    return doc


def _header(data: bytes, what: str, media_type: str | None, allowed: tuple,
            digest: Digest | None = None) -> tuple[dict, Digest, str]:
    """The parts every manifest and index share: the JSON object, its digest (hashed here
    unless the caller read it from a verified store by that digest), schemaVersion 2, and a
    media type of the expected kind (the document's own, else the one it came with, else
    the OCI one)."""
    doc = _doc(data, what)
    _need(doc.get("schemaVersion") == 2, what, f"schemaVersion {doc.get('schemaVersion')!r} (want 2)")
    mt = doc.get("mediaType") or media_type or allowed[0]
    _need(mt in allowed, what, f"unknown media type {mt!r}")
    return doc, digest or digest_bytes(data), mt


class Manifest:
    """An image manifest: one config and the layers, bottom first."""

    __slots__ = ("media_type", "config", "layers", "annotations", "digest")

    def __init__(self, data: bytes, media_type: str | None = None, *, digest: Digest | None = None) -> None:
        doc, self.digest, self.media_type = _header(data, "manifest", media_type, MANIFESTS, digest)
        self.config = Descriptor(doc.get("config"), "manifest config")
        _need(self.config.media_type in CONFIGS, "manifest config",
              f"media type {self.config.media_type!r} is not an image config (an artifact, not an image?)")
        layers = doc.get("layers")
        _need(isinstance(layers, list), "manifest", "layers must be a list")
        self.layers = [Descriptor(x, f"manifest layer {i}") for i, x in enumerate(layers)]
        for i, layer in enumerate(self.layers):
            _need(layer.media_type in LAYERS, f"manifest layer {i}", f"unknown layer media type {layer.media_type!r}")
        self.annotations = doc.get("annotations") or {}


class Index:
    """An image index / Docker manifest list: one manifest per platform."""

    __slots__ = ("media_type", "manifests", "annotations", "digest")

    def __init__(self, data: bytes, media_type: str | None = None) -> None:
        doc, self.digest, self.media_type = _header(data, "index", media_type, INDEXES)
        ms = doc.get("manifests")
        _need(isinstance(ms, list), "index", "manifests must be a list")
        self.manifests = [Descriptor(x, f"index entry {i}") for i, x in enumerate(ms)]
        self.annotations = doc.get("annotations") or {}

    def select(self, os_: str = "linux", arch: str = "amd64", variant: str | None = None) -> Descriptor:
        """The manifest for a platform, as Docker picks it (variant only when asked)."""
        for m in self.manifests:
            p = m.platform or {}
            if p.get("os") == os_ and p.get("architecture") == arch and (variant is None or p.get("variant") == variant):
                return m
        have = ", ".join(f"{(m.platform or {}).get('os')}/{(m.platform or {}).get('architecture')}"
                         for m in self.manifests) or "none"
        raise ImageError(f"no manifest for {os_}/{arch}{'/' + variant if variant else ''} in the index (it has: {have})")


class ImageConfig:
    """The image configuration: how to run it (``config``) and its layers' DiffIDs."""

    __slots__ = ("os", "architecture", "config", "diff_ids", "history", "raw")

    def __init__(self, data: bytes) -> None:
        doc = _doc(data, "image config")
        self.raw = doc
        self.os = doc.get("os")
        self.architecture = doc.get("architecture")
        _need(isinstance(self.os, str) and isinstance(self.architecture, str), "image config",
              "os and architecture are required")
        self.config = doc.get("config") or {}
        _need(isinstance(self.config, dict), "image config", "config must be an object")
        rootfs = doc.get("rootfs") or {}
        _need(rootfs.get("type") == "layers", "image config", "rootfs.type must be 'layers'")
        try:
            self.diff_ids = [Digest(x) for x in rootfs.get("diff_ids") or []]
        except (StoreError, TypeError):
            raise ImageError("image config: rootfs.diff_ids holds an invalid digest") from None
        self.history = doc.get("history") or []


def chain_ids(diff_ids: list[Digest]) -> list[Digest]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))
    (image-spec config.md): the name of a layer *with everything below it*."""
    out: list[Digest] = []
    for d in diff_ids:
        out.append(d if not out else digest_bytes(f"{out[-1]} {d}".encode()))
    return out


def parse(data: bytes, media_type: str | None = None) -> Manifest | Index:
    """A manifest or an index, told apart by media type, or by shape when none is given."""
    mt = media_type
    if not mt:
        doc = _doc(data, "manifest")
        mt = doc.get("mediaType") or (OCI_INDEX if "manifests" in doc else OCI_MANIFEST)
    if mt in INDEXES:
        return Index(data, mt)
    if mt in MANIFESTS:
        return Manifest(data, mt)
    raise ImageError(f"unknown manifest media type {mt!r}")
