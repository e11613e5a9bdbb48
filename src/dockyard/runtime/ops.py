"""Host side of every command after `create`: start, state, kill, delete, run, exec,
pause/resume, update, ps, list, events. Each takes the state root and an id, loads the
container under its lock, checks the status transition, then acts."""

from __future__ import annotations

import os

# _signal, not signal: the signal module builds its Signals enums at import (~4 ms).
import _signal as signal

from ..errors import ConfigError, DockyardError, InvalidState, NotFound
from . import log
from .procs import wait_gone
from .state import CREATED, PAUSED, RUNNING, STOPPED, Container


def manager(c: Container):
    from . import cgroups

    d = c.data.get("cgroup")
    return cgroups.Manager.from_dict(d) if d else None


def status(c: Container) -> str:
    mgr = manager(c) if c.data.get("cgroup") else None
    try:
        return c.status(mgr)
    except DockyardError:
        return c.status(None)


def start(c: Container) -> None:
    """Let the init exec the user process: open the exec fifo and read its one byte."""
    import select

    st = status(c)
    if st != CREATED:
        raise InvalidState(f"cannot start container {c.id!r}: it is {st}, not created")
    try:
        fd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidState(f"container {c.id!r} was already started") from None
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        while True:
            if p.poll(100):
                data = os.read(fd, 1)
                if data == b"0":
                    break
            if not c.alive():
                raise DockyardError(f"container {c.id!r}: init exited before start")
    finally:
        os.close(fd)
    os.unlink(c.fifo)
    poststart = (c.data["config"].get("hooks") or {}).get("poststart")
    if poststart:
        from . import hooks

        hooks.run("poststart", poststart, c.oci_state(RUNNING), warn_only=True, log=log.log)


SIGNALS = {name: getattr(signal, name) for name in dir(signal)
           if name.startswith("SIG") and not name.startswith("SIG_") and isinstance(getattr(signal, name), int)}


def parse_signal(s: str) -> int:
    if s.isdigit():
        n = int(s)
        if 0 < n < 65:
            return n
    else:
        name = s.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        if name in SIGNALS:
            return int(SIGNALS[name])
    raise ConfigError(f"invalid signal {s!r}")


def kill(c: Container, sig: int, all_: bool = False) -> None:
    st = status(c)
    if st == STOPPED and not all_:
        raise InvalidState(f"container {c.id!r} is not running")
    mgr = manager(c)
    if all_ and mgr is not None:
        for pid in mgr.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    else:
        try:
            os.kill(c.data["pid"], sig)
        except ProcessLookupError:
            raise InvalidState(f"container {c.id!r} is not running") from None
    if st == PAUSED and sig == signal.SIGKILL and mgr is not None:
        mgr.thaw()  # a frozen task cannot die until thawed


def delete(c: Container, force: bool = False) -> None:
    st = status(c)
    if st in (RUNNING, PAUSED) and not force:
        raise InvalidState(f"cannot delete container {c.id!r}: it is {st} (stop it first, or use --force)")
    if st == "creating" and not force:
        raise InvalidState(f"container {c.id!r} is still being created")
    mgr = manager(c)
    pid = c.data.get("pid") or 0
    # Also when "stopped": the init of a create that died half-way may still be alive.
    if pid and c.alive():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if st == PAUSED and mgr is not None:
            mgr.thaw()
        if not wait_gone(pid, 10):
            raise DockyardError(f"container {c.id!r}: init {pid} did not exit after SIGKILL")
    if mgr is not None:
        # Without a private pid namespace, processes may outlive the init: kill them too.
        for _ in range(50):
            left = mgr.pids()
            if not left:
                break
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            import time

            time.sleep(0.01)
    poststop = ((c.data.get("config") or {}).get("hooks") or {}).get("poststop")
    if poststop and c.data.get("status") != "creating":
        from . import hooks

        hooks.run("poststop", poststop, c.oci_state(STOPPED), warn_only=True, log=log.log)
    if mgr is not None:
        mgr.destroy()
    c.remove()


def state_json(c: Container) -> dict:
    st = status(c)
    s = c.oci_state(st)
    s.update({"rootfs": c.data.get("rootfs", ""), "created": c.data.get("created", ""), "owner": ""})
    return s


def pause(c: Container) -> None:
    st = status(c)
    if st not in (RUNNING, CREATED):
        raise InvalidState(f"cannot pause container {c.id!r}: it is {st}")
    mgr = manager(c)
    if mgr is None:
        raise DockyardError(f"container {c.id!r} has no cgroup to freeze")
    mgr.freeze()


def resume(c: Container) -> None:
    st = status(c)
    if st != PAUSED:
        raise InvalidState(f"cannot resume container {c.id!r}: it is {st}, not paused")
    manager(c).thaw()


def update(c: Container, resources: dict) -> list[str]:
    st = status(c)
    if st == STOPPED:
        raise InvalidState(f"cannot update container {c.id!r}: it is stopped")
    mgr = manager(c)
    warnings = mgr.set(resources)
    cfg = c.data["config"]
    linux = cfg.setdefault("linux", {})
    merged = linux.setdefault("resources", {})
    for k, v in resources.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k].update(v)
        else:
            merged[k] = v
    c.save()
    return warnings


def stats(c: Container) -> dict:
    mgr = manager(c)
    return {"type": "stats", "id": c.id, "data": mgr.stats() if mgr else {}}


def pids(c: Container) -> list[int]:
    mgr = manager(c)
    return mgr.pids() if mgr else ([c.data["pid"]] if c.alive() else [])


def wait_exit(pid: int, forward: bool = True) -> int:
    """Wait for ``pid`` (our child, or orphan we reap as subreaper), forwarding signals.
    Returns the exit code as a shell reports it (128+N for a signal)."""
    if forward:
        def fwd(sig, _frame):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                  signal.SIGUSR2, signal.SIGWINCH):
            signal.signal(s, fwd)
    while True:
        try:
            got, status_ = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        except InterruptedError:
            continue
        if got == pid:
            code = os.waitstatus_to_exitcode(status_)
            return code if code >= 0 else 128 - code


def load(root: str, cid: str, lock: bool = True) -> Container:
    return Container.load(root, cid, lock)


def exists(root: str, cid: str) -> bool:
    try:
        Container.load(root, cid, lock=False).close()
        return True
    except NotFound:
        return False
