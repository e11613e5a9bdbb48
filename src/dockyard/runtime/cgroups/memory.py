"""memory: limit, swap, reservation, swappiness, OOM killer (OCI ``memory``).

v1 keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes (memory+swap) at every
instant, so the order of the two writes depends on the direction of the change (runc's
setMemoryAndSwap): if the current memory limit is below the new memory+swap (or the new one
is unlimited), memory+swap goes first and memory follows; otherwise memory first. Either way
no intermediate state breaks the rule. Without swap accounting (no memsw files) a swap limit
is reported, not applied.

v2 has independent memory.max and memory.swap.max (swap only), converted like runc.
Kernel memory limits are deprecated in the kernel and ignored here, with a warning.
"""

from __future__ import annotations

import errno

from ...errors import CgroupError
from . import convert

NAME, KEY, V1, V2 = "memory", "memory", "memory", "memory"
_FIELDS = ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
           "useHierarchy", "checkBeforeUpdate")
_MEMSW = "memory.memsw.limit_in_bytes"


def pick(resources: dict) -> dict:
    m = resources.get(KEY) or {}
    return {k: m[k] for k in _FIELDS if m.get(k) is not None}


def check(m: dict) -> None:
    """Values no kernel accepts, refused before anything is written."""
    limit, swap = m.get("limit") or 0, m.get("swap") or 0
    if limit > 0 and swap > 0 and swap < limit:
        raise CgroupError(f"cgroup memory: swap {swap} (memory+swap) is lower than the memory limit {limit}")
    if m.get("swappiness") is not None and not 0 <= m["swappiness"] <= 100:
        raise CgroupError(f"cgroup memory: swappiness {m['swappiness']} is outside 0..100")


def _check_usage(d: str, m: dict, f, usage_file: str) -> None:
    # checkBeforeUpdate: refuse a limit below what the container already uses, rather than
    # letting the kernel reclaim hard or OOM-kill it on an update.
    limit = m.get("limit") or 0
    if m.get("checkBeforeUpdate") and limit > 0:
        usage = f.read(d, usage_file)
        if usage and usage.isdigit() and int(usage) > limit:
            raise CgroupError(f"cgroup memory: new limit {limit} is below current usage {usage} (checkBeforeUpdate)")


def _common_warnings(m: dict, f) -> None:
    if m.get("kernel"):
        f.warn(f"kernel={m['kernel']} not applied (kernel memory limits are deprecated and ignored)")


def v1(d: str, m: dict, f) -> None:
    check(m)
    _check_usage(d, m, f, "memory.usage_in_bytes")
    _common_warnings(m, f)
    limit, swap = m.get("limit") or 0, m.get("swap") or 0
    have_memsw = f.exists(d, _MEMSW)
    if limit == -1 and swap == 0 and have_memsw:
        swap = -1  # unlimited memory means unlimited memory+swap too
    if swap and not have_memsw:
        if swap > 0:
            f.warn(f"swap={swap} not applied (swap accounting is off: no {_MEMSW})")
        swap = 0
    order = [("memory.limit_in_bytes", limit), (_MEMSW, swap)]
    if limit and swap:
        current = f.read(d, "memory.limit_in_bytes")
        if swap == -1 or (current is not None and current.lstrip("-").isdigit() and int(current) < swap):
            order.reverse()
    for name, value in order:
        if value:
            f.write(d, name, value)
    if m.get("reservation"):
        f.write(d, "memory.soft_limit_in_bytes", m["reservation"])
    if m.get("kernelTCP"):
        f.write(d, "memory.kmem.tcp.limit_in_bytes", m["kernelTCP"])
    if m.get("swappiness") is not None:
        f.write(d, "memory.swappiness", m["swappiness"])
    if m.get("disableOOMKiller"):
        f.write(d, "memory.oom_control", 1)
    if m.get("useHierarchy") is not None:
        value = 1 if m["useHierarchy"] else 0
        err = f.attempt(d, "memory.use_hierarchy", value)
        if err == errno.EINVAL and not value:
            # Kernels >= 5.16 removed non-hierarchical mode and refuse 0.
            f.warn("useHierarchy=false not applied (this kernel is always hierarchical)")
        elif err and err != errno.ENOENT:
            raise f.error(d, "memory.use_hierarchy", value, err)


def v2(d: str, m: dict, f) -> None:
    check(m)
    _check_usage(d, m, f, "memory.current")
    _common_warnings(m, f)
    limit, swap = m.get("limit") or 0, m.get("swap") or 0
    swap_max = convert.swap_max(swap, limit)
    if swap_max is not None:
        err = f.attempt(d, "memory.swap.max", swap_max)
        if err == errno.ENOENT:
            # No swap accounting (or swap off): asking for "max" or "0" changes nothing
            # worth reporting; a real swap budget that cannot be enforced is.
            if swap_max not in ("max", "0"):
                f.warn(f"swap={swap} not applied (swap accounting is off: no memory.swap.max)")
        elif err:
            raise f.error(d, "memory.swap.max", swap_max, err)
    if convert.limit(limit):
        f.write(d, "memory.max", convert.limit(limit))
    if convert.limit(m.get("reservation")):
        f.write(d, "memory.low", convert.limit(m.get("reservation")))
    if m.get("kernelTCP"):
        f.warn(f"kernelTCP={m['kernelTCP']} not applied (no kernel TCP limit on cgroup v2)")
    if m.get("swappiness") is not None:
        f.warn(f"swappiness={m['swappiness']} not applied (no per-cgroup swappiness on cgroup v2)")
    if m.get("disableOOMKiller"):
        f.warn("disableOOMKiller not applied (cgroup v2 cannot disable the OOM killer)")
    if m.get("useHierarchy") is False:
        f.warn("useHierarchy=false not applied (cgroup v2 is always hierarchical)")
