"""The container side of `create` and `exec`: stage 1 (namespaces) and stage 2 (the init).

These run in processes forked from a single-threaded ``dockyard-runtime`` (never from a
process that may hold threads, see DESIGN.md §3). Nothing here returns: each stage ends in
``os._exit`` or ``execve``. Errors travel to the host side as data over the sync socket
(see ``sync.py`` for the message order) and the stage exits non-zero.
"""

from __future__ import annotations

import os

from .._sys import libc, paths
from ..errors import DockyardError, SysError
from ..oci.runtime_spec import NAMESPACES
from . import mounts, process, sync

def preload(plan: dict) -> None:
    """Import now what the stages use after pivot_root: from then on the host's
    site-packages and stdlib are out of reach, so a lazy import there would fail."""
    import resource  # noqa: F401  (rlimits)

    proc = plan.get("process") or plan["config"]["process"]
    if proc.get("terminal"):
        import fcntl  # noqa: F401
        import struct  # noqa: F401
        import termios  # noqa: F401
    if plan["config"].get("hooks"):
        from . import hooks  # noqa: F401


# Join order for namespaces given by path: the user namespace first, because it decides
# which capabilities we hold in the others; mount last, because it changes our root.
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def _die(sock, exc: BaseException) -> None:
    try:
        sync.send_error(sock, exc)
    finally:
        os._exit(1)


def run_stage1(sock, plan: dict, close=()) -> None:
    """Entry of a freshly forked child. Whatever happens, it ends here with _exit: a child
    that returned (or raised) into the caller would run the *host's* code with the host's
    state in memory — its error handling would delete the container it is part of."""
    try:
        for x in close:  # the flock fd must not outlive the command; nor the host's socket end
            x.close() if hasattr(x, "close") else os.close(x)
        stage1(sock, plan)
    finally:
        os._exit(1)


def join_namespaces(paths: dict[str, str]) -> None:
    for t in JOIN_ORDER:
        path = paths.get(t)
        if not path:
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise SysError(f"open {t} namespace", e.errno, path) from None
        try:
            libc.setns(fd, NAMESPACES[t], path)
        finally:
            os.close(fd)


def stage1(sock, plan: dict) -> None:
    """Enter or create namespaces, then fork the init so it is PID 1 of a new pid namespace."""
    try:
        sync.expect(sock, "go")
        join_namespaces(plan["join"])
        if plan["new_userns"]:
            libc.unshare(libc.CLONE_NEWUSER)
            sync.send(sock, {"t": "userns"})
            sync.expect(sock, "mapped")
            # Become root of the new user namespace (if 0 is mapped), so files we create
            # during setup belong to the container's root.
            if plan["root_mapped"]:
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
        if plan["unshare"]:
            libc.unshare(plan["unshare"])
        if plan.get("time_offsets"):
            _write_time_offsets(plan["time_offsets"])
        pid = os.fork()
        if pid == 0:
            try:
                plan["stage2"](sock, plan)  # ends in execve or _exit
            finally:
                os._exit(1)
        sync.send(sock, {"t": "pid", "pid": pid})
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - every failure goes to the host as data
        _die(sock, e)


def _write_time_offsets(offsets: dict) -> None:
    """linux.timeOffsets of a new time namespace: writable only between unshare and the
    first process born into it (our fork of the init), so stage 1 writes them here."""
    lines = "".join(f"{clock} {o.get('secs', 0)} {o.get('nanosecs', 0)}\n" for clock, o in offsets.items())
    try:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(lines)
    except OSError as e:
        raise SysError("write timeOffsets", e.errno, "/proc/self/timens_offsets", lines.strip()) from None


def init_stage2(sock, plan: dict) -> None:
    """PID 1 of the container: rootfs, /dev, hooks, pivot_root, then the process setup."""
    try:
        cfg = plan["config"]
        linux = cfg.get("linux") or {}
        proc = cfg["process"]
        os.setsid()
        if not plan["new_userns"]:
            # Not dumpable until execve: nobody may ptrace us or open our /proc files while
            # we hold host fds (the CVE-2019-5736 lesson). In a new user namespace this would
            # also stop us using /proc/self/fd, so there we rely on the namespace boundary.
            libc.prctl(libc.PR_SET_DUMPABLE, 0, step="set non-dumpable")
        if plan["new_mountns"]:
            fifo_fd = _prepare_rootfs(sock, plan, cfg, linux)
        else:
            fifo_fd = _joined(sock, plan)
            _maybe_hooks(sock, plan)
            os.chroot(plan["rootfs"])
            os.chdir("/")
            _sysctl(linux.get("sysctl"))
        if plan.get("new_utsns"):
            if cfg.get("hostname") is not None:
                libc.sethostname(cfg["hostname"])
            if cfg.get("domainname") is not None:
                libc.setdomainname(cfg["domainname"])
        if plan.get("keyring"):
            # A session keyring of its own: keys are not namespaced, and without this the
            # container would share (and could read) the keyring of whoever started it.
            libc.join_session_keyring(plan["keyring"])
        if proc.get("terminal"):
            _setup_console(sock, proc.get("consoleSize"))
        finish_process(sock, plan, proc, fifo_fd)
    except BaseException as e:  # noqa: BLE001
        _die(sock, e)


def _joined(sock, plan: dict) -> int:
    """Wait until the host has put us in our cgroup (and made the exec fifo), then take the
    cgroup namespace, whose root is the cgroup we are in. Returns an O_PATH fd of the fifo."""
    sync.expect(sock, "joined")
    if plan["new_cgroupns"]:
        libc.unshare(libc.CLONE_NEWCGROUP)
    return os.open(plan["fifo"], os.O_PATH | os.O_CLOEXEC)


