"""ctypes binding to the system's libseccomp.so.2, plus the seccomp notify ioctls.

Only what the OCI runtime needs: build a filter context, add rules, set attributes, load it,
get the notify listener, export the BPF for tests. Every libseccomp call returns a negative
errno on failure; ``_check`` turns that into a ``SeccompError`` naming the call, with the
errno kept on the exception (``err.errno``) so callers can tell EEXIST from real failures.

The library is dlopened on first use, not at import: the runtime imports this module on the
path to execve even for containers without seccomp, and a dlopen costs time we do not spend
for nothing. ``ctypes`` itself is cheap to import.

A filter context is an opaque pointer (an ``int`` here); ``runtime/seccomp.py`` owns it.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os

from dockyard.errors import SeccompError

# No typing/collections/dataclasses imports: they cost more than this whole module, and it is
# imported on the path to execve (check with python -X importtime).

# --- actions (seccomp.h); the low 16 bits of ERRNO/TRACE carry data -----------------------
SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_KILL_THREAD = 0x00000000
SCMP_ACT_KILL = SCMP_ACT_KILL_THREAD
SCMP_ACT_TRAP = 0x00030000
SCMP_ACT_NOTIFY = 0x7FC00000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_ACT_ALLOW = 0x7FFF0000
_ACT_ERRNO_BASE = 0x00050000
_ACT_TRACE_BASE = 0x7FF00000


def act_errno(err: int) -> int:
    """SCMP_ACT_ERRNO(err): fail the syscall with ``err``."""
    return _ACT_ERRNO_BASE | (err & 0xFFFF)


def act_trace(msg: int) -> int:
    """SCMP_ACT_TRACE(msg): hand the syscall to a ptrace tracer with ``msg``."""
    return _ACT_TRACE_BASE | (msg & 0xFFFF)


# --- argument comparison operators (enum scmp_compare) ------------------------------------
SCMP_CMP_NE = 1
SCMP_CMP_LT = 2
SCMP_CMP_LE = 3
SCMP_CMP_EQ = 4
SCMP_CMP_GE = 5
SCMP_CMP_GT = 6
SCMP_CMP_MASKED_EQ = 7  # (arg & datum_a) == datum_b

# --- filter attributes (enum scmp_filter_attr) --------------------------------------------
SCMP_FLTATR_ACT_DEFAULT = 1
SCMP_FLTATR_ACT_BADARCH = 2
SCMP_FLTATR_CTL_NNP = 3  # we set it to 0: the runtime sets no_new_privs itself, per process.noNewPrivileges
SCMP_FLTATR_CTL_TSYNC = 4
SCMP_FLTATR_API_TSKIP = 5
SCMP_FLTATR_CTL_LOG = 6
SCMP_FLTATR_CTL_SSB = 7  # SECCOMP_FILTER_FLAG_SPEC_ALLOW
SCMP_FLTATR_CTL_OPTIMIZE = 8
SCMP_FLTATR_API_SYSRAWRC = 9  # return the kernel's errno instead of libseccomp's generic one

NR_SCMP_ERROR = -1  # seccomp_syscall_resolve_name*: unknown name

# --- seccomp user notification (linux/seccomp.h) ------------------------------------------
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp)
SECCOMP_IOCTL_NOTIF_ID_VALID = 0x40082102  # _IOW('!', 2, __u64)
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1  # let the syscall run as if there were no filter

PR_SET_NO_NEW_PRIVS = 38


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _SeccompData(ctypes.Structure):
    _fields_ = [
        ("nr", ctypes.c_int),
        ("arch", ctypes.c_uint32),
        ("instruction_pointer", ctypes.c_uint64),
        ("args", ctypes.c_uint64 * 6),
    ]


class _Notif(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("pid", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("data", _SeccompData),
    ]


class _NotifResp(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("val", ctypes.c_int64),
        ("error", ctypes.c_int32),
        ("flags", ctypes.c_uint32),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


assert ctypes.sizeof(_Notif) == 80 and ctypes.sizeof(_NotifResp) == 24  # the ioctl numbers encode these


class Notification:
    """One intercepted syscall, as SECCOMP_IOCTL_NOTIF_RECV reports it."""

    __slots__ = ("id", "pid", "flags", "nr", "arch", "instruction_pointer", "args")

    def __init__(self, req: _Notif) -> None:
        d = req.data
        self.id, self.pid, self.flags = req.id, req.pid, req.flags
        self.nr, self.arch, self.instruction_pointer = d.nr, d.arch, d.instruction_pointer
        self.args: tuple[int, ...] = tuple(d.args)  # the six raw argument registers

    def __repr__(self) -> str:
        return f"Notification(id={self.id}, pid={self.pid}, nr={self.nr}, args={self.args})"


_LIB: ctypes.CDLL | None = None
_LIBC: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    """dlopen libseccomp.so.2 once and declare the prototypes we use."""
    global _LIB
    if _LIB is not None:
        return _LIB
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as exc:
        raise SeccompError(f"seccomp: cannot load libseccomp.so.2 ({exc}); install libseccomp2") from None
    u32, i32, ptr, s = ctypes.c_uint32, ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p
    protos = {
        "seccomp_init": (ptr, [u32]),
        "seccomp_release": (None, [ptr]),
        "seccomp_arch_add": (i32, [ptr, u32]),
        "seccomp_arch_exist": (i32, [ptr, u32]),
        "seccomp_arch_resolve_name": (u32, [s]),
        "seccomp_arch_native": (u32, []),
        "seccomp_syscall_resolve_name": (i32, [s]),
        "seccomp_syscall_resolve_name_arch": (i32, [u32, s]),
        "seccomp_rule_add_array": (i32, [ptr, u32, i32, ctypes.c_uint, ctypes.POINTER(_ArgCmp)]),
        "seccomp_attr_set": (i32, [ptr, i32, u32]),
        "seccomp_attr_get": (i32, [ptr, i32, ctypes.POINTER(u32)]),
        "seccomp_load": (i32, [ptr]),
        "seccomp_notify_fd": (i32, [ptr]),
        "seccomp_export_bpf": (i32, [ptr, i32]),
        "seccomp_export_pfc": (i32, [ptr, i32]),
        "seccomp_api_get": (ctypes.c_uint, []),
        "seccomp_version": (ctypes.POINTER(_Version), []),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    _LIB = lib
    return lib


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.ioctl.restype = ctypes.c_int
        _LIBC.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
        _LIBC.prctl.restype = ctypes.c_int
        _LIBC.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    return _LIBC


def _error(step: str, err: int, detail: str = "") -> SeccompError:
    extra = f" ({detail})" if detail else ""
    exc = SeccompError(f"{step}: {os.strerror(err)}{extra}")
    exc.step, exc.errno = step, err  # type: ignore[attr-defined]
    return exc


def _check(rc: int, step: str, detail: str = "") -> int:
    """libseccomp reports failure as a negative errno; raise it, pass anything else through."""
    if rc < 0:
        raise _error(step, -rc, detail)
    return rc


# --- library facts -------------------------------------------------------------------------
def version() -> tuple[int, int, int]:
    v = _lib().seccomp_version().contents
    return (v.major, v.minor, v.micro)


def api_level() -> int:
    """What libseccomp and the running kernel support together (see seccomp_api_get(3))."""
    return int(_lib().seccomp_api_get())


def arch_native() -> int:
    return int(_lib().seccomp_arch_native())


def arch_resolve_name(name: str) -> int | None:
    """libseccomp's token for an arch name such as "x86_64"; None if this libseccomp lacks it."""
    token = _lib().seccomp_arch_resolve_name(name.encode())
    return int(token) or None


