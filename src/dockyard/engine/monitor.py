"""Detached containers, held by conmon (docs/monitor.md: 0.39 MiB PSS per idle container).

conmon runs `dockyard-runtime create`, stays as the container's subreaper, writes its output
to a k8s-file log (one line per write: time, stream, F(ull)/P(artial), text) and its exit
code to <exit dir>/<id>. It reports the container's pid on a sync pipe (the environment
variable _OCI_SYNCPIPE names the fd) once `create` is done: we wait for that before `start`,
or `start` would race `create`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from .. import config
from ..errors import DockyardError


class MonitorError(DockyardError):
    exit_code = 125


def conmon_binary() -> str:
    path = shutil.which("conmon")
    if not path:
        raise MonitorError("run -d needs conmon, the container monitor (apt install conmon)")
    return path


def start(cid: str, bundle: str, runtime: str, *, exit_command: list[str] | None = None) -> int:
    """Create the container under conmon; returns its pid (not yet started)."""
    sock_dir = os.path.join(config.run_root(), "conmon")
    os.makedirs(sock_dir, mode=0o700, exist_ok=True)
    r, w = os.pipe()
    args = [conmon_binary(), "--api-version", "1", "-c", cid, "-u", cid, "-n", cid[:12], "-r", runtime,
            "-b", bundle, "-p", os.path.join(bundle, "pid"), "--exit-dir", bundle,
            "-l", f"k8s-file:{os.path.join(bundle, 'ctr.log')}", "--conmon-pidfile", os.path.join(bundle, "conmon.pid"),
            "--socket-dir-path", sock_dir, "--runtime-arg", "--root", "--runtime-arg", config.runtime_root(),
            "--runtime-arg", "--log", "--runtime-arg", os.path.join(bundle, "runtime.log"),
            "--runtime-arg", "--log-format", "--runtime-arg", "json"]
    for i, a in enumerate(exit_command or ()):
        args += ["--exit-command" if i == 0 else "--exit-command-arg", a]
    try:
        p = subprocess.Popen(args, pass_fds=(w,), env={**os.environ, "_OCI_SYNCPIPE": str(w)},
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finally:
        os.close(w)
    data = b""
    try:
        while b"}" not in data:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
    err = p.stderr.read().decode(errors="replace").strip()
    p.wait()
    try:
        msg = json.loads(data.decode().splitlines()[0]) if data else {}
    except (ValueError, IndexError):
        msg = {}
    pid = msg.get("data", -1)
    if not isinstance(pid, int) or pid <= 0:
        why = msg.get("message") or _runtime_error(bundle) or err or "conmon reported no pid"
        raise MonitorError(f"container create failed: {why}")
    return pid


def _runtime_error(bundle: str) -> str:
    try:
        with open(os.path.join(bundle, "runtime.log")) as f:
            errors = [json.loads(line)["msg"] for line in f if '"error"' in line]
        return errors[-1] if errors else ""
    except (OSError, ValueError, KeyError):
        return ""


def exit_code(bundle: str, cid: str) -> int | None:
    """The exit code conmon recorded, or None while the container runs."""
    try:
        with open(os.path.join(bundle, cid)) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def read_log(bundle: str):
    """(time, stream, text) per k8s-file entry; partial (P) entries carry no newline."""
    try:
        f = open(os.path.join(bundle, "ctr.log"), encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 3)
            if len(parts) < 3:
                continue
            ts, stream, tag = parts[:3]
            text = parts[3] if len(parts) > 3 else ""
            yield ts, stream, text + ("" if tag == "P" else "\n")
