"""`compare --plot DIR`: one PNG and one SVG per measurement (matplotlib, an optional extra:
`pip install dockyard[compare]`). Only measured figures are drawn; a mode without a value is
left out of that plot, and the plot's caption names what was left out."""

from __future__ import annotations

import os

from ..errors import ConfigError

SPEED_TASKS = ("cpu", "syscalls", "memory", "disk", "network")
CORE_TASKS = SPEED_TASKS[:4]  # a mode is plotted when these were measured; network only where it was


def require():
    try:
        _import_matplotlib()
        import matplotlib

        matplotlib.use("Agg")  # files only: no display here, and none wanted
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("compare --plot needs matplotlib (pip install 'dockyard[compare]')") from None
    return plt


def _bars(plt, title: str, unit: str, labels, values, errs=None, log=False, left_out=()):
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(labels), 2) + 1.4))
    ax.barh(labels, values, xerr=errs, color="#4c72b0", capsize=3)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(unit)
    ax.set_title(title, fontsize=10)
    for i, v in enumerate(values):
        ax.annotate(f"{v:.3g}", (v, i), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    if left_out:
        fig.text(0.01, 0.01, "not measured: " + ", ".join(left_out), fontsize=7, color="#666")
    fig.tight_layout(rect=(0, 0.04 if left_out else 0, 1, 1))
    return fig


def _import_matplotlib() -> None:
    """The `dockyard` launcher starts Python with -S (no site-packages: faster `run`), so an
    optional extra installed in the venv is found by adding its site-packages on demand."""
    try:
        import matplotlib
    except ImportError:
        import site
        import sys
        import sysconfig

        # under -S sys.prefix is the base interpreter's: the venv is where sys.executable lives
        venv = os.path.dirname(os.path.dirname(sys.executable))
        site.addsitedir(sysconfig.get_paths(vars={"base": venv, "platbase": venv})["purelib"])
        import matplotlib  # noqa: F401


def figures_for(report: dict):
    """(name, builder(plt) -> matplotlib figure) for each plot."""
    modes = report["modes"]
    label = lambda k: modes[k]["label"]

    def start(plt):
        ks = [k for k, v in report.get("start", {}).items() if (v.get("exit") or {}).get("value") is not None]
        vals = [report["start"][k]["exit"]["value"] for k in ks]
        errs = [[v - report["start"][k]["exit"]["min"] for k, v in zip(ks, vals)],
                [report["start"][k]["exit"]["max"] - v for k, v in zip(ks, vals)]]
        return _bars(plt, "start to exit, `sh -c 'echo s'` (median, min-max; log scale)", "ms", [label(k) for k in ks],
                     vals, errs, log=True, left_out=[label(k) for k in modes if k not in ks])

    def memory(plt):
        mem = report.get("memory", {})
        ks = [k for k, v in mem.items() if (v.get("idle_n_each") or {}).get("value") is not None]
        return _bars(plt, f"PSS per idle workload with {report['density']} running (log scale)", "MiB",
                     [label(k) for k in ks], [mem[k]["idle_n_each"]["value"] for k in ks], log=True,
                     left_out=[label(k) for k in modes if k not in ks])

    def speed(plt):
        sp = report.get("speed", {})
        ks = [k for k in modes if all((sp.get(k, {}).get(t, {}).get("ratio") or {}).get("value") is not None
                                      for t in CORE_TASKS)]
        fig, ax = plt.subplots(figsize=(7, 3.6))
        width = 0.8 / max(len(ks), 1)
        for i, k in enumerate(ks):
            xs = [j + i * width for j in range(len(SPEED_TASKS))]
            ratios = [(sp[k].get(t, {}).get("ratio") or {}).get("value") for t in SPEED_TASKS]
            ax.bar(xs, [float("nan") if r is None else r for r in ratios], width, label=label(k))
        ax.set_xticks([j + width * (len(ks) - 1) / 2 for j in range(len(SPEED_TASKS))], SPEED_TASKS)
        ax.axhline(1, color="#333", lw=0.8)
        ax.set_yscale("log")
        ax.set_ylabel("time / host time (log)")
        ax.set_title("speed relative to a host process (1 = as fast)", fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def surface(plt):
        su = report.get("surface", {})
        ks = [k for k in modes if (su.get(k, {}).get("host_syscalls") or {}).get("value") is not None]
        return _bars(plt, "host syscalls the workload (or its VMM) can reach / did make", "syscalls",
                     [label(k) for k in ks], [su[k]["host_syscalls"]["value"] for k in ks],
                     left_out=[label(k) for k in modes if k not in ks])

    return [("start", start), ("memory", memory), ("speed", speed), ("surface", surface)]


def render_svg(report: dict) -> dict[str, str]:
    """name -> inline SVG text (for the HTML report)."""
    import io

    plt = require()
    out = {}
    for name, build in figures_for(report):
        fig = build(plt)
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        plt.close(fig)
        text = buf.getvalue()
        out[name] = text[text.index("<svg"):]
    return out


def write(report: dict, directory: str) -> list[str]:
    plt = require()
    os.makedirs(directory, exist_ok=True)
    written = []
    for name, build in figures_for(report):
        fig = build(plt)
        for ext in ("png", "svg"):
            path = os.path.join(directory, f"compare-{name}.{ext}")
            fig.savefig(path, dpi=110)
            written.append(path)
        plt.close(fig)
    return written
