"""The cgroup layer: limits, accounting, freezing and cleanup for one container.

    layout.py    where the hierarchies are (v1, hybrid, v2), parsed from mountinfo
    manager.py   Manager: one cgroup path across every hierarchy; routes each controller
    files.py     read/write one knob in a given directory; missing = warning, refused = error
    convert.py   pure OCI(v1-flavoured) -> v2 value conversions, the way runc does them
    freezer.py   freeze/thaw on v1 (freezer.state) and v2 (cgroup.freeze)
    stats.py     runc-shaped `events --stats` readers

One module per controller, all the same shape, so the next one is obvious to add:

    NAME                 used in messages
    KEY                  the key of linux.resources it reads
    V1, V2               its v1 hierarchy and v2 controller (None: impossible there,
                         WHY_NOT_V1 / WHY_NOT_V2 say why)
    pick(resources)      its part of linux.resources (falsy: nothing to do)
    check(part)          optional: refuse malformed input before anything is written
    v1(dir, part, files) / v2(dir, part, files)   the writes, given the cgroup directory

    cpuset cpu memory pids blkio hugetlb rdma net_cls net_prio devices unified
"""

from __future__ import annotations

from .layout import Layout, detect
from .manager import Manager

__all__ = ["Layout", "Manager", "detect"]
