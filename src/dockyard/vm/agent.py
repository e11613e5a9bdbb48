"""Host side of the guest agent (guest side and protocol: guest_init.py's docstring).

One request per exec: connect to the VM's agent.sock (QEMU's end of the agent port), send
`EXEC <id> <base64 of the shell-quoted words>`, copy the exec's output files to the caller's
fds while waiting for `EXIT <id> <code>`, then copy what is left (the guest wrote it before
sending EXIT). The guest polls its end every 100 ms while nobody is connected, so an exec
may wait that long to start."""

from __future__ import annotations

import base64
import os
import socket
import time

from .errors import VmError
from .guest_config import quote


class AgentError(VmError):
    code = "vm-agent"


def exec_request(argv: list[str]) -> tuple[str, bytes]:
    rid = f"{os.getpid()}-{time.monotonic_ns()}"
    words = quote([rid, *argv]).encode()
    return rid, f"EXEC {rid} {base64.b64encode(words).decode()}\n".encode()


class Agent:
    def __init__(self, path: str) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.connect(path)
        except OSError as e:
            self._sock.close()
            raise AgentError(f"guest agent {path}: {e.strerror or e}") from None
        self._buf = b""

    def signal(self, sig: int) -> None:
        self._sock.sendall(f"SIGNAL {int(sig)}\n".encode())
        time.sleep(0.2)  # stay connected long enough for the guest's next poll to read it

    def _lines(self, timeout: float):
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(4096)
        except TimeoutError:
            return []
        if not data:
            raise AgentError("the VM closed the agent channel")
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        return [line.decode(errors="replace") for line in lines]

    def run(self, request: tuple[str, bytes], outs: list[tuple[str, int]], timeout: float | None, alive) -> int:
        rid, line = request
        self._sock.sendall(line)
        files = [(open(path, "rb"), fd) for path, fd in outs]  # noqa: SIM115 - closed below
        end = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                _copy(files)
                for reply in self._lines(0.01):
                    parts = reply.split()
                    if len(parts) == 3 and parts[0] == "EXIT" and parts[1] == rid:
                        _copy(files)
                        return int(parts[2])
                if not alive():
                    raise AgentError("the VM ended during exec")
                if end is not None and time.monotonic() > end:
                    raise AgentError(f"exec did not finish within {timeout:g} s")
        finally:
            for f, _ in files:
                f.close()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _copy(files) -> None:
    for f, fd in files:
        while True:
            chunk = f.read(65536)
            if not chunk:
                break
            os.write(fd, chunk)
