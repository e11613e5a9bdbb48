"""The typed message channel between the runtime (host side) and the container's stages.

A SOCK_SEQPACKET socketpair keeps message boundaries, so each message is one JSON object
in one datagram, optionally carrying fds (SCM_RIGHTS). Message kinds, in order:

    host (P)                         stage 1 (C1)                     stage 2 = init (C2)
    fork C1
    {"t":"go"}  ------------------>  setns() joined namespaces
                                     unshare(CLONE_NEWUSER)?
                <------------------  {"t":"userns"}
    write uid_map, gid_map
    {"t":"mapped"} --------------->  unshare(others), fork C2 ------> setsid, mounts, /dev
                <------------------  {"t":"pid","pid":C2}; exit
    cgroup add C2, exec.fifo
    {"t":"joined"} ------------------------------------------------>  unshare(cgroup ns)
                <-------------------------------------------------  {"t":"hooks"}       (if hooks)
    prestart, createRuntime hooks
    {"t":"hooks-done","state":..} ------------------------------->  createContainer hooks,
                                                                    pivot_root, paths, sysctl
                <-------------------------------------------------  {"t":"console"}+fd (if terminal)
                <-------------------------------------------------  {"t":"seccomp"}+fd (notify, no NNP)
                                                                    user, caps, cwd
                <-------------------------------------------------  {"t":"ready"}
                                                                    wait on exec.fifo, execve

Any stage may instead send {"t":"error","msg":..,"code":..} and exit: the host raises it as
a DockyardError with the stage's own message, so the user sees where it failed.
We use the C ``_socket`` module: ``socket.py`` costs ~2 ms of imports on every start.
"""

from __future__ import annotations

import _socket
import struct

from .. import _json as json
from ..errors import DockyardError

_MAXFDS = 4


class InitDied(DockyardError):
    """The other side closed the channel without saying why (killed, or crashed)."""

    code = "init-died"


def pair():
    """(host end, child end); both close on exec."""
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)


def send(sock, msg: dict, fds: list[int] | tuple = ()) -> None:
    data = json.dumps(msg).encode()
    try:
        if fds:
            sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))])
        else:
            sock.send(data)
    except (BrokenPipeError, ConnectionResetError):
        # The peer is gone; it usually said why just before exiting: raise that instead.
        recv(sock, 1.0)
        raise DockyardError("container init exited unexpectedly") from None


def recv(sock, timeout: float | None = None) -> tuple[dict, list[int]]:
    """Next message and the fds it carried. EOF (peer died silently) is an error."""
    sock.settimeout(timeout)
    for _ in (1, 2):
        try:
            data, anc, _flags, _addr = sock.recvmsg(1 << 16, _socket.CMSG_SPACE(_MAXFDS * 4))
            break
        except TimeoutError:
            raise DockyardError("container init did not answer in time") from None
        except ConnectionResetError:
            # The peer closed with messages of ours unread (it failed, said why, and exited
            # before reading what we sent). The kernel reports that pending error *before*
            # the queued data, and clears it: read again to get the peer's last words.
            data, anc = b"", []
    fds: list[int] = []
    for level, kind, payload in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            n = len(payload) // 4
            fds.extend(struct.unpack(f"{n}i", payload[: n * 4]))
    if not data:
        raise InitDied("container init exited before it was ready (see the container's stderr)")
    msg = json.loads(data)
    if msg.get("t") == "error":
        for fd in fds:
            import os

            os.close(fd)
        err = DockyardError(msg.get("msg", "container init failed"))
        err.code = msg.get("code", "error")
        raise err
    return msg, fds


def expect(sock, kind: str, timeout: float | None = None) -> tuple[dict, list[int]]:
    msg, fds = recv(sock, timeout)
    if msg.get("t") != kind:
        raise DockyardError(f"protocol error: expected {kind!r} from container init, got {msg.get('t')!r}")
    return msg, fds


def send_error(sock, exc: BaseException) -> None:
    code = getattr(exc, "code", "error")
    if isinstance(exc, DockyardError):
        text = str(exc)
    elif isinstance(exc, OSError):
        text = f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    else:
        text = f"{type(exc).__name__}: {exc}"
    try:
        send(sock, {"t": "error", "msg": text, "code": code if isinstance(code, str) else "error"})
    except Exception:  # noqa: BLE001 - the peer is gone: nobody to tell, and we must not raise
        pass
