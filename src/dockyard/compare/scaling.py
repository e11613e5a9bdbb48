"""Scaling: `dockyard update` on a running container vs a running microVM — how long it
takes, and whether the workload sees it.

Container: its limits are cgroup files; `update` rewrites them, so the check reads the same
files of the container's cgroup on the host (memory.limit_in_bytes, cpu.cfs_quota_us, or
cgroup2's memory.max/cpu.max). VM: the guest's memory is what QEMU was booted with (microvm
has no memory or CPU hotplug); `update --memory` below it inflates the balloon (QMP), which the
guest driver carries out in its own time, so the check polls `free -m` in the guest through
`dockyard exec` until its total drops."""

from __future__ import annotations

import json
import subprocess
import time

from .figures import measured, missing
from .modes import run

MiB = 1 << 20


def _timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    return time.perf_counter() - t0, p


def _last_line(p) -> str:
    return (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]


def _cgroup_file(pid: int, controller: str, v1: str, v2: str) -> str | None:
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return f"/sys/fs/cgroup/{ctrls}{path}/{v1}"
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return f"/sys/fs/cgroup/unified{line.strip()[3:]}/{v2}"
    return None


def _read(path: str | None) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, TypeError):
        return "?"


def _step(argv, check, what: str) -> dict:
    """Run one `update`, then `check()` -> (took effect?, what was read)."""
    secs, p = _timed(argv)
    if p.returncode != 0:
        return {"seconds": missing(f"refused: {_last_line(p)}"),
                "took_effect": measured(False, "", f"{what}: `{' '.join(argv[1:])}` refused: {_last_line(p)}")}
    ok, seen = check()
    return {"seconds": measured(round(secs * 1e3, 1), "ms", f"wall time of `dockyard {' '.join(argv[1:3])} ...` "
                                "(the CLI start included)"),
            "took_effect": measured(ok, "", f"{what}: read {seen}")}


def container(mode) -> dict:
    cid = mode.run_detached("--memory", "128m", "--cpus", "1")
    try:
        pid = json.loads(run([mode.dockyard, "inspect", cid], "inspect"))[0]["State"]["Pid"]
        mem = _cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max")
        cpu = _cgroup_file(pid, "cpu", "cpu.cfs_quota_us", "cpu.max")
        upd = [mode.dockyard, "update"]
        return {
            "raise_memory": _step([*upd, "--memory", "256m", cid], lambda: (_read(mem) == str(256 * MiB), f"{mem} = {_read(mem)}"),
                                  "128 MiB -> 256 MiB"),
            "raise_cpus": _step([*upd, "--cpus", "2", cid],
                                lambda: (_read(cpu).split()[0] == "200000", f"{cpu} = {_read(cpu)}"), "1 -> 2 CPUs"),
            "lower_memory": _step([*upd, "--memory", "64m", cid], lambda: (_read(mem) == str(64 * MiB), f"{mem} = {_read(mem)}"),
                                  "256 MiB -> 64 MiB"),
        }
    finally:
        mode.stop_idle(cid)


def _guest_total_mib(mode, cid) -> int | None:
    p = subprocess.run([mode.dockyard, "exec", cid, "free", "-m"], capture_output=True, text=True, timeout=60, check=False)
    for line in p.stdout.splitlines():
        if line.startswith("Mem:"):
            return int(line.split()[1])
    return None


def vm(mode) -> dict:
    cid = mode.run_detached()  # the default 256 MiB
    try:
        before = None
        end = time.monotonic() + 60
        while before is None and time.monotonic() < end:  # exec works once the guest's agent runs
            before = _guest_total_mib(mode, cid)
        upd = [mode.dockyard, "update"]
        unchanged = lambda: (False, f"guest `free -m` total {_guest_total_mib(mode, cid)} MiB")
        out = {"raise_memory": _step([*upd, "--memory", "512m", cid], unchanged, "256 MiB -> 512 MiB"),
               "raise_cpus": _step([*upd, "--cpus", "2", cid], unchanged, "1 -> 2 vCPUs")}
        secs, p = _timed([*upd, "--memory", "128m", cid])
        if p.returncode != 0:
            out["lower_memory"] = {"seconds": missing(f"refused: {_last_line(p)}"),
                                   "took_effect": missing(f"refused: {_last_line(p)}")}
            return out
        t0, after = time.monotonic(), before
        while time.monotonic() - t0 < 20:
            after = _guest_total_mib(mode, cid)
            if after is not None and before is not None and after < before - 64:
                break
        waited = time.monotonic() - t0
        ok = after is not None and before is not None and after < before - 64
        out["lower_memory"] = {
            "seconds": measured(round(secs * 1e3, 1), "ms", "wall time of `dockyard update --memory 128m` (QMP balloon)"),
            "took_effect": measured(ok, "", f"256 MiB -> 128 MiB: guest `free -m` total {before} -> {after} MiB, "
                                    f"seen {waited:.1f} s after update returned (polled by exec)"),
            "effect_after": measured(round(waited, 1), "s", "update's return to the guest's total dropping (polling "
                                     "`dockyard exec free -m`, each exec ~0.1 s)") if ok else
            missing("the guest's total did not drop within 20 s"),
        }
        return out
    finally:
        mode.stop_idle(cid)


def measure(modes, log) -> dict:
    out = {}
    for m in modes:
        keys = ("raise_memory", "raise_cpus", "lower_memory")
        try:
            if m.key in ("process", "vm") and m.available and not m.idle_reason:
                log(f"scaling: {m.label}")
                out[m.key] = container(m) if m.key == "process" else vm(m)
                continue
            reason = m.reason or m.idle_reason or "not measured: compare drives `dockyard update` only"
        except Exception as e:  # noqa: BLE001 - a failure is a reason in the report
            reason = f"failed: {e}"
        out[m.key] = {k: {"seconds": missing(reason), "took_effect": missing(reason)} for k in keys}
    return out