def syscall_resolve_name(name: str, arch: int | None = None) -> int | None:
    """The syscall number (negative pseudo-numbers are valid) or None if libseccomp lacks it."""
    lib = _lib()
    raw = name.encode()
    nr = lib.seccomp_syscall_resolve_name(raw) if arch is None else lib.seccomp_syscall_resolve_name_arch(arch, raw)
    return None if nr == NR_SCMP_ERROR else int(nr)


# --- filter contexts -------------------------------------------------------------------------
def init(default_action: int) -> int:
    ctx = _lib().seccomp_init(default_action)
    if not ctx:
        raise _error("seccomp_init", _errno.EINVAL, f"default action {default_action:#x}")
    return ctx


def release(ctx: int) -> None:
    _lib().seccomp_release(ctx)


def arch_add(ctx: int, token: int) -> bool:
    """Add an architecture; False if the context already has it (e.g. the native one)."""
    rc = _lib().seccomp_arch_add(ctx, token)
    if rc == -_errno.EEXIST:
        return False
    _check(rc, "seccomp_arch_add", f"arch {token:#x}")
    return True


def attr_set(ctx: int, attr: int, value: int) -> None:
    _check(_lib().seccomp_attr_set(ctx, attr, value), "seccomp_attr_set", f"attribute {attr}")


def attr_get(ctx: int, attr: int) -> int:
    out = ctypes.c_uint32()
    _check(_lib().seccomp_attr_get(ctx, attr, ctypes.byref(out)), "seccomp_attr_get", f"attribute {attr}")
    return out.value


def rule_add(ctx: int, action: int, syscall: int, conds: list[tuple[int, int, int, int]] | tuple = ()) -> None:
    """seccomp_rule_add_array; ``conds`` are (arg index, SCMP_CMP_*, datum_a, datum_b)."""
    arr = (_ArgCmp * len(conds))(*(_ArgCmp(*c) for c in conds)) if conds else None
    rc = _lib().seccomp_rule_add_array(ctx, action, syscall, len(conds), arr)
    _check(rc, "seccomp_rule_add", f"syscall {syscall}")


