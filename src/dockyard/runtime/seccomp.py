"""The OCI ``linux.seccomp`` object turned into a libseccomp filter, the way runc does it.

Two steps, because they run at different times:

1. ``compile(spec)`` validates the whole object and builds the libseccomp context. The
   runtime calls it before fork/pivot_root, so a bad profile fails early, in the parent,
   as one clear line. Nothing is installed yet.
2. ``Filter.load()`` installs the filter in the calling process. The container's init calls
   it last, right before execve: every syscall after it is filtered, so the setup steps
   before it must not be (they would need syscalls the workload may not have).

Behaviour copied from runc (libcontainer/specconv and libcontainer/seccomp):

- ``SCMP_ACT_ERRNO``/``SCMP_ACT_TRACE`` without errnoRet return EPERM; errnoRet on other
  actions is ignored, as runc does.
- A syscall name libseccomp does not know is skipped (a newer profile on an older host).
- A rule whose action equals the default action is skipped: libseccomp rejects it and it
  would change nothing.
- Several conditions on the same argument index become one rule per condition (an OR);
  otherwise all conditions go in one rule (an AND).
- ``flags`` absent (not empty) means SECCOMP_FILTER_FLAG_SPEC_ALLOW when supported.
- More than 32 syscalls: libseccomp's binary-tree optimisation.
- no_new_privs is not libseccomp's business (CTL_NNP=0): the runtime applies
  process.noNewPrivileges itself.
- SCMP_ACT_NOTIFY needs listenerPath, is refused as default action and on ``write``.

Not done (runc does it): patching the BPF so syscalls newer than the profile return ENOSYS
instead of the default action (runc's patchbpf).
"""

from __future__ import annotations

import errno
import os

from dockyard._sys import seccomp as _sc
from dockyard.errors import SeccompError

# Plain classes rather than dataclasses, no typing, and json/socket imported where used: this
# module is on the path to execve, and those imports cost more than all the rest of it
# (python -X importtime).

# Spec action name -> libseccomp action for a given errno/trace value.
_ACTIONS = {
    "SCMP_ACT_KILL": lambda ret: _sc.SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": lambda ret: _sc.SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": lambda ret: _sc.SCMP_ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": lambda ret: _sc.SCMP_ACT_TRAP,
    "SCMP_ACT_ERRNO": lambda ret: _sc.act_errno(errno.EPERM if ret is None else ret),
    "SCMP_ACT_TRACE": lambda ret: _sc.act_trace(errno.EPERM if ret is None else ret),
    "SCMP_ACT_ALLOW": lambda ret: _sc.SCMP_ACT_ALLOW,
    "SCMP_ACT_LOG": lambda ret: _sc.SCMP_ACT_LOG,
    "SCMP_ACT_NOTIFY": lambda ret: _sc.SCMP_ACT_NOTIFY,
}

_OPS = {
    "SCMP_CMP_NE": _sc.SCMP_CMP_NE,
    "SCMP_CMP_LT": _sc.SCMP_CMP_LT,
    "SCMP_CMP_LE": _sc.SCMP_CMP_LE,
    "SCMP_CMP_EQ": _sc.SCMP_CMP_EQ,
    "SCMP_CMP_GE": _sc.SCMP_CMP_GE,
    "SCMP_CMP_GT": _sc.SCMP_CMP_GT,
    "SCMP_CMP_MASKED_EQ": _sc.SCMP_CMP_MASKED_EQ,
}

# Spec arch name -> libseccomp's arch name (which libseccomp then resolves to a token, so a
# libseccomp too old for an arch says so instead of us guessing audit numbers).
_ARCHES = {
    "SCMP_ARCH_X86": "x86",
    "SCMP_ARCH_X86_64": "x86_64",
    "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm",
    "SCMP_ARCH_AARCH64": "aarch64",
    "SCMP_ARCH_LOONGARCH64": "loongarch64",
    "SCMP_ARCH_M68K": "m68k",
    "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPS64": "mips64",
    "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL": "mipsel",
    "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
    "SCMP_ARCH_PPC": "ppc",
    "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_S390X": "s390x",
    "SCMP_ARCH_SH": "sh",
    "SCMP_ARCH_SHEB": "sheb",
    "SCMP_ARCH_PARISC": "parisc",
    "SCMP_ARCH_PARISC64": "parisc64",
    "SCMP_ARCH_RISCV64": "riscv64",
}

