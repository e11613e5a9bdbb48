"""Filters loaded into the real kernel, each in a forked child so the test process stays unfiltered.

The child sets no_new_privs (as the container init does), loads, probes, reports a JSON
result through a pipe and ``os._exit``s. Every wait in the parent has a deadline and a
child that overstays is SIGKILLed, so a broken filter fails a test instead of hanging it.
"""

from __future__ import annotations

import array
import errno
import json
import os
import select
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from dockyard._sys import seccomp as _sc
from dockyard.runtime import seccomp

DEADLINE = 15.0
DOCKER_PROFILE = Path("/work/shared/reference/docker-default-seccomp.json")


def _errno_of(fn: Callable[[], Any]) -> int:
    try:
        fn()
    except OSError as exc:
        return exc.errno
    return 0


def run_filtered(spec: dict, probe: Callable[[int | None], Any],
                 after_fork: Callable[[], None] = lambda: None) -> tuple[Any, int]:
    """Fork; in the child load ``spec`` and return ``probe(listener_fd)``. Gives (result, wait status).

    ``after_fork`` runs in the parent once the child exists: threads start there, never
    before the fork (a forked child only gets the forking thread, and locks held by others).
    """
    flt = seccomp.compile(spec)  # built before fork, as the runtime does
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 0
        try:
            os.close(r)
            _sc.set_no_new_privs()
            listener = flt.load()
            result = {"ok": probe(listener)}
        except BaseException as exc:  # noqa: BLE001 - reported to the parent as data
            result, status = {"error": f"{type(exc).__name__}: {exc}"}, 1
        try:
            os.write(w, json.dumps(result).encode())
        finally:
            os._exit(status)
    os.close(w)
    flt.release()
    try:
        after_fork()
        data = _read_all(r, DEADLINE)
    finally:
        os.close(r)
        status = _reap(pid, DEADLINE)
    result = json.loads(data) if data else {"error": "child reported nothing"}
    return result, status


def _read_all(fd: int, timeout: float) -> bytes:
    end, chunks = time.monotonic() + timeout, []
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return b"".join(chunks)  # timed out; _reap kills the child
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _reap(pid: int, timeout: float) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def ok(result: dict) -> Any:
    assert "error" not in result, result["error"]
    return result["ok"]


def test_mkdir_fails_with_the_chosen_errno(tmp_path):
    spec = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS}]}
    target = tmp_path / "d"
    result, status = run_filtered(spec, lambda _: _errno_of(lambda: os.mkdir(target)))
    assert ok(result) == errno.ENOSYS and os.waitstatus_to_exitcode(status) == 0
    os.mkdir(target)  # the parent is not filtered


def test_socket_denied_by_family_argument():
    spec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
        "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES,
        # Same index twice: runc makes it two rules, i.e. INET or INET6.
        "args": [{"index": 0, "value": socket.AF_INET, "op": "SCMP_CMP_EQ"},
                 {"index": 0, "value": socket.AF_INET6, "op": "SCMP_CMP_EQ"}]}]}

    def probe(_):
        return [_errno_of(lambda: socket.socket(family).close())
                for family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX)]

    assert ok(run_filtered(spec, probe)[0]) == [errno.EACCES, errno.EACCES, 0]


def test_kill_process_kills_with_sigsys():
    spec = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}
    _, status = run_filtered(spec, lambda _: os.getppid())
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_docker_default_profile_loads_and_denies():
    # Docker's file minus what dockerd resolves first: keep the x86 arches and the entries
    # that need no capability beyond Docker's defaults (none of which is CAP_SYS_ADMIN).
    docker = json.loads(DOCKER_PROFILE.read_text())
    spec = {"defaultAction": docker["defaultAction"], "defaultErrnoRet": docker["defaultErrnoRet"],
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{k: v for k, v in entry.items() if k in ("names", "action", "errnoRet", "args")}
                         for entry in docker["syscalls"] if "includes" not in entry and "excludes" not in entry]}

    def probe(_):
        # AF_VSOCK (40) is outside Docker's socket allowlist; AF_UNIX is inside it.
        return [_errno_of(lambda: socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()),
                _errno_of(lambda: socket.socket(socket.AF_UNIX).close()), os.getpid() > 0]

    assert ok(run_filtered(spec, probe)[0]) == [errno.EPERM, 0, True]


# --- SCMP_ACT_NOTIFY: a seccomp agent in a parent thread answers for the kernel -------------
class Agent:
    """Accepts one ContainerProcessState + fd, then answers getppid with a value and uname with an error."""

    FAKE_PPID = 4242

    def __init__(self, path: str) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.server.settimeout(DEADLINE)
        self.message: dict | None = None
        self.seen: list[str] = []
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        listener = -1
        try:
            conn, _ = self.server.accept()
            with conn:
                fds = array.array("i")
                data, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(fds.itemsize))
                for level, kind, payload in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            self.message, listener = json.loads(data), fds[0]
            names = {_sc.syscall_resolve_name("getppid"): "getppid", _sc.syscall_resolve_name("uname"): "uname"}
            for _ in range(2):
                note = _sc.notify_receive(listener, timeout=DEADLINE)
                name = names.get(note.nr, str(note.nr))
                self.seen.append(name)
                assert note.pid == self.message["pid"] and _sc.notify_id_valid(listener, note.id)
                if name == "getppid":
                    _sc.notify_respond(listener, note.id, val=self.FAKE_PPID)
                else:
                    _sc.notify_respond(listener, note.id, error=errno.EOWNERDEAD)
        except BaseException as exc:  # noqa: BLE001 - checked by the test
            self.failure = exc
        finally:
            if listener >= 0:
                os.close(listener)  # pending notifications then fail with ENOSYS, never hang
            self.server.close()


def test_notify_agent_answers_for_the_kernel(tmp_path):
    path = str(tmp_path / "agent.sock")
    spec = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path, "listenerMetadata": "probe",
            "syscalls": [{"names": ["getppid", "uname"], "action": "SCMP_ACT_NOTIFY"}]}
    agent = Agent(path)  # listening before fork, so the child can connect at once

    def probe(listener):
        state = {"ociVersion": "1.2.1", "id": "notify-test", "status": "running",
                 "pid": os.getpid(), "bundle": str(tmp_path)}
        seccomp.send_listener_fd(path, listener, state, "probe")
        return [os.getppid(), _errno_of(os.uname)]

    result, _ = run_filtered(spec, probe, after_fork=agent.thread.start)
    agent.thread.join(DEADLINE)
    assert agent.failure is None, repr(agent.failure)
    assert ok(result) == [Agent.FAKE_PPID, errno.EOWNERDEAD]
    assert agent.seen == ["getppid", "uname"]
    assert agent.message["fds"] == ["seccompFd"] and agent.message["metadata"] == "probe"
    assert agent.message["state"]["id"] == "notify-test"


def test_notify_receive_times_out_instead_of_hanging():
    spec = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/unused",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}

    def probe(listener):
        try:
            _sc.notify_receive(listener, timeout=0.05)
        except Exception as exc:  # noqa: BLE001
            return getattr(exc, "errno", None)
        return "received"

    assert ok(run_filtered(spec, probe)[0]) == errno.ETIMEDOUT


@pytest.mark.parametrize("flags", [None, ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                          "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]])
def test_flags_load_in_the_kernel(flags):
    spec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS}]}
    if flags is not None:
        spec["flags"] = flags
    result, _ = run_filtered(spec, lambda _: _errno_of(lambda: os.rmdir("/nonexistent-dockyard")))
    assert ok(result) == errno.EROFS
