"""Host side of `exec`: a new process in a running container's namespaces and cgroup.

Same stages as `create` (see sync.py), minus the rootfs: stage 1 setns()es into each
namespace of the container's init that differs from ours (joining the mount namespace
also moves us to the container's root), then forks stage 2, which applies the process
(user, caps, rlimits, seccomp from the container's config) and execs.
"""

from __future__ import annotations

import os

from ..errors import ConfigError, InvalidState
from ..oci import runtime_spec
from . import init, sync
from . import procs
from .create import answer_until_ready, load_seccomp
from .ops import manager, status
from .state import CREATED, RUNNING, Container

NS_FILES = {"user": "user", "ipc": "ipc", "uts": "uts", "network": "net", "pid": "pid",
            "cgroup": "cgroup", "time": "time", "mount": "mnt"}


def _ns_to_join(pid: int) -> dict[str, str]:
    join = {}
    for t, f in NS_FILES.items():
        theirs = f"/proc/{pid}/ns/{f}"
        try:
            a, b = os.stat(theirs), os.stat(f"/proc/self/ns/{f}")
        except FileNotFoundError:
            continue
        if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
            join[t] = theirs
    return join


def build_process(c: Container, process_file: str | None, args: list[str], *, env=(), cwd=None, user=None,
                  tty=False, caps=(), no_new_privs=None, additional_gids=()) -> dict:
    """The process to exec: a process.json, or the container's own process with overrides
    (runc's `exec ARGS...` semantics)."""
    if process_file:
        proc = runtime_spec.load_json(process_file, "process.json")
        runtime_spec.validate_process(proc, "process.json")
        return proc
    if not args:
        raise ConfigError("exec needs a command (or --process FILE)")
    import copy

    proc = copy.deepcopy(c.data["config"]["process"])
    proc["args"] = list(args)
    proc["env"] = list(proc.get("env") or []) + list(env)
    proc["terminal"] = tty
    if cwd:
        proc["cwd"] = cwd
    if user:
        uid, _, gid = user.partition(":")
        try:
            proc["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        except ValueError:
            raise ConfigError(f"--user {user!r}: expected UID[:GID]") from None
    if additional_gids:
        proc.setdefault("user", {})["additionalGids"] = [int(g) for g in additional_gids]
    if caps:
        pc = proc.setdefault("capabilities", {})
        for s in ("bounding", "effective", "permitted", "ambient"):
            pc[s] = list(dict.fromkeys(list(pc.get(s) or []) + list(caps)))
    if no_new_privs is not None:
        proc["noNewPrivileges"] = no_new_privs
    runtime_spec.validate_process(proc)
    return proc


def exec_(c: Container, proc: dict, *, pid_file=None, console_socket=None, detach=False,
          preserve_fds: int = 0) -> tuple[int, int | None]:
    """Start the process; returns (host pid, pty master to proxy or None). The container
    lock is released once the process runs, so a long `exec` does not block `kill`."""
    st = status(c)
    if st not in (RUNNING, CREATED):
        raise InvalidState(f"cannot exec in container {c.id!r}: it is {st}")
    if proc.get("terminal") and detach and not console_socket:
        raise ConfigError("exec --tty --detach needs --console-socket")
    cfg = c.data["config"]
    flt = load_seccomp(cfg)
    has_userns = any(n["type"] == "user" for n in runtime_spec.namespace_list(cfg))
    plan = {"config": cfg, "process": proc, "join": _ns_to_join(c.data["pid"]), "unshare": 0,
            "new_userns": False, "root_mapped": False, "seccomp": flt, "setgroups_ok": not has_userns,
            "stage2": init.exec_stage2}
    init.preload(plan)
    mgr = manager(c)
    procs.cloexec_inherited(preserve_fds)
    host, child_end = sync.pair()
    child = os.fork()
    if child == 0:
        init.run_stage1(child_end, plan, close=(c.lockfd, host))
    child_end.close()
    try:
        if mgr is not None:
            mgr.add(child)
        pid, master = _drive(host, c, child, console_socket, keep_console=not console_socket)
    except BaseException:
        try:
            os.kill(child, 9)
            os.waitpid(child, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        raise
    finally:
        host.close()
    if pid_file:
        procs.write_pid_file(pid_file, pid)
    c.close()
    return pid, master


def _drive(host, c: Container, child: int, console_socket, keep_console: bool):
    """Stage 1 joins the namespaces and reports stage 2's pid; then the same requests as
    for an init (console, seccomp listener) until "ready". No userns maps, no hooks."""
    sync.send(host, {"t": "go"})
    msg, _ = sync.expect(host, "pid", 30)
    os.waitpid(child, 0)
    return answer_until_ready(host, c, msg["pid"], console_socket, keep_console)
