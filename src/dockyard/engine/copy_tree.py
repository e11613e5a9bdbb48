"""The file work of `dockyard cp`, fd-relative on both sides.

A copy is a stream of entries (a directory, a file and its bytes, a symlink, ...) named by
path components, read from one side and written to the other; a tar archive is just one
way to carry that stream (``cp ... -`` writes one to stdout, ``cp - ...`` reads one from
stdin). Each side is a *root* directory fd plus paths inside it:

* the container's root: ``/proc/PID/root`` of its init (a running container: its mount
  namespace, so volumes and tmpfs mounts show) or a private mount of a stopped one
  (``container_root.py``);
* on the host, when extracting, the directory being extracted into.

Every path is resolved with ``_sys/paths.open_in_root`` (symlinks read by us, absolute ones
restarting at the root, ``..`` above it refused), and the last component of what is written
is never followed: a file is written under a temporary name in its directory and renamed
over whatever was there, so an existing symlink is replaced, never written through, and a
reader never sees half a file.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import tarfile

from .._sys import paths
from ..errors import PathError
from .copy_rules import CopyError, rebase, split_dir_entry

_CHUNK = 1 << 20
_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class SourceMissing(CopyError):
    code = "not-found"


class Entry:
    """One thing to copy. ``kind``: dir, file, symlink, hardlink (``link`` = the parts of
    the entry it shares an inode with), chr, blk, fifo. ``open()`` gives a file's bytes."""

    __slots__ = ("dev", "gid", "kind", "link", "mode", "mtime", "open", "parts", "size", "uid")

    def __init__(self, parts, kind, mode, uid, gid, mtime, size=0, link=None, dev=(0, 0), open=None):
        self.parts, self.kind, self.mode, self.uid, self.gid = parts, kind, mode, uid, gid
        self.mtime, self.size, self.link, self.dev, self.open = mtime, size, link, dev, open


# -- reading: a source path inside a root ---------------------------------------------


class Source:
    """A resolved source: an O_PATH fd, its stat, and the name its entries carry."""

    def __init__(self, fd: int, st: os.stat_result, name: str, path: str) -> None:
        self.fd, self.st, self.name, self.path = fd, st, name, path

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    def close(self) -> None:
        os.close(self.fd)


def open_source(root_fd: int, path: str, follow: bool, name: str | None = None) -> Source:
    """Resolve ``path`` (absolute, inside the root) as `docker cp` reads a source: the last
    component is not followed unless ``follow`` (-L) or the path ends in "/" or "/."; its
    entries are named by its base name (or ``name``: a link's own name under -L)."""
    d, base = split_dir_entry(path)
    try:
        if base == "." or path.endswith("/") or follow:
            fd = paths.open_in_root(root_fd, path if base != "." else d)
        else:
            pfd = paths.open_in_root(root_fd, d)
            try:
                fd = os.open(base, _O_PATH, dir_fd=pfd)
            finally:
                os.close(pfd)
    except FileNotFoundError:
        raise SourceMissing(f"could not find the file {path}") from None
    except PathError as e:
        if e.errno == errno.ENOENT:
            raise SourceMissing(f"could not find the file {path}") from None
        raise CopyError(str(e)) from None
    st = os.fstat(fd)
    if path.endswith("/") and not stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise CopyError(f"{path}: not a directory")
    return Source(fd, st, name or base, d if base == "." else path.rstrip("/") or "/")


def walk(src: Source, prune=frozenset()):
    """The entries of ``src`` (a tree for a directory), depth first, names sorted. Files
    are read through their own fd; a directory is never entered through a symlink.
    Directories at the paths in ``prune`` are copied empty: a running container's /proc,
    /sys and the like (which Docker's cp never shows either; /proc/kcore alone claims
    128 TiB)."""
    yield from _walk(src.fd, src.st, [src.name], {}, src.path, prune)


