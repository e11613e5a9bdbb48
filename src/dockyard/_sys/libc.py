"""The syscall seam: every raw libc/syscall call dockyard makes goes through here.

Only this package imports ctypes, so the rest of the code reads as plain Python and
unit tests can replace these functions. Failures raise ``SysError`` with the step name
and the path acted on, never a bare OSError without context.
"""

from __future__ import annotations

import ctypes
import os

from ..errors import MountError, SysError

_libc = ctypes.CDLL(None, use_errno=True)

# x86_64 syscall numbers for calls glibc 2.36 does not wrap (or wraps badly).
SYS_pivot_root = 155
SYS_capget = 125
SYS_capset = 126
SYS_openat2 = 437
SYS_keyctl = 250

# <sys/mount.h>
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

# <sched.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# <linux/prctl.h>
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# openat2 resolve flags
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def _check(rc: int, step: str, path: str | None = None, cls=SysError) -> int:
    if rc < 0:
        raise cls(step, ctypes.get_errno(), path)
    return rc


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None, *, shown: str | None = None) -> None:
    """mount(2). ``shown`` is the path to name in errors (targets are often /proc/self/fd/N)."""
    rc = _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    _check(rc, f"mount {fstype or source or ''}".rstrip(), shown or target, MountError)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), "umount", target, MountError)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(SYS_pivot_root, _b(new_root), _b(put_old)), "pivot_root", new_root)


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int, path: str = "") -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns", path)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0, step: str = "prctl") -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), step)


def sethostname(name: str) -> None:
    b = name.encode()
    _check(_libc.sethostname(b, ctypes.c_size_t(len(b))), "sethostname", name)


def setdomainname(name: str) -> None:
    b = name.encode()
    _check(_libc.setdomainname(b, ctypes.c_size_t(len(b))), "setdomainname", name)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the three per-thread capability sets (64-bit masks) of the calling thread."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        sh = 32 * i
        data[i].effective = (effective >> sh) & 0xFFFFFFFF
        data[i].permitted = (permitted >> sh) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> sh) & 0xFFFFFFFF
    _check(_libc.syscall(SYS_capset, ctypes.byref(hdr), data), "capset")


def last_cap() -> int:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


def join_session_keyring(name: str) -> None:
    """A fresh session keyring, so the container cannot read the host's keys (runc does this)."""
    KEYCTL_JOIN_SESSION_KEYRING = 1
    rc = _libc.syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, _b(name), 0, 0, 0)
    if rc < 0 and ctypes.get_errno() not in (38, 1):  # ENOSYS, EPERM (keyrings off, or inside userns): not fatal
        raise SysError("keyctl join session keyring", ctypes.get_errno())


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2); raises OSError (not SysError) so callers can fall back on ENOSYS."""
    how = _OpenHow(flags, mode, resolve)
    rc = _libc.syscall(SYS_openat2, dirfd, _b(path), ctypes.byref(how), ctypes.sizeof(how))
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)
    return rc