# Spec flag -> the libseccomp attribute that makes seccomp_load pass it. None: known to the
# spec but not to libseccomp 2.5 (WAIT_KILLABLE_RECV arrived in 2.6), so refused plainly.
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": _sc.SCMP_FLTATR_CTL_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": _sc.SCMP_FLTATR_CTL_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": _sc.SCMP_FLTATR_CTL_SSB,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": None,
}

_MAX_ARGS = 6  # a Linux syscall has at most six arguments
_U64 = 2**64 - 1
_OPTIMIZE_ABOVE = 32  # runc's threshold: libseccomp <= 2.5.4 misbehaves with the tree and 0 rules
OCI_VERSION = "1.2.1"  # the runtime-spec version ContainerProcessState messages claim


def _fail(message: str) -> SeccompError:
    return SeccompError(f"seccomp: {message}")


# --- validation (pure) --------------------------------------------------------------------------
class _Rule:
    __slots__ = ("name", "action", "conds")

    def __init__(self, name: str, action: int, conds: list[tuple[int, int, int, int]]) -> None:
        self.name, self.action, self.conds = name, action, conds


class _Plan:
    """The validated profile: everything compile() needs, nothing libseccomp-specific yet."""

    __slots__ = ("default_action", "arches", "flags", "rules", "listener_path", "listener_metadata")

    def __init__(self, default_action: int, arches: list[tuple[str, str]], flags: list[str] | None,
                 rules: list[_Rule], listener_path: str, listener_metadata: str) -> None:
        self.default_action, self.arches, self.flags = default_action, arches, flags  # arches: (spec, libseccomp)
        self.rules, self.listener_path, self.listener_metadata = rules, listener_path, listener_metadata


def _uint(value: object, where: str, top: int) -> int:
    # bool is an int in Python but never a number in JSON.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise _fail(f"{where} must be an integer in 0..{top}, got {value!r}")
    return value


def _action(name: object, errno_ret: object, where: str) -> int:
    if name not in _ACTIONS:
        raise _fail(f"unknown action {name!r} ({where})")
    ret = None if errno_ret is None else _uint(errno_ret, f"{where} errnoRet", 0xFFFFFFFF)
    return _ACTIONS[name](ret)


def _conditions(args: object, where: str) -> list[tuple[int, int, int, int]]:
    if args is None:
        return []
    if not isinstance(args, list):
        raise _fail(f"{where}.args must be a list")
    conds = []
    for j, arg in enumerate(args):
        at = f"{where}.args[{j}]"
        if not isinstance(arg, dict):
            raise _fail(f"{at} must be an object")
        index = _uint(arg.get("index"), f"{at}.index", _MAX_ARGS - 1)
        op = arg.get("op")
        if op not in _OPS:
            raise _fail(f"unknown operator {op!r} ({at}.op)")
        value = _uint(arg.get("value", 0), f"{at}.value", _U64)
        value_two = _uint(arg.get("valueTwo", 0), f"{at}.valueTwo", _U64)
        conds.append((index, _OPS[op], value, value_two))
    return conds


