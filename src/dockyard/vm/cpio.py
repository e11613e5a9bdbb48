"""A cpio archive in the "newc" format (the one the kernel unpacks as an initramfs), written
in Python so building the initramfs needs no root (device nodes are only headers here) and no
host `cpio`. Format: Documentation/driver-api/early-userspace/buffer-format.rst."""

from __future__ import annotations

import stat

_FIELDS = 13  # magic is followed by 13 eight-digit hex fields


class CpioWriter:
    """Entries are added in order; parents must come before their children."""

    def __init__(self, out) -> None:
        self._out = out
        self._ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", *, rdev: tuple[int, int] = (0, 0),
               uid: int = 0, gid: int = 0) -> None:
        encoded = name.encode() + b"\0"
        fields = (self._ino, mode, uid, gid, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        assert len(fields) == _FIELDS
        self._ino += 1
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self._out.write(header + encoded + b"\0" * (-(len(header) + len(encoded)) % 4))
        self._out.write(data + b"\0" * (-len(data) % 4))

    def directory(self, name: str, perm: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | perm)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int, perm: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def close(self) -> None:
        self._entry("TRAILER!!!", 0)
