"""Host side of `create` (and of `exec`): plan, fork the stages, answer them, record state.

The plan is a plain dict computed here, before any fork, so that every error we can
detect early (bad config, bad seccomp profile, cgroup trouble) is reported before a process
exists. The forked stages receive it by memory copy; see ``sync.py`` for the conversation.
"""

from __future__ import annotations

import os

from ..errors import ConfigError, DockyardError
from ..oci import runtime_spec
from . import cgroup_plan, log, procs, sync
from .procs import proc_start_time
from .state import CREATED, Container


def _namespace_plan(cfg: dict) -> tuple[dict[str, str], int, set[str]]:
    join, unshare, new = {}, 0, set()
    for ns in runtime_spec.namespace_list(cfg):
        if ns.get("path"):
            join[ns["type"]] = ns["path"]
        else:
            new.add(ns["type"])
            # user: unshared first, alone (maps must be written between); cgroup: by the
            # init itself once it is in its cgroup, so that cgroup becomes its namespace root.
            if ns["type"] not in ("user", "cgroup"):
                unshare |= runtime_spec.NAMESPACES[ns["type"]]
    return join, unshare, new


def _root_mapped(cfg: dict) -> bool:
    linux = cfg.get("linux") or {}
    return any(m["containerID"] == 0 for m in linux.get("uidMappings") or []) and \
        any(m["containerID"] == 0 for m in linux.get("gidMappings") or [])


def _write_maps(pid: int, cfg: dict) -> None:
    linux = cfg["linux"]
    for kind, key in (("uid_map", "uidMappings"), ("gid_map", "gidMappings")):
        text = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux[key])
        try:
            with open(f"/proc/{pid}/{kind}", "w") as f:
                f.write(text)
        except OSError as e:
            raise DockyardError(f"write {kind} {text.strip()!r}: {e.strerror}") from None


def load_seccomp(cfg: dict):
    """The container's seccomp filter, ready to load (None without one): compiled and
    validated now, before anything exists, and cached across starts (seccomp_cache.py)."""
    spec = (cfg.get("linux") or {}).get("seccomp")
    if not runtime_spec.seccomp_wanted(spec):  # the seccomp modules stay off the path without one
        return None
    from .seccomp_cache import compile_cached

    return compile_cached(spec)


def create(root: str, cid: str, bundle: str, *, pid_file: str | None = None,
           console_socket: str | None = None, no_pivot: bool = False, preserve_fds: int = 0,
           new_keyring: bool = True,
           systemd_cgroup: bool = False, keep_console: bool = False) -> tuple[Container, int | None]:
    """Create the container; returns it (still locked) and, with ``keep_console``, the pty
    master for `run` to proxy. Anything created is removed again if a step fails."""
    bundle = os.path.abspath(bundle)
    if not os.path.isdir(bundle):
        raise ConfigError(f"bundle {bundle} does not exist")
    cfg = runtime_spec.load_config(bundle)
    proc = cfg["process"]
    if proc.get("terminal") and not console_socket and not keep_console:
        raise ConfigError("process.terminal is true: --console-socket is required")
    if console_socket and not proc.get("terminal"):
        raise ConfigError("--console-socket given but process.terminal is false")
    for field in runtime_spec.not_applied(cfg):
        log.log("warning", f"config.json {field} is not supported by dockyard-runtime yet: not applied")
    join, unshare, new = _namespace_plan(cfg)
    if (cfg.get("hostname") or cfg.get("domainname")) and "uts" not in new:
        raise ConfigError("hostname/domainname need a new uts namespace")
    flt = load_seccomp(cfg)
    c = Container.new(root, cid)
    mgr = child = None
    master = None
    try:
        mgr = cgroup_plan.manager_for(c.id, cfg, systemd_cgroup)
        c.data.update({"bundle": bundle, "rootfs": runtime_spec.rootfs_path(cfg, bundle), "config": cfg,
                       "created": _now(), "creator": os.getpid(), "pid": 0, "cgroup": mgr.to_dict(),
                       "owner": "", "systemd_cgroup": systemd_cgroup})
        c.save()  # from here on a crash leaves something `delete` can clean up
        mgr.create()
        # Limits go on the empty cgroup, before any process joins it: the device rules are
        # written deny-all first, and a process inside during that write would see its
        # mknod of /dev/null refused (seen as a flaky test when this ran after the join).
        for w in mgr.set(cgroup_plan.resources_with_default_devices(cfg)):
            log.log("warning", w)
        hooks = cfg.get("hooks") or {}
        plan = {
            "config": cfg, "bundle": bundle, "rootfs": c.data["rootfs"], "join": join, "unshare": unshare,
            "new_userns": "user" in new, "root_mapped": _root_mapped(cfg), "new_mountns": "mount" in new,
            "new_utsns": "uts" in new, "new_cgroupns": "cgroup" in new, "no_pivot": no_pivot,
            "keyring": f"_ses.{cid}" if new_keyring else None,
            "time_offsets": (cfg.get("linux") or {}).get("timeOffsets") if "time" in new else None,
            "cgroup_binds": cgroup_plan.cgroup_binds(mgr), "fifo": c.fifo, "seccomp": flt,
            "setgroups_ok": "user" not in new and "user" not in join,
            # startContainer hooks need the state too, which the init learns in the same exchange.
            "has_create_hooks": any(hooks.get(k) for k in ("prestart", "createRuntime", "createContainer",
                                                           "startContainer")),
            "hook_state": None, "stage2": None,
        }
        from . import init

        plan["stage2"] = init.init_stage2
        init.preload(plan)
        procs.cloexec_inherited(preserve_fds)
        host, child_end = sync.pair()
        child = os.fork()
        if child == 0:  # stage 1: never returns into this function (see init.run_stage1)
            init.run_stage1(child_end, plan, close=(c.lockfd, host))
        child_end.close()
        pid = _drive(host, c, cfg, plan, child, mgr, console_socket, keep_console)
        master = pid[1]
        c.data.update({"pid": pid[0], "pid_start": proc_start_time(pid[0]), "status": CREATED})
        c.data.pop("creator", None)
        c.save()
        if pid_file:
            procs.write_pid_file(pid_file, pid[0])
        host.close()
        return c, master
    except sync.InitDied as e:
        how = procs.exit_description(c.data.get("pid") or 0)
        _undo(c, mgr, child)
        raise DockyardError(f"{e}{': ' + how if how else ''}") from None
    except BaseException:
        _undo(c, mgr, child)
        if master is not None:
            os.close(master)
        raise


