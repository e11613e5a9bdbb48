"""Where a build step changes files: overlay(lower = the image so far, upper = fresh).

    <root>/build-tmp/<random>/upper    the step's change (becomes the layer)
                              work     overlayfs's work dir
                              merged   the image's filesystem as the step sees it
                              empty    the lower dir of a step on ``scratch``
                              ...      config.json, etc files, secrets, logs of a RUN

Under the storage root, not the run root, so that the upper dir, once diffed, can be renamed
into the snapshot store as the new layer's snapshot (same filesystem) instead of unpacking the
layer blob again. That is safe when overlayfs wrote nothing into the upper dir that means
something only to the mount that wrote it: with ``metacopy`` (files whose data stays in a lower
dir) or ``redirect_dir`` (renamed directories pointing at their lower origin) enabled, a
snapshot made from it would be wrong, so then the layer blob is unpacked instead
(``commit_snapshot``). Other ``trusted.overlay.*`` xattrs (origin, impure) are dropped;
``opaque`` is kept: it is how a snapshot records an emptied directory (image/layer.py).
"""

from __future__ import annotations

import os
import stat

from .._sys import libc
from ..image.snapshots import _MOUNT_DATA_MAX, SnapshotError, _rmtree
from ..oci import image_spec
from ..oci.digest import Digest


def _overlay_param(name: str) -> str:
    try:
        with open(f"/sys/module/overlay/parameters/{name}") as f:
            return f.read().strip()
    except OSError:
        return "N"


def direct_commit_safe() -> bool:
    return _overlay_param("metacopy") in ("N", "n", "0") and _overlay_param("redirect_dir") in ("N", "n", "0", "off")


def ensure_snapshots(store, layers) -> str | None:
    """Unpack the layers (LayerInfo-likes with diff_id and digest) that have no snapshot yet;
    returns the top snapshot's key (None for no layers: scratch)."""
    from ..image.layer import apply_layer

    parent = None
    chains = image_spec.chain_ids([Digest(x.diff_id) for x in layers])
    for layer, chain in zip(layers, chains, strict=True):
        def fill(fs, layer=layer):
            with store.blobs.open(layer.digest) as f:
                apply_layer(f, fs, diff_id=layer.diff_id)
        store.snapshots.commit(str(chain), parent, fill)
        parent = str(chain)
    return parent