def _walk(fd: int, st: os.stat_result, parts: list[str], links: dict, path: str = "", prune=frozenset()):
    mode = st.st_mode
    common = (stat.S_IMODE(mode), st.st_uid, st.st_gid, int(st.st_mtime))
    if stat.S_ISDIR(mode):
        yield Entry(parts, "dir", *common)
        if path in prune and len(parts) > 1:
            return
        dfd = os.open(paths.fd_path(fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for name in sorted(os.listdir(dfd)):
                try:
                    cfd = os.open(name, _O_PATH, dir_fd=dfd)
                except FileNotFoundError:
                    continue  # removed while we walked (a running container)
                try:
                    cst = os.fstat(cfd)
                    if stat.S_ISLNK(cst.st_mode):
                        try:
                            target = os.readlink(name, dir_fd=dfd)
                        except FileNotFoundError:
                            continue  # removed meanwhile, or /proc/self seen from outside its pid namespace
                        yield Entry(parts + [name], "symlink", *_common(cst), link=target)
                    else:
                        yield from _walk(cfd, cst, parts + [name], links, posixpath.join(path, name), prune)
                finally:
                    os.close(cfd)
        finally:
            os.close(dfd)
    elif stat.S_ISLNK(mode):
        # the source itself is a symlink (no -L), open O_PATH|O_NOFOLLOW
        yield Entry(parts, "symlink", *common, link=os.readlink("", dir_fd=fd))  # readlinkat(fd, "")
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            yield Entry(parts, "hardlink", *common, link=links[key])
            return
        if st.st_nlink > 1:
            links[key] = parts
        yield Entry(parts, "file", *common, size=st.st_size,
                    open=lambda: open(paths.fd_path(fd), "rb"))  # noqa: SIM115 - the consumer closes it
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        yield Entry(parts, "chr" if stat.S_ISCHR(mode) else "blk", *common,
                    dev=(os.major(st.st_rdev), os.minor(st.st_rdev)))
    elif stat.S_ISFIFO(mode):
        yield Entry(parts, "fifo", *common)
    # sockets cannot be copied (tar has no type for them either): skipped, as Docker does


def _common(st):
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)


# -- tar streams (cp ... - and cp - ...) ------------------------------------------------

_TAR_KIND = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink",
             tarfile.CHRTYPE: "chr", tarfile.BLKTYPE: "blk", tarfile.FIFOTYPE: "fifo"}


def _tar_parts(name: str) -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise CopyError(f"archive entry {name!r} climbs out with '..': refused")
    return parts


def read_tar(stream):
    """Entries of a tar stream (plain or compressed) read from a binary file object."""
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for m in tar:
                kind = "file" if m.isreg() else _TAR_KIND.get(m.type)
                if kind is None:
                    continue  # GNU sparse/volume headers and the like: nothing to create
                link = None
                if kind == "symlink":
                    link = m.linkname
                elif kind == "hardlink":
                    link = _tar_parts(m.linkname)
                yield Entry(_tar_parts(m.name), kind, m.mode & 0o7777, m.uid, m.gid, int(m.mtime), m.size, link,
                            (m.devmajor, m.devminor), open=lambda m=m: tar.extractfile(m))
    except tarfile.TarError as e:
        raise CopyError(f"the input is not a valid tar archive: {e}") from None


