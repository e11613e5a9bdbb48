"""`docker attach` for detached containers, through the monitor (conmon) that holds them.

conmon listens on ``<bundle>/attach``, a SOCK_SEQPACKET socket; every client gets every
chunk the container writes from the moment it connects (no replay: that is `logs`):

    client                                  conmon
      | ---- connect -------------------------> |
      | <--- [2] stdout bytes ------------------ |   one packet per read of the
      | <--- [3] stderr bytes ------------------ |   container's pipe (or pty: all [2])
      | ---- raw stdin bytes (no header) -----> |   -> container stdin (conmon -i) or pty master (-t)
      | <--- EOF ------------------------------- |   conmon exits after the container did;
                                                     the exit code is then in <bundle>/<id>

A terminal is resized by writing "1 ROWS COLS\\n" to the bundle's ``ctl`` fifo. conmon runs
with --leave-stdin-open, so a client's stdin EOF or departure never closes the container's
stdin (Docker keeps a detached container's stdin open across attaches, too).

This runs in the CLI process, in one thread: a select loop over the socket, our stdin and
a wakeup pipe for signals (SIGWINCH -> resize; with sig-proxy, others -> the container
through a pidfd, which cannot hit a recycled pid).
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket

from ..errors import ConfigError, InvalidState
from . import monitor

STDOUT, STDERR = 2, 3  # conmon's stdpipe_t: 1 is stdin, never sent to clients
RECV_SIZE = 64 * 1024  # > conmon's 8192 + 1 header byte: a short buffer truncates a packet
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
# Signals a foreground process gets and Docker's sig-proxy forwards; the rest (SIGCHLD,
# SIGPIPE, SIGURG, SIGWINCH, job control) are not meant for the container.
_PROXIED = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGPROF", "SIGVTALRM",
            "SIGIO", "SIGPWR", "SIGSYS", "SIGXCPU", "SIGXFSZ", "SIGTRAP", "SIGABRT")

# Signals that end a raw-mode client which does not proxy them (a -t container: Docker
# never proxies to those; ctrl-c is a byte for the container's pty there).
_LEAVE = ("SIGTERM", "SIGHUP")


def parse_detach_keys(spec: str) -> bytes:
    """Docker's --detach-keys: comma-separated "ctrl-X" (X in a-z @ [ \\ ] ^ _) or one
    character each, e.g. "ctrl-p,ctrl-q" -> b"\\x10\\x11"."""
    out = bytearray()
    for key in spec.split(","):
        low = key.lower()
        if len(key) == 1:
            out.append(ord(key))
        elif low.startswith("ctrl-") and len(low) == 6 and ("a" <= low[5] <= "z" or low[5] in "@[\\]^_"):
            out.append(ord(low[5].upper()) & 0x1F)
        else:
            raise ConfigError(f"--detach-keys {spec!r}: expected keys like ctrl-p,ctrl-q (ctrl-X or one character)")
    if not out:
        raise ConfigError("--detach-keys: empty")
    return bytes(out)


class DetachMatcher:
    """Finds the detach sequence in stdin as it arrives, across reads. Bytes that might
    start the sequence are held back until it is clear they do not; then they go on."""

    def __init__(self, keys: bytes) -> None:
        self.keys, self.held = keys, b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to send to the container, whether the sequence was typed)."""
        out = bytearray()
        for b in data:
            self.held += bytes([b])
            if self.keys.startswith(self.held):
                if self.held == self.keys:
                    return bytes(out), True
                continue
            # not the sequence: release the held bytes, but the last one may start it again
            out += self.held[:-1]
            self.held = self.held[-1:]
            if not self.keys.startswith(self.held):
                out += self.held
                self.held = b""
        return bytes(out), False


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _terminal_size(fd: int) -> tuple[int, int] | None:
    try:
        cols, rows = os.get_terminal_size(fd)
    except OSError:
        return None
    return (rows, cols) if rows and cols else None  # 0x0: a pty nobody sized; leave conmon's as is


def _resize(bundle: str, size: tuple[int, int] | None) -> None:
    if not size:
        return
    try:  # non-blocking: conmon keeps the fifo open for reading; if it is gone, so is the container
        fd = os.open(monitor.control_fifo(bundle), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, f"1 {size[0]} {size[1]}\n".encode())
    except OSError:
        pass  # the container just exited: nothing left to resize
    finally:
        os.close(fd)


def _connect(bundle: str) -> socket.socket:
    # conmon binds through /proc/self/fd of the directory too: the path may be too long
    # for a socket address (108 bytes)
    dfd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        s.connect(f"/proc/self/fd/{dfd}/{os.path.basename(monitor.attach_socket(bundle))}")
    except OSError as e:
        s.close()
        raise InvalidState(f"cannot attach: the container's monitor does not answer ({e.strerror})") from None
    finally:
        os.close(dfd)
    return s


def _pidfd(bundle: str) -> int | None:
    try:
        with open(os.path.join(bundle, "pid")) as f:
            return os.pidfd_open(int(f.read().strip()))
    except (OSError, ValueError):
        return None


