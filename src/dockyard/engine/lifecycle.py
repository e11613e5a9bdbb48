"""Containers after `run`: their state as the monitor saw it, stop, remove, logs.

There is no daemon: a container's state is refreshed from what its backend left (conmon's
exit file, a VM's exit port: engine/backends.py) whenever a command looks at it. Nothing
here branches on the isolation: each step asks the container's backend.
"""

from __future__ import annotations

import os
import time

from ..errors import DockyardError, InvalidState
from ..image.snapshots import Snapshots
from . import backends

# kept importable from here (container_root.py)
_runtime = backends.runtime
UNKNOWN_EXIT = backends.UNKNOWN_EXIT


def refresh(containers, rec):
    """Update a running record from what its backend says: conmon's exit file or the
    runtime's state (process), the VM's exit port or QEMU's death (vm)."""
    if rec.state != "running":
        return rec
    code = backends.of(containers, rec.id).exit_code(containers, rec)
    if code is not None:
        containers.set_state(rec.id, "exited", code)
        rec = containers.get(rec.id)
        from .networking import release

        release(containers, rec.id)  # crash recovery: a stopped container holds no address or port
        if rec.auto_remove and backends.isolation_of(containers, rec.id) == "vm":
            # `run -d --rm` of a VM: no monitor runs an exit command, so whoever sees the
            # exit first removes it (the record object stays, "exited", for the caller)
            _remove_stopped(containers, rec)
    return rec


def stop(containers, rec, timeout: float | None = None, signal: str | None = None):
    """The container's stop signal (--stop-signal, else SIGTERM), then SIGKILL after the
    timeout (given, else --stop-timeout, else 10 s), as `docker stop`."""
    meta = containers.meta(rec.id)
    if meta:
        containers.update_meta(rec.id, manual_stop=True)  # no restart policy brings it back
    signal = signal or meta.get("stop_signal") or "TERM"
    if timeout is None:
        timeout = meta.get("stop_timeout") if meta.get("stop_timeout") is not None else 10.0
    rec = refresh(containers, rec)
    if rec.state != "running":
        return rec
    backend = backends.of(containers, rec.id)
    for sig, all_, wait in ((signal, False, timeout), ("KILL", True, 10.0)):
        try:
            backend.signal(containers, rec, sig, all_)
        except DockyardError:
            pass  # gone meanwhile, or (a VM) its agent is not up: the next step ends it
        end = time.monotonic() + wait
        while time.monotonic() < end:
            rec = refresh(containers, rec)
            if rec.state != "running":
                return rec
            time.sleep(0.05)
    return rec


def remove(containers, rec, force: bool = False) -> None:
    rec = refresh(containers, rec)
    if rec.state == "running" and not force:
        raise InvalidState(f"cannot remove container {rec.name}: it is running (stop it, or use -f)")
    if rec.state == "running":
        rec = stop(containers, rec, timeout=0)
    _remove_stopped(containers, rec)


def _remove_stopped(containers, rec) -> None:
    lock = containers.lock(rec.id)  # a restart in flight (conmon's exit command) waits or sees it gone
    try:
        from .networking import release

        backends.of(containers, rec.id).release(containers, rec)
        release(containers, rec.id)
        Snapshots.unmount(containers.path(rec.id))
        containers.delete(rec.id)
    finally:
        containers.unlock(rec.id, lock, remove=True)


def logs(containers, rec, *, follow: bool = False, tail: int | None = None, timestamps: bool = False, out=None,
         err=None):
    import sys

    out, err = out or sys.stdout, err or sys.stderr
    backend = backends.of(containers, rec.id)
    # entries already written, per stream: each stream's entries only ever grow at the end
    # (a VM's two files are read one after the other, so one overall count would not do)
    seen = {"stdout": 0, "stderr": 0}
    if tail is not None:
        entries = list(backend.read_log(containers, rec))
        for _, stream, _ in entries[:max(0, len(entries) - tail)]:
            seen[stream] = seen.get(stream, 0) + 1

    def write_new() -> None:
        counts: dict[str, int] = {}
        for ts, stream, text in list(backend.read_log(containers, rec)):
            counts[stream] = counts.get(stream, 0) + 1
            if counts[stream] > seen.get(stream, 0):
                (err if stream == "stderr" else out).write(f"{ts} {text}" if timestamps else text)
                seen[stream] = counts[stream]
        out.flush()
        err.flush()

    while True:
        write_new()
        if not follow:
            return
        rec = refresh(containers, rec)
        if rec.state != "running":
            write_new()  # what was written between the last read and the exit
            return
        time.sleep(0.1)


