"""`dockyard run` in the foreground: image -> snapshot -> overlay rootfs -> config.json ->
dockyard-runtime, with the container recorded before anything is made for it.

The engine never forks into namespaces itself (DESIGN.md §3): it runs `dockyard-runtime run`
as a child with the caller's stdio, so exit codes and signals pass straight through.
Exit codes as Docker's: the workload's own, 125 when dockyard could not run it, 126 when the
command cannot be executed, 127 when it does not exist in the image.
"""

from __future__ import annotations

import os
import sys

from .. import _json as json  # the C scanner alone: `import json` drags in `re` (~6 ms per run)
from .. import config
from ..errors import DockyardError
from ..image.snapshots import Snapshots
from .spec import RunOptions, command, container_spec


class RunError(DockyardError):
    exit_code = 125


def runtime_binary() -> str:
    return os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")


def _check_executable(rootfs: str, argv0: str, env: list[str], binds=()) -> None:
    """Docker's 127/126 before anything starts: the command must exist in the image (or
    under a bind mount's destination, e.g. -v /usr/bin/iperf3:/usr/bin/iperf3: the runtime
    then says whether it runs)."""
    from .._sys import paths

    path = dict(e.split("=", 1) for e in env if "=" in e).get("PATH", "")
    candidates = [argv0] if "/" in argv0 else [f"{d}/{argv0}" for d in path.split(":") if d]
    if any(c == b or c.startswith(b.rstrip("/") + "/") for c in candidates for b in binds):
        return
    rfd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for c in candidates:
            try:
                fd = paths.open_in_root(rfd, c)
            except Exception:  # noqa: BLE001 - not there (or not resolvable): try the next
                continue
            try:
                import stat

                st = os.stat(paths.fd_path(fd))
                if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
                    return
                err = RunError(f"exec: {argv0!r}: permission denied")
                err.exit_code = 126
                raise err
            finally:
                os.close(fd)
    finally:
        os.close(rfd)
    err = RunError(f'exec: "{argv0}": executable file not found in $PATH')
    err.exit_code = 127
    raise err


def _prepare(images, containers, image_ref: str, opts: RunOptions, name: str | None, rm: bool):
    """Resolve, unpack, record, mount, write config.json: (record, bundle dir, network plan).
    On failure nothing is left: the record and the mount go again."""
    from . import etc_files, networking

    img = images.resolve(image_ref)
    argv = command(img.config.config, opts)  # "no command" fails before anything exists
    netplan = networking.plan(opts, img.config.config, name)  # bad -p, missing network: before too
    containers.pending_meta = {**(containers.pending_meta or {}), "network": netplan}  # one meta.json write
    top = images.unpack(img)
    rec = containers.new(str(img.id), argv, name, rm)
    d = containers.path(rec.id)
    try:
        shared = None
        if netplan["mode"] == "container":  # its netns by path, and its hostname and files (Docker)
            other, opts.netns_path = networking.shared_with(containers, netplan["container"])
            shared = containers.path(other.id)
            with open(os.path.join(shared, "hostname")) as f:
                opts.hostname = f.read().strip()
        merged = images.snapshots.mount(top, d)
        spec = container_spec(img.config.config, opts, rootfs=merged, cid=rec.id)
        if shared:
            spec["mounts"] += [etc_files.bind(n, os.path.join(shared, n)) for n in ("hostname", "hosts", "resolv.conf")]
        else:
            spec["mounts"] += etc_files.write(d, spec["hostname"], host_network=netplan["mode"] == "host",
                                              dns=netplan["dns"], dns_search=netplan["dns_search"],
                                              dns_option=netplan["dns_option"], add_host=netplan["add_host"])
        _check_executable(merged, argv[0], spec["process"]["env"],  # the workload, not --init
                          [m["destination"] for m in spec["mounts"] if m["type"] == "bind"])
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(spec))
    except BaseException:
        Snapshots.unmount(d)
        containers.delete(rec.id)
        raise
    return rec, d, netplan


