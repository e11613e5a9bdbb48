"""The runtime's log: `--log FILE` and `--log-format text|json`, as runc writes them.

containerd's shim reads this file when a command fails and shows the last error, so errors
are always written here (and to stderr) as one line each.
"""

from __future__ import annotations

import os
import sys
import time

_path: str | None = None
_json = False
_debug = False


def configure(path: str | None, fmt: str, debug: bool) -> None:
    global _path, _json, _debug
    _path, _json, _debug = path, fmt == "json", debug


def log(level: str, msg: str) -> None:
    if level == "debug" and not _debug:
        return
    if _path:
        t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if _json:
            from .. import _json as json

            line = json.dumps({"level": level, "msg": msg, "time": t})
        else:
            line = f'time="{t}" level={level} msg="{msg}"'
        try:
            fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            os.write(fd, (line + "\n").encode())
            os.close(fd)
        except OSError:
            pass
    if level in ("error", "warning") or _debug:
        try:
            sys.stderr.write(f"dockyard-runtime: {level + ': ' if level != 'error' else ''}{msg}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
