"""pids: the maximum number of tasks (OCI ``pids.limit``); same file on v1 and v2."""

from __future__ import annotations

from . import convert

NAME, KEY, V1, V2 = "pids", "pids", "pids", "pids"


def pick(resources: dict) -> dict:
    p = resources.get(KEY) or {}
    return {"limit": p["limit"]} if p.get("limit") is not None else {}


def v1(d: str, p: dict, f) -> None:
    f.write(d, "pids.max", convert.pids_max(p["limit"]))


v2 = v1