def cleanup_after_exit(images, containers, cid: str) -> None:
    """conmon's exit command: `run --rm` removes the container; a restart policy (no daemon
    to watch it) starts it again, with Docker's doubling delay, unless it was stopped by hand."""
    try:
        rec = refresh(containers, containers.get(cid))
    except Exception:  # noqa: BLE001 - already removed by someone else
        return
    from .networking import release

    release(containers, cid)  # its netns went with it: the rules, ports and address go now
    if rec.auto_remove:
        _runtime("delete", "--force", cid)
        Snapshots.unmount(containers.path(cid))
        containers.delete(cid)
        return
    meta = containers.meta(cid)
    policy, count = meta.get("restart") or "no", meta.get("restart_count", 0)
    if policy == "no" or meta.get("manual_stop"):
        return
    if policy == "on-failure":
        if rec.exit_code == 0 or (meta.get("max_retries") and count >= meta["max_retries"]):
            return
    time.sleep(min(0.1 * (2 ** count), 5.0))
    from ..errors import NotFound
    from .run import start

    lock = containers.lock(cid)
    try:
        try:
            rec = containers.get(cid)
        except NotFound:
            return  # removed while we waited
        if containers.meta(cid).get("manual_stop"):  # stopped while we waited
            return
        containers.update_meta(cid, restart_count=count + 1)
        start(images, containers, rec)
    finally:
        containers.unlock(cid, lock)


def exec_(containers, rec, argv: list[str], *, env=(), user: str | None = None, workdir: str | None = None,
          tty: bool = False) -> int:
    """`docker exec`: a new process in a running container, its exit code passed through
    (126/127 when it cannot be run, 125 when dockyard cannot)."""
    from ..errors import ConfigError

    rec = refresh(containers, rec)
    if rec.state != "running":
        raise InvalidState(f"container {rec.name} is not running")
    if not argv:
        raise ConfigError("exec: a command is required")
    return backends.of(containers, rec.id).exec(containers, rec, argv, env=env, user=user, workdir=workdir, tty=tty)


def kill(containers, rec, signal: str = "KILL"):
    rec = refresh(containers, rec)
    if rec.state != "running":
        raise InvalidState(f"container {rec.name} is not running")
    if containers.meta(rec.id):
        containers.update_meta(rec.id, manual_stop=True)
    backends.of(containers, rec.id).signal(containers, rec, signal)
    return rec


def wait(containers, rec) -> int:
    """Block until the container exits; its exit code."""
    while True:
        rec = refresh(containers, rec)
        if rec.state != "running":
            return rec.exit_code if rec.exit_code is not None else -1
        time.sleep(0.1)


def top(containers, rec) -> str:
    rec = refresh(containers, rec)
    if rec.state != "running":
        raise InvalidState(f"container {rec.name} is not running")
    return backends.of(containers, rec.id).top(containers, rec)


def inspect(containers, rec) -> dict:
    """Docker-shaped (the fields dockyard knows so far)."""
    import json

    rec = refresh(containers, rec)
    d = containers.path(rec.id)
    try:
        with open(os.path.join(d, "config.json")) as f:
            spec = json.load(f)
    except (OSError, ValueError):
        spec = {}
    backend = backends.of(containers, rec.id)
    pid = backend.pid(containers, rec) if rec.state == "running" else 0
    proc = spec.get("process") or {}
    from .networking import settings

    return {
        "Id": rec.id, "Name": "/" + rec.name, "Created": rec.created, "Image": rec.image,
        "Path": (proc.get("args") or [""])[0], "Args": (proc.get("args") or [])[1:],
        "State": {"Status": rec.state, "Running": rec.state == "running", "Pid": pid,
                  "ExitCode": rec.exit_code if rec.exit_code is not None else 0},
        "Config": {"Hostname": spec.get("hostname"), "Env": proc.get("env"), "WorkingDir": proc.get("cwd"),
                   "User": f"{(proc.get('user') or {}).get('uid', 0)}:{(proc.get('user') or {}).get('gid', 0)}",
                   "Cmd": proc.get("args"), "Labels": containers.meta(rec.id).get("labels") or {},
                   "StopSignal": containers.meta(rec.id).get("stop_signal") or "SIGTERM"},
        "HostConfig": {"Isolation": backend.name, "AutoRemove": bool(rec.auto_remove), "ReadonlyRootfs": (spec.get("root") or {}).get("readonly", False),
                       "RestartPolicy": {"Name": containers.meta(rec.id).get("restart") or "no",
                                         "MaximumRetryCount": containers.meta(rec.id).get("max_retries", 0)}},
        "RestartCount": containers.meta(rec.id).get("restart_count", 0),
        **({"VM": backend.details(containers, rec)} if backend.name == "vm" else {}),
        "NetworkSettings": settings(containers, rec.id),
        "GraphDriver": {"Name": "overlay", "Data": {"MergedDir": os.path.join(d, "merged"),
                                                     "UpperDir": os.path.join(d, "upper")}},
    }
