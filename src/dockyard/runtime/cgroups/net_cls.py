"""net_cls: the traffic-control class id of the container's packets (OCI ``network.classID``).
v1 only; on v2 the same is done with eBPF, which this build does not have."""

from __future__ import annotations

NAME, KEY, V1, V2 = "net_cls", "network", "net_cls", None
WHY_NOT_V2 = "classID not applied on cgroup v2 (needs eBPF, not built)"


def pick(resources: dict) -> dict:
    n = resources.get(KEY) or {}
    return {"classID": n["classID"]} if n.get("classID") else {}


def v1(d: str, n: dict, f) -> None:
    f.write(d, "net_cls.classid", int(n["classID"]))
