"""Build progress as BuildKit's ``--progress=plain`` prints it, on stderr:

    #3 [2/4] RUN make
    #3 0.412 cc -o app app.c
    #3 DONE 1.2s
    #4 [3/4] COPY app /usr/bin/
    #4 CACHED

``tty`` prints the same lines (there is no redrawing view yet); ``quiet`` (``-q``) prints
nothing but, when a step fails, that step's output.

A RUN's output is streamed while it runs: the container's stdout and stderr are a pipe read
by a small forked reader that prefixes each line and also keeps it in a log file (shown again
after a failure in quiet mode). Forked, not a thread: the build process itself forks the
runtime, which must not happen while another thread runs (DESIGN.md §3).
"""

from __future__ import annotations

import os
import sys
import time


class Progress:
    def __init__(self, mode: str = "plain", out=None) -> None:
        self.quiet = mode == "quiet"
        self.out = out or sys.stderr
        self.n = 0
        self.started = 0.0
        self._cached = False

    def write(self, text: str) -> None:
        if not self.quiet:
            self.out.write(text)
            self.out.flush()

    def step(self, label: str) -> int:
        self.n += 1
        self.started = time.monotonic()
        self._cached = False
        self.write(f"#{self.n} {label}\n")
        return self.n

    def cached(self) -> None:
        self.write(f"#{self.n} CACHED\n")
        self._cached = True

    def done(self) -> None:
        if not self._cached:  # BuildKit says CACHED or DONE, not both
            self.write(f"#{self.n} DONE {time.monotonic() - self.started:.1f}s\n")

    def line(self, text: str) -> None:
        self.write(f"#{self.n} {text}\n")

    def note(self, text: str) -> None:
        self.write(text + "\n")

    def run_streamed(self, fn, log_path: str) -> int:
        """Call ``fn()`` (which forks the runtime) with fds 1 and 2 on a pipe whose lines go
        to the progress output and to ``log_path``, and stdin on /dev/null. Returns fn()'s
        result."""
        sys.stdout.flush()
        self.out.flush()
        r, w = os.pipe()
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        out_fd = self.out.fileno()
        pid = os.fork()
        if pid == 0:  # the reader: copies lines until every writer has closed the pipe
            code = 0
            try:
                os.close(w)
                _copy_lines(r, log, None if self.quiet else out_fd, f"#{self.n} ", self.started)
            except BaseException:  # noqa: BLE001 - the child must never return into the build
                code = 1
            finally:
                os._exit(code)
        os.close(r)
        os.close(log)
        saved = [os.dup(fd) for fd in (0, 1, 2)]
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            os.dup2(null, 0)
            os.dup2(w, 1)
            os.dup2(w, 2)
            return fn()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, s in zip((0, 1, 2), saved, strict=True):
                os.dup2(s, fd)
                os.close(s)
            os.close(null)
            os.close(w)
            os.waitpid(pid, 0)

    def show_log(self, log_path: str) -> None:
        """After a failure in quiet mode: the step's output, which nobody has seen yet."""
        if not self.quiet:
            return
        try:
            with open(log_path, "rb") as f:
                data = f.read()
        except OSError:
            return
        sys.stderr.write(data.decode("utf-8", "replace"))
        sys.stderr.flush()


def _copy_lines(r: int, log: int, out: int | None, prefix: str, started: float) -> None:
    pending = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        os.write(log, chunk)
        if out is None:
            continue
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _write_all(out, f"{prefix}{time.monotonic() - started:.3f} ".encode() + line + b"\n")
    if pending and out is not None:
        _write_all(out, f"{prefix}{time.monotonic() - started:.3f} ".encode() + pending + b"\n")


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
