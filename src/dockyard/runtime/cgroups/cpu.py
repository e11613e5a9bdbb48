"""cpu: CFS shares, quota/period/burst, idle and the realtime budget (OCI ``cpu``).

Write order, as runc does it and why:
- realtime period before runtime (runtime must fit in the period), and both first: the
  kernel refuses to move a SCHED_RR/FIFO task into a group with no RT budget;
- period (v1) and burst before the quota, but when the kernel rejects one with EINVAL
  (old quota / new period, or new burst, would exceed the parent's limit) and a quota is
  coming, write it again after the quota;
- idle last: the kernel refuses shares/weight for a group that is already idle.
"""

from __future__ import annotations

import errno

from . import convert

NAME, KEY, V1, V2 = "cpu", "cpu", "cpu", "cpu"
_FIELDS = ("shares", "quota", "period", "burst", "idle", "realtimeRuntime", "realtimePeriod")


def pick(resources: dict) -> dict:
    c = resources.get(KEY) or {}
    return {k: c[k] for k in _FIELDS if c.get(k) is not None}


def _before_quota(d: str, f, name: str, value, quota_coming: bool) -> list:
    """Write ``value`` now; returns [(name, value)] to write again after the quota when the
    kernel refused it with EINVAL only because of the old quota."""
    err = f.attempt(d, name, value)
    if err == errno.EINVAL and quota_coming:
        return [(name, value)]
    if err == errno.ENOENT:
        f.warn(f"{name}={value} not applied (this kernel has no {name})")
    elif err:
        raise f.error(d, name, value, err)
    return []


def v1(d: str, c: dict, f) -> None:
    if c.get("realtimePeriod"):
        f.write(d, "cpu.rt_period_us", c["realtimePeriod"])
    if c.get("realtimeRuntime"):
        f.write(d, "cpu.rt_runtime_us", c["realtimeRuntime"])
    shares = c.get("shares")
    if shares and f.write(d, "cpu.shares", shares):
        got = f.read(d, "cpu.shares")
        if got is not None and got != str(shares):
            f.warn(f"cpu.shares={shares} clamped by the kernel to {got}")
    quota, later = c.get("quota"), []
    if c.get("period"):
        later += _before_quota(d, f, "cpu.cfs_period_us", c["period"], bool(quota))
    if c.get("burst") is not None:
        later += _before_quota(d, f, "cpu.cfs_burst_us", c["burst"], bool(quota))
    if quota:
        f.write(d, "cpu.cfs_quota_us", quota)
        for name, value in later:
            f.write(d, name, value)
    if c.get("idle") is not None:
        f.write(d, "cpu.idle", c["idle"])


def v2(d: str, c: dict, f) -> None:
    if c.get("realtimePeriod") or c.get("realtimeRuntime"):
        f.warn("realtimeRuntime/realtimePeriod not applied (cgroup v2 has no RT group scheduling)")
    weight = convert.cpu_weight(c.get("shares") or 0)
    if weight:
        f.write(d, "cpu.weight", weight)
    cpu_max, later = convert.cpu_max(c.get("quota"), c.get("period")), []
    if c.get("burst") is not None:
        later += _before_quota(d, f, "cpu.max.burst", c["burst"], bool(cpu_max))
    if cpu_max:
        f.write(d, "cpu.max", cpu_max)
        for name, value in later:
            f.write(d, name, value)
    if c.get("idle") is not None:
        f.write(d, "cpu.idle", c["idle"])