def load(ctx: int) -> None:
    """Install the filter in the calling process (and its threads if CTL_TSYNC is set)."""
    _check(_lib().seccomp_load(ctx), "seccomp_load")


def notify_fd(ctx: int) -> int:
    """The notify listener created by the last seccomp_load of a filter with SCMP_ACT_NOTIFY."""
    return _check(_lib().seccomp_notify_fd(ctx), "seccomp_notify_fd")


def _export(ctx: int, fn_name: str) -> bytes:
    # A memfd, not a pipe: a large filter would fill a pipe's buffer and block the writer.
    fd = os.memfd_create("dockyard-seccomp-export", os.MFD_CLOEXEC)
    try:
        _check(getattr(_lib(), fn_name)(ctx, fd), fn_name)
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def export_bpf(ctx: int) -> bytes:
    """The raw cBPF program (8 bytes per instruction), for tests and debugging."""
    return _export(ctx, "seccomp_export_bpf")


def export_pfc(ctx: int) -> str:
    """libseccomp's human-readable pseudo-filter code, for tests and debugging."""
    return _export(ctx, "seccomp_export_pfc").decode()


# --- process helpers -------------------------------------------------------------------------
def set_no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS, 1): lets an unprivileged process load a filter."""
    if _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _error("prctl(PR_SET_NO_NEW_PRIVS)", ctypes.get_errno())


# --- user notification (the supervisor side) ----------------------------------------------------
def _ioctl(fd: int, request: int, arg: ctypes.Structure, step: str) -> None:
    while _libc().ioctl(fd, request, ctypes.addressof(arg)) != 0:
        err = ctypes.get_errno()
        if err != _errno.EINTR:
            raise _error(step, err)


def notify_receive(fd: int, timeout: float | None = None) -> Notification:
    """Wait for the next intercepted syscall on a listener fd.

    ``timeout`` (seconds) bounds the wait with poll(); on expiry a SeccompError with errno
    ETIMEDOUT is raised, so a test or supervisor never hangs on a target that went away.
    """
    if timeout is not None:
        import select  # only supervisors and tests wait here; keep it off the runtime's path

        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(max(0, int(timeout * 1000))):
            raise _error("seccomp notify receive", _errno.ETIMEDOUT)
    req = _Notif()  # the kernel rejects a non-zeroed buffer with EINVAL; ctypes zeroes it
    _ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req, "SECCOMP_IOCTL_NOTIF_RECV")
    return Notification(req)


def notify_respond(fd: int, id: int, error: int = 0, val: int = 0, flags: int = 0) -> None:
    """Answer a notification: the syscall returns ``val``, or fails with errno ``error``.

    ``error`` is an errno (its sign is ignored; the kernel wants it negative). With
    ``flags=SECCOMP_USER_NOTIF_FLAG_CONTINUE`` the syscall runs for real (error and val 0).
    """
    resp = _NotifResp(id=id, val=val, error=-abs(error), flags=flags)
    _ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp, "SECCOMP_IOCTL_NOTIF_SEND")


def notify_id_valid(fd: int, id: int) -> bool:
    """Whether the target of notification ``id`` is still waiting (guards pid reuse, TOCTOU)."""
    cookie = ctypes.c_uint64(id)
    if _libc().ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, ctypes.addressof(cookie)) == 0:
        return True
    err = ctypes.get_errno()
    if err == _errno.ENOENT:
        return False
    raise _error("SECCOMP_IOCTL_NOTIF_ID_VALID", err)


# --- installing a BPF program directly (the cache's path, no libseccomp involved) ----------
SYS_seccomp = 317  # x86_64
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_bpf(bpf: bytes, flags: int) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) with a classic BPF program (8-byte
    instructions, as seccomp_export_bpf writes them). Returns the listener fd when
    SECCOMP_FILTER_FLAG_NEW_LISTENER is in ``flags``, else 0. If the kernel refuses
    SPEC_ALLOW (too old), the filter is installed without it, as libseccomp does."""
    if len(bpf) % 8 or not bpf:
        raise SeccompError(f"install seccomp filter: a BPF program of {len(bpf)} bytes is not whole instructions")
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(ctypes.c_long(SYS_seccomp), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                      ctypes.c_long(flags), ctypes.byref(prog))
    if rc < 0 and ctypes.get_errno() == _errno.EINVAL and flags & SECCOMP_FILTER_FLAG_SPEC_ALLOW:
        flags &= ~SECCOMP_FILTER_FLAG_SPEC_ALLOW
        rc = libc.syscall(ctypes.c_long(SYS_seccomp), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                          ctypes.c_long(flags), ctypes.byref(prog))
    if rc < 0:
        err = ctypes.get_errno()
        raise SeccompError(f"install seccomp filter: {os.strerror(err)}")
    return rc