def _plan(spec: object) -> _Plan:
    if not isinstance(spec, dict):
        raise _fail("linux.seccomp must be an object")
    if "defaultAction" not in spec:
        raise _fail("defaultAction is required")
    if spec["defaultAction"] == "SCMP_ACT_NOTIFY":
        # Every syscall, write included, would wait for a listener we have not sent yet.
        raise _fail("SCMP_ACT_NOTIFY cannot be the default action")
    default = _action(spec["defaultAction"], spec.get("defaultErrnoRet"), "defaultAction")

    arches = []
    for arch in spec.get("architectures") or []:
        if arch not in _ARCHES:
            raise _fail(f"unknown architecture {arch!r}")
        arches.append((arch, _ARCHES[arch]))

    flags = spec.get("flags")
    if flags is not None:
        if not isinstance(flags, list):
            raise _fail("flags must be a list")
        for flag in flags:
            if flag not in _FLAGS:
                raise _fail(f"unknown flag {flag!r}")
            if _FLAGS[flag] is None:
                raise _fail(f"flag {flag} is not supported by libseccomp 2.5")

    syscalls = spec.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise _fail("syscalls must be a list")
    rules, notify = [], False
    for i, entry in enumerate(syscalls):
        where = f"syscalls[{i}]"
        if not isinstance(entry, dict):
            raise _fail(f"{where} must be an object")
        names = entry.get("names")
        if not isinstance(names, list) or not names:
            raise _fail(f"{where}.names must be a non-empty list")
        action = _action(entry.get("action"), entry.get("errnoRet"), f"{where}.action")
        conds = _conditions(entry.get("args"), where)
        for name in names:
            if not isinstance(name, str) or not name:
                raise _fail(f"{where}.names has an empty or non-string name {name!r}")
            if action == _sc.SCMP_ACT_NOTIFY and name == "write":
                # The init writes on its sync socket after loading; a notify there deadlocks.
                raise _fail("SCMP_ACT_NOTIFY cannot be used for the write syscall")
            rules.append(_Rule(name, action, conds))
        notify = notify or action == _sc.SCMP_ACT_NOTIFY

    listener_path = spec.get("listenerPath") or ""
    if notify and not listener_path:
        raise _fail("SCMP_ACT_NOTIFY is used but listenerPath is not set")
    return _Plan(default, arches, flags, rules, listener_path, spec.get("listenerMetadata") or "")


# --- building the context -------------------------------------------------------------------
class Filter:
    """A built, not yet loaded, libseccomp filter context. Release it when done."""

    def __init__(self, ctx: int, listener_path: str = "", listener_metadata: str = "") -> None:
        self._ctx: int | None = ctx
        self.has_notify = False  # a SCMP_ACT_NOTIFY rule made it into the filter
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata
        self.skipped: tuple[str, ...] = ()  # syscall names libseccomp does not know

    def _live(self) -> int:
        if self._ctx is None:
            raise _fail("filter already released")
        return self._ctx

    def load(self) -> int | None:
        """Install the filter in this process; return the notify listener fd, if any.

        The caller must have set no_new_privs or hold CAP_SYS_ADMIN. The listener fd is
        O_CLOEXEC, so the workload never sees it.
        """
        ctx = self._live()
        _sc.load(ctx)
        return _sc.notify_fd(ctx) if self.has_notify else None

    def release(self) -> None:
        if self._ctx is not None:
            _sc.release(self._ctx)
            self._ctx = None

    def export_bpf(self) -> bytes:
        return _sc.export_bpf(self._live())

    def export_pfc(self) -> str:
        return _sc.export_pfc(self._live())

    def __enter__(self) -> Filter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def wanted(seccomp_spec: dict | None) -> bool:
    """runc reads a seccomp object with neither defaultAction nor syscalls as "no seccomp"."""
    from ..oci.runtime_spec import seccomp_wanted

    return seccomp_wanted(seccomp_spec)


def compile(seccomp_spec: dict) -> Filter:  # noqa: A001 - the name the runtime calls
    """Validate ``linux.seccomp`` and build its libseccomp context (nothing is installed)."""
    plan = _plan(seccomp_spec)
    flt = Filter(_sc.init(plan.default_action), listener_path=plan.listener_path,
                 listener_metadata=plan.listener_metadata)
    try:
        _configure(flt._live(), plan)
        flt.has_notify, flt.skipped = _add_rules(flt._live(), plan)
    except BaseException:
        flt.release()
        raise
    return flt


