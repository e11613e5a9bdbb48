"""Speed: the same busybox tasks in every mode, as ratios to the host running them.

One `sh -c` script per run runs all tasks (a VM boots once per run, not once per task). Each
task is timed by the workload itself: `read u _ < /proc/uptime` (a shell builtin: no fork,
10 ms resolution) before and after. A VM's clock is its own, but an interval on it is real time
(the guest's clocksource runs at the host's TSC rate; under TCG QEMU derives it from the host
clock), so intervals compare across modes even though instants do not. Tasks are sized to take
>= ~0.1 s on the host here so the 10 ms tick stays small; --scale shrinks or grows them."""

from __future__ import annotations

import itertools
import statistics
import subprocess

from .figures import measured, missing, spread

# (key, what, shell with {n} and $W (a fresh scratch dir in the workload's /tmp), base n)
TASKS = (
    ("cpu", "CPU: busybox sha256sum of {n} MiB of zeros", 'dd if=/dev/zero bs=1M count={n} 2>/dev/null | sha256sum >/dev/null', 64),
    ("syscalls", ("syscalls: create+write {n} small files in /tmp (shell redirections: open/write/close, no fork), "
     "ls -l them (stat), rm -r"), ('i=0; while [ $i -lt {n} ]; do echo x > $W/f$i; i=$((i+1)); done; ls -l $W >/dev/null; '
     'rm -r $W; mkdir $W'), 1000),
    ("memory", ("memory: dd bs=1M count={n} /dev/zero -> /dev/null (the kernel zeroing a cache-resident 1 MiB "
     "buffer: memory write bandwidth, not DRAM's)"), 'dd if=/dev/zero of=/dev/null bs=1M count={n} 2>/dev/null', 4096),
    ("disk", ("disk: dd {n} MiB to a file in /tmp with conv=fsync (container: overlay upper dir on the host's disk; "
     "VM: virtiofs to the same)"), 'dd if=/dev/zero of=$W/dd bs=1M count={n} conv=fsync 2>/dev/null; rm $W/dd', 128),
)


def script(scale: float) -> str:
    lines = ['t(){ read u _ < /proc/uptime; echo "@$1 $u"; }', 'W=/tmp/dockyard-compare.$$; rm -rf $W; mkdir -p $W']
    for key, _what, cmd, base in TASKS:
        n = max(1, int(base * scale))
        lines += [f"t {key}", cmd.format(n=n)]
    lines += ["t end", "rm -rf $W"]
    return "\n".join(lines)


def parse(out: str) -> dict[str, float]:
    """'@task uptime' marks -> seconds per task."""
    marks = []
    for line in out.splitlines():
        if line.startswith("@"):
            name, value = line[1:].split()
            marks.append((name, float(value)))
    return {a[0]: b[1] - a[1] for a, b in itertools.pairwise(marks)}


def measure(modes, runs: int, scale: float, log) -> dict:
    text = script(scale)
    samples: dict[str, dict[str, list[float]]] = {}
    errors: dict[str, str] = {}
    for i in range(runs):
        log(f"speed: round {i + 1}/{runs}")
        for m in modes:
            if not m.available or m.key in errors:
                continue
            p = subprocess.run(m.argv(text), capture_output=True, text=True, timeout=600, check=False)
            got = parse(p.stdout) if p.returncode == 0 else {}
            if len(got) != len(TASKS):
                errors[m.key] = (p.stderr.strip().splitlines() or [f"exit {p.returncode}, output {p.stdout[-200:]!r}"])[-1]
                continue
            for k, v in got.items():
                samples.setdefault(m.key, {}).setdefault(k, []).append(v)
    host = {k: statistics.median(v) for k, v in samples.get("host", {}).items()}
    out = {}
    for m in modes:
        row = {}
        for key, what, _cmd, base in TASKS:
            n = max(1, int(base * scale))
            how = f"{what.format(n=n)}; timed in the workload by /proc/uptime (10 ms ticks); median of {runs}"
            if not m.available:
                row[key] = {"seconds": missing(m.reason), "ratio": missing(m.reason)}
            elif m.key in errors:
                row[key] = {"seconds": missing(f"failed: {errors[m.key]}"), "ratio": missing(f"failed: {errors[m.key]}")}
            else:
                s = spread(samples[m.key][key], "s", how, digits=3)
                if host.get(key):
                    ratio = measured(round(s["value"] / host[key], 2), "x",
                                     f"median seconds here / the host's median for the same task ({host[key]:.3f} s); "
                                     "> 1 is slower than the host")
                else:
                    ratio = missing("the host's time for this task was 0 (below the 10 ms tick): use --scale > 1"
                                    if "host" in samples else "no host reference run")
                row[key] = {"seconds": s, "ratio": ratio}
        out[m.key] = row
    return out
