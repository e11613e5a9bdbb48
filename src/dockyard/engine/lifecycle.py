"""Containers after `run`: their state as the monitor saw it, stop, remove, logs.

There is no daemon: a container's state is refreshed from what conmon left (the exit file)
whenever a command looks at it.
"""

from __future__ import annotations

import os
import subprocess
import time

from .. import config
from ..errors import InvalidState
from ..image.snapshots import Snapshots
from . import monitor
from .run import runtime_binary


def _runtime(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([runtime_binary(), "--root", config.runtime_root(), *args], capture_output=True, text=True)


# Recorded when a container ended without anyone seeing its exit status: a foreground
# `dockyard run` killed before its workload finished (nothing like conmon held it).
UNKNOWN_EXIT = 255


def refresh(containers, rec):
    """Update a running record from conmon's exit file (detached containers) or from the
    runtime's own state (foreground ones, whose `dockyard run` may have been killed)."""
    if rec.state != "running":
        return rec
    d = containers.path(rec.id)
    code = monitor.exit_code(d, rec.id)
    if code is None and not _monitor_alive(d):  # no conmon, or one killed: ask the runtime
        import json

        p = _runtime("state", rec.id)
        try:
            gone = p.returncode != 0 or json.loads(p.stdout).get("status") == "stopped"
        except ValueError:
            gone = True
        if gone:
            code = UNKNOWN_EXIT
    if code is not None:
        containers.set_state(rec.id, "exited", code)
        rec = containers.get(rec.id)
        from .networking import release

        release(containers, rec.id)  # crash recovery: a stopped container holds no address or port
    return rec


def _monitor_alive(d: str) -> bool:
    try:
        with open(os.path.join(d, "conmon.pid")) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return False
    return pid > 0 and os.path.exists(f"/proc/{pid}")


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
    _runtime("kill", rec.id, signal)
    for sig, wait in ((None, timeout), ("KILL", 10.0)):
        if sig:
            _runtime("kill", "--all", rec.id, sig)
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
    lock = containers.lock(rec.id)  # a restart in flight (conmon's exit command) waits or sees it gone
    try:
        from .networking import release

        _runtime("delete", "--force", rec.id)
        release(containers, rec.id)
        Snapshots.unmount(containers.path(rec.id))
        containers.delete(rec.id)
    finally:
        containers.unlock(rec.id, lock, remove=True)


def logs(containers, rec, *, follow: bool = False, tail: int | None = None, timestamps: bool = False, out=None,
         err=None):
    import sys

    out, err = out or sys.stdout, err or sys.stderr
    d = containers.path(rec.id)
    seen = 0
    entries = list(monitor.read_log(d))
    if tail is not None:
        seen = max(0, len(entries) - tail)
    while True:
        entries = list(monitor.read_log(d))
        for ts, stream, text in entries[seen:]:
            (err if stream == "stderr" else out).write(f"{ts} {text}" if timestamps else text)
        seen = len(entries)
        out.flush()
        err.flush()
        if not follow or refresh(containers, rec).state != "running":
            if follow:  # what was written between the last read and the exit
                for ts, stream, text in list(monitor.read_log(d))[seen:]:
                    (err if stream == "stderr" else out).write(f"{ts} {text}" if timestamps else text)
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
    import json

    from ..errors import ConfigError

    rec = refresh(containers, rec)
    if rec.state != "running":
        raise InvalidState(f"container {rec.name} is not running")
    if not argv:
        raise ConfigError("exec: a command is required")
    d = containers.path(rec.id)
    args = [runtime_binary(), "--root", config.runtime_root(), "--log", os.path.join(d, "exec.log"),
            "--log-format", "json", "exec"]
    for e in env:
        args += ["--env", e if "=" in e else f"{e}={os.environ.get(e, '')}"]
    if user:
        from .spec import resolve_user

        uid, gid, _, _ = resolve_user(user, os.path.join(d, "merged"))
        args += ["--user", f"{uid}:{gid}"]
    if workdir:
        args += ["--cwd", workdir]
    if tty:
        args.append("--tty")
    log = os.path.join(d, "exec.log")
    try:
        os.unlink(log)
    except FileNotFoundError:
        pass
    code = subprocess.call([*args, rec.id, *argv])
    try:
        with open(log) as f:
            errors = [json.loads(line)["msg"] for line in f if '"error"' in line]
    except (OSError, ValueError, KeyError):
        errors = []
    if errors:
        return 127 if "not found" in errors[-1] else 126 if "permission denied" in errors[-1] else 125
    return code


def kill(containers, rec, signal: str = "KILL"):
    rec = refresh(containers, rec)
    if rec.state != "running":
        raise InvalidState(f"container {rec.name} is not running")
    if containers.meta(rec.id):
        containers.update_meta(rec.id, manual_stop=True)
    p = _runtime("kill", rec.id, signal)
    if p.returncode != 0:
        from ..errors import DockyardError

        raise DockyardError(p.stderr.strip().removeprefix("dockyard-runtime: "))
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
    return _runtime("ps", rec.id).stdout


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
    pid = 0
    if rec.state == "running":
        try:
            with open(os.path.join(d, "pid")) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pass
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
        "HostConfig": {"AutoRemove": bool(rec.auto_remove), "ReadonlyRootfs": (spec.get("root") or {}).get("readonly", False),
                       "RestartPolicy": {"Name": containers.meta(rec.id).get("restart") or "no",
                                         "MaximumRetryCount": containers.meta(rec.id).get("max_retries", 0)}},
        "RestartCount": containers.meta(rec.id).get("restart_count", 0),
        "NetworkSettings": settings(containers, rec.id),
        "GraphDriver": {"Name": "overlay", "Data": {"MergedDir": os.path.join(d, "merged"),
                                                     "UpperDir": os.path.join(d, "upper")}},
    }
