"""Start: how long from asking to the workload's first instruction, and to its exit.

Measured on the host's clock for every mode, because a VM's clock is not the host's:
t0 just before the runner is spawned (`dockyard run ...`, `crun run ...`, busybox itself),
"first output" when the first byte of the workload's stdout (`echo s`, its first command)
reaches the host end of the pipe, "exit" when the runner has exited (container removed:
--rm). For the VM the first byte travels virtio-serial -> QEMU's output file -> the CLI that
follows that file (it polls every few ms), so the figure includes that path; the workload ran
a little before. Modes run round-robin, so a load change hits all of them alike."""

from __future__ import annotations

import subprocess
import time

from .figures import missing, spread

SCRIPT = "echo s"


def one(argv: list[str], timeout: float = 120) -> tuple[float, float]:
    """(ms to first stdout byte, ms to exit) of one run; raises on a failed run."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.read(1)
    t1 = time.perf_counter()
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise RuntimeError(f"timed out after {timeout} s") from None
    t2 = time.perf_counter()
    if p.returncode != 0 or first != b"s":
        last = (err.decode(errors="replace").strip().splitlines() or [f"exit {p.returncode}"])[-1]
        raise RuntimeError(last)
    return (t1 - t0) * 1e3, (t2 - t0) * 1e3


def measure(modes, runs: int, log) -> dict:
    samples = {m.key: ([], []) for m in modes if m.available}
    errors: dict[str, str] = {}
    for m in modes:  # one unrecorded run each: page cache and the image unpacked (a VM boot is too dear)
        if m.available and m.key != "vm":
            try:
                one(m.argv(SCRIPT))
            except RuntimeError as e:
                errors[m.key] = str(e)
    for i in range(runs):
        log(f"start: round {i + 1}/{runs}")
        for m in modes:
            if not m.available or m.key in errors:
                continue
            try:
                first, end = one(m.argv(SCRIPT))
            except RuntimeError as e:
                errors[m.key] = str(e)
                continue
            samples[m.key][0].append(first)
            samples[m.key][1].append(end)
    how_first = ("host clock, spawn of the runner to the first byte of the workload's stdout "
                 "(`sh -c 'echo s'`; for the VM via virtio-serial and QEMU's output file); median of the runs")
    how_exit = "host clock, spawn of the runner to its exit (workload done, container/VM removed); median"
    out = {}
    for m in modes:
        if not m.available:
            out[m.key] = {"first_output": missing(m.reason), "exit": missing(m.reason)}
        elif m.key in errors:
            out[m.key] = {"first_output": missing(f"a run failed: {errors[m.key]}"),
                          "exit": missing(f"a run failed: {errors[m.key]}")}
        else:
            out[m.key] = {"first_output": spread(samples[m.key][0], "ms", how_first),
                          "exit": spread(samples[m.key][1], "ms", how_exit)}
        out[m.key]["runner"] = m.how or m.reason
    return out
