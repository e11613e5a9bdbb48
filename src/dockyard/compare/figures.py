"""The one shape every number in a compare report has: a measured figure says its value,
unit and how it was measured; one that could not be measured says why. Reports and tests
walk the report for these dicts (`figures()`), so nothing can be printed without its "how"."""

from __future__ import annotations

import statistics


def measured(value, unit: str, how: str, **extra) -> dict:
    return {"value": value, "unit": unit, "how": how, **extra}


def missing(reason: str) -> dict:
    return {"value": None, "reason": reason}


def spread(samples: list[float], unit: str, how: str, digits: int = 1) -> dict:
    """Median as the value, with min, max and every sample kept."""
    if not samples:
        return missing("no sample succeeded")
    r = lambda x: round(x, digits)
    return measured(r(statistics.median(samples)), unit, how, min=r(min(samples)), max=r(max(samples)),
                    samples=[r(s) for s in samples])


def is_figure(obj) -> bool:
    return isinstance(obj, dict) and "value" in obj and ("how" in obj or "reason" in obj)


def figures(obj, path: str = ""):
    """(path, figure) for every figure in a report, depth first."""
    if is_figure(obj):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from figures(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from figures(v, f"{path}[{i}]")


def problems(report: dict) -> list[str]:
    """Figures that break the rule: a value without unit/how, or no value and no reason."""
    out = []
    for path, f in figures(report):
        if f["value"] is None:
            if not f.get("reason"):
                out.append(f"{path}: no value and no reason")
        elif not f.get("how") or "unit" not in f:
            out.append(f"{path}: a value without unit or how")
    return out


def fmt(f: dict, digits: int = 1) -> str:
    """A figure for a table cell: '12.3 ms', or 'n/a' (the reason goes in a note)."""
    if f is None or f.get("value") is None:
        return "n/a"
    v = f["value"]
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        v = f"{v:.{digits}f}"
    unit = f.get("unit", "")
    return f"{v} {unit}".strip() if unit not in ("", "x") else (f"{v}x" if unit == "x" else str(v))
