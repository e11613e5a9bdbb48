"""`save` and `load`: image archives interchangeable with docker, podman and skopeo.

What `save` writes is both formats at once, as Docker 25+ does: an OCI image layout
(`oci-layout`, `index.json`, `blobs/sha256/...`) plus Docker's `manifest.json` pointing at
the same blobs — so `docker load`, `podman load`, `skopeo ... docker-archive:` and
`oci-archive:` all read it. `load` reads either: an OCI layout (index.json, nested indexes
resolved for this platform) or a classic `docker save` archive (manifest.json, per-layer
`layer.tar`, config JSON).

Archives are hostile input: members are only ever looked up by the names the archive's own
manifest gives (never extracted to the filesystem), every blob is verified against its
digest on the way into the store, and a half-read archive leaves only unreferenced blobs
that `gc` collects.
"""

from __future__ import annotations

import io
import json
import os
import tarfile

from ..errors import ImageError
from ..oci import image_spec, reference
from ..oci.digest import Digest, digest_bytes

_CHUNK = 1 << 20


def _add(t: tarfile.TarFile, name: str, data: bytes | None = None, src=None, size: int = 0, mode: int = 0o644) -> None:
    ti = tarfile.TarInfo(name)
    ti.mode, ti.mtime = mode, 0
    if data is not None:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    elif src is not None:
        ti.size = size
        t.addfile(ti, src)
    else:
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        t.addfile(ti)