def run_foreground(images, containers, image_ref: str, opts: RunOptions, *, name: str | None = None,
                   rm: bool = False) -> int:
    """The runtime's `run` in a forked child. A bridge or user network is attached between
    its create and start through `run --start-gate` (the runtime tells the pid and waits for
    a go): no second runtime invocation, no OCI hook process — a createRuntime hook calling
    back into dockyard would start another interpreter (~40 ms), and create + start + wait
    as separate runtime calls would lose the runtime's own subreaper wait and pty proxy.
    While the child creates, this process imports the network library (two cores: overlap).
    `--network none` passes the gate too, only to set lo up (engine/networking.loopback_up, no
    network import: `-X importtime`)."""
    if opts.isolation == "vm":
        from . import vm_run

        return vm_run.run_foreground(images, containers, image_ref, opts, name=name, rm=rm)
    from . import networking

    rec, d, netplan = _prepare(images, containers, image_ref, opts, name, rm)
    attached = netplan["mode"] == networking.ATTACHED
    if attached:
        between = lambda pid: networking.attach(containers, rec.id, pid)  # noqa: E731
    elif netplan["mode"] == "none":
        between = networking.loopback_up
    else:
        between = None  # host: no netns; container:X: X's, already set up
    code = 125
    try:
        log = os.path.join(d, "runtime.log")
        containers.set_state(rec.id, "running")
        code = _runtime_run_in_child(["--root", config.runtime_root(), "--log", log, "--log-format", "json",
                                      "run", "--bundle", d, rec.id],
                                     between=between, warm=networking.warm if attached else None)
        if _runtime_failed(log):
            code = 125  # the runtime itself failed (it said why on stderr), not the workload
        containers.set_state(rec.id, "exited", code)
        return code
    finally:
        if attached:
            networking.release(containers, rec.id)  # its netns is gone: rules, ports, address go too
        Snapshots.unmount(d, remove=rm)
        if rm:
            containers.delete(rec.id)
        elif code == 125:
            containers.set_state(rec.id, "exited", code)


def _runtime_run_in_child(args: list[str], between=None, warm=None) -> int:
    """`dockyard-runtime ARGS` as a forked child running the runtime's own main(): the same
    code and the same process tree as exec'ing the binary, without starting and importing a
    second interpreter (~10 ms of a ~70 ms `run --rm`). Signals sent to this CLI go to the
    runtime, which passes them to the container (Docker's --sig-proxy default); the exit
    status is the runtime's, as subprocess.call would give it.

    ``between(pid)``: called once the container is created and before it starts (the
    runtime's `--start-gate`, a socketpair); if it raises, the runtime deletes the container
    and the error is raised here after the child ended. ``warm()`` runs while the child
    creates (imports for ``between``)."""
    import _signal

    from ..runtime import cli as runtime_cli

    gate = None
    if between is not None:
        import _socket

        gate = _socket.socketpair()  # (ours, the runtime's); close-on-exec, so never the workload's
        args = [*args[:-1], "--start-gate", str(gate[1].fileno()), args[-1]]
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the CLI
        if gate:
            gate[0].close()
        code = 125
        try:
            code = runtime_cli.main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 125
        except BaseException as e:  # noqa: BLE001 - one line, as the runtime binary would print
            sys.stderr.write(f"dockyard-runtime: {e}\n")
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code if isinstance(code, int) else 125)
    proxied = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1, _signal.SIGUSR2)
    previous = {sig: _signal.signal(sig, lambda signum, _frame: os.kill(pid, signum)) for sig in proxied}
    failed = None
    try:
        if gate:
            gate[1].close()
            failed = _open_gate(gate[0], between, warm)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
    finally:
        for sig, handler in previous.items():
            _signal.signal(sig, handler)
    if failed is not None:
        raise failed
    return os.waitstatus_to_exitcode(status)


def _open_gate(sock, between, warm):
    """Our side of `--start-gate`: read the created container's pid, run ``between``, answer
    "1" (start) or "0" (delete it). Returns the exception ``between`` raised, or None."""
    failed = None
    try:
        if warm:
            warm()
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(64)
            if not chunk:
                return None  # the runtime failed before the gate (it says why)
            data += chunk
        try:
            between(int(data))
        except BaseException as e:  # noqa: BLE001 - raised by the caller once the child is reaped
            failed = e
        try:
            sock.send(b"0" if failed else b"1")
        except OSError:
            pass  # the runtime is gone (killed meanwhile): its exit status says so
    finally:
        sock.close()
    return failed


def _runtime(*args: str):
    import subprocess

    return subprocess.run([runtime_binary(), "--root", config.runtime_root(), *args], capture_output=True, text=True)


def containers_meta_restart(rec, d: str) -> str:
    try:
        with open(os.path.join(d, "meta.json")) as f:
            return json.loads(f.read()).get("restart") or "no"
    except (OSError, ValueError):
        return "no"


