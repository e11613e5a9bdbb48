"""Reading and writing one controller's files in a directory the caller names.

Every writer takes its directory, so unit tests point it at a temp tree that imitates the
cgroupfs and need no root. Two failures are told apart on purpose:

- the file does not exist: this kernel, this hierarchy or this cgroup lacks the knob, so the
  value is reported as a warning and the rest is still applied;
- the kernel refuses the value (EINVAL, EBUSY, ...): a CgroupError naming controller, file,
  value and strerror in one line, because the container would not get what it asked for.

Files are opened without O_CREAT: creating a regular file is impossible on cgroupfs, and in a
test tree it would hide a knob that "the kernel" does not have.
"""

from __future__ import annotations

import errno
import os

from ...errors import CgroupError


def error(controller: str, path: str, value: object, err: int, doing: str = "write") -> CgroupError:
    """A one-line CgroupError carrying the pieces as attributes for callers that want them."""
    shown = f" {str(value)!r}" if doing == "write" else ""
    e = CgroupError(f"cgroup {controller}: {doing}{shown} {path}: {os.strerror(err)}")
    e.controller, e.file, e.value, e.errno = controller, path, value, err
    return e


class Files:
    """Reads and writes files of one controller, collecting warnings for missing ones."""

    __slots__ = ("controller", "warnings")

    def __init__(self, controller: str) -> None:
        self.controller = controller
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.controller}: {message}")

    def attempt(self, d: str, name: str, value: object) -> int:
        """Write without judging: 0 on success, else the errno (ENOENT = no such knob).
        For callers that retry in another order (cpu quota/period, memory/swap)."""
        try:
            fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        except OSError as e:
            return e.errno or errno.EIO
        try:
            os.write(fd, str(value).encode())
        except OSError as e:
            return e.errno or errno.EIO
        finally:
            os.close(fd)
        return 0

    def write(self, d: str, name: str, value: object, *, optional: bool = False) -> bool:
        """Write ``value``; True if written. A missing file is a warning (silent when
        ``optional``); any other failure raises CgroupError."""
        err = self.attempt(d, name, value)
        if err == 0:
            return True
        if err == errno.ENOENT:
            if not optional:
                self.warn(f"{name}={value} not applied (this kernel or cgroup has no {name})")
            return False
        raise self.error(d, name, value, err)

    def error(self, d: str, name: str, value: object, err: int) -> CgroupError:
        return error(self.controller, os.path.join(d, name), value, err)

    def read(self, d: str, name: str) -> str | None:
        """Stripped content, or None if the file does not exist."""
        return read(d, name, self.controller)

    def exists(self, d: str, name: str) -> bool:
        return os.path.exists(os.path.join(d, name))


def read(d: str, name: str, controller: str = "cgroup") -> str | None:
    """Stripped content of d/name, or None if it does not exist."""
    path = os.path.join(d, name)
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise error(controller, path, None, e.errno or errno.EIO, "read") from None


MAX = 2**64 - 1  # what runc reports for "max" / unlimited (math.MaxUint64)


def to_int(text: str | None) -> int | None:
    """An integer knob: "max" -> MAX, absent or garbage -> None."""
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return MAX
    try:
        return int(text)
    except ValueError:
        return None


def read_int(d: str, name: str) -> int | None:
    return to_int(read(d, name))


def read_keyed(d: str, name: str) -> dict[str, int]:
    """A flat keyed file ("key value" per line: memory.stat, cpu.stat, memory.events...)."""
    out: dict[str, int] = {}
    for line in (read(d, name) or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            v = to_int(parts[1])
            if v is not None:
                out[parts[0]] = v
    return out
