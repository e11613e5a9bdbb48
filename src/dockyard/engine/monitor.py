"""Detached containers, held by conmon (docs/monitor.md: 0.39 MiB PSS per idle container).

conmon runs `dockyard-runtime create`, stays as the container's subreaper, writes its output
to a k8s-file log (one line per write: time, stream, F(ull)/P(artial), text) and its exit
code to <exit dir>/<id>. It reports the container's pid on a sync pipe (the environment
variable _OCI_SYNCPIPE names the fd) once `create` is done: we wait for that before `start`,
or `start` would race `create`.

Attach (engine/attach.py) goes through conmon too: with ``stdin`` conmon holds a pipe as the
container's stdin (``-i``) and keeps it open when an attached client leaves
(``--leave-stdin-open``: a detached container's stdin outlives each `attach`, as Docker's
does); with a terminal (process.terminal in config.json) conmon receives the pty master on
its own console socket (``-t``) and resizes it when ``ctl`` is written. Its attach socket
is ``<bundle>/attach`` (SOCK_SEQPACKET; see attach_socket()).
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


def terminal(bundle: str) -> bool:
    """Whether the container runs on a pty (process.terminal in its config.json, from -t)."""
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            return bool((json.load(f).get("process") or {}).get("terminal"))
    except (OSError, ValueError):
        return False


def start(cid: str, bundle: str, runtime: str, *, exit_command: list[str] | None = None, stdin: bool = False) -> int:
    """Create the container under conmon; returns its pid (not yet started). ``stdin``: the
    container reads what attached clients send (`run -d -i`); a terminal container (-t)
    gets its pty from conmon, which holds the master."""
    sock_dir = os.path.join(config.run_root(), "conmon")
    os.makedirs(sock_dir, mode=0o700, exist_ok=True)
    r, w = os.pipe()
    args = [conmon_binary(), "--api-version", "1", "-c", cid, "-u", cid, "-n", cid[:12], "-r", runtime,
            "-b", bundle, "-p", os.path.join(bundle, "pid"), "--exit-dir", bundle,
            "--persist-dir", bundle,  # where conmon writes its `oom` marker (else: its cwd, the caller's)
            "-l", f"k8s-file:{os.path.join(bundle, 'ctr.log')}", "--conmon-pidfile", os.path.join(bundle, "conmon.pid"),
            "--socket-dir-path", sock_dir, "--runtime-arg", "--root", "--runtime-arg", config.runtime_root(),
            "--runtime-arg", "--log", "--runtime-arg", os.path.join(bundle, "runtime.log"),
            "--runtime-arg", "--log-format", "--runtime-arg", "json"]
    if stdin:
        args += ["--stdin", "--leave-stdin-open"]
    if terminal(bundle):
        args.append("--terminal")  # conmon makes the console socket and passes it to `create`
    for i, a in enumerate(exit_command or ()):
        args += ["--exit-command" if i == 0 else "--exit-command-arg", a]
    try:
        p = subprocess.Popen(args, pass_fds=(w,), env={**os.environ, "_OCI_SYNCPIPE": str(w)}, cwd=bundle,
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


def attach_socket(bundle: str) -> str:
    """conmon's attach socket. conmon also links <socket dir>/<id> to the bundle, but that
    path can exceed a socket address's 108 bytes; callers connect through an fd of the
    bundle directory instead (/proc/self/fd/N/attach), as conmon binds it."""
    return os.path.join(bundle, "attach")


def control_fifo(bundle: str) -> str:
    """conmon's control fifo: "1 ROWS COLS\\n" resizes the pty, "2 0 0\\n" reopens the log."""
    return os.path.join(bundle, "ctl")


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
