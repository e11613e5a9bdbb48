"""`docker stats` figures for a container, read from its cgroup (v1, hybrid or v2) through
the runtime's own readers (runtime/cgroups/stats.py): no daemon, no subprocess per sample.

The numbers are Docker's:
- CPU %: the container's CPU time over the host's CPU time between two samples, times the
  online CPUs (100% = one CPU busy). The host's time is the `cpu` line of /proc/stat
  (user .. softirq, in clock ticks), as dockerd reads it.
- memory: usage minus inactive file cache (total_inactive_file on v1, inactive_file on v2),
  as the docker CLI shows it; the limit is the cgroup's, or the host's RAM when unlimited.
- block I/O: bytes read and written, summed over devices.
- network I/O: bytes received and sent by the container's interfaces other than lo, from
  /proc/PID/net/dev of its init (the file shows the netns of the process named, so no setns
  is needed). `--network host` shows the host's counters, as Docker's does not (it shows 0).
"""

from __future__ import annotations

import os

from .. import config


class Sample:
    """One container's counters at one moment. A container that is not running reads as
    zeros (``running`` False), as `docker stats -a` shows stopped ones."""

    __slots__ = ("id", "name", "running", "cpu_ns", "system_ns", "online_cpus", "mem_usage", "mem_limit",
                 "pids", "blk_read", "blk_write", "net_rx", "net_tx")

    def __init__(self, cid: str, name: str) -> None:
        self.id, self.name, self.running = cid, name, False
        self.cpu_ns = self.system_ns = self.mem_usage = self.mem_limit = 0
        self.pids = self.blk_read = self.blk_write = 0
        self.net_rx = self.net_tx = 0
        self.online_cpus = 0

    @property
    def mem_percent(self) -> float:
        return 100.0 * self.mem_usage / self.mem_limit if self.mem_limit else 0.0


def cpu_percent(prev: Sample | None, cur: Sample) -> float:
    """Docker's CPU %: 0.0 until there are two samples of a running container."""
    if prev is None or not (prev.running and cur.running):
        return 0.0
    cpu, system = cur.cpu_ns - prev.cpu_ns, cur.system_ns - prev.system_ns
    if cpu <= 0 or system <= 0:
        return 0.0
    return cpu / system * cur.online_cpus * 100.0


def _host_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()  # "cpu  user nice system idle iowait irq softirq steal ..."
    return sum(int(x) for x in fields[1:8]) * 10**9 // (os.sysconf("SC_CLK_TCK") or 100)


def _host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _manager(cid: str):
    """The container's cgroup, as the runtime recorded it in its state.json."""
    from ..errors import NotFound
    from ..runtime import cgroups
    from ..runtime.state import Container

    try:
        c = Container.load(config.runtime_root(), cid, lock=False)  # read-only: no lock taken
    except NotFound:
        return None
    try:
        d = c.data.get("cgroup")
        return cgroups.Manager.from_dict(d) if d else None
    finally:
        c.close()


def sample(containers, rec) -> Sample:
    from .lifecycle import refresh

    s = Sample(rec.id, rec.name)
    rec = refresh(containers, rec)
    mgr = _manager(rec.id) if rec.state == "running" else None
    if mgr is None:
        return s
    raw = mgr.stats()
    s.running = True
    s.system_ns = _host_cpu_ns()
    s.online_cpus = os.sysconf("SC_NPROCESSORS_ONLN") or len(raw.get("cpu", {}).get("usage", {}).get("percpu", ())) or 1
    s.cpu_ns = raw.get("cpu", {}).get("usage", {}).get("total", 0)
    mem = raw.get("memory", {})
    usage = mem.get("usage", {}).get("usage", 0)
    stat = mem.get("raw", {})
    inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    s.mem_usage = usage - inactive if inactive < usage else usage
    host = _host_memory()
    limit = mem.get("usage", {}).get("limit", 0)
    s.mem_limit = min(limit, host) if limit and host else (limit or host)
    s.pids = raw.get("pids", {}).get("current", 0)
    for e in raw.get("blkio", {}).get("ioServiceBytesRecursive", ()):
        op = e.get("op", "").lower()
        if op == "read":
            s.blk_read += e["value"]
        elif op == "write":
            s.blk_write += e["value"]
    s.net_rx, s.net_tx = _net_io(containers, rec)
    return s


def _net_io(containers, rec) -> tuple[int, int]:
    """(received, sent) bytes over the interfaces of the container's netns, lo excluded."""
    from .networking import init_pid

    try:
        with open(f"/proc/{init_pid(containers, rec)}/net/dev") as f:
            lines = f.read().splitlines()[2:]  # two header lines
    except Exception:  # noqa: BLE001 - exited between the cgroup read and this one: no figure
        return 0, 0
    rx = tx = 0
    for line in lines:
        name, _, counters = line.partition(":")
        fields = counters.split()
        if name.strip() != "lo" and len(fields) >= 9:
            rx, tx = rx + int(fields[0]), tx + int(fields[8])
    return rx, tx


def sample_all(containers, recs) -> dict[str, Sample]:
    return {r.id: sample(containers, r) for r in recs}

