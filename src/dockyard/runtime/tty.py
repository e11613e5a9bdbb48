"""Terminals: hand the pty master to a --console-socket (runc's protocol: the pty name as
the message, the fd in SCM_RIGHTS), or, for `run`/`exec` with a terminal and no console
socket, hold the master and copy bytes between it and our own stdio until the process exits."""

from __future__ import annotations

import os
import select

import _signal as signal


def send_console(console_socket: str, fd: int, name: str) -> None:
    import _socket
    import struct

    from ..errors import DockyardError

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(console_socket)
        s.sendmsg([name.encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", fd))])
    except OSError as e:
        raise DockyardError(f"console socket {console_socket}: {e.strerror}") from None
    finally:
        s.close()


def proxy_until_exit(master: int, pid: int) -> int:
    import termios
    import tty

    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
    code = None
    try:
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wake select() when a child exits
        fds = [master, 0]
        while code is None:
            try:
                r, _, _ = select.select(fds, [], [], 0.2)
            except InterruptedError:
                r = []
            if master in r:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the slave side closed
                    data = b""
                if data:
                    os.write(1, data)
                else:
                    fds = [f for f in fds if f != master]
            if 0 in r:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    fds = [f for f in fds if f != 0]
            code = _reap(pid)
        # Drain what the process wrote just before exiting.
        while True:
            try:
                data = os.read(master, 65536) if select.select([master], [], [], 0)[0] else b""
            except OSError:
                break
            if not data:
                break
            os.write(1, data)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(master)
    return code


def _reap(pid: int) -> int | None:
    while True:
        try:
            got, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 255
        if got == 0:
            return None
        if got == pid:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code
