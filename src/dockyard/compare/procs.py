"""Processes on the host: who belongs to a workload, and what they cost (PSS).

PSS (proportional set size, /proc/PID/smaps_rollup) charges each shared page to the
processes sharing it in equal parts, so summing it over a set of processes does not count
the shared libc or the VM kernel file mapping twice: the right unit for "what does one more
of these cost"."""

from __future__ import annotations

import os


def _read(path: str, mode: str = "r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def cmdline(pid: int) -> str:
    raw = _read(f"/proc/{pid}/cmdline", "rb")
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() if raw else ""


def parents() -> dict[int, int]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _read(f"/proc/{name}/stat")
            if stat:
                out[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def matching(*needles: str) -> list[int]:
    """PIDs whose command line contains any needle (a container ID, a VM run dir)."""
    me = os.getpid()
    return [pid for pid in parents() if pid != me and any(n in cmdline(pid) for n in needles)]


def tree(roots) -> set[int]:
    """The roots and all their descendants."""
    ppid = parents()
    found = {r for r in roots if r in ppid}
    grew = True
    while grew:
        grew = False
        for pid, parent in ppid.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def pss_kib(pid: int) -> int | None:
    text = _read(f"/proc/{pid}/smaps_rollup")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def total_pss_mib(pids) -> tuple[float, list[str]]:
    """Sum of PSS in MiB, and 'comm(pid)' names of what was counted."""
    total, names = 0, []
    for pid in sorted(pids):
        kib = pss_kib(pid)
        if kib is not None:
            total += kib
            names.append(f"{(_read(f'/proc/{pid}/comm') or '?').strip()}({pid})")
    return total / 1024, names


def alive(pids) -> list[int]:
    return [p for p in pids if os.path.exists(f"/proc/{p}")]
