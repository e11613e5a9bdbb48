"""Test policy helpers shared by every test directory (a plain module, not a conftest:
two conftest.py files would both be importable only as `conftest`).

A test whose need (root, a package, reference data) is missing skips on a developer machine
but FAILS in CI (CI=true), so CI can never go green by skipping."""

import os
import shutil

import pytest

IN_CI = os.environ.get("CI") == "true"


def need(condition: bool, why: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI requirement missing: {why}")
    pytest.skip(why)


def need_binary(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"needs {name} (apt: see Makefile APT_PKGS)")
    return path


def shared_reference(*parts: str) -> str:
    """A file under shared/reference (specs and data we test against but do not copy into
    the project): $DOCKYARD_SHARED, the project's ../shared, or /work/shared."""
    here = os.path.dirname(os.path.abspath(__file__))
    for base in (os.environ.get("DOCKYARD_SHARED"), os.path.join(here, "..", "..", "shared"), "/work/shared"):
        if base and os.path.isdir(os.path.join(base, "reference")):
            return os.path.normpath(os.path.join(base, "reference", *parts))
    need(False, "shared/reference (set DOCKYARD_SHARED)")
    return ""


def run_on_pty(argv: list[str], *, wait_for: bytes, answer: bytes, env=None, timeout: float = 20.0):
    """Run ``argv`` with a pseudo-terminal as its stdio (as a user's terminal would be): when
    ``wait_for`` appears in its output, type ``answer``. Returns (exit code, all output)."""
    import pty
    import select
    import subprocess
    import time

    master, slave = pty.openpty()
    p = subprocess.Popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out, sent, end = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < end and p.poll() is None:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    break
            if wait_for in out and not sent:
                os.write(master, answer)
                sent = True
        code = p.wait(timeout=timeout)
        try:  # what it wrote just before exiting
            while select.select([master], [], [], 0.2)[0]:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                out += chunk
        except OSError:
            pass
    finally:
        os.close(master)
    return code, out


def recv_with_fds(conn, maxfds: int = 4) -> tuple[bytes, list[int]]:
    """One message and the fds passed with it (SCM_RIGHTS), as a console socket or a
    seccomp listener receives them."""
    import array
    import socket

    fds = array.array("i")
    data, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(maxfds * fds.itemsize))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def processes_naming(text: str) -> list[str]:
    """"PID: command line" of every process whose command line contains ``text`` (a run
    root: QEMU, virtiofsd, conmon of a test's dockyard), pytest itself excepted."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # gone meanwhile
            if text in cmd and "pytest" not in cmd:
                out.append(f"{pid}: {cmd}")
    return out
