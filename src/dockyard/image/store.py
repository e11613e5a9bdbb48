"""The local image store: blobs by digest, unpacked layers, and which images and tags exist.

    <root>/blobs/sha256/...   every manifest, config and layer (blobs.py)
    <root>/snapshots/...      layers unpacked once per chain (snapshots.py)
    <root>/images.db          SQLite (WAL): images (by config digest) and tags

Consistency: blobs are written (verified, renamed) before the row that names them, in one
transaction per user-visible change; a crash leaves at worst unreferenced blobs, which `gc`
removes, never a row naming a missing blob. Many CLI processes may use the store at once:
SQLite serialises the writers (busy timeout), blob writes are independent files.
"""

from __future__ import annotations

import os
import time

from ..errors import ImageError, NotFound
from ..oci import image_spec, reference
from ..oci.digest import Digest
from .blobs import BlobStore
from .snapshots import Snapshots

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,          -- the config digest, as Docker's image ID
    manifest TEXT NOT NULL,       -- digest of the manifest blob
    created TEXT NOT NULL,
    size INTEGER NOT NULL         -- sum of the layers' compressed sizes
);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,        -- normalized reference: docker.io/library/busybox:latest
    image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
-- Docker's RepoDigests: the digest a registry serves the image by, per repository (added
-- after the first release: IF NOT EXISTS makes an older images.db gain it on open)
CREATE TABLE IF NOT EXISTS repo_digests (
    name TEXT NOT NULL,           -- normalized repository: docker.io/library/busybox
    digest TEXT NOT NULL,         -- the manifest's, or the index's when pulled through one
    image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (name, digest)
);
"""


class Image:
    __slots__ = ("config", "created", "id", "manifest", "manifest_digest", "repo_digests", "size", "tags")

    def __init__(self, id_: str, manifest_digest: str, manifest, config, created: str, size: int,
                 tags: list[str], repo_digests: list[str] | None = None) -> None:
        self.id, self.manifest_digest, self.manifest, self.config = Digest(id_), Digest(manifest_digest), manifest, config
        self.created, self.size, self.tags = created, size, tags
        self.repo_digests = repo_digests or []  # "docker.io/library/busybox@sha256:..."

    @property
    def short_id(self) -> str:
        return self.id.encoded[:12]

    def chain(self) -> list[Digest]:
        return image_spec.chain_ids(self.config.diff_ids)


class ImageStore:
    def __init__(self, root: str) -> None:
        import sqlite3

        os.makedirs(root, mode=0o700, exist_ok=True)
        self.root = root
        self.blobs = BlobStore(root)
        self.snapshots = Snapshots(root)
        self.db = sqlite3.connect(os.path.join(root, "images.db"), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- adding ---------------------------------------------------------------------------
    def add(self, manifest: bytes, config: bytes) -> Image:
        """Register an image whose layer blobs are already stored; manifest and config are
        stored here. Everything is checked against its digest before the row exists."""
        m = image_spec.Manifest(manifest)
        cfg_digest = self.blobs.write(config, expected=m.config.digest)
        cfg = image_spec.ImageConfig(config)
        if len(cfg.diff_ids) != len(m.layers):
            raise ImageError(f"image config lists {len(cfg.diff_ids)} layers, the manifest {len(m.layers)}")
        for layer in m.layers:
            if not self.blobs.has(layer.digest):
                raise ImageError(f"layer {layer.digest} is not in the store")
        md = self.blobs.write(manifest)
        size = sum(layer.size for layer in m.layers)
        created = cfg.raw.get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.db.execute("INSERT OR IGNORE INTO images (id, manifest, created, size) VALUES (?, ?, ?, ?)",
                        (str(cfg_digest), str(md), created, size))
        return self.get(cfg_digest)

    def tag(self, image_id: str, ref: str) -> str:
        r = reference.parse(ref)
        if r.digest:
            raise ImageError(f"cannot tag with a digest reference: {ref}")
        self.db.execute("INSERT OR REPLACE INTO tags (name, image) VALUES (?, ?)", (str(r), str(image_id)))
        return str(r)

    def add_repo_digest(self, image_id: str, name: str, digest: str) -> None:
        """Record that repository ``name`` serves this image as ``digest`` (pull, push). A
        later pull of the same name@digest (an index, another --platform) replaces it."""
        r = reference.parse(f"{name}@{digest}")
        self.db.execute("INSERT OR REPLACE INTO repo_digests (name, digest, image) VALUES (?, ?, ?)",
                        (r.name, str(r.digest), str(image_id)))

    def untag(self, ref: str) -> bool:
        cur = self.db.execute("DELETE FROM tags WHERE name = ?", (str(reference.parse(ref)),))
        return cur.rowcount > 0

    # -- finding ----------------------------------------------------------------------------
    def get(self, image_id: str) -> Image:
        row = self.db.execute("SELECT id, manifest, created, size FROM images WHERE id = ?", (str(image_id),)).fetchone()
        if row is None:
            raise NotFound(f"image {image_id} not found")
        return self._image(row)

    def _image(self, row) -> Image:
        id_, manifest_digest, created, size = row
        with self.blobs.open(manifest_digest) as f:
            # the blob store verified it when it was written: no rehash (and no hashlib) per `run`
            m = image_spec.Manifest(f.read(), digest=Digest(manifest_digest))
        with self.blobs.open(id_) as f:
            cfg = image_spec.ImageConfig(f.read())
        tags = [r[0] for r in self.db.execute("SELECT name FROM tags WHERE image = ? ORDER BY name", (id_,))]
        digests = [f"{n}@{d}" for n, d in self.db.execute("SELECT name, digest FROM repo_digests WHERE image = ? "
                                                             "ORDER BY name, digest", (id_,))]
        return Image(id_, manifest_digest, m, cfg, created, size, tags, digests)

    def resolve(self, text: str) -> Image:
        """An image by reference (busybox, busybox:1.36, ...@sha256:...) or by ID or a
        unique prefix of at least 4 hex digits, as `docker` accepts."""
        hexpart = text[len("sha256:"):] if text.startswith("sha256:") else text
        if 4 <= len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart):
            rows = self.db.execute("SELECT id, manifest, created, size FROM images WHERE id LIKE ?",
                                   (f"sha256:{hexpart}%",)).fetchall()
            if len(rows) == 1:
                return self._image(rows[0])
            if len(rows) > 1:
                raise ImageError(f"image ID prefix {text!r} is ambiguous ({len(rows)} images)")
        r = reference.parse(text)
        if r.digest:
            # name@digest as recorded at pull/push (an index digest too), else any image whose
            # own manifest has that digest
            row = self.db.execute("SELECT i.id, i.manifest, i.created, i.size FROM repo_digests d JOIN images i "
                                  "ON i.id = d.image WHERE d.name = ? AND d.digest = ?",
                                  (r.name, str(r.digest))).fetchone()
            if row is None:
                row = self.db.execute("SELECT id, manifest, created, size FROM images WHERE manifest = ?",
                                      (str(r.digest),)).fetchone()
        else:
            row = self.db.execute("SELECT i.id, i.manifest, i.created, i.size FROM tags t JOIN images i "
                                  "ON i.id = t.image WHERE t.name = ?", (str(r),)).fetchone()
        if row is None:
            raise NotFound(f"image {r.familiar()} not found locally")
        return self._image(row)

    def list(self) -> list[Image]:
        rows = self.db.execute("SELECT id, manifest, created, size FROM images ORDER BY created DESC").fetchall()
        return [self._image(r) for r in rows]

    # -- removing -------------------------------------------------------------------------
    def remove(self, text: str, force: bool = False) -> list[str]:
        """`rmi`: by tag, untag (and delete the image when no tag is left); by ID, delete
        it (with ``force`` even when tagged more than once). Returns what was done."""
        img = self.resolve(text)
        done = []
        hexpart = text.removeprefix("sha256:")
        by_id = len(hexpart) >= 4 and all(c in "0123456789abcdef" for c in hexpart) \
            and img.id.encoded.startswith(hexpart)
        if not by_id:
            name = str(reference.parse(text))
            self.db.execute("DELETE FROM tags WHERE name = ?", (name,))
            done.append(f"Untagged: {reference.parse(text).familiar()}")
            if self.db.execute("SELECT 1 FROM tags WHERE image = ?", (str(img.id),)).fetchone():
                return done
        elif len(img.tags) > 1 and not force:
            raise ImageError(f"image {img.short_id} is tagged in several places ({', '.join(img.tags)}): "
                             "remove by tag, or use --force")
        self.db.execute("DELETE FROM images WHERE id = ?", (str(img.id),))
        done.append(f"Deleted: {img.id}")
        return done

    def gc(self) -> dict:
        """Delete blobs no image refers to, and snapshots no image's chain uses. (Snapshots
        in use by containers are not tracked here yet: call only when no container runs.)"""
        keep_blobs: set[str] = set()
        keep_snaps: set[str] = set()
        for img in self.list():
            keep_blobs |= {str(img.id), str(img.manifest_digest), *(str(x.digest) for x in img.manifest.layers)}
            keep_snaps |= {str(c) for c in img.chain()}
        removed_blobs = [d for d in self.blobs.list() if str(d) not in keep_blobs and self.blobs.delete(d)]
        removed_snaps = []
        for name in os.listdir(self.snapshots.dir):
            if name.startswith("."):
                continue
            key = name.replace("-", ":", 1)
            if key not in keep_snaps:
                self.snapshots.remove(key)
                removed_snaps.append(key)
        self.snapshots.gc_temp()
        return {"blobs": removed_blobs, "snapshots": removed_snaps}

    # -- unpacking --------------------------------------------------------------------------
    def unpack(self, img: Image) -> str:
        """Unpack every layer not yet unpacked; returns the top snapshot's key (the chain).
        The missing layers are applied all at once, each by its own helper process
        (layer_jobs.py), and committed in chain order: a snapshot is there only when it and
        every layer below it are."""
        todo, parent = [], None
        for layer, diff_id, chain in zip(img.manifest.layers, img.config.diff_ids, img.chain(), strict=True):
            if not self.snapshots.has(str(chain)):
                todo.append((str(chain), parent, layer, diff_id))
            parent = str(chain)
        if parent is None:
            raise ImageError(f"image {img.short_id} has no layers")
        if todo:
            from .layer_jobs import LayerJobs

            jobs = LayerJobs(self.snapshots)
            try:
                for key, _, layer, diff_id in todo:
                    jobs.start(key, diff_id, lambda d=layer.digest: self.blobs.open(d))
                for key, below, _, _ in todo:
                    jobs.commit(key, below)
            finally:
                jobs.close()
        return parent
