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


def _check_executable(rootfs: str, argv0: str, env: list[str]) -> None:
    """Docker's 127/126 before anything starts: the command must exist in the image."""
    from .._sys import paths

    path = dict(e.split("=", 1) for e in env if "=" in e).get("PATH", "")
    candidates = [argv0] if "/" in argv0 else [f"{d}/{argv0}" for d in path.split(":") if d]
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
    """Resolve, unpack, record, mount, write config.json: (record, bundle dir). On failure
    nothing is left: the record and the mount go again."""
    img = images.resolve(image_ref)
    argv = command(img.config.config, opts)  # "no command" fails before anything exists
    top = images.unpack(img)
    rec = containers.new(str(img.id), argv, name, rm)
    d = containers.path(rec.id)
    try:
        merged = images.snapshots.mount(top, d)
        spec = container_spec(img.config.config, opts, rootfs=merged, cid=rec.id)
        from . import etc_files

        spec["mounts"] += etc_files.write(d, spec["hostname"])
        _check_executable(merged, argv[0], spec["process"]["env"])  # the workload, not --init
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(spec))
    except BaseException:
        Snapshots.unmount(d)
        containers.delete(rec.id)
        raise
    return rec, d


def run_foreground(images, containers, image_ref: str, opts: RunOptions, *, name: str | None = None,
                   rm: bool = False) -> int:
    rec, d = _prepare(images, containers, image_ref, opts, name, rm)
    code = 125
    try:
        log = os.path.join(d, "runtime.log")
        containers.set_state(rec.id, "running")
        code = _runtime_run_in_child(["--root", config.runtime_root(), "--log", log, "--log-format", "json",
                                      "run", "--bundle", d, rec.id])
        if _runtime_failed(log):
            code = 125  # the runtime itself failed (it said why on stderr), not the workload
        containers.set_state(rec.id, "exited", code)
        return code
    finally:
        Snapshots.unmount(d, remove=rm)
        if rm:
            containers.delete(rec.id)
        elif code == 125:
            containers.set_state(rec.id, "exited", code)


def _runtime_run_in_child(args: list[str]) -> int:
    """`dockyard-runtime ARGS` as a forked child running the runtime's own main(): the same
    code and the same process tree as exec'ing the binary, without starting and importing a
    second interpreter (~10 ms of a ~70 ms `run --rm`). Signals sent to this CLI go to the
    runtime, which passes them to the container (Docker's --sig-proxy default); the exit
    status is the runtime's, as subprocess.call would give it."""
    import _signal

    from ..runtime import cli as runtime_cli

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the CLI
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
    try:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
    finally:
        for sig, handler in previous.items():
            _signal.signal(sig, handler)
    return os.waitstatus_to_exitcode(status)


def _runtime(*args: str):
    import subprocess

    return subprocess.run([runtime_binary(), "--root", config.runtime_root(), *args], capture_output=True, text=True)


def containers_meta_restart(rec, d: str) -> str:
    try:
        with open(os.path.join(d, "meta.json")) as f:
            return json.loads(f.read()).get("restart") or "no"
    except (OSError, ValueError):
        return "no"


def _under_monitor(rec, d: str) -> None:
    """Hand the bundle in ``d`` to conmon (runtime `create`); the container is then created."""
    from . import monitor

    # conmon runs this when the container exits: --rm removal and restart policies need it
    # (there is no daemon to notice the exit otherwise)
    policy = containers_meta_restart(rec, d)
    exit_cmd = [os.path.join(os.path.dirname(sys.executable), "dockyard"), "internal-cleanup", rec.id] \
        if rec.auto_remove or policy != "no" else None
    monitor.start(rec.id, d, runtime_binary(), exit_command=exit_cmd, stdin=_meta_interactive(d))


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
    rec, d = _prepare(images, containers, image_ref, opts, name, rm)
    try:
        _under_monitor(rec, d)
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
    d = containers.path(rec.id)
    if rec.state == "exited":
        _runtime("delete", "--force", rec.id)
        for leftover in (rec.id, "pid", "conmon.pid"):
            try:
                os.unlink(os.path.join(d, leftover))
            except FileNotFoundError:
                pass
        if not os.path.ismount(os.path.join(d, "merged")):
            img = images.get(rec.image)
            images.snapshots.mount(images.unpack(img), d)
        _under_monitor(rec, d)
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
    cid = create_detached(images, containers, image_ref, opts, name=name, rm=rm)
    try:
        start(images, containers, containers.get(cid))
    except BaseException:
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
