"""`compare --json`: the report as it is. Shape:

    {"image", "runs", "density", "scale", "machine": {...}, "accel": {name, reason, guest_kernel},
     "vm_path": figure, "modes": {key: {label, available, how | reason}},
     "start":   {mode: {"first_output": fig, "exit": fig, "runner": str}},
     "memory":  {mode: {"idle_1": fig, "idle_n_total": fig, "idle_n_each": fig}},
     "speed":   {mode: {task: {"seconds": fig, "ratio": fig}}}   tasks: cpu syscalls memory disk network
                (network also has "throughput": fig, MiB/s)
     "surface": {mode: {"host_syscalls": fig, "capabilities": fig, "devices": fig, ...}},
     "scaling": {mode: {"raise_memory"|"raise_cpus"|"lower_memory": {"seconds": fig, "took_effect": fig}}},
     "elapsed": fig}

Every fig is {"value": V, "unit": U, "how": H, ...} or {"value": null, "reason": R}
(figures.py; `figures.problems(report)` lists any that break the rule)."""

from __future__ import annotations

import json


def render(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"