def _drive(host, c: Container, cfg: dict, plan: dict, child: int, mgr, console_socket, keep_console):
    """Answer the stages until the init says ready. Returns (init pid, pty master or None).

    The init is moved into its (already limited) cgroup while it sets up its rootfs, so
    any wait in the kernel's cgroup move overlaps the mounts. The init waits for "joined" before anything
    that must run limited (hooks, the workload) and before it unshares its cgroup
    namespace, whose root must be its own cgroup."""
    sync.send(host, {"t": "go"})
    msg, _ = sync.recv(host, 30)
    if msg["t"] == "userns":
        _write_maps(child, cfg)
        sync.send(host, {"t": "mapped"})
        msg, _ = sync.recv(host, 30)
    if msg["t"] != "pid":
        raise DockyardError(f"protocol error: unexpected {msg['t']!r} from stage 1")
    init_pid = msg["pid"]
    c.data["pid"] = init_pid
    c.data["pid_start"] = proc_start_time(init_pid)
    mgr.add(init_pid)
    os.mkfifo(c.fifo, 0o622)
    os.chmod(c.fifo, 0o622)  # mkfifo's mode passed the umask: the init may run as any user
    c.save()
    sync.send(host, {"t": "joined"})
    os.waitpid(child, 0)
    return answer_until_ready(host, c, init_pid, console_socket, keep_console)


def answer_until_ready(host, c: Container, init_pid: int, console_socket, keep_console):
    """Serve hooks, console and seccomp-listener requests until the process says ready."""
    from . import hooks

    cfg = c.data["config"]
    master = None
    while True:
        msg, fds = sync.recv(host, 60)
        t = msg["t"]
        if t == "hooks":
            state = c.oci_state("creating")
            hk = cfg.get("hooks") or {}
            hooks.run("prestart", hk.get("prestart"), state)
            hooks.run("createRuntime", hk.get("createRuntime"), state)
            sync.send(host, {"t": "hooks-done", "state": state})
        elif t == "console":
            if keep_console:
                master = fds[0]
            else:
                from . import tty

                try:
                    tty.send_console(console_socket, fds[0], msg.get("name", ""))
                finally:
                    os.close(fds[0])
        elif t == "seccomp":
            from . import seccomp

            sc = cfg["linux"]["seccomp"]
            try:
                seccomp.send_listener_fd(sc["listenerPath"], fds[0], c.oci_state("creating"),
                                         sc.get("listenerMetadata", ""))
            finally:
                os.close(fds[0])
        elif t == "ready":
            return init_pid, master
        else:
            raise DockyardError(f"protocol error: unexpected {t!r} from container init")


def _undo(c: Container, mgr, child: int | None) -> None:
    """Leave nothing behind after a failed create: processes, cgroup, state directory."""
    import _signal as signal

    pid = c.data.get("pid") or 0
    if pid and proc_start_time(pid) is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if child:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(child, 0)
        except ChildProcessError:
            pass
    if pid:
        procs.wait_gone(pid, 5.0)
    if mgr is not None:
        try:
            for p in mgr.pids():
                os.kill(p, signal.SIGKILL)
        except OSError:
            pass
        try:
            mgr.destroy()
        except DockyardError as e:
            log.log("warning", f"cleanup: {e}")
    c.remove()


def _now() -> str:
    import time

    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"