class Attached:
    """What `attach` does for one container: set up with the container's facts, then run()."""

    def __init__(self, bundle: str, *, tty: bool, stdin: bool, sig_proxy: bool, detach_keys: bytes,
                 in_fd: int = 0, out_fd: int = 1, err_fd: int = 2) -> None:
        self.bundle, self.tty, self.stdin, self.sig_proxy = bundle, tty, stdin, sig_proxy
        self.matcher = DetachMatcher(detach_keys)
        self.in_fd, self.out_fd, self.err_fd = in_fd, out_fd, err_fd
        self.left_by = 0  # the signal that ended this client early (SIGTERM, SIGHUP, SIGPIPE)

    def run(self) -> bool:
        """Stream until conmon closes the socket (True: the container exited), or False: the
        detach keys were typed, or this client was told to go (``left_by``); the container
        keeps running either way."""
        sock = _connect(self.bundle)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        pidfd = _pidfd(self.bundle) if self.sig_proxy and not self.tty else None
        raw = self.stdin and self.tty and os.isatty(self.in_fd)
        saved_signals, saved_tty, old_wakeup = {}, None, -1
        try:
            old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
            wanted = ["SIGWINCH"] if self.tty else []
            if pidfd is not None:
                wanted += _PROXIED
            elif raw:
                wanted += _LEAVE  # end cleanly: the terminal must not stay raw
            for name in wanted:
                # a no-op Python handler: the wakeup fd carries the signal number to the loop
                saved_signals[name] = signal.signal(getattr(signal, name), lambda *_: None)
            if raw:
                import termios
                import tty

                saved_tty = termios.tcgetattr(self.in_fd)
                tty.setraw(self.in_fd)
            if self.tty:
                _resize(self.bundle, _terminal_size(self.out_fd) or _terminal_size(self.in_fd))
            return self._loop(sock, wake_r, pidfd)
        finally:
            if saved_tty is not None:
                import termios

                termios.tcsetattr(self.in_fd, termios.TCSADRAIN, saved_tty)
            for name, old in saved_signals.items():
                signal.signal(getattr(signal, name), old)
            signal.set_wakeup_fd(old_wakeup)
            for fd in (wake_r, wake_w) + ((pidfd,) if pidfd is not None else ()):
                os.close(fd)
            sock.close()

    def _loop(self, sock: socket.socket, wake_r: int, pidfd: int | None) -> bool:
        reading_stdin, pending = self.stdin, b""
        while True:
            rlist = [sock, wake_r] + ([self.in_fd] if reading_stdin and not pending else [])
            wlist = [sock] if pending else []
            r, w, _ = select.select(rlist, wlist, [])
            if wake_r in r:
                self.left_by = self._on_signals(os.read(wake_r, 64), pidfd)
                if self.left_by:
                    return False
            if sock in r:
                packet = sock.recv(RECV_SIZE)
                if not packet:
                    return True
                if packet[0] in (STDOUT, STDERR):
                    try:
                        _write_all(self.err_fd if packet[0] == STDERR else self.out_fd, packet[1:])
                    except BrokenPipeError:
                        self.left_by = signal.SIGPIPE  # nobody reads our output any more
                        return False
            if self.in_fd in r:
                data = os.read(self.in_fd, 8192)
                if not data:
                    reading_stdin = False  # the container's stdin stays open (--leave-stdin-open)
                    continue
                pending, detach = self.matcher.feed(data)
                if detach:
                    if pending:
                        sock.sendall(pending)
                    return False
            if pending and (sock in w or not wlist):
                try:
                    sent = sock.send(pending, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                except OSError as e:
                    if e.errno not in (errno.EPIPE, errno.ECONNRESET):
                        raise
                    pending, reading_stdin = b"", False  # conmon is going: output EOF follows
                    continue
                pending = pending[sent:]

    def _on_signals(self, nums: bytes, pidfd: int | None) -> int:
        """Resize, forward, or leave (the signal's number): SIGTERM/SIGHUP to a raw-mode
        client that does not proxy them."""
        for num in nums:
            if pidfd is None and num in (signal.SIGTERM, signal.SIGHUP):
                return num
            if num == signal.SIGWINCH:
                _resize(self.bundle, _terminal_size(self.out_fd) or _terminal_size(self.in_fd))
            elif pidfd is not None:
                try:
                    signal.pidfd_send_signal(pidfd, num)
                except ProcessLookupError:
                    pass  # it has exited; the socket's EOF follows
        return 0


def attach(containers, rec, *, stdin: bool = True, sig_proxy: bool = True,
           detach_keys: str = DEFAULT_DETACH_KEYS) -> int | None:
    """Attach the caller's stdio to a running detached container. Returns its exit code when
    it exits, None when the user detached, 128 + N when signal N ended this client (the
    container keeps running in both cases)."""
    from .lifecycle import refresh

    keys = parse_detach_keys(detach_keys)
    rec = refresh(containers, rec)
    if rec.state != "running":
        raise InvalidState(f"cannot attach to container {rec.name}: it is not running (start it first)")
    bundle = containers.path(rec.id)
    from .backends import isolation_of

    if isolation_of(containers, rec.id) == "vm":  # no stdin into the guest yet: `logs -f` follows its output
        raise InvalidState(f"cannot attach to container {rec.name}: attach is not built for --isolation=vm "
                           "(use logs -f)")
    if not os.path.exists(monitor.attach_socket(bundle)):
        raise InvalidState(f"cannot attach to container {rec.name}: it was run in the foreground, not under conmon")
    tty = monitor.terminal(bundle)
    interactive = bool(containers.meta(rec.id).get("interactive"))
    # without -i the container's stdin is /dev/null; a -t container's pty would take our
    # bytes, but Docker attaches stdin only to containers made with -i
    session = Attached(bundle, tty=tty, stdin=stdin and interactive, sig_proxy=sig_proxy, detach_keys=keys)
    if not session.run():
        return 128 + session.left_by if session.left_by else None
    code = monitor.exit_code(bundle, rec.id)  # conmon wrote it before closing the socket
    if code is None:
        from .lifecycle import wait

        code = wait(containers, rec)
    else:
        refresh(containers, rec)
    return code