def gc_stale(store_root: str) -> int:
    """Remove what builds killed mid-step left in <root>/build-tmp (their mounts too): every
    entry is named ``KIND-PID-...`` by the build that made it; a dead PID's are garbage."""
    parent = os.path.join(store_root, "build-tmp")
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return 0
    n = 0
    for name in names:
        fields = name.split("-")
        if len(fields) < 3 or not fields[1].isdigit() or _alive(int(fields[1])):
            continue
        d = os.path.join(parent, name)
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for m in sorted((p for p in points if p.startswith(d + "/")), key=len, reverse=True):
            try:
                libc.umount2(m.encode().decode("unicode_escape"), libc.MNT_DETACH)
            except OSError:
                pass
        _rmtree(d)
        n += 1
    return n


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Workspace:
    def __init__(self, store, top: str | None) -> None:
        import tempfile

        parent = os.path.join(store.root, "build-tmp")
        os.makedirs(parent, mode=0o700, exist_ok=True)
        self.store, self.top = store, top
        self.dir = tempfile.mkdtemp(prefix=f"step-{os.getpid()}-", dir=parent)
        os.chmod(self.dir, 0o711)  # the container's user must reach merged/ (and nothing else here)
        self.upper = os.path.join(self.dir, "upper")
        self.merged = os.path.join(self.dir, "merged")
        self.mounts: list[str] = []
        self.fds: list[int] = []  # locks held for the step (cache mounts with sharing=locked)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def mount(self) -> str:
        lower = self.store.snapshots.chain(self.top) if self.top else []
        if not lower:
            os.makedirs(self.path("empty"), 0o755, exist_ok=True)
            lower = [self.path("empty")]
        for sub in ("upper", "work", "merged"):
            os.makedirs(self.path(sub), 0o755, exist_ok=True)
        data = f"lowerdir={':'.join(lower)},upperdir={self.upper},workdir={self.path('work')}"
        if len(data) >= _MOUNT_DATA_MAX:
            raise SnapshotError(f"{len(lower)} layers make overlay mount options longer than the kernel's "
                                f"{_MOUNT_DATA_MAX} bytes (not supported yet)")
        libc.mount("overlay", self.merged, "overlay", 0, data)
        self.mounts.append(self.merged)
        return self.merged

    def overlay(self, name: str, lower: list[str]) -> str:
        """A scratch overlay of ``lower`` (writes discarded): a read-write RUN --mount bind."""
        d = self.path(name)
        for sub in ("u", "w", "m"):
            os.makedirs(os.path.join(d, sub), 0o755, exist_ok=True)
        libc.mount("overlay", os.path.join(d, "m"), "overlay", 0,
                   f"lowerdir={':'.join(lower)},upperdir={d}/u,workdir={d}/w")
        self.mounts.append(os.path.join(d, "m"))
        return os.path.join(d, "m")

    def unmount(self) -> None:
        while self.mounts:
            m = self.mounts.pop()
            if os.path.ismount(m):
                libc.umount2(m, libc.MNT_DETACH)

    def close(self) -> None:
        self.unmount()
        while self.fds:
            os.close(self.fds.pop())
        _rmtree(self.dir)

    def remove_stubs(self, stubs: list[str]) -> None:
        """Drop from the upper dir what only the runtime made: the empty files and
        directories it created as mount points (paths relative to the root)."""
        for rel in stubs:
            if not _plain_parents(self.upper, rel):
                continue  # a symlink on the way (the step made it): never act through it
            p = os.path.join(self.upper, rel)
            if os.path.lexists(p) and _only_empty(p):
                if os.path.isdir(p) and not os.path.islink(p):
                    _rmtree(p)
                else:
                    os.unlink(p)

    def restore_parents(self, parents: dict[str, tuple[int, int, int]]) -> None:
        """Drop directories the step only copied up to make a mount point in (/etc for
        /etc/hosts): empty in the upper dir, not emptied (opaque), same mode and owner as
        before (``parents``: relative path -> (mode, uid, gid) seen before the run). The
        lower directory then shows through unchanged, and the layer does not carry it."""
        for rel in sorted(parents, key=len, reverse=True):
            p = os.path.join(self.upper, rel)
            if not _plain_parents(self.upper, rel + "/x"):
                continue
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode) and not os.listdir(p) and (st.st_mode, st.st_uid, st.st_gid) == parents[rel]:
                try:
                    opaque = os.getxattr(p, "trusted.overlay.opaque") == b"y"
                except OSError:
                    opaque = False
                if not opaque:
                    os.rmdir(p)

    def commit_snapshot(self, key: str, parent: str | None, layer) -> None:
        """Make snapshot ``key`` (on ``parent``) for the layer just written from the upper dir."""
        if self.store.snapshots.has(key):
            return
        if direct_commit_safe() and os.stat(self.upper).st_dev == os.stat(self.store.snapshots.dir).st_dev:
            _drop_overlay_xattrs(self.upper)

            def fill(fs):
                os.rmdir(fs)
                os.rename(self.upper, fs)
            self.store.snapshots.commit(key, parent, fill)
            return
        from ..image.layer import apply_layer

        def unpack(fs):
            with self.store.blobs.open(layer.digest) as f:
                apply_layer(f, fs, diff_id=layer.diff_id)
        self.store.snapshots.commit(key, parent, unpack)


def _plain_parents(top: str, rel: str) -> bool:
    p = top
    for part in rel.split("/")[:-1]:
        p = os.path.join(p, part)
        try:
            if not stat.S_ISDIR(os.lstat(p).st_mode):
                return False
        except FileNotFoundError:
            return False
    return True


def existing_parents(root: str, stub: str) -> dict[str, tuple[int, int, int]]:
    """(mode, uid, gid) of the directories above ``stub`` (relative) as they are now."""
    out = {}
    parts = stub.split("/")[:-1]
    for k in range(1, len(parts) + 1):
        rel = "/".join(parts[:k])
        st = os.lstat(os.path.join(root, rel))
        if not stat.S_ISDIR(st.st_mode):
            break
        out[rel] = (st.st_mode, st.st_uid, st.st_gid)
    return out


def missing_top(root: str, path: str) -> str | None:
    """The first component of ``path`` (absolute, in the image) that ``root`` lacks, as a
    relative path: what the runtime will create to mount on. None when all exist."""
    parts = [x for x in path.split("/") if x and x != "."]
    p = root
    for i, part in enumerate(parts):
        p = os.path.join(p, part)
        if not os.path.lexists(p):
            return "/".join(parts[: i + 1])
        if os.path.islink(p):
            return None  # resolved by the runtime inside the rootfs; not ours to guess
    return None


def _only_empty(path: str) -> bool:
    st = os.lstat(path)
    if stat.S_ISREG(st.st_mode):
        return st.st_size == 0
    if not stat.S_ISDIR(st.st_mode):
        return False
    return all(_only_empty(os.path.join(path, n)) for n in os.listdir(path))


def _drop_overlay_xattrs(top: str) -> None:
    for root, dirs, files, rfd in os.fwalk(top):
        for name in [".", *dirs, *files]:
            path = root if name == "." else os.path.join(root, name)
            try:
                names = os.listxattr(path, follow_symlinks=False)
            except OSError:
                continue
            for x in names:
                if x.startswith("trusted.overlay.") and x != "trusted.overlay.opaque":
                    try:
                        os.removexattr(path, x, follow_symlinks=False)
                    except OSError:
                        pass
