"""Memory: what an idle workload (`sleep`) costs the host, alone and N at a time.

Every process that exists because of the workload is counted: for a dockyard container
conmon and the container's processes (found by the container ID on conmon's command line,
then its descendants), for a microVM QEMU and virtiofsd (their command lines name the VM's run
dir; QEMU's PSS covers the guest RAM the guest actually touched, the translation cache under
TCG, and QEMU's share of the kernel image mapping), for podman its conmon and the container,
for the host the `sleep` alone. PSS from /proc/PID/smaps_rollup, summed, after the workloads
have settled (a VM's guest is still finishing its boot when `run -d` returns). Kernel memory
(page tables, the container's slab in its cgroup) is not in PSS and not counted."""

from __future__ import annotations

import time

from . import procs
from .figures import measured, missing

SETTLE_S = {"vm": 4.0}
SETTLE_DEFAULT_S = 0.5


def _settle(key: str) -> None:
    time.sleep(SETTLE_S.get(key, SETTLE_DEFAULT_S))


def measure_mode(m, density: int, log) -> dict:
    handles = []
    try:
        log(f"memory: {m.label}: 1 idle")
        handles.append(m.start_idle())
        _settle(m.key)
        pids = m.pids(handles[0])
        one, names = procs.total_pss_mib(pids)
        how = f"sum of PSS (smaps_rollup) of {', '.join(names) or 'nothing found'}, idle `sleep`"
        out = {"idle_1": measured(round(one, 2), "MiB", how)}
        log(f"memory: {m.label}: {density} idle")
        for _ in range(density - 1):
            handles.append(m.start_idle())
        _settle(m.key)
        every = set()
        for h in handles:
            every |= m.pids(h)
        total, names = procs.total_pss_mib(every)
        out["idle_n_total"] = measured(round(total, 2), "MiB", f"sum of PSS of the {len(names)} processes of "
                                       f"{density} idle workloads", n=density)
        out["idle_n_each"] = measured(round(total / density, 2), "MiB",
                                      f"idle_n_total / {density}: the cost of one more when {density} run (density)",
                                      n=density)
        return out
    finally:
        for h in handles:
            m.stop_idle(h)


def measure(modes, density: int, log) -> dict:
    out = {}
    for m in modes:
        if not m.available:
            reason = m.reason
        elif m.idle_reason:
            reason = m.idle_reason
        else:
            try:
                out[m.key] = measure_mode(m, density, log)
                continue
            except Exception as e:  # noqa: BLE001 - a failed mode is a reason in the report
                reason = f"failed: {e}"
        out[m.key] = {"idle_1": missing(reason), "idle_n_total": missing(reason), "idle_n_each": missing(reason)}
    return out