def save(store, refs: list[str], out) -> None:
    """Write the images named by ``refs`` (tags or IDs) as one archive to ``out``."""
    images = [(ref, store.resolve(ref)) for ref in refs]
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as t:
        _add(t, "blobs")
        _add(t, "blobs/sha256")
        written: set[str] = set()
        index, docker = [], []
        for ref, img in images:
            blobs = [img.manifest_digest, img.id, *(layer.digest for layer in img.manifest.layers)]
            for d in blobs:
                if str(d) in written:
                    continue
                written.add(str(d))
                with store.blobs.open(d) as f:
                    _add(t, f"blobs/sha256/{d.encoded}", src=f, size=store.blobs.size(d))
            # saved by ID: all its tags; by name: that name (as `docker save NAME` does)
            tags = img.tags if _is_id(ref, img) else [str(reference.parse(ref))]
            ann = {}
            if tags:
                r = reference.parse(tags[0])
                ann = {"io.containerd.image.name": str(r), "org.opencontainers.image.ref.name": r.tag or "latest"}
            with store.blobs.open(img.manifest_digest) as f:
                msize = len(f.read())
            index.append({"mediaType": img.manifest.media_type, "digest": str(img.manifest_digest), "size": msize,
                          **({"annotations": ann} if ann else {})})
            docker.append({"Config": f"blobs/sha256/{img.id.encoded}",
                           "RepoTags": [reference.parse(x).familiar() for x in tags],
                           "Layers": [f"blobs/sha256/{x.digest.encoded}" for x in img.manifest.layers]})
        _add(t, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add(t, "index.json", json.dumps({"schemaVersion": 2, "mediaType": image_spec.OCI_INDEX,
                                          "manifests": index}).encode())
        _add(t, "manifest.json", json.dumps(docker).encode())


def _is_id(ref: str, img) -> bool:
    h = ref.removeprefix("sha256:")
    return len(h) >= 4 and all(c in "0123456789abcdef" for c in h) and img.id.encoded.startswith(h)


def _norm(name: str) -> str | None:
    """A member name as a path relative to the archive's top ("./a//b" -> "a/b"), or None if
    its ".." climb above the top (such a name can name nothing in the archive)."""
    parts: list[str] = []
    for p in name.split("/"):
        if p == "..":
            if not parts:
                return None
            parts.pop()
        elif p not in ("", "."):
            parts.append(p)
    return "/".join(parts) or None


class _Archive:
    """Random access to an archive's members by name (no extraction).

    Symlinks between members are followed inside the archive only: `docker save` (20.10)
    writes a layer it already wrote for another image as ``<id>/layer.tar ->
    ../<other-id>/layer.tar``, and podman links its per-layer dirs to the blobs it names."""

    _MAX_LINKS = 8

    def __init__(self, path: str) -> None:
        try:
            self.tar = tarfile.open(path, mode="r:*")
            members = self.tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ImageError(f"{path}: not a readable image archive ({e})") from None
        self.members = {n: m for m in members if m.isfile() and (n := _norm(m.name))}
        self.links = {n: m.linkname for m in members if m.issym() and (n := _norm(m.name))}

    def open(self, name: str):
        key = _norm(name)
        for _ in range(self._MAX_LINKS):
            if key is None or key not in self.links:
                break
            target = self.links[key]
            # relative to the link's directory; an absolute target or one climbing out of
            # the archive names nothing in it (never a file on the host)
            key = None if target.startswith("/") else _norm(os.path.join(os.path.dirname(key), target))
        m = self.members.get(key) if key is not None else None
        if m is None:
            raise ImageError(f"image archive: {name!r} is named by its manifest but missing")
        return self.tar.extractfile(m)

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        f = self.open(name)
        data = f.read(limit + 1)
        if len(data) > limit:
            raise ImageError(f"image archive: {name!r} is too large for a manifest or config")
        return data

    def close(self) -> None:
        self.tar.close()


def load(store, path: str) -> list[str]:
    """Load every image of the archive at ``path``; returns lines as `docker load` prints."""
    a = _Archive(path)
    try:
        if "index.json" in a.members:
            return _load_oci(store, a)
        if "manifest.json" in a.members:
            return _load_docker(store, a)
        raise ImageError(f"{path}: neither an OCI layout (index.json) nor a docker archive (manifest.json)")
    finally:
        a.close()


def _copy_blob(store, a: _Archive, name: str, expected: str | None = None, size: int | None = None) -> tuple[Digest, int]:
    src = a.open(name)
    with store.blobs.ingest(expected=expected, expected_size=size) as w:
        n = 0
        while chunk := src.read(_CHUNK):
            w.write(chunk)
            n += len(chunk)
    return w.digest, n


def _load_oci(store, a: _Archive) -> list[str]:
    index = image_spec.Index(a.read("index.json"))
    done = []
    for desc in index.manifests:
        ann = desc.annotations or {}
        # containerd and Docker write the full name; image-spec's ref.name may be a whole
        # reference or only a tag ("latest"), which names no image: then load untagged.
        name = ann.get("io.containerd.image.name") or ann.get("org.opencontainers.image.ref.name")
        if name and "/" not in name and ":" not in name and ann.get("org.opencontainers.image.ref.name") == name:
            name = None
        data = a.read(f"blobs/sha256/{desc.digest.encoded}")
        if digest_bytes(data) != desc.digest:
            raise ImageError(f"image archive: manifest {desc.digest} does not match its content")
        doc = image_spec.parse(data, desc.media_type)
        if isinstance(doc, image_spec.Index):  # a multi-platform image: take ours
            arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
            sub = doc.select("linux", arch)
            data = a.read(f"blobs/sha256/{sub.digest.encoded}")
            doc = image_spec.Manifest(data, sub.media_type)
        for layer in doc.layers:
            _copy_blob(store, a, f"blobs/sha256/{layer.digest.encoded}", layer.digest, layer.size)
        config = a.read(f"blobs/sha256/{doc.config.digest.encoded}")
        img = store.add(data, config)
        if name:
            store.tag(img.id, name)
            done.append(f"Loaded image: {reference.parse(name).familiar()}")
        else:
            done.append(f"Loaded image ID: {img.id}")
    return done


def _load_docker(store, a: _Archive) -> list[str]:
    try:
        entries = json.loads(a.read("manifest.json"))
        assert isinstance(entries, list)
    except (ValueError, AssertionError):
        raise ImageError("image archive: manifest.json is not a list of images") from None
    done = []
    for e in entries:
        config = a.read(e["Config"])
        cfg = image_spec.ImageConfig(config)
        layers = []
        names = e.get("Layers") or []
        if len(names) != len(cfg.diff_ids):
            raise ImageError(f"image archive: {len(names)} layers but {len(cfg.diff_ids)} DiffIDs in the config")
        for name, expected in zip(names, cfg.diff_ids):
            # Docker's layer.tar may be plain or compressed; its digest as stored is what the
            # manifest names, its uncompressed digest must be the config's DiffID (checked
            # now: a lying archive is refused at load, not at the first run).
            digest, size = _copy_blob(store, a, name)
            from .importer import diff_id

            if diff_id(store, digest) != str(expected):
                raise ImageError(f"image archive: layer {name!r} does not match the config's DiffID {expected}")
            with store.blobs.open(digest) as f:
                media = image_spec.layer_media_type(f.read(4))
            layers.append({"mediaType": media, "digest": str(digest), "size": size})
        manifest = json.dumps({"schemaVersion": 2, "mediaType": image_spec.OCI_MANIFEST,
                               "config": {"mediaType": image_spec.OCI_CONFIG, "digest": str(digest_bytes(config)),
                                          "size": len(config)}, "layers": layers},
                              sort_keys=True, separators=(",", ":")).encode()
        img = store.add(manifest, config)
        tags = e.get("RepoTags") or []
        for tag in tags:
            store.tag(img.id, tag)
            done.append(f"Loaded image: {reference.parse(tag).familiar()}")
        if not tags:
            done.append(f"Loaded image ID: {img.id}")
    return done
