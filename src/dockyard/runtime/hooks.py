"""OCI hooks: run each hook with the container's state JSON on stdin, in order.

Who runs which kind, and where (runtime-spec config.md#posix-platform-hooks):

    prestart, createRuntime  host side, runtime namespace, after namespaces exist, before pivot_root
    createContainer          container init, container namespaces, before pivot_root
    startContainer           container init, after `start`, just before execve
    poststart                host side, after the user process started (failure: warning only)
    poststop                 host side, in `delete` (failure: warning only)
"""

from __future__ import annotations

import os
import time

from .. import _json as json
from ..errors import HookError


def run(kind: str, hooks: list[dict] | None, state: dict, *, warn_only: bool = False, log=None) -> None:
    if not hooks:
        return
    payload = json.dumps(state).encode()
    for i, h in enumerate(hooks):
        try:
            _run_one(h, payload)
        except HookError as e:
            e = HookError(f"{kind} hook #{i} ({h.get('path')}): {e}")
            if not warn_only:
                raise e from None
            if log:
                log("warning", str(e))


def _run_one(h: dict, payload: bytes) -> None:
    path = h["path"]
    args = h.get("args") or [path]
    env = dict(e.split("=", 1) for e in h.get("env") or [] if "=" in e)
    timeout = h.get("timeout")
    r, w = os.pipe()
    try:
        pid = os.posix_spawn(path, args, env, file_actions=[
            (os.POSIX_SPAWN_DUP2, r, 0), (os.POSIX_SPAWN_CLOSE, w)])
    except OSError as e:
        os.close(r)
        os.close(w)
        raise HookError(f"cannot run: {e.strerror}") from None
    os.close(r)
    try:
        os.write(w, payload)
    except BrokenPipeError:
        pass  # the hook need not read its stdin
    finally:
        os.close(w)
    deadline = None if not timeout else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG if deadline else 0)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise HookError(f"timed out after {timeout}s")
        time.sleep(0.005)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise HookError(f"exited with {code}" if code > 0 else f"killed by signal {-code}")
