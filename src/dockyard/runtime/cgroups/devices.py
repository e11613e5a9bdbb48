"""devices: which device nodes the container may open or mknod (OCI ``devices``).

v1: each rule is one write to devices.allow or devices.deny, in the spec's order (the spec
usually starts with "deny all" and then allows the standard nodes). v2 has no devices files:
the rules become an eBPF program (devices_bpf.py) attached to the cgroup, replacing the one
we attached before (so `update` works). A malformed rule is an error, never skipped:
skipping a deny would silently grant access.
"""

from __future__ import annotations

from ...errors import CgroupError
from . import convert

NAME, KEY, V1, V2 = "devices", "devices", "devices", ""  # v2: core BPF, no controller needed


def pick(resources: dict) -> list:
    return list(resources.get(KEY) or ())


def lines(rule: dict) -> list[str]:
    """The kernel lines for one OCI rule: "TYPE MAJ:MIN ACCESS", "*" for any number.
    Type "a" with all of rwm is the kernel's "a"; with less it means every char and block
    device with that access, as runc reads it."""
    kind = rule.get("type") or "a"
    access = rule.get("access") or "rwm"
    if kind not in ("a", "b", "c") or not access or set(access) - set("rwm") or len(set(access)) != len(access):
        raise CgroupError(f"cgroup devices: invalid rule type={kind!r} access={access!r} "
                          "(type is a, b or c; access is made of r, w, m)")
    if kind == "a":
        if set(access) == set("rwm"):
            return ["a *:* rwm"]
        return [f"c *:* {access}", f"b *:* {access}"]
    return [f"{kind} {convert.device_number(rule.get('major'))}:{convert.device_number(rule.get('minor'))} {access}"]


def check(rules: list) -> None:
    for r in rules:
        lines(r)


def v1(d: str, rules: list, f) -> None:
    for r in rules:
        for line in lines(r):
            f.write(d, "devices.allow" if r.get("allow") else "devices.deny", line)


def v2(d: str, rules: list, f) -> None:
    import os

    from ..._sys import bpf
    from . import devices_bpf

    prog = bpf.load_device_program(devices_bpf.program(rules))
    cg = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old = bpf.attached_programs(cg)
        bpf.attach(cg, prog)  # the new one first: no moment without a filter
        for prog_id in old:
            fd = bpf.program_fd(prog_id)
            try:
                bpf.detach(cg, fd)
            finally:
                os.close(fd)
    finally:
        os.close(cg)
        os.close(prog)
