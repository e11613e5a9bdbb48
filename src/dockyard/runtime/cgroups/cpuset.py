"""cpuset: which CPUs and memory nodes the container may use (OCI ``cpu.cpus``/``cpu.mems``).

Same file names on v1 and v2. On v1 a new cpuset cgroup starts with empty cpus and mems and
the kernel refuses to add a task to it (ENOSPC), so create() fills each new level from its
parent first (inherit_v1); v2 inherits by itself.
"""

from __future__ import annotations

import os

NAME, KEY, V1, V2 = "cpuset", "cpu", "cpuset", "cpuset"


def pick(resources: dict) -> dict:
    c = resources.get(KEY) or {}
    return {k: c[k] for k in ("cpus", "mems") if c.get(k)}


def v1(d: str, c: dict, f) -> None:
    # cpus before mems: order does not matter to the kernel, but keep one order everywhere.
    if c.get("cpus"):
        f.write(d, "cpuset.cpus", c["cpus"])
    if c.get("mems"):
        f.write(d, "cpuset.mems", c["mems"])


v2 = v1


def inherit_v1(mount: str, rel: str, f) -> None:
    """Top-down from the hierarchy root to mount/rel: copy cpuset.cpus and cpuset.mems from
    the parent wherever they are empty (runc's ensureParent)."""
    parent = mount
    for part in rel.strip("/").split("/"):
        child = os.path.join(parent, part)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if f.read(child, name) == "":
                value = f.read(parent, name)
                if value:
                    f.write(child, name, value)
        parent = child
