"""`dockyard compare [IMAGE] [--runs N] [--density N] [--scale F] [--modes A,B] [--skip S,T]
[--json] [--html FILE] [--plot DIR]`: containers vs microVMs vs the peers, measured here
(dockyard/compare, docs/compare.md). Parses, calls compare.run, prints."""

from __future__ import annotations

import sys

USAGE = """usage: dockyard compare [IMAGE] [--runs N] [--density N] [--scale F] [--modes M,...] [--skip S,...]
                        [--json] [--html FILE] [--plot DIR]
  IMAGE        default busybox (its sh, dd, sha256sum... run in every mode)
  --runs N     runs per start/speed figure (default 3)
  --density N  idle workloads at once for the density figure (default 3)
  --scale F    size of the speed tasks (default 1.0)
  --modes      host,process,vm,crun,runc,podman,docker,runsc (default all that run here)
  --skip       start,memory,speed,surface,scaling
  --json       the report as JSON on stdout (progress on stderr)
  --html FILE  a self-contained HTML report     --plot DIR  PNG and SVG plots (needs matplotlib)
"""


def _parse(argv: list[str]) -> dict:
    from ..compare.run import SECTIONS
    from ..errors import ConfigError

    a = {"image": "busybox", "runs": 3, "density": 3, "scale": 1.0, "modes": None, "skip": frozenset(),
         "json": False, "html": None, "plot": None}
    numbers = {"--runs": ("runs", int, 1, 100), "--density": ("density", int, 1, 50), "--scale": ("scale", float, 0.01, 100)}
    images, i = [], 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        takes_value = name in numbers or name in ("--modes", "--skip", "--html", "--plot")
        if takes_value:
            if eq:
                value = inline
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise ConfigError(f"compare: {name} needs a value")
            if name in numbers:
                key, kind, lo, hi = numbers[name]
                try:
                    a[key] = kind(value)
                except ValueError:
                    raise ConfigError(f"compare: {name} {value!r}: not a number") from None
                if not lo <= a[key] <= hi:
                    raise ConfigError(f"compare: {name} must be between {lo} and {hi}")
            elif name == "--modes":
                a["modes"] = frozenset(v for v in value.split(",") if v)
                bad = a["modes"] - {"host", "process", "vm", "crun", "runc", "podman", "docker", "runsc"}
                if bad:
                    raise ConfigError(f"compare: --modes: unknown {', '.join(sorted(bad))}")
            elif name == "--skip":
                a["skip"] = frozenset(v for v in value.split(",") if v)
                if a["skip"] - set(SECTIONS):
                    raise ConfigError(f"compare: --skip: unknown {', '.join(sorted(a['skip'] - set(SECTIONS)))} "
                                      f"(use {', '.join(SECTIONS)})")
            else:
                a[name[2:]] = value
        elif arg == "--json":
            a["json"] = True
        elif arg.startswith("-"):
            raise ConfigError(f"compare: unknown flag {arg}")
        else:
            images.append(arg)
        i += 1
    if len(images) > 1:
        raise ConfigError(f"compare: one image at most (got {' '.join(images)})")
    if images:
        a["image"] = images[0]
    return a


def cmd_compare(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    a = _parse(argv)
    if a["plot"]:
        from ..compare import plots

        plots.require()  # before minutes of measuring, not after
    from ..compare import report_json, report_text
    from ..compare.run import Options, compare

    def log(msg: str) -> None:
        print(f"compare: {msg}", file=sys.stderr, flush=True)

    report = compare(Options(image=a["image"], runs=a["runs"], density=a["density"], scale=a["scale"],
                             modes=a["modes"], skip=a["skip"]), log)
    written = []
    if a["plot"]:
        from ..compare import plots

        written += plots.write(report, a["plot"])
    if a["html"]:
        from ..compare import report_html

        report_html.write(report, a["html"])
        written.append(a["html"])
    sys.stdout.write(report_json.render(report) if a["json"] else report_text.render(report))
    for path in written:
        print(f"compare: wrote {path}", file=sys.stderr)
    return 0
