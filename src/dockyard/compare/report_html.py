"""`compare --html FILE`: one self-contained page (no external CSS, scripts or images: plots
inline as SVG when matplotlib is installed) a person can read and pass on. Every cell carries
how it was measured (as a tooltip and in the methods list) or why it is missing."""

from __future__ import annotations

import html

from .figures import figures, fmt
from .report_text import SPEED_TASKS

CSS = """body{font:14px/1.45 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}.na{color:#a33}small{color:#555}svg{max-width:100%;height:auto}
dt{font-family:monospace;margin-top:.4em}dd{margin-left:1.5em;color:#444}"""


def _cell(f: dict | None, digits: int = 1) -> str:
    if not f:
        return "<td>-</td>"
    if f.get("value") is None:
        return f'<td class="na" title="{html.escape(f.get("reason", ""))}">n/a <small>({html.escape(f.get("reason", ""))})</small></td>'
    text = fmt(f, digits)
    if "min" in f:
        text += f" <small>[{f['min']}–{f['max']}]</small>"
    return f'<td title="{html.escape(f.get("how", ""))}">{text}</td>'


def _table(title: str, header: list[str], rows: list[tuple[str, list]], digits: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(f"<tr><td>{html.escape(name)}</td>{''.join(_cell(f, digits) for f in cells)}</tr>" for name, cells in rows)
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def render(report: dict) -> str:
    modes = report["modes"]
    rows = list(modes)
    label = lambda k: modes[k]["label"]
    m, acc = report["machine"], report["accel"]
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><title>dockyard compare: {html.escape(report['image'])}"
             f"</title><style>{CSS}</style></head><body>"),
             f"<h1>Containers vs microVMs: <code>{html.escape(report['image'])}</code></h1>",
             (f"<p>Machine: {m['cpus']['value']} CPUs ({html.escape(m['cpu_model'])}), {m['ram']['value']} MiB RAM, kernel "
             f"{html.escape(m['kernel'])}, load at start {m['load_at_start']}.<br>VM accelerator: <b>{html.escape(str(acc['name']))}"
             f"</b> — {html.escape(acc['reason'])}.<br>VM path: {html.escape(str(report['vm_path'].get('value')))}. "
             f"{report['runs']} runs, density {report['density']}, speed scale {report['scale']}; the whole compare took "
             f"{report['elapsed']['value']} s.</p>"),
             "<p><small>Hover a figure for how it was measured; every method is also listed at the end.</small></p>"]
    s = report.get("start", {})
    parts.append(_table("Start (ms, host clock: median [min–max])", ["mode", "first output", "exit"],
                        [(label(k), [s.get(k, {}).get("first_output"), s.get(k, {}).get("exit")]) for k in rows]))
    mem = report.get("memory", {})
    parts.append(_table("Memory (MiB PSS of every process of an idle workload)",
                        ["mode", "1 idle", f"{report['density']} idle", "each"],
                        [(label(k), [mem.get(k, {}).get(f) for f in ("idle_1", "idle_n_total", "idle_n_each")]) for k in rows], 2))
    sp = report.get("speed", {})
    parts.append(_table("Speed (time / the host's time; > 1 is slower)", ["mode", *SPEED_TASKS],
                        [(label(k), [(sp.get(k, {}).get(t) or {}).get("ratio") for t in SPEED_TASKS]) for k in rows], 2))
    su = report.get("surface", {})
    parts.append(_table("Attack surface", ["mode", "host syscalls", "capabilities", "devices"],
                        [(label(k), [su.get(k, {}).get(f) for f in ("host_syscalls", "capabilities", "devices")]) for k in rows], 0))
    sc = report.get("scaling", {})
    parts.append(_table("Scaling: dockyard update on a running workload", ["mode", "raise memory (ms)", "took effect",
                                                                          "raise CPUs (ms)", "took effect", "lower memory (ms)",
                                                                          "took effect"],
                        [(label(k), [x for f in ("raise_memory", "raise_cpus", "lower_memory")
                                     for x in ((sc.get(k, {}).get(f) or {}).get("seconds"),
                                               (sc.get(k, {}).get(f) or {}).get("took_effect"))])
                         for k in rows if k in ("process", "vm")]))
    try:
        from . import plots

        svgs = plots.render_svg(report)
        parts.append("<h2>Plots</h2>" + "".join(f"<figure>{svg}</figure>" for svg in svgs.values()))
    except Exception as e:  # noqa: BLE001 - matplotlib is optional: the page says why there are no plots
        parts.append(f"<p class='na'>No plots: {html.escape(str(e))}</p>")
    parts.append("<h2>How each figure was measured</h2><dl>")
    for path, f in figures(report):
        what = f.get("how") if f.get("value") is not None else "not measured: " + f.get("reason", "")
        parts.append(f"<dt>{html.escape(path)} = {html.escape(fmt(f, 3))}</dt><dd>{html.escape(what)}</dd>")
    parts.append("</dl></body></html>\n")
    return "".join(parts)


def write(report: dict, path: str) -> None:
    with open(path, "w") as f:
        f.write(render(report))