def _configure(ctx: int, plan: _Plan) -> None:
    for spec_name, lib_name in plan.arches:
        token = _sc.arch_resolve_name(lib_name)
        if token is None:
            ver = ".".join(map(str, _sc.version()))
            raise _fail(f"architecture {spec_name} is not supported by libseccomp {ver}")
        _sc.arch_add(ctx, token)  # the native arch is already there; that is fine

    _sc.attr_set(ctx, _sc.SCMP_FLTATR_CTL_NNP, 0)
    try:  # kernel errnos from seccomp_load instead of libseccomp's ECANCELED
        _sc.attr_set(ctx, _sc.SCMP_FLTATR_API_SYSRAWRC, 1)
    except SeccompError:
        pass

    if plan.flags is None:
        # runc >= 1.2: no flags at all means SPEC_ALLOW, where the kernel allows it, because
        # the SSB mitigation it otherwise forces costs a lot and containers rarely need it.
        try:
            _sc.attr_set(ctx, _sc.SCMP_FLTATR_CTL_SSB, 1)
        except SeccompError:
            pass
    else:
        for flag in plan.flags:
            try:
                _sc.attr_set(ctx, _FLAGS[flag], 1)
            except SeccompError as exc:
                raise _fail(f"flag {flag} is not supported here ({exc})") from None

    if len(plan.rules) > _OPTIMIZE_ABOVE:
        try:
            _sc.attr_set(ctx, _sc.SCMP_FLTATR_CTL_OPTIMIZE, 2)
        except SeccompError:
            pass  # an older libseccomp: a linear filter is slower but the same


def _add_rules(ctx: int, plan: _Plan) -> tuple[bool, tuple[str, ...]]:
    notify, skipped = False, []
    for rule in plan.rules:
        if rule.action == plan.default_action:
            continue
        nr = _sc.syscall_resolve_name(rule.name)
        if nr is None:
            skipped.append(rule.name)
            continue
        indexes = [c[0] for c in rule.conds]
        # The same index twice cannot be an AND in libseccomp; runc makes it an OR.
        groups = [[c] for c in rule.conds] if len(set(indexes)) < len(indexes) else [rule.conds]
        for conds in groups:
            try:
                _sc.rule_add(ctx, rule.action, nr, conds)
            except SeccompError as exc:
                raise _fail(f"cannot add rule for syscall {rule.name}: {exc}") from None
        notify = notify or rule.action == _sc.SCMP_ACT_NOTIFY
    return notify, tuple(skipped)


# --- handing the listener to the seccomp agent ------------------------------------------------
def send_listener_fd(listener_path: str, fd: int, state: dict, metadata: str = "", *,
                     pid: int | None = None, timeout: float = 10.0) -> None:
    """Send the notify fd to the agent at ``listener_path``, as runc does.

    One sendmsg on a unix stream socket: a JSON ContainerProcessState as data and ``fd`` as
    SCM_RIGHTS. ``pid`` is the process whose syscalls the fd reports (default: state["pid"],
    else ours). Call it outside the filter when you can (runc sends from the parent): a
    filter may deny socket/connect, and after pivot_root the host path is gone.
    """
    if pid is None:
        pid = state.get("pid") or os.getpid()
    message: dict[str, object] = {"ociVersion": state.get("ociVersion", OCI_VERSION),
                               "fds": ["seccompFd"], "pid": pid}
    if metadata:
        message["metadata"] = metadata
    message["state"] = state
    import json
    import socket
    import struct

    data = json.dumps(message, separators=(",", ":")).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout)
            sock.connect(listener_path)
            sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))])
            if sent < len(data):
                sock.sendall(data[sent:])
    except OSError as exc:
        raise _fail(f"sending the listener fd to {listener_path}: {exc.strerror or exc}") from None
