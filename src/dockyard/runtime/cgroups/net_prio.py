"""net_prio: per-interface priorities of the container's packets (OCI ``network.priorities``).
v1 only; one "IFNAME PRIO" write per interface."""

from __future__ import annotations

from ...errors import CgroupError

NAME, KEY, V1, V2 = "net_prio", "network", "net_prio", None
WHY_NOT_V2 = "priorities not applied on cgroup v2 (needs eBPF, not built)"


def pick(resources: dict) -> dict:
    n = resources.get(KEY) or {}
    return {"priorities": n["priorities"]} if n.get("priorities") else {}


def check(n: dict) -> None:
    for p in n["priorities"]:
        name = str(p.get("name") or "")
        if not name or any(ch.isspace() for ch in name):
            raise CgroupError(f"cgroup net_prio: invalid interface name {name!r}")


def v1(d: str, n: dict, f) -> None:
    check(n)
    for p in n["priorities"]:
        name = str(p.get("name") or "")
        f.write(d, "net_prio.ifpriomap", f"{name} {int(p.get('priority') or 0)}")