def _under_monitor(containers, rec, d: str) -> None:
    """Hand the bundle in ``d`` to conmon (runtime `create`), then attach its network (the
    netns exists, the workload has not started); the container is then created."""
    from . import monitor, networking

    # conmon runs this when the container exits: --rm removal, restart policies and giving
    # back a network's address and ports need it (there is no daemon to notice the exit)
    policy = containers_meta_restart(rec, d)
    attached = networking.attached(containers, rec.id)
    exit_cmd = [os.path.join(os.path.dirname(sys.executable), "dockyard"), "internal-cleanup", rec.id] \
        if rec.auto_remove or policy != "no" or attached else None
    pid = monitor.start(rec.id, d, runtime_binary(), exit_command=exit_cmd, stdin=_meta_interactive(d))
    none = (containers.meta(rec.id).get("network") or {}).get("mode") == "none"
    if attached or none:
        try:
            if attached:
                networking.attach(containers, rec.id, pid)
            else:
                networking.loopback_up(pid)
        except BaseException:
            _runtime("delete", "--force", rec.id)  # conmon sees its container go and exits
            raise


def _meta_interactive(d: str) -> bool:
    """`run -d -i` / `create -i`: conmon keeps a stdin pipe for `attach` (cli/run.py records it)."""
    try:
        with open(os.path.join(d, "meta.json")) as f:
            return bool(json.loads(f.read()).get("interactive"))
    except (OSError, ValueError):
        return False


def create_detached(images, containers, image_ref: str, opts: RunOptions, *, name: str | None = None,
                    rm: bool = False) -> str:
    """`docker create`: everything up to the runtime's `create`, under conmon; not started."""
    if opts.isolation == "vm":
        from . import vm_run

        return vm_run.create_detached(images, containers, image_ref, opts, name=name, rm=rm)
    rec, d, _ = _prepare(images, containers, image_ref, opts, name, rm)
    try:
        _under_monitor(containers, rec, d)
    except BaseException:
        _runtime("delete", "--force", rec.id)
        Snapshots.unmount(d)
        containers.delete(rec.id)
        raise
    return rec.id


def start(images, containers, rec) -> None:
    """`docker start`: a created container starts; an exited one is created again from its
    bundle (same rootfs, same upper dir: its files survive) and started."""
    from .lifecycle import refresh

    rec = refresh(containers, rec)
    if rec.state == "running":
        return
    from .backends import isolation_of

    if isolation_of(containers, rec.id) == "vm":
        from . import vm_run

        return vm_run.start(images, containers, rec)
    d = containers.path(rec.id)
    if rec.state == "exited":
        from .networking import release

        release(containers, rec.id)  # what its last run held (its netns is gone): a new attach follows
        _runtime("delete", "--force", rec.id)
        for leftover in (rec.id, "pid", "conmon.pid"):
            try:
                os.unlink(os.path.join(d, leftover))
            except FileNotFoundError:
                pass
        if not os.path.ismount(os.path.join(d, "merged")):
            img = images.get(rec.image)
            images.snapshots.mount(images.unpack(img), d)
        _under_monitor(containers, rec, d)
    p = _runtime("start", rec.id)
    if p.returncode != 0:
        raise RunError(p.stderr.strip().removeprefix("dockyard-runtime: ") or "start failed")
    containers.set_state(rec.id, "running")
    if containers.meta(rec.id).get("manual_stop"):
        containers.update_meta(rec.id, manual_stop=False)  # a restart policy applies again


def run_detached(images, containers, image_ref: str, opts: RunOptions, *, name: str | None = None,
                 rm: bool = False) -> str:
    """Create under conmon, start, return the ID; the container outlives this process.
    With ``rm``, conmon runs `dockyard internal-cleanup ID` when it exits."""
    if opts.isolation == "vm":
        from . import vm_run

        return vm_run.run_detached(images, containers, image_ref, opts, name=name, rm=rm)
    cid = create_detached(images, containers, image_ref, opts, name=name, rm=rm)
    try:
        start(images, containers, containers.get(cid))
    except BaseException:
        from .networking import release

        release(containers, cid)
        _runtime("delete", "--force", cid)
        Snapshots.unmount(containers.path(cid))
        containers.delete(cid)
        raise
    return cid


def _runtime_failed(log: str) -> bool:
    try:
        with open(log) as f:
            return any(json.loads(line).get("level") == "error" for line in f if line.strip())
    except (OSError, ValueError):
        return False
