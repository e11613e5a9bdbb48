"""Container state under ``--root``: one directory per container id.

    <root>/<id>/state.json   what we know (pid + its start time, bundle, cgroup, config)
    <root>/<id>/exec.fifo    exists from create until start (the init blocks on it)
    <root>/<id>/lock         flock'd by every command acting on the id

Creating the directory with mkdir(2) is what reserves an id, so two concurrent
``create``s of one id cannot both succeed. Every other command takes an exclusive flock on
``lock`` for its whole run, so a ``start`` cannot race a ``delete``.

Status is derived, not stored, because the process can die at any time without telling us:
the pid is checked (with its start time, so a recycled pid is not mistaken for ours), then
the freezer, then whether the exec fifo is still there.
"""

from __future__ import annotations

import errno
import fcntl
import os

from ..errors import AlreadyExists, ConfigError, NotFound
from .procs import proc_start_time

# runc's rule (^[\w+-.]+$), checked without importing re: it costs ~1 ms on every call.
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def _valid(cid: str) -> bool:
    return bool(cid) and set(cid) <= _ID_CHARS
CREATING, CREATED, RUNNING, PAUSED, STOPPED = "creating", "created", "running", "paused", "stopped"


def check_id(cid: str) -> None:
    if not cid or cid in (".", "..") or not _valid(cid) or len(cid) > 1024:
        raise ConfigError(f"invalid container id {cid!r}: use letters, digits, '_', '+', '-' and '.'")


class Container:
    """A handle on one container's state directory, holding its lock."""

    def __init__(self, root: str, cid: str, dirfd: int, lockfd: int, data: dict) -> None:
        self.root, self.id, self.dirfd, self.lockfd, self.data = root, cid, dirfd, lockfd, data

    @property
    def dir(self) -> str:
        return os.path.join(self.root, self.id)

    @property
    def fifo(self) -> str:
        return os.path.join(self.dir, "exec.fifo")

    @classmethod
    def new(cls, root: str, cid: str) -> "Container":
        check_id(cid)
        os.makedirs(root, mode=0o711, exist_ok=True)
        path = os.path.join(root, cid)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise AlreadyExists(f"container {cid!r} already exists") from None
        dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        lockfd = os.open("lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600, dir_fd=dirfd)
        fcntl.flock(lockfd, fcntl.LOCK_EX)
        return cls(root, cid, dirfd, lockfd, {"id": cid, "status": CREATING})

    @classmethod
    def load(cls, root: str, cid: str, lock: bool = True) -> "Container":
        check_id(cid)
        path = os.path.join(root, cid)
        try:
            dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"container {cid!r} does not exist") from None
        lockfd = -1
        try:
            if lock:
                lockfd = os.open("lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600, dir_fd=dirfd)
                fcntl.flock(lockfd, fcntl.LOCK_EX)
            data = _read_state(dirfd)
        except BaseException:
            os.close(dirfd)
            if lockfd >= 0:
                os.close(lockfd)
            raise
        if data is None:
            # A create that died before writing state.json: a half-made container. Report it
            # as stopped so `delete` can clean it up.
            data = {"id": cid, "status": CREATING, "pid": 0}
        return cls(root, cid, dirfd, lockfd, data)

    def save(self) -> None:
        from .. import _json as json

        tmp = f"state.json.{os.getpid()}"
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, 0o600, dir_fd=self.dirfd)
        try:
            os.write(fd, json.dumps(self.data).encode())
        finally:
            os.close(fd)
        os.rename(tmp, "state.json", src_dir_fd=self.dirfd, dst_dir_fd=self.dirfd)

    def oci_state(self, status: str) -> dict:
        """The runtime-spec state object (what `state` prints and hooks get on stdin)."""
        from ..oci.runtime_spec import OCI_VERSION

        d = self.data
        return {"ociVersion": OCI_VERSION, "id": self.id, "status": status,
                "pid": d.get("pid", 0) if status != STOPPED else 0, "bundle": d.get("bundle", ""),
                "annotations": (d.get("config") or {}).get("annotations") or {}}

    def alive(self) -> bool:
        pid = self.data.get("pid") or 0
        return pid > 0 and proc_start_time(pid) == self.data.get("pid_start")

    def status(self, cgroup=None) -> str:
        if self.data.get("status") == CREATING:
            # A create still under way, or one that died half-way (killed): that container
            # never became usable, whatever its init is doing; `delete` cleans it up.
            return CREATING if self._creator_alive() else STOPPED
        if not self.alive():
            return STOPPED
        if cgroup is not None and cgroup.frozen():
            return PAUSED
        try:
            os.stat("exec.fifo", dir_fd=self.dirfd)
            return CREATED
        except FileNotFoundError:
            return RUNNING

    def _creator_alive(self) -> bool:
        pid = self.data.get("creator", 0)
        return bool(pid) and proc_start_time(pid) is not None

    def remove(self) -> None:
        """Delete the state directory (called last in delete, holding the lock)."""
        for name in os.listdir(self.dirfd):
            try:
                os.unlink(name, dir_fd=self.dirfd)
            except IsADirectoryError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        self.close()

    def close(self) -> None:
        for fd in (self.lockfd, self.dirfd):
            if fd >= 0:
                os.close(fd)
        self.lockfd = self.dirfd = -1


def _read_state(dirfd: int) -> dict | None:
    from .. import _json as json

    try:
        fd = os.open("state.json", os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            return json.loads(f.read())
        except ValueError:
            return None


def list_ids(root: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(root) if _valid(n) and os.path.isdir(os.path.join(root, n)))
    except FileNotFoundError:
        return []
