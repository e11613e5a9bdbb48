"""`dockyard stats`: live CPU, memory, pids, network and block I/O of containers (engine/stats.py),
printed as `docker stats` prints them."""

from __future__ import annotations

import sys

from .common import _with

USAGE = "stats [-a] [--no-stream] [--no-trunc] [--format TEMPLATE] [CONTAINER...]"
HELP = f"""usage: dockyard {USAGE}

Live resource use of running containers (-a: all; stopped ones read as zero), refreshed
every second until Ctrl-C; --no-stream prints once (two samples 0.5 s apart, for CPU %).
Fields for --format (as `ps --format`, `table` for a header): .Container .Name .ID .CPUPerc
.MemUsage .MemPerc .NetIO .BlockIO .PIDs (NET I/O: received / sent, lo excluded).
"""

HEADERS = {"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
           "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
           "PIDs": "PIDS"}
DEFAULT_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"


def _size(n: float, base: int, units: tuple[str, ...]) -> str:
    """Docker's go-units: four significant digits, the largest unit below the value."""
    i = 0
    while n >= base and i < len(units) - 1:
        n /= base
        i += 1
    return f"{n:.4g}{units[i]}"


def binary_size(n: float) -> str:  # memory: MiB, as `docker stats`
    return _size(n, 1024, ("B", "KiB", "MiB", "GiB", "TiB", "PiB"))


def decimal_size(n: float) -> str:  # block and network I/O: MB, as `docker stats`
    return _size(n, 1000, ("B", "kB", "MB", "GB", "TB", "PB"))


def fields(prev, cur, shown_as: str, no_trunc: bool) -> dict:
    from ..engine.stats import cpu_percent

    return {"Container": shown_as, "Name": cur.name, "ID": cur.id if no_trunc else cur.id[:12],
            "CPUPerc": f"{cpu_percent(prev, cur):.2f}%",
            "MemUsage": f"{binary_size(cur.mem_usage)} / {binary_size(cur.mem_limit)}",
            "MemPerc": f"{cur.mem_percent:.2f}%",
            "NetIO": f"{decimal_size(cur.net_rx)} / {decimal_size(cur.net_tx)}",
            "BlockIO": f"{decimal_size(cur.blk_read)} / {decimal_size(cur.blk_write)}", "PIDs": str(cur.pids)}


def _aligned(lines: list[str]) -> list[str]:
    """Tab-separated cells in columns three spaces apart, as docker's tabwriter lays out a table."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell))
    return ["".join(cell.ljust(widths[i] + 3) for i, cell in enumerate(row[:-1])) + row[-1] for row in rows]


def render(template: str, rows: list[dict]) -> str:
    from .containers import _render

    if template.startswith("table"):
        body = template[len("table"):].strip() or DEFAULT_FORMAT[len("table "):]
        lines = [_render(body, HEADERS)] + [_render(body, r) for r in rows]
        return "".join(line + "\n" for line in _aligned([x.replace("\\t", "\t") for x in lines]))
    return "".join(_render(template, r) + "\n" for r in rows)


def _parse(argv: list[str]):
    from ..errors import ConfigError

    all_ = no_stream = no_trunc = False
    fmt, refs, i = DEFAULT_FORMAT, [], 0
    while i < len(argv):
        a = argv[i]
        if a in ("-a", "--all"):
            all_ = True
        elif a == "--no-stream":
            no_stream = True
        elif a == "--no-trunc":
            no_trunc = True
        elif a == "--format" or a.startswith("--format="):
            if a == "--format":
                if i + 1 >= len(argv):
                    raise ConfigError("stats: --format needs a template")
                i += 1
            fmt = argv[i] if a == "--format" else a.split("=", 1)[1]
        elif a.startswith("-"):
            raise ConfigError(f"stats: unknown option {a} (usage: dockyard {USAGE})")
        else:
            refs.append(a)
        i += 1
    return all_, no_stream, no_trunc, fmt, refs


def cmd_stats(argv: list[str]) -> int:
    import time

    from ..engine.stats import sample_all
    from ..errors import NotFound

    if argv[:1] in (["-h"], ["--help"]):
        sys.stdout.write(HELP)
        return 0
    all_, no_stream, no_trunc, fmt, refs = _parse(argv)

    def go(im, containers):
        try:  # as docker: every named container must exist, or nothing is shown
            named = [(ref, containers.get(ref)) for ref in refs]
        except NotFound as e:
            sys.stderr.write(f"dockyard: {e}\n")
            return 1

        def targets():
            if named:
                return named
            return [(r.id[:12] if not no_trunc else r.id, r) for r in containers.list(all_=all_)]

        prev = sample_all(containers, [r for _, r in targets()])
        time.sleep(0.5)
        while True:
            current = targets()
            cur = sample_all(containers, [r for _, r in current])
            text = render(fmt, [fields(prev.get(r.id), cur[r.id], shown, no_trunc) for shown, r in current
                                if named or all_ or cur[r.id].running])  # one that just exited goes
            if no_stream:
                sys.stdout.write(text)
                return 0
            sys.stdout.write("\033[2J\033[H" + text)  # clear and redraw, as docker does
            sys.stdout.flush()
            prev = cur
            time.sleep(1.0)

    try:
        return _with(go)
    except KeyboardInterrupt:  # Ctrl-C ends a stream: that is how it is meant to stop
        return 0
