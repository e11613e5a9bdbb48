"""Where one `dockyard-runtime run` of a bundle spends its time, phase by phase.

    .venv/bin/python benchmarks/runtime_phases.py --root STATE --bundle BUNDLE [--runs N] [--id ID]

Each run is a fresh interpreter (as `dockyard-runtime` is) that timestamps, on CLOCK_MONOTONIC
(shared by all processes, so the parent's spawn time and the child's clocks compare):
interpreter start (spawn to first line of user code), the eager imports of the hot path, the
imports `run` makes lazily, and the main steps of `run`, by wrapping the runtime's functions
from the outside (src/ is not modified). Steps nest: create contains the config load, the
cgroup set-up, the fork and `drive` (which waits for stage 1 and the init's set-up up to
"ready"). Prints the median of each phase over N runs. A wrapped function that no longer
exists is skipped, so this keeps working while the runtime changes. The harness (spawn from
Python, the wrappers, reporting back) adds a few ms: read the phases against each other and
take the total time of a run from hyperfine (benchmarks/runtime.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = r"""
import time
T = {"user_code": time.perf_counter()}
import sys
argv = sys.argv[1:]
import dockyard.runtime.cli as cli
import dockyard.runtime.commands, dockyard.runtime.create, dockyard.runtime.init
T["hot_imports"] = time.perf_counter()
import importlib, os
for m in filter(None, os.environ.get("PHASES_LAZY", "").split(",")):
    importlib.import_module(m)
T["lazy_imports"] = time.perf_counter()

ACC = {}
def wrap(owner, name, label):
    f = getattr(owner, name, None)
    if f is None:
        return
    def w(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            if os.getpid() == PID:
                d = ACC.setdefault(label, [0.0, 0])
                d[0] += time.perf_counter() - t
                d[1] += 1
    setattr(owner, name, w)

if os.environ.get("PHASES_MODE") != "calibrate":
    import os
    PID = os.getpid()
    from dockyard.runtime import cgroup_plan, create as cr, init as rinit, ops, commands, procs, state
    from dockyard.oci import runtime_spec
    wrap(commands, "_create", "create (all of it)")
    wrap(runtime_spec, "load_config", "  load + validate config.json")
    wrap(state.Container, "new", "  state dir + lock")
    wrap(state.Container, "save", "  state.json saves (all commands)")
    wrap(cgroup_plan, "manager_for", "  cgroups: layout detection")
    try:
        from dockyard.runtime.cgroups.manager import Manager as _M
        wrap(_M, "create", "  cgroups: mkdir")
    except ImportError:
        pass
    try:
        from dockyard.runtime.cgroups.manager import Manager
        wrap(Manager, "set", "  cgroups: set resources")
        wrap(Manager, "add", "  cgroups: write pid to cgroup.procs")
        wrap(Manager, "destroy", "  cgroups: rmdir (delete)")
    except ImportError:
        pass
    wrap(rinit, "preload", "  init.preload")
    wrap(procs, "cloexec_inherited", "  close-on-exec sweep")
    wrap(os, "fork", "  fork stage 1")
    wrap(cr, "_drive", "  drive: stage 1 + init set-up until ready")
    wrap(ops, "start", "start (exec fifo)")
    wrap(ops, "wait_exit", "wait for /bin/true to exit")
    wrap(ops, "delete", "delete (all of it)")
T["patched"] = time.perf_counter()
before = set(sys.modules)
rc = cli.main(argv)
imported = sorted(set(sys.modules) - before)
T["main_done"] = time.perf_counter()
import json
sys.stdout.write(json.dumps({"T": T, "acc": {k: v[0] for k, v in ACC.items()}, "rc": rc, "imported": imported}))
sys.stdout.flush()
T_END = time.perf_counter()
os.write(int(os.environ["PHASES_FD"]), repr(T_END).encode())
"""


def one(py: str, argv: list[str], lazy: list[str] | None) -> tuple[dict, list[str]]:
    r, w = os.pipe()
    t0 = time.perf_counter()
    p = subprocess.Popen([py, "-c", CHILD, *argv], stdout=subprocess.PIPE, pass_fds=(w,),
                         env={**os.environ, "PHASES_FD": str(w), "PHASES_LAZY": ",".join(lazy or ()),
                              "PHASES_MODE": "calibrate" if lazy is None else "measure"})
    os.close(w)
    out, _ = p.communicate()
    t_exit = time.perf_counter()
    t_end = float(os.read(r, 64).decode())
    os.close(r)
    if p.returncode != 0:
        raise SystemExit(f"run failed (exit {p.returncode})")
    d = json.loads(out)
    T = d["T"]
    ph = {
        "interpreter start (spawn -> first line)": T["user_code"] - t0,
        "hot-path imports (cli, commands, create, init)": T["hot_imports"] - T["user_code"],
        "lazy imports (those run makes, listed above)": T["lazy_imports"] - T["hot_imports"],
        "main(): run": T["main_done"] - T["patched"],
    }
    ph.update({"  " + k: v for k, v in d["acc"].items()})
    ph["after main(): report, finalize, exit, reaped"] = t_exit - t_end
    ph["TOTAL (spawn -> reaped)"] = t_exit - t0
    return ph, d["imported"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--id", default=f"phases-{os.getpid()}")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--python", default=os.path.join(os.path.dirname(sys.executable), "python"))
    a = ap.parse_args()
    argv = ["--root", a.root, "run", "--bundle", a.bundle, a.id]
    # Warm-up, which also finds the modules `run` imports lazily: the measured runs import
    # them before main() so that the wrappers can be installed, and report them on their own.
    _, lazy = one(a.python, argv, None)
    runs = [one(a.python, argv, lazy)[0] for _ in range(a.runs)]
    keys = list(runs[-1])
    print(f"median of {a.runs} runs, ms; imported lazily by run: {', '.join(lazy) or 'nothing'}")
    for k in keys:
        vals = [r[k] for r in runs if k in r]
        print(f"{statistics.median(vals) * 1e3:8.2f}  {k}")


if __name__ == "__main__":
    main()
