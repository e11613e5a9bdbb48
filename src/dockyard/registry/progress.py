"""Per-layer progress, printed as Docker prints it.

    tty     one line per layer, redrawn in place (cursor up, erase line) as bytes arrive,
            at most every 100 ms
    plain   a line per event (not a terminal: logs, CI, pipes)
    quiet   nothing but what the caller prints at the end
Thread-safe: layers download in parallel.
"""

from __future__ import annotations

import sys
import threading
import time


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n:.1f}GB"


class Progress:
    def __init__(self, mode: str = "auto", out=None) -> None:
        self.out = out or sys.stdout
        if mode == "auto":
            mode = "tty" if getattr(self.out, "isatty", lambda: False)() else "plain"
        self.mode = mode
        self._lock = threading.Lock()
        self._rows: dict[str, list] = {}  # id -> [status, done, total]
        self._order: list[str] = []
        self._drawn = 0
        self._last = 0.0

    def line(self, text: str) -> None:
        """A message outside the table (the final digest, for example)."""
        if self.mode == "quiet":
            return
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()
            if self.mode == "tty":
                self._drawn = 0  # the table is above now; new rows start below

    def status(self, key: str, status: str, total: int | None = None) -> None:
        with self._lock:
            if key not in self._rows:
                self._rows[key] = [status, 0, total]
                self._order.append(key)
            else:
                self._rows[key][0] = status
                if total is not None:
                    self._rows[key][2] = total
            if self.mode == "plain":
                self.out.write(f"{key[:12]}: {status}\n")
                self.out.flush()
            elif self.mode == "tty":
                self._draw(force=True)

    def advance(self, key: str, n: int) -> None:
        if self.mode != "tty":
            return
        with self._lock:
            row = self._rows.get(key)
            if row is not None:
                row[1] += n
                self._draw(force=False)

    def set_done(self, key: str, n: int) -> None:
        with self._lock:
            if key in self._rows:
                self._rows[key][1] = n

    def _draw(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        keys = [k for k in self._order]
        buf = f"\x1b[{self._drawn}A" if self._drawn else ""
        for k in keys:
            status, done, total = self._rows[k]
            bar = ""
            if status in ("Downloading", "Pushing") and total:
                filled = int(40 * min(done, total) / total)
                bar = f" [{'=' * filled}{'>' if filled < 40 else ''}{' ' * max(39 - filled, 0)}] " \
                      f"{_size(done)}/{_size(total)}"
            buf += f"\x1b[2K{k[:12]}: {status}{bar}\n"
        self.out.write(buf)
        self.out.flush()
        self._drawn = len(keys)
