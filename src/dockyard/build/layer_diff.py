"""An overlay upper directory -> an image layer (a gzip tar blob), as BuildKit's differ.

After a step ran on overlay(lower = the image's layers, upper = a fresh directory), the
upper directory *is* the change: new and modified files as they are, deletions as
overlayfs records them. Those become the image-spec's whiteouts:

    0:0 character device NAME              -> empty file ``.wh.NAME``
    directory with trusted.overlay.opaque=y -> the directory, then ``DIR/.wh..wh..opq``

Deterministic, so the same change gives the same DiffID: entries sorted by name, PAX
format, numeric owners only (no user/group names), mtimes kept (whole seconds), modes,
owners and extended attributes kept (overlayfs's own ``trusted.overlay.*`` never), hard
links within the layer written once plus link entries. gzip at level 1 (``LEVEL``): a build
writes layers far more often than it pulls them, and level 1 costs about a third of the
default level's time for a few percent more bytes; the gzip header has no name and mtime 0.

The DiffID (uncompressed) and the blob digest (compressed) are computed in the one pass that
writes the blob.
"""

from __future__ import annotations

import os
import stat

from ..oci import image_spec
from ..oci.digest import Hasher

LEVEL = 1
_OVERLAY_XATTR = "trusted.overlay."
_OPAQUE_XATTR = "trusted.overlay.opaque"


class LayerInfo:
    __slots__ = ("diff_id", "digest", "media_type", "size")

    def __init__(self, diff_id: str, digest: str, size: int, media_type: str = image_spec.OCI_LAYER_GZIP) -> None:
        self.diff_id, self.digest, self.size, self.media_type = diff_id, digest, size, media_type

    def to_dict(self) -> dict:
        return {"diff_id": self.diff_id, "digest": self.digest, "size": self.size, "media_type": self.media_type}

    @classmethod
    def from_dict(cls, d: dict) -> LayerInfo:
        return cls(d["diff_id"], d["digest"], d["size"], d.get("media_type", image_spec.OCI_LAYER_GZIP))


class _Hashing:
    """A write-only stream that hashes what passes through to ``out``."""

    def __init__(self, out) -> None:
        self.out, self.hasher = out, Hasher()

    def write(self, data) -> int:
        self.hasher.update(bytes(data))
        return self.out.write(data)

    def flush(self) -> None:
        pass


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for n in sorted(names):
        if n.startswith(_OVERLAY_XATTR):
            continue
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            continue
    return out


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, _OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def is_empty(upper: str) -> bool:
    return not os.listdir(upper)


def _entries(upper: str, rel: str = ""):
    """(name in the tar, host path, lstat), depth first, sorted: a directory before its
    contents, as a tar must have them."""
    for name in sorted(os.listdir(os.path.join(upper, rel))):
        child = f"{rel}/{name}" if rel else name
        p = os.path.join(upper, child)
        st = os.lstat(p)
        yield child, p, st
        if stat.S_ISDIR(st.st_mode):
            yield from _entries(upper, child)


def _info(name: str, st: os.stat_result):
    import tarfile

    ti = tarfile.TarInfo(name)
    ti.mode, ti.uid, ti.gid, ti.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
    ti.uname = ti.gname = ""
    return ti


def write_tar(upper: str, out) -> int:
    """The layer tar of ``upper`` onto the binary stream ``out``; returns the entry count."""
    import tarfile  # only when a layer is written: not on a cached rebuild

    links: dict[tuple[int, int], str] = {}
    n = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, path, st in _entries(upper):
            mode = st.st_mode
            base = os.path.basename(name)
            parent = name[: -len(base)]
            if stat.S_ISCHR(mode) and st.st_rdev == 0:  # overlay whiteout: NAME was deleted
                ti = _info(parent + ".wh." + base, st)
                ti.mode = 0
                tar.addfile(ti)
                n += 1
                continue
            ti = _info(name, st)
            x = _xattrs(path)
            if x:
                ti.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in x.items()}
            if stat.S_ISDIR(mode):
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
                if _opaque(path):
                    op = _info(name + "/.wh..wh..opq", st)
                    op.mode = 0
                    tar.addfile(op)
                    n += 1
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    ti.type, ti.linkname = tarfile.LNKTYPE, links[key]
                    tar.addfile(ti)
                else:
                    if st.st_nlink > 1:
                        links[key] = name
                    ti.size = st.st_size
                    with open(path, "rb") as f:
                        tar.addfile(ti, f)
            elif stat.S_ISLNK(mode):
                ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(path)
                tar.addfile(ti)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                tar.addfile(ti)
            elif stat.S_ISFIFO(mode):
                ti.type = tarfile.FIFOTYPE
                tar.addfile(ti)
            else:
                continue  # sockets: tar has no type for them (Docker skips them too)
            n += 1
    return n


def store_layer(upper: str, blobs) -> LayerInfo:
    """Write ``upper``'s layer as a gzip blob into ``blobs`` (a BlobStore)."""
    import gzip

    with blobs.ingest() as w:
        compressed = _Hashing(w)
        gz = gzip.GzipFile(filename="", fileobj=compressed, mode="wb", compresslevel=LEVEL, mtime=0)
        plain = _Hashing(gz)
        write_tar(upper, plain)
        gz.close()
        size = compressed.hasher.size
    return LayerInfo(str(plain.hasher.digest()), str(w.digest), size)
