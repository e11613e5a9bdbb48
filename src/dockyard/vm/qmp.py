"""A small QMP client (QEMU Machine Protocol: JSON lines over the VM's unix socket), stdlib
only: the `qemu.qmp` package would add an asyncio stack for the three commands we send.

Exchange: QEMU greets ({"QMP": ...}), we send qmp_capabilities, then one
{"execute": CMD, "arguments": {...}} per request; replies are {"return": ...} or
{"error": {"class", "desc"}}; asynchronous {"event": ...} lines may come in between and are
skipped."""

from __future__ import annotations

import json
import socket

from .errors import VmError


class QmpError(VmError):
    code = "qmp"


class Qmp:
    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(path)
        except OSError as e:
            self._sock.close()
            raise QmpError(f"QMP socket {path}: {e.strerror or e}") from None
        self._file = self._sock.makefile("rb")
        self._read()  # the greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        line = self._file.readline()
        if not line:
            raise QmpError("QEMU closed its QMP socket")
        return json.loads(line)

    def execute(self, command: str, **arguments):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self._sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise QmpError(f"{command}: {reply['error'].get('desc', reply['error'])}")
            return reply.get("return")

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
