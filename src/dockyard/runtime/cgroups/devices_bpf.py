"""OCI device rules -> a BPF_PROG_TYPE_CGROUP_DEVICE program (cgroup v2 has no devices
files; the kernel asks an attached eBPF program instead). Pure: returns the bytecode.

The program reads the kernel's struct bpf_cgroup_dev_ctx {access_type, major, minor}, where
access_type = access << 16 | type, then checks the rules from the last to the first: the
first that matches decides (a later rule overrides an earlier one, as successive writes to
v1's devices.allow/deny do). Nothing matching means allow, the kernel's default for a new
cgroup — so the usual spec, "deny all" followed by allows, denies everything not allowed.

An allow rule matches when every requested access bit is in the rule; a deny rule when any
is (asking for rw of a node whose w is denied is denied).
"""

from __future__ import annotations

import struct

from ...errors import CgroupError

DEV_BLOCK, DEV_CHAR = 1, 2  # BPF_DEVCG_DEV_*
ACC = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# eBPF opcodes used (linux/bpf.h, linux/bpf_common.h)
_LDX_W = 0x61   # BPF_LDX | BPF_MEM | BPF_W
_AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
_RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
_MOV64_X = 0xBF  # BPF_ALU64 | BPF_MOV | BPF_X
_MOV64_K = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
_JNE_K = 0x55    # BPF_JMP | BPF_JNE | BPF_K
_JEQ_K = 0x15    # BPF_JMP | BPF_JEQ | BPF_K
_EXIT = 0x95     # BPF_JMP | BPF_EXIT
_SKIP = object()  # placeholder offset: to the first instruction after the rule's block


def _i(code: int, dst: int = 0, src: int = 0, off=0, imm: int = 0) -> list:
    return [code, dst, src, off, imm]


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _number(v, what: str) -> int | None:
    if v is None or v == -1:
        return None  # any
    if not isinstance(v, int) or not 0 <= v < 1 << 31:
        raise CgroupError(f"cgroup devices: invalid {what} {v!r}")
    return v


def _block(rule: dict) -> list:
    kind = rule.get("type") or "a"
    access = rule.get("access") or "rwm"
    if kind not in ("a", "b", "c") or not access or set(access) - set(ACC):
        raise CgroupError(f"cgroup devices: invalid rule type={kind!r} access={access!r}")
    acc = sum(ACC[a] for a in set(access))
    allow = bool(rule.get("allow"))
    out = []
    if kind != "a":
        out.append(_i(_JNE_K, 2, off=_SKIP, imm=DEV_BLOCK if kind == "b" else DEV_CHAR))
    out.append(_i(_MOV64_X, 1, 3))
    if allow:  # every requested bit is in the rule: (request & ~acc) == 0
        out += [_i(_AND32_K, 1, imm=_s32(~acc)), _i(_JNE_K, 1, off=_SKIP, imm=0)]
    else:  # any requested bit is in the rule: (request & acc) != 0
        out += [_i(_AND32_K, 1, imm=acc), _i(_JEQ_K, 1, off=_SKIP, imm=0)]
    major, minor = _number(rule.get("major"), "major"), _number(rule.get("minor"), "minor")
    if major is not None:
        out.append(_i(_JNE_K, 4, off=_SKIP, imm=major))
    if minor is not None:
        out.append(_i(_JNE_K, 5, off=_SKIP, imm=minor))
    out += [_i(_MOV64_K, 0, imm=1 if allow else 0), _i(_EXIT)]
    for n, ins in enumerate(out):  # a jump's offset counts from the next instruction
        if ins[3] is _SKIP:
            ins[3] = len(out) - n - 1
    return out


def program(rules: list[dict]) -> bytes:
    insns = [
        _i(_LDX_W, 2, 1, 0), _i(_AND32_K, 2, imm=0xFFFF),  # r2 = device type
        _i(_LDX_W, 3, 1, 0), _i(_RSH32_K, 3, imm=16),      # r3 = requested access
        _i(_LDX_W, 4, 1, 4),                                # r4 = major
        _i(_LDX_W, 5, 1, 8),                                # r5 = minor
    ]
    for rule in reversed(rules):
        insns += _block(rule)
    insns += [_i(_MOV64_K, 0, imm=1), _i(_EXIT)]  # no rule matched: allow
    return b"".join(struct.pack("<BBhi", c, (dst & 0xF) | (src & 0xF) << 4, off, imm)
                    for c, dst, src, off, imm in insns)


def evaluate(rules: list[dict], kind: str, major: int, minor: int, access: str) -> bool:
    """What the program decides, computed in Python: the unit tests check the two agree
    on the same cases the kernel test checks for real."""
    req = sum(ACC[a] for a in access)
    for rule in reversed(rules):
        rk = rule.get("type") or "a"
        if rk != "a" and rk != kind:
            continue
        acc = sum(ACC[a] for a in set(rule.get("access") or "rwm"))
        allow = bool(rule.get("allow"))
        if (allow and req & ~acc) or (not allow and not req & acc):
            continue
        if _number(rule.get("major"), "major") not in (None, major):
            continue
        if _number(rule.get("minor"), "minor") not in (None, minor):
            continue
        return allow
    return True
