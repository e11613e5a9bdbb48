"""hugetlb: limits per huge page size (OCI ``hugepageLimits``).

v1: hugetlb.<size>.limit_in_bytes; v2: hugetlb.<size>.max. Where the kernel also has the
reservation counter (.rsvd.*, 5.7+) it is set to the same limit, as runc does, so a
reservation cannot sneak past the limit; its absence is silent.
"""

from __future__ import annotations

from ...errors import CgroupError

NAME, KEY, V1, V2 = "hugetlb", "hugepageLimits", "hugetlb", "hugetlb"


def pick(resources: dict) -> list:
    return list(resources.get(KEY) or ())


def _size(entry: dict) -> str:
    # The page size becomes part of a file name: accept only the spec's ^[1-9][0-9]*[KMG]B$.
    size = str(entry.get("pageSize") or "")
    if not (len(size) >= 3 and size[:-2].isdigit() and size[0] != "0" and size[-2:] in ("KB", "MB", "GB")):
        raise CgroupError(f"cgroup hugetlb: invalid pageSize {size!r} (want e.g. 2MB, 1GB)")
    return size


def check(limits: list) -> None:
    for e in limits:
        _size(e)


def v1(d: str, limits: list, f) -> None:
    for e in limits:
        size = _size(e)
        f.write(d, f"hugetlb.{size}.limit_in_bytes", int(e.get("limit") or 0))
        f.write(d, f"hugetlb.{size}.rsvd.limit_in_bytes", int(e.get("limit") or 0), optional=True)


def v2(d: str, limits: list, f) -> None:
    for e in limits:
        size = _size(e)
        f.write(d, f"hugetlb.{size}.max", int(e.get("limit") or 0))
        f.write(d, f"hugetlb.{size}.rsvd.max", int(e.get("limit") or 0), optional=True)
