"""Snapshots: unpacked layers, stacked with overlayfs for each container.

    <root>/snapshots/<key>/fs        one layer, unpacked in overlay form (layer.py)
    <root>/snapshots/<key>/parent    the key of the layer below, absent for a base layer

A key names a layer *with everything below it* (the image-spec's ChainID), so one unpacked
layer is shared by every image and container built on the same chain. A snapshot appears
under its key only when complete: it is unpacked into a temporary directory and renamed into
place, so a crash or a bad layer leaves at most a ``.tmp-*`` directory that ``gc_temp``
removes, never a half layer under a real key. Two processes unpacking the same chain at
once both finish; one rename wins and the other's copy is dropped.

A container's root filesystem is an overlay mount: lowerdir = the chain's ``fs`` dirs (top
first), upperdir/workdir = the container's own, so writes never touch the shared layers.
"""

from __future__ import annotations

import os

from .._sys import libc
from ..errors import DockyardError


def _rmtree(path: str) -> None:
    """shutil.rmtree(path, ignore_errors=True) without importing shutil (it brings fnmatch,
    re, bz2, lzma: ~4 ms at the end of every `run --rm`). fwalk never follows symlinks and
    works relative to directory fds, so a link planted in a container's upper dir cannot
    redirect the removal."""
    try:
        for _root, dirs, files, fd in os.fwalk(path, topdown=False):
            for name in files:
                _ignore(os.unlink, name, fd)
            for name in dirs:  # a symlink to a directory is listed here, not descended
                try:
                    os.rmdir(name, dir_fd=fd)
                except NotADirectoryError:
                    _ignore(os.unlink, name, fd)
                except OSError:
                    pass
        os.rmdir(path)
    except OSError:
        pass


def _ignore(fn, name: str, fd: int) -> None:
    try:
        fn(name, dir_fd=fd)
    except OSError:
        pass


# overlayfs parses lowerdir from one mount option, and the kernel caps mount data at a page.
_MOUNT_DATA_MAX = 4096


class SnapshotError(DockyardError):
    code = "snapshot"


def _check_key(key: str) -> str:
    if not key or len(key) > 160 or not all(c.isalnum() or c in "-_:" for c in key) or key.startswith("."):
        raise SnapshotError(f"invalid snapshot key {key!r}")
    return key.replace(":", "-")  # a directory name without ':' (overlay's lowerdir separator)


class Snapshots:
    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "snapshots")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)

    def path(self, key: str) -> str:
        return os.path.join(self.dir, _check_key(key))

    def has(self, key: str) -> bool:
        return os.path.isdir(os.path.join(self.path(key), "fs"))

    def parent(self, key: str) -> str | None:
        try:
            with open(os.path.join(self.path(key), "parent")) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def commit(self, key: str, parent: str | None, fill) -> str:
        """Create snapshot ``key`` on top of ``parent`` by calling ``fill(fs_dir)`` (which
        unpacks a layer into it). Returns the snapshot's fs dir; an existing one is reused."""
        if self.has(key):
            return os.path.join(self.path(key), "fs")
        if parent is not None and not self.has(parent):
            raise SnapshotError(f"snapshot {key}: parent {parent} does not exist")
        tmp = self.begin()
        try:
            fill(os.path.join(tmp, "fs"))
            return self.publish(tmp, key, parent)
        except BaseException:
            self.discard(tmp)
            raise

    # commit in two steps, for callers that fill several snapshots of one chain at once (a
    # layer in overlay form never reads the layers below it) and publish them in chain order
    def begin(self) -> str:
        """A fresh ``.tmp-*`` directory with an empty ``fs`` in it, for one layer."""
        import tempfile

        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=self.dir)
        try:
            os.mkdir(os.path.join(tmp, "fs"), 0o755)
        except BaseException:
            _rmtree(tmp)
            raise
        return tmp

    def publish(self, tmp: str, key: str, parent: str | None) -> str:
        """Rename the filled ``tmp`` (from begin) into place as ``key``; its parent must be
        committed already, so a chain never has a hole. Returns the fs dir. On error the
        caller still owns ``tmp`` (discard it); on success it is gone."""
        final = self.path(key)
        if parent is not None and not self.has(parent):
            raise SnapshotError(f"snapshot {key}: parent {parent} does not exist")
        if parent is not None:
            with open(os.path.join(tmp, "parent"), "w") as f:
                f.write(parent)
        try:
            os.rename(tmp, final)
        except OSError:
            if not self.has(key):  # not a lost race: a real failure
                raise
            _rmtree(tmp)  # someone else committed it first
        return os.path.join(final, "fs")

    @staticmethod
    def discard(tmp: str) -> None:
        _rmtree(tmp)

    def chain(self, key: str) -> list[str]:
        """The fs dirs of ``key`` and every layer below it, top first."""
        out, seen = [], set()
        k: str | None = key
        while k is not None:
            if k in seen or not self.has(k):
                raise SnapshotError(f"snapshot chain of {key} is broken at {k}")
            seen.add(k)
            out.append(os.path.join(self.path(k), "fs"))
            k = self.parent(k)
        return out

    def mount(self, key: str, dest: str) -> str:
        """Mount the chain ``key`` read-write at ``dest``/merged (upper and work beside it);
        returns the merged directory. ``dest`` belongs to one container."""
        lower = ":".join(self.chain(key))
        for sub in ("upper", "work", "merged"):
            os.makedirs(os.path.join(dest, sub), mode=0o755, exist_ok=True)
        merged = os.path.join(dest, "merged")
        data = f"lowerdir={lower},upperdir={os.path.join(dest, 'upper')},workdir={os.path.join(dest, 'work')}"
        if len(data) >= _MOUNT_DATA_MAX:
            raise SnapshotError(f"snapshot {key}: {len(self.chain(key))} layers make overlay mount options longer "
                                f"than the kernel's {_MOUNT_DATA_MAX} bytes (not supported yet)")
        libc.mount("overlay", merged, "overlay", 0, data)
        return merged

    @staticmethod
    def unmount(dest: str, remove: bool = True) -> None:
        merged = os.path.join(dest, "merged")
        if os.path.ismount(merged):
            libc.umount2(merged, libc.MNT_DETACH)
        if remove:
            _rmtree(dest)

    def remove(self, key: str) -> None:
        """Delete one snapshot (the caller knows nothing is built on it)."""
        final = self.path(key)
        if not os.path.exists(final):
            return
        doomed = os.path.join(self.dir, f".tmp-rm-{os.getpid()}-{os.path.basename(final)}")
        os.rename(final, doomed)  # atomic: the key disappears at once, the tree goes after
        _rmtree(doomed)

    def gc_temp(self) -> int:
        """Remove leftovers of interrupted commits/removals; returns how many."""
        n = 0
        for name in os.listdir(self.dir):
            if name.startswith(".tmp-"):
                _rmtree(os.path.join(self.dir, name))
                n += 1
        return n
