"""Apply one image layer (a tar stream: plain, gzip or zstd) onto a directory.

Layers are hostile input. Every entry is placed fd-relative under the target (see
``_sys/paths.py``): parents are resolved inside the target (an absolute symlink points back
into it, a ``..`` that would climb out is refused), and the last component is never followed
— an existing symlink of that name is replaced, not written through. So neither ``../x``,
``/etc/x``, "symlink to /etc, then write link/passwd" nor a hardlink to a host file can write
outside the target. Anything refused raises ``LayerError``; apply into a fresh directory and
throw it away on error (the snapshotter does), so a bad layer leaves nothing half-applied.

Whiteouts (image-spec layer.md), two ways:

    overlay   keep them as overlayfs sees them in an upper/lower dir: ".wh.NAME" becomes a
              0:0 character device NAME, ".wh..wh..opq" the xattr trusted.overlay.opaque=y
              on its directory — for snapshots stacked with overlayfs
    apply     perform them: remove NAME, empty the directory — for a flattened rootfs
              (`import`, `export`, building a bundle without overlay)

Streaming all the way: memory stays bounded whatever the layer's size or entry count (only
directories' mtimes are kept, to set them last, since creating entries changes them).
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile

from .._sys import paths
from ..errors import DockyardError, PathError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_CHUNK = 1 << 20
# xattrs a layer may not set: overlayfs's own (a layer could fake whiteouts or redirects).
_FORBIDDEN_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


class LayerError(DockyardError):
    code = "layer"


class Stats:
    __slots__ = ("entries", "bytes", "whiteouts", "skipped")

    def __init__(self) -> None:
        self.entries = self.bytes = self.whiteouts = 0
        self.skipped: list[str] = []  # what could not be applied here, with why (not errors)


def open_stream(fileobj):
    """Wrap a layer stream by its magic bytes: gzip, zstd (via Debian's zstd), or plain."""
    head = fileobj.peek(4)[:4] if hasattr(fileobj, "peek") else b""
    if not head:
        import io

        fileobj = io.BufferedReader(fileobj)
        head = fileobj.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":
        import gzip

        return gzip.GzipFile(fileobj=fileobj, mode="rb")
    if head == b"\x28\xb5\x2f\xfd":
        return _zstd_reader(fileobj)
    return fileobj


def _zstd_reader(fileobj):
    """zstd has no stdlib module in Python 3.11: stream through the zstd tool."""
    import shutil
    import subprocess
    import threading

    exe = shutil.which("zstd")
    if not exe:
        raise LayerError("zstd-compressed layer: the zstd tool is not installed (apt install zstd)")
    p = subprocess.Popen([exe, "-dc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def feed():
        try:
            while chunk := fileobj.read(_CHUNK):
                p.stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            pass
        finally:
            try:
                p.stdin.close()
            except OSError:
                pass

    threading.Thread(target=feed, daemon=True).start()
    return p.stdout


def _split(name: str) -> list[str]:
    parts = [x for x in name.replace("\\", "/").split("/") if x not in ("", ".")]
    if any(x == ".." for x in parts):
        raise LayerError(f"layer entry {name!r} climbs out with '..': refused")
    return parts


class _Applier:
    def __init__(self, root: str, whiteouts: str, same_owner: bool) -> None:
        if whiteouts not in ("overlay", "apply"):
            raise ValueError("whiteouts must be 'overlay' or 'apply'")
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.whiteouts, self.same_owner = whiteouts, same_owner
        self.stats = Stats()
        self.dir_times: list[tuple[list[str], float]] = []

    def close(self) -> None:
        os.close(self.root_fd)

    def parent(self, parts: list[str]) -> int:
        """A directory fd for the entry's parent, created if missing, inside the root."""
        try:
            fd = paths.open_in_root(self.root_fd, "/".join(parts[:-1]), create="dir")
        except PathError as e:
            raise LayerError(f"layer entry {'/'.join(parts)!r}: {e}") from None
        try:
            return os.open(paths.fd_path(fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except NotADirectoryError:
            raise LayerError(f"layer entry {'/'.join(parts)!r}: a parent is not a directory") from None
        finally:
            os.close(fd)

    def apply(self, tar: tarfile.TarFile) -> None:
        for m in tar:
            self.stats.entries += 1
            parts = _split(m.name)
            if not parts:
                continue  # the root itself ("./"): nothing to create
            base = parts[-1]
            if base.startswith(WHITEOUT):
                self.whiteout(parts)
                continue
            pfd = self.parent(parts)
            try:
                self.entry(tar, m, pfd, base, parts)
            finally:
                os.close(pfd)
        for parts, mtime in reversed(self.dir_times):  # deepest last-created first
            try:
                fd = paths.open_in_root(self.root_fd, "/".join(parts))
            except PathError:
                continue
            try:
                os.utime(paths.fd_path(fd), (mtime, mtime))
            finally:
                os.close(fd)

    # -- whiteouts ------------------------------------------------------------------
    def whiteout(self, parts: list[str]) -> None:
        self.stats.whiteouts += 1
        base = parts[-1]
        pfd = self.parent(parts)
        try:
            if base == OPAQUE:
                if self.whiteouts == "overlay":
                    os.setxattr(paths.fd_path(pfd), "trusted.overlay.opaque", b"y")
                else:
                    for name in os.listdir(pfd):
                        _remove(pfd, name)
                return
            name = base[len(WHITEOUT):]
            if name in ("", ".", "..") or "/" in name:
                raise LayerError(f"layer whiteout {'/'.join(parts)!r} names {name!r}: refused")
            if self.whiteouts == "overlay":
                _remove(pfd, name)
                os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
            else:
                _remove(pfd, name)
        finally:
            os.close(pfd)

    # -- one entry --------------------------------------------------------------------
    def entry(self, tar, m: tarfile.TarInfo, pfd: int, base: str, parts: list[str]) -> None:
        if m.isdir():
            try:
                st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    _remove(pfd, base)
                    os.mkdir(base, 0o700, dir_fd=pfd)
            except FileNotFoundError:
                os.mkdir(base, 0o700, dir_fd=pfd)
            self.dir_times.append((parts, m.mtime))
        else:
            _remove(pfd, base)  # never write through what is there (a symlink, say)
            if m.isreg():
                fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=pfd)
                with os.fdopen(fd, "wb") as out:
                    src = tar.extractfile(m)
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                self.stats.bytes += m.size
            elif m.issym():
                os.symlink(m.linkname, base, dir_fd=pfd)
            elif m.islnk():
                self.hardlink(m, pfd, base)
                return  # a hardlink shares its target's metadata
            elif m.ischr() or m.isblk():
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                try:
                    os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
                except PermissionError:
                    self.stats.skipped.append(f"{m.name}: device node (mknod not permitted here)")
                    return
            elif m.isfifo():
                os.mkfifo(base, 0o600, dir_fd=pfd)
            else:
                self.stats.skipped.append(f"{m.name}: unsupported entry type {m.type!r}")
                return
        self.metadata(m, pfd, base)

    def hardlink(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        target = _split(m.linkname)
        if not target:
            raise LayerError(f"layer hardlink {m.name!r} to the root: refused")
        tfd = self.parent(target)  # inside the root, like any other path of the layer
        try:
            st = os.stat(target[-1], dir_fd=tfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise LayerError(f"layer hardlink {m.name!r} to a directory: refused")
            os.link(target[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            raise LayerError(f"layer hardlink {m.name!r}: target {m.linkname!r} is not in the layers") from None
        finally:
            os.close(tfd)

    def metadata(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        is_link = m.issym()
        if self.same_owner:
            os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        for key, value in (m.pax_headers or {}).items():
            if key.startswith("SCHILY.xattr."):
                name = key[len("SCHILY.xattr."):]
                if name.startswith(_FORBIDDEN_XATTR_PREFIXES):
                    self.stats.skipped.append(f"{m.name}: xattr {name} (overlayfs's own) not applied")
                    continue
                try:
                    os.setxattr(f"{paths.fd_path(pfd)}/{base}", name,
                                value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
                except OSError as e:
                    if e.errno not in (errno.ENOTSUP, errno.EPERM):
                        raise
                    self.stats.skipped.append(f"{m.name}: xattr {name} ({e.strerror})")
        if not is_link:
            # after chown, which clears setuid/setgid bits
            os.chmod(base, m.mode & 0o7777, dir_fd=pfd)
        try:
            os.utime(base, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)
        except OSError:
            pass


def _remove(dfd: int, name: str) -> None:
    """Remove ``name`` in the directory ``dfd`` whatever it is (a tree: recursively, by fd)."""
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            for child in os.listdir(sub):
                _remove(sub, child)
        finally:
            os.close(sub)
        os.rmdir(name, dir_fd=dfd)
    else:
        os.unlink(name, dir_fd=dfd)


class _Hashing:
    """A read-only stream that hashes what passes through (the layer's DiffID is the digest
    of the *uncompressed* tar, checked as it is applied, with no second pass)."""

    def __init__(self, raw) -> None:
        from ..oci.digest import Hasher

        self.raw, self.hasher = raw, Hasher()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hasher.update(data)
        return data

    def drain(self):
        while self.read(_CHUNK):
            pass  # the tar end-of-archive padding and anything after it count too
        return self.hasher.digest()


def apply_layer(stream, target: str, *, whiteouts: str = "overlay", same_owner: bool | None = None,
                diff_id: str | None = None) -> Stats:
    """Unpack the layer read from ``stream`` (a binary file object) onto ``target``. With
    ``diff_id``, the uncompressed tar must hash to it, or LayerError (apply into a directory
    you can throw away: the mismatch is known only at the end)."""
    same_owner = os.geteuid() == 0 if same_owner is None else same_owner
    a = _Applier(target, whiteouts, same_owner)
    try:
        raw = open_stream(stream)
        hashing = _Hashing(raw) if diff_id else None
        with tarfile.open(fileobj=hashing or raw, mode="r|") as tar:
            a.apply(tar)
        if hashing is not None:
            got = hashing.drain()
            if got != diff_id:
                raise LayerError(f"layer content is {got}, not the DiffID {diff_id} the image config names")
    except tarfile.TarError as e:
        raise LayerError(f"layer is not a valid tar stream: {e}") from None
    except OSError as e:
        if isinstance(e, PathError):
            raise LayerError(str(e)) from None
        raise LayerError(f"applying layer: {e.strerror or e}" + (f": {e.filename}" if e.filename else "")) from None
    finally:
        a.close()
    return a.stats
