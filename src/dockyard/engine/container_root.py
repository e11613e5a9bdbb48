"""A container's file system as its own processes see it, open as a root directory fd
(for `cp`; any verb that reads or writes a container's files can use it).

* A container with an init (created, running, paused): ``/proc/PID/root`` of the init. That
  is the root of the container's own mount namespace: a path walk from it crosses the
  container's volumes, binds and tmpfs mounts, and a read-only root stays read-only (EROFS).
  The engine neither forks nor joins a namespace for this (DESIGN.md §3).
* A stopped container: a helper — a fresh, single-threaded interpreter, so it may unshare —
  makes a private mount namespace, mounts the container's overlay there when it is not
  mounted already, its bind mounts (volumes, -v binds, /etc/hosts ...) as the runtime would,
  remounts the root read-only for --read-only, and chroots into it; we then use
  ``/proc/HELPER/root`` exactly as for a running container. None of these mounts is visible
  on the host, and all of them go with the helper's namespace when it exits, which it does
  when its stdin closes — so nothing is left mounted even if `dockyard cp` is killed.
  Like Docker, tmpfs mounts are not made for a stopped container (they would be empty).

    engine                                   helper (this module's main)
      | spawn, stdin and stdout pipes  --->    unshare(NEWNS); / rprivate; overlay, binds,
      |                                        read-only root; chroot
      | <---  "ready\\n"  or  "error MSG\\n"
      | open /proc/HELPER/root, copy
      | close stdin  --->                      read() sees EOF: exit; its mounts go with it
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager

from ..errors import DockyardError

_ROOT_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class ContainerRootError(DockyardError):
    code = "container-root"


class Root:
    """An open container root: ``fd`` (O_PATH directory), ``spec`` (its config.json),
    ``running`` (seen through a live init rather than a private mount)."""

    def __init__(self, fd: int, spec: dict, running: bool) -> None:
        self.fd, self.spec, self.running = fd, spec, running

    @property
    def user(self) -> tuple[int, int]:
        """The uid:gid the container's process runs as (``run -u``, the image's USER)."""
        u = (self.spec.get("process") or {}).get("user") or {}
        return int(u.get("uid", 0)), int(u.get("gid", 0))


def _init_pid(cid: str) -> int:
    """The pid of the container's init if it has one (created, running or paused), else 0."""
    from .lifecycle import _runtime

    p = _runtime("state", cid)
    if p.returncode != 0:
        return 0
    try:
        state = json.loads(p.stdout)
    except ValueError:
        return 0
    if state.get("status") not in ("created", "running", "paused"):
        return 0
    return int(state.get("pid") or 0)


@contextmanager
def open_root(images, containers, rec):
    """Yield a Root for the container ``rec``; everything it opened or mounted is gone after."""
    d = containers.path(rec.id)
    try:
        with open(os.path.join(d, "config.json")) as f:
            spec = json.load(f)
    except (OSError, ValueError) as e:
        raise ContainerRootError(f"container {rec.name} has no readable config.json: {e}") from None
    pid = _init_pid(rec.id)
    if pid:
        fd = _open_proc_root(pid)
        # the pid could have been reused between `state` and the open: ask again, now that
        # the fd pins whatever it names
        if fd is not None and _init_pid(rec.id) == pid:
            try:
                yield Root(fd, spec, running=True)
            finally:
                os.close(fd)
            return
        if fd is not None:
            os.close(fd)
    lock = containers.lock(rec.id)  # rm, and a restart policy's start, wait until we are done
    try:
        with _stopped_root(images, containers, rec, d, spec) as root:
            yield root
    finally:
        containers.unlock(rec.id, lock)


def _open_proc_root(pid: int) -> int | None:
    try:
        return os.open(f"/proc/{pid}/root", _ROOT_FLAGS)
    except OSError:
        return None  # exited meanwhile: treat the container as stopped


@contextmanager
def _stopped_root(images, containers, rec, d: str, spec: dict):
    import dockyard

    snapshot = []
    if not os.path.ismount(os.path.join(d, "merged")):
        img = images.get(rec.image)
        snapshot = [os.path.dirname(images.snapshots.dir), images.unpack(img)]
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))
    code = (f"import sys; sys.path.insert(0, {pkg_parent!r}); "
            "from dockyard.engine.container_root import helper_main; sys.exit(helper_main(sys.argv[1:]))")
    p = subprocess.Popen([sys.executable, "-I", "-S", "-c", code, d, *snapshot], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, close_fds=True)
    fd = None
    try:
        line = p.stdout.readline().decode(errors="replace").strip()
        if line != "ready":
            msg = line.removeprefix("error ") or f"the helper exited with status {p.wait()}"
            raise ContainerRootError(f"cannot open the file system of container {rec.name}: {msg}")
        fd = os.open(f"/proc/{p.pid}/root", _ROOT_FLAGS)
        yield Root(fd, spec, running=False)
    finally:
        if fd is not None:
            os.close(fd)  # the last reference to the private mounts outside the helper
        p.stdin.close()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        p.stdout.close()


# -- the helper (runs in its own process) ------------------------------------------------


def helper_main(argv: list[str]) -> int:
    """argv: BUNDLE_DIR [STORAGE_ROOT KEY] (the snapshot to mount when the container's
    overlay is not mounted). Reports "ready" or "error MSG" on stdout, then waits for EOF."""
    out = sys.stdout
    try:
        _prepare(argv[0], argv[1:])
    except Exception as e:  # noqa: BLE001 - reported to the engine as data, one line
        out.write(f"error {e}\n".replace("\n", " ").rstrip() + "\n")
        out.flush()
        return 1
    out.write("ready\n")
    out.flush()
    while sys.stdin.buffer.read(4096):
        pass
    return 0


def _prepare(bundle: str, snapshot: list[str]) -> None:
    from .._sys import libc
    from ..runtime import mounts

    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    libc.unshare(libc.CLONE_NEWNS)
    # private first: nothing mounted below may propagate back to the host's namespace
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    merged = os.path.join(bundle, "merged")
    if snapshot:
        from ..image.snapshots import Snapshots

        Snapshots(snapshot[0]).mount(snapshot[1], bundle)
    root_fd = os.open(merged, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in spec.get("mounts") or ():
            if m.get("type") == "bind" or {"bind", "rbind"} & set(m.get("options") or ()):
                mounts.mount_one(root_fd, m, bundle, None)
    finally:
        os.close(root_fd)
    if (spec.get("root") or {}).get("readonly"):
        # a recursive bind of the root onto itself carries the binds; only its top is made
        # read-only, as the runtime leaves the container's volumes writable
        libc.mount(merged, merged, None, libc.MS_BIND | libc.MS_REC)
        libc.mount(None, merged, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY)
    os.chroot(merged)
    os.chdir("/")