def write_tar(entries, out) -> None:
    """Entries as a PAX tar stream (numeric owners only: no name lookups) on ``out``."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            ti = tarfile.TarInfo("/".join(e.parts))
            ti.mode, ti.uid, ti.gid, ti.mtime = e.mode, e.uid, e.gid, e.mtime
            ti.uname = ti.gname = ""
            if e.kind == "file":
                ti.size = e.size
                with e.open() as f:
                    tar.addfile(ti, f)
                continue
            ti.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                       "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}[e.kind]
            if e.kind == "symlink":
                ti.linkname = e.link
            elif e.kind == "hardlink":
                ti.linkname = "/".join(e.link)
            elif e.kind in ("chr", "blk"):
                ti.devmajor, ti.devminor = e.dev
            tar.addfile(ti)


# -- writing: extract entries into a directory inside a root ----------------------------


class Owner:
    """Who owns what a copy creates: ``keep`` the entries' ids, a fixed (uid, gid), or
    neither (None: the copier's own, as files Docker copies out of a container)."""

    def __init__(self, keep: bool = False, ids: tuple[int, int] | None = None) -> None:
        self.keep, self.ids = keep, ids

    def of(self, e: Entry) -> tuple[int, int] | None:
        return (e.uid, e.gid) if self.keep else self.ids


class Extractor:
    """Writes entries under ``into`` (a directory path inside ``root_fd``), renaming their
    first component as a plan says. Directory modes and times are set last (a read-only
    directory must still receive its children)."""

    def __init__(self, root_fd: int, into: str, rename: str | None, owner: Owner) -> None:
        self.root_fd, self.into, self.rename, self.owner = root_fd, into.rstrip("/") or "/", rename, owner
        self.dirs: list[tuple[str, int, int]] = []
        self.n = 0

    def path(self, parts: list[str]) -> str:
        return posixpath.join(self.into, *parts)

    def run(self, entries) -> int:
        count = 0
        for e in entries:
            parts = [p for p in rebase(e.parts, self.rename) if p != "."]
            try:
                self.one(e, parts)
            except PathError as err:
                raise CopyError(f"{self.path(parts)}: {err}") from None
            except OSError as err:
                raise CopyError(f"{self.path(parts)}: {err.strerror or err}") from None
            count += 1
        for path, mode, mtime in reversed(self.dirs):  # deepest first
            fd = paths.open_in_root(self.root_fd, path)
            try:
                os.chmod(paths.fd_path(fd), mode)
                os.utime(paths.fd_path(fd), (mtime, mtime))
            finally:
                os.close(fd)
        return count

    def one(self, e: Entry, parts: list[str]) -> None:
        if not parts:  # the directory extracted into: `dir/.` merged into an existing one
            if e.kind != "dir":
                raise CopyError(f"cannot overwrite directory {self.into} with non-directory")
            self._dir_meta(e, self.into)
            return
        pfd = paths.open_in_root(self.root_fd, self.path(parts[:-1]), create="dir")
        try:
            base = parts[-1]
            try:
                old = os.stat(base, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                old = None
            if e.kind == "dir":
                if old is not None and not stat.S_ISDIR(old.st_mode):
                    raise CopyError(f"cannot overwrite non-directory {self.path(parts)} with directory")
                if old is None:
                    os.mkdir(base, 0o700, dir_fd=pfd)
                self._dir_meta(e, self.path(parts))
                return
            if old is not None and stat.S_ISDIR(old.st_mode):
                raise CopyError(f"cannot overwrite directory {self.path(parts)} with non-directory")
            self._replace(e, pfd, base)
        finally:
            os.close(pfd)

    def _dir_meta(self, e: Entry, path: str) -> None:
        ids = self.owner.of(e)
        if ids is not None:
            fd = paths.open_in_root(self.root_fd, path)
            try:
                os.chown(paths.fd_path(fd), *ids)
            finally:
                os.close(fd)
        self.dirs.append((path, e.mode, e.mtime))

    def _replace(self, e: Entry, pfd: int, base: str) -> None:
        """Create the entry under a temporary name, then rename it over ``base``."""
        self.n += 1
        tmp = f".dockyard-cp-{os.getpid()}-{self.n}"
        try:
            if e.kind == "file":
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=pfd)
                with os.fdopen(fd, "wb") as out, e.open() as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
            elif e.kind == "symlink":
                os.symlink(e.link, tmp, dir_fd=pfd)
            elif e.kind == "hardlink":
                parts = [p for p in rebase(e.link, self.rename) if p != "."]
                if not parts:
                    raise CopyError("a hard link to the destination directory: refused")
                tfd = paths.open_in_root(self.root_fd, self.path(parts[:-1]))
                try:
                    os.link(parts[-1], tmp, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
                finally:
                    os.close(tfd)
                os.rename(tmp, base, src_dir_fd=pfd, dst_dir_fd=pfd)
                return  # it shares its target's owner, mode and times
            elif e.kind in ("chr", "blk"):
                kind = stat.S_IFCHR if e.kind == "chr" else stat.S_IFBLK
                os.mknod(tmp, kind | 0o600, os.makedev(*e.dev), dir_fd=pfd)
            else:
                os.mkfifo(tmp, 0o600, dir_fd=pfd)
            ids = self.owner.of(e)
            if ids is not None:
                os.chown(tmp, *ids, dir_fd=pfd, follow_symlinks=False)
            if e.kind != "symlink":
                os.chmod(tmp, e.mode, dir_fd=pfd)  # after chown, which clears setuid bits
            os.utime(tmp, (e.mtime, e.mtime), dir_fd=pfd, follow_symlinks=False)
            os.rename(tmp, base, src_dir_fd=pfd, dst_dir_fd=pfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=pfd)
            except OSError:
                pass
            raise


def probe(root_fd: int, path: str) -> tuple[bool, bool]:
    """(exists, is a directory) of ``path`` inside the root, following symlinks (inside it),
    as Docker looks at a destination."""
    try:
        fd = paths.open_in_root(root_fd, path)
    except PathError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return False, False
        raise CopyError(str(e)) from None
    try:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    if not is_dir and path.endswith(("/", "/.")):
        raise CopyError(f"{path}: not a directory")
    return True, is_dir
