"""The terminal table: machine and accelerator first (every VM figure depends on them), then
one table per measurement, modes as rows; figures that could not be measured are "n/a" with
their reason in the notes under the table."""

from __future__ import annotations

from .figures import fmt

SPEED_TASKS = ("cpu", "syscalls", "memory", "disk", "network")


def _table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return ["", title, line(header), line(["-" * w for w in widths]), *map(line, rows)]


class Notes:
    """Reasons, numbered once each, referenced from the cells."""

    def __init__(self):
        self.items: list[str] = []

    def cell(self, f: dict | None, digits: int = 1) -> str:
        if f is None:
            return "-"
        if f.get("value") is None:
            reason = f.get("reason", "?")
            if reason not in self.items:
                self.items.append(reason)
            return f"n/a[{self.items.index(reason) + 1}]"
        return fmt(f, digits)


def render(report: dict) -> str:
    m, acc = report["machine"], report["accel"]
    modes = report["modes"]
    rows = [k for k in modes]
    label = lambda k: modes[k]["label"]
    notes = Notes()
    out = [(f"machine: {m['cpus']['value']} CPUs ({m['cpu_model']}), {m['ram']['value']} MiB RAM, kernel {m['kernel']}, "
           f"load at start {m['load_at_start']}"),
           f"VM accelerator: {acc['name'] or 'none'} ({acc['reason']})" + (f", guest kernel {acc['guest_kernel']}"
                                                                          if acc.get("guest_kernel") else ""),
           f"VM path: {report['vm_path'].get('value') or report['vm_path'].get('reason')}",
           f"image {report['image']}, {report['runs']} runs, density {report['density']}, speed scale {report['scale']}"]
    skipped = [name for name in ("start", "memory", "speed", "surface", "scaling") if _skipped(report, name)]
    if skipped:
        out.append(f"skipped (--skip): {', '.join(skipped)}")
    s = report.get("start", {})
    out += [] if "start" in skipped else _table("START (ms, host clock; median [min-max])", ["mode", "first output", "exit"],
                  [[label(k), _range(notes, s.get(k, {}).get("first_output")), _range(notes, s.get(k, {}).get("exit"))]
                   for k in rows])
    mem = report.get("memory", {})
    n = report["density"]
    out += _table("MEMORY (MiB PSS of every process of an idle workload)", ["mode", "1 idle", f"{n} idle", "each of " + str(n)],
                  [[label(k), *(notes.cell(mem.get(k, {}).get(f), 2) for f in ("idle_1", "idle_n_total", "idle_n_each"))]
                   for k in rows])
    sp = report.get("speed", {})
    out += [] if "speed" in skipped else _table("SPEED (time / the host's time for the same busybox task; > 1 is slower)", ["mode", *SPEED_TASKS],
                  [[label(k), *(notes.cell((sp.get(k, {}).get(t) or {}).get("ratio"), 2) for t in SPEED_TASKS)] for k in rows])
    host_s = sp.get("host", {})
    if host_s and "speed" not in skipped:
        out.append("host seconds: " + ", ".join(f"{t} {fmt(host_s[t]['seconds'], 3)}" for t in SPEED_TASKS
                                                if host_s.get(t, {}).get("seconds", {}).get("value") is not None))
    su = report.get("surface", {})
    out += [] if "surface" in skipped else _table("ATTACK SURFACE (what reaches the host kernel, what is exposed)",
                  ["mode", "host syscalls", "capabilities", "devices"],
                  [[label(k), *(notes.cell(su.get(k, {}).get(f), 0) for f in ("host_syscalls", "capabilities", "devices"))]
                   for k in rows])
    sc = report.get("scaling", {})
    scale_rows = [k for k in rows if k in ("process", "vm")]
    out += [] if "scaling" in skipped else _table("SCALING (dockyard update on a running workload: ms, took effect?)",
                  ["mode", "raise memory", "raise CPUs", "lower memory"],
                  [[label(k), *(_step(notes, sc.get(k, {}).get(f)) for f in ("raise_memory", "raise_cpus", "lower_memory"))]
                   for k in scale_rows])
    out.append("")
    out.append("notes:")
    out += [f"  [{i + 1}] {r}" for i, r in enumerate(notes.items)]
    out.append(f"(every figure's method: --json or --html; whole compare took {report['elapsed']['value']} s)")
    return "\n".join(out) + "\n"


def _skipped(report: dict, name: str) -> bool:
    rows = report.get(name) or {}
    return bool(rows) and all(set(v) == {"skipped"} for v in rows.values())


def _range(notes: Notes, f: dict | None) -> str:
    if not f or f.get("value") is None:
        return notes.cell(f)
    return f"{f['value']:.1f} [{f['min']:.1f}-{f['max']:.1f}]"


def _step(notes: Notes, step: dict | None) -> str:
    if not step:
        return "-"
    took = step.get("took_effect") or {}
    secs = step.get("seconds") or {}
    if secs.get("value") is None and took.get("value") is False:
        return f"refused[{_note(notes, secs)}]"
    return f"{notes.cell(secs)}, {notes.cell(took)}"


def _note(notes: Notes, f: dict) -> int:
    notes.cell(f)
    return notes.items.index(f["reason"]) + 1
