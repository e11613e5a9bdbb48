"""Containers after `run`: their state as the monitor saw it, stop, remove, logs.

There is no daemon: a container's state is refreshed from what conmon left (the exit file)
whenever a command looks at it.
"""

from __future__ import annotations

import subprocess
import time

from .. import config
from ..errors import InvalidState
from ..image.snapshots import Snapshots
from . import monitor
from .run import runtime_binary


def _runtime(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([runtime_binary(), "--root", config.runtime_root(), *args], capture_output=True, text=True)


def refresh(containers, rec):
    """Update a running record from conmon's exit file; returns the (new) record."""
    if rec.state == "running":
        code = monitor.exit_code(containers.path(rec.id), rec.id)
        if code is not None:
            containers.set_state(rec.id, "exited", code)
            rec = containers.get(rec.id)
    return rec


def stop(containers, rec, timeout: float = 10.0, signal: str = "TERM"):
    """SIGTERM (or the given signal), then SIGKILL after ``timeout`` seconds, as `docker stop`."""
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
    if rec.state == "running":
        if not force:
            raise InvalidState(f"cannot remove container {rec.name}: it is running (stop it, or use -f)")
        rec = stop(containers, rec, timeout=0)
    _runtime("delete", "--force", rec.id)
    Snapshots.unmount(containers.path(rec.id))
    containers.delete(rec.id)


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


def cleanup_after_exit(containers, cid: str) -> None:
    """conmon's exit command for `run -d --rm`: the container is gone, remove what is left."""
    try:
        rec = containers.get(cid)
    except Exception:  # noqa: BLE001 - already removed by someone else
        return
    if rec.auto_remove:
        _runtime("delete", "--force", cid)
        Snapshots.unmount(containers.path(cid))
        containers.delete(cid)
