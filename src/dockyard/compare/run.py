"""The whole comparison: machine and accelerator, the modes set up, each measurement in
turn (start, memory, speed, attack surface, scaling), everything torn down. Returns the
report dict (report_json.py documents its shape)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from . import (
    machine,
    measure_memory,
    measure_network,
    measure_speed,
    measure_start,
    modes,
    scaling,
    surface,
)
from .figures import missing

SECTIONS = ("start", "memory", "speed", "surface", "scaling")


@dataclass(frozen=True)
class Options:
    image: str = "busybox"
    runs: int = 3
    density: int = 3
    scale: float = 1.0
    modes: frozenset | None = None  # None: all
    skip: frozenset = frozenset()  # sections not measured (each then says so)


def dockyard_binary() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "dockyard")
    return here if os.path.exists(here) else (shutil.which("dockyard") or "dockyard")


def _with_network(speed: dict, network: dict) -> dict:
    """The network stream is its own run per mode (on the bridge), shown as the speed table's last task."""
    for key, row in speed.items():
        row["network"] = network[key]
    return speed


def compare(opts: Options, log=lambda msg: None) -> dict:
    dy = dockyard_binary()
    env = dict(os.environ)
    started = time.monotonic()
    p = subprocess.run([dy, "inspect", opts.image], capture_output=True, text=True, timeout=60, check=False, env=env)
    if p.returncode != 0:
        hint = " (dockyard bootstrap busybox)" if opts.image.startswith("busybox") else ""
        raise modes.CompareError(f"compare: image {opts.image!r} not found{hint}")
    report: dict = {"image": opts.image, "runs": opts.runs, "density": opts.density, "scale": opts.scale,
                    "machine": machine.describe()}
    log("accelerator and VM path")
    acc = machine.accel()
    report["accel"] = acc
    report["vm_path"] = machine.vm_path(dy, env) if acc["name"] else machine.no_vm_path()
    with modes.open_modes(dy, opts.image, report["vm_path"]["value"], acc["name"], opts.modes) as ms:
        report["modes"] = {m.key: {"label": m.label, "available": m.available,
                                   **({"how": m.how} if m.available else {"reason": m.reason})} for m in ms}
        steps = {
            "start": lambda: measure_start.measure(ms, opts.runs, log),
            "memory": lambda: measure_memory.measure(ms, opts.density, log),
            "speed": lambda: _with_network(measure_speed.measure(ms, opts.runs, opts.scale, log),
                                           measure_network.measure(ms, opts.runs, opts.scale, log)),
            "surface": lambda: surface.measure(ms, opts.image, log),
            "scaling": lambda: scaling.measure(ms, log),
        }
        for name in SECTIONS:
            if name in opts.skip:
                report[name] = {m.key: {"skipped": missing(f"--skip {name}")} for m in ms}
                continue
            report[name] = steps[name]()
    report["elapsed"] = {"value": round(time.monotonic() - started, 1), "unit": "s",
                         "how": "wall time of the whole compare"}
    return report
