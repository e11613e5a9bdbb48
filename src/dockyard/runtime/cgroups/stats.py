"""Usage statistics in the shape of runc's ``events --stats`` (libcontainer's cgroups.Stats),
so tools that read runc's output can read ours.

One reader per (controller, version), each taking its directory and returning a dict, or
an empty dict when the cgroup has none of that controller's files. Times are nanoseconds,
sizes bytes. Unlimited values read as "max" are reported as 2**64-1, like runc, except the
pids limit which runc reports as 0 for "no limit".
"""

from __future__ import annotations

import os

from .files import MAX, read, read_int, read_keyed


def _or_max(value: int | None) -> int:
    return MAX if value is None else value


def _put(d: dict, key: str, value) -> None:
    if value is not None:
        d[key] = value


def cpu_v1(cpuacct: str | None, cpu: str | None) -> dict:
    usage: dict = {}
    if cpuacct:
        _put(usage, "total", read_int(cpuacct, "cpuacct.usage"))
        percpu = read(cpuacct, "cpuacct.usage_percpu")
        if percpu:
            usage["percpu"] = [int(x) for x in percpu.split()]
        user, kernel = read_int(cpuacct, "cpuacct.usage_user"), read_int(cpuacct, "cpuacct.usage_sys")
        if user is None or kernel is None:
            # Older kernels: cpuacct.stat in clock ticks.
            ticks = read_keyed(cpuacct, "cpuacct.stat")
            hz = os.sysconf("SC_CLK_TCK") or 100
            if "user" in ticks:
                user, kernel = ticks["user"] * 10**9 // hz, ticks.get("system", 0) * 10**9 // hz
        _put(usage, "user", user)
        _put(usage, "kernel", kernel)
    out: dict = {"usage": usage} if usage else {}
    if cpu:
        st = read_keyed(cpu, "cpu.stat")
        if "nr_periods" in st:
            out["throttling"] = {"periods": st["nr_periods"], "throttledPeriods": st.get("nr_throttled", 0),
                                 "throttledTime": st.get("throttled_time", 0)}
    return out


def cpu_v2(d: str) -> dict:
    st = read_keyed(d, "cpu.stat")  # a core file: present even without the cpu controller
    if not st:
        return {}
    out: dict = {"usage": {"total": st.get("usage_usec", 0) * 1000, "user": st.get("user_usec", 0) * 1000,
                           "kernel": st.get("system_usec", 0) * 1000}}
    if "nr_periods" in st:
        out["throttling"] = {"periods": st["nr_periods"], "throttledPeriods": st.get("nr_throttled", 0),
                             "throttledTime": st.get("throttled_usec", 0) * 1000}
    return out


def _entry_v1(d: str, prefix: str) -> dict:
    e: dict = {}
    for key, name in (("usage", "usage_in_bytes"), ("max", "max_usage_in_bytes"),
                      ("limit", "limit_in_bytes"), ("failcnt", "failcnt")):
        _put(e, key, read_int(d, f"{prefix}{name}"))
    return e


def memory_v1(d: str) -> dict:
    usage = _entry_v1(d, "memory.")
    if not usage:
        return {}
    raw = read_keyed(d, "memory.stat")
    out: dict = {"usage": usage, "raw": raw, "cache": raw.get("total_cache", raw.get("cache", 0))}
    for key, prefix in (("swap", "memory.memsw."), ("kernel", "memory.kmem."), ("kernelTCP", "memory.kmem.tcp.")):
        e = _entry_v1(d, prefix)
        if e:
            out[key] = e
    out["oom_kill"] = oom_kills_v1(d)
    return out


def memory_v2(d: str) -> dict:
    current = read_int(d, "memory.current")
    if current is None:
        return {}
    events = read_keyed(d, "memory.events")
    usage: dict = {"usage": current, "limit": _or_max(read_int(d, "memory.max")), "failcnt": events.get("max", 0)}
    _put(usage, "max", read_int(d, "memory.peak"))
    raw = read_keyed(d, "memory.stat")
    out: dict = {"usage": usage, "raw": raw, "cache": raw.get("file", 0), "oom_kill": events.get("oom_kill", 0)}
    swap_now = read_int(d, "memory.swap.current")
    if swap_now is not None:
        swap_max = _or_max(read_int(d, "memory.swap.max"))
        out["swapOnly"] = {"usage": swap_now, "limit": swap_max}
        # v1 reports memory+swap as "swap"; keep that meaning for compatibility, as runc does.
        both = MAX if MAX in (swap_max, usage["limit"]) else swap_max + usage["limit"]
        out["swap"] = {"usage": swap_now + current, "limit": both}
    return out


def oom_kills_v1(d: str) -> int:
    # "oom_kill N" exists since 4.13; without it the count is unknown, reported as 0
    # (failcnt counts limit hits, not kills, so it is no substitute).
    return read_keyed(d, "memory.oom_control").get("oom_kill", 0)


def oom_kills_v2(d: str) -> int:
    return read_keyed(d, "memory.events").get("oom_kill", 0)


def pids(d: str) -> dict:
    current = read_int(d, "pids.current")
    if current is None:
        return {}
    limit = read_int(d, "pids.max")
    return {"current": current, "limit": 0 if limit in (None, MAX) else limit}


def _hugetlb_sizes(d: str, suffix: str) -> list[str]:
    try:
        names = os.listdir(d)
    except OSError:
        return []
    return sorted(n[len("hugetlb."):-len(suffix)] for n in names
                  if n.startswith("hugetlb.") and n.endswith(suffix) and ".rsvd." not in n)


def hugetlb_v1(d: str) -> dict:
    return {size: _entry_v1(d, f"hugetlb.{size}.") for size in _hugetlb_sizes(d, ".usage_in_bytes")}


def hugetlb_v2(d: str) -> dict:
    out = {}
    for size in _hugetlb_sizes(d, ".current"):
        out[size] = {"usage": read_int(d, f"hugetlb.{size}.current") or 0,
                     "limit": _or_max(read_int(d, f"hugetlb.{size}.max")),
                     "failcnt": read_keyed(d, f"hugetlb.{size}.events").get("max", 0)}
    return out


def _blkio_entries(d: str, name: str) -> list[dict]:
    out = []
    for line in (read(d, name) or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, _, minor = parts[0].partition(":")
            out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def blkio_v1(d: str) -> dict:
    out = {}
    for key, name in (("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes_recursive"),
                      ("ioServicedRecursive", "blkio.throttle.io_serviced_recursive")):
        entries = _blkio_entries(d, name)
        if entries:
            out[key] = entries
    return out


def blkio_v2(d: str) -> dict:
    # io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N"
    nbytes, nios = [], []
    for line in (read(d, "io.stat") or "").splitlines():
        dev, *fields = line.split()
        major, _, minor = dev.partition(":")
        kv = dict(f.split("=", 1) for f in fields if "=" in f)
        for target, rkey, wkey in ((nbytes, "rbytes", "wbytes"), (nios, "rios", "wios")):
            for op, key in (("Read", rkey), ("Write", wkey)):
                if key in kv:
                    target.append({"major": int(major), "minor": int(minor), "op": op, "value": int(kv[key])})
    out = {}
    if nbytes:
        out["ioServiceBytesRecursive"] = nbytes
    if nios:
        out["ioServicedRecursive"] = nios
    return out