def _maybe_hooks(sock, plan: dict) -> None:
    if not plan["has_create_hooks"]:
        return
    from . import hooks

    sync.send(sock, {"t": "hooks"})
    msg, _ = sync.expect(sock, "hooks-done")
    plan["hook_state"] = msg["state"]
    hooks.run("createContainer", (plan["config"].get("hooks") or {}).get("createContainer"), msg["state"])


def _prepare_rootfs(sock, plan: dict, cfg: dict, linux: dict) -> int:
    rootfs = plan["rootfs"]
    # Keep our mounts from propagating back to the host (the default is a slave of it).
    prop = mounts.PROPAGATION.get(linux.get("rootfsPropagation") or "", libc.MS_SLAVE | libc.MS_REC)
    libc.mount(None, "/", None, prop | libc.MS_REC, shown="/ (rootfsPropagation)")
    # pivot_root needs the new root to be a mount point.
    libc.mount(rootfs, rootfs, None, libc.MS_BIND | libc.MS_REC, shown=rootfs)
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        has_devpts = dev_is_bind = False
        for m in cfg.get("mounts") or ():
            mounts.mount_one(root_fd, m, plan["bundle"], plan["cgroup_binds"])
            if m["destination"] == "/dev/pts" and m.get("type") == "devpts":
                has_devpts = True
            if m["destination"] == "/dev" and ("bind" in (m.get("options") or ()) or "rbind" in (m.get("options") or ())):
                dev_is_bind = True
        if not dev_is_bind:
            mounts.setup_dev(root_fd, linux.get("devices"), plan["new_userns"], has_devpts)
        cwd = cfg["process"].get("cwd", "/")
        if cwd != "/":
            os.close(paths.open_in_root(root_fd, cwd, create="dir"))
    finally:
        os.close(root_fd)
    fifo_fd = _joined(sock, plan)
    _maybe_hooks(sock, plan)
    mounts.pivot(rootfs, plan["no_pivot"])
    _sysctl(linux.get("sysctl"))  # before readonlyPaths makes /proc/sys read-only
    if cfg["root"].get("readonly"):
        mounts.remount_root_readonly()
    mounts.readonly_paths(linux.get("readonlyPaths"))
    mounts.mask_paths(linux.get("maskedPaths"))
    return fifo_fd


def _sysctl(sysctl: dict | None) -> None:
    for key, value in (sysctl or {}).items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(str(value))
        except OSError as e:
            raise SysError("sysctl", e.errno, key, f"value {value!r}") from None


def _setup_console(sock, size: dict | None) -> None:
    import fcntl
    import struct
    import termios

    try:
        master, slave = os.openpty()
    except OSError as e:
        raise SysError("open console (/dev/ptmx)", e.errno, detail="is /dev/pts mounted?") from None
    if size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size.get("height", 0), size.get("width", 0), 0, 0))
    sync.send(sock, {"t": "console", "name": os.ttyname(slave)}, [master])
    os.close(master)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def finish_process(sock, plan: dict, proc: dict, fifo_fd: int) -> None:
    """Process attributes, then (for the init) wait for `start`, then execve. See process.py."""
    flt = plan.get("seccomp")
    nnp = bool(proc.get("noNewPrivileges"))
    process.apply_rlimits(proc.get("rlimits"))
    process.set_oom_score_adj(proc.get("oomScoreAdj"))
    if flt is not None and (not nnp or flt.has_notify):
        # Without NNP the filter needs CAP_SYS_ADMIN, which the capability step drops;
        # a notify listener fd must reach the host side before we block on the fifo.
        _load_seccomp(sock, flt)
        flt = None
    process.apply_capabilities(proc.get("capabilities"), proc.get("user") or {}, plan["setgroups_ok"])
    if nnp:
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1, step="set no_new_privs")
    process.chdir(proc.get("cwd", "/"))
    env = process.prepare_env(proc)
    path = process.look_path(proc["args"][0], env)
    sync.send(sock, {"t": "ready"})
    sock.close()
    if fifo_fd >= 0:
        # Blocks until `start` opens the fifo for reading; opening through /proc/self/fd
        # needs no path to the host's state directory inside the container.
        try:
            w = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        except OSError as e:
            os.write(2, f"dockyard-runtime: open exec fifo: {e.strerror}\n".encode())
            os._exit(1)
        os.write(w, b"0")
        os.close(w)
        os.close(fifo_fd)
        start_hooks = (plan["config"].get("hooks") or {}).get("startContainer")
        if start_hooks:
            from . import hooks

            try:
                hooks.run("startContainer", start_hooks, plan["hook_state"])
            except DockyardError as e:
                os.write(2, f"dockyard-runtime: {e}\n".encode())
                os._exit(1)
    if flt is not None:
        try:
            flt.load()
        except DockyardError as e:
            os.write(2, f"dockyard-runtime: {e}\n".encode())
            os._exit(1)
    process.exec_process(path, proc["args"], env)


def _load_seccomp(sock, flt) -> None:
    fd = flt.load()
    if fd is not None:
        sync.send(sock, {"t": "seccomp"}, [fd])
        os.close(fd)


def exec_stage2(sock, plan: dict) -> None:
    """An `exec`ed process: already in every namespace (stage 1 joined them); set up and exec."""
    try:
        proc = plan["process"]
        if not plan["new_userns"]:
            libc.prctl(libc.PR_SET_DUMPABLE, 0, step="set non-dumpable")
        os.setsid()
        if proc.get("terminal"):
            _setup_console(sock, proc.get("consoleSize"))
        finish_process(sock, plan, proc, -1)
    except BaseException as e:  # noqa: BLE001
        _die(sock, e)
