"""unified: raw cgroup v2 files (OCI ``unified``), written verbatim, after every converted
value so an explicit v2 setting wins over a translated v1 one.

Keys become file names in the container's cgroup, so a key with "/" or ".." (a path out of
the cgroup) is an error. On a pure v1 host there is nowhere to write them: a warning.
"""

from __future__ import annotations

from ...errors import CgroupError

NAME, KEY, V1, V2 = "unified", "unified", None, ""  # "" = the unified hierarchy itself
WHY_NOT_V1 = "not applied (no cgroup v2 hierarchy on this host)"


def pick(resources: dict) -> dict:
    return dict(resources.get(KEY) or {})


def check(values: dict) -> None:
    for key in values:
        if not key or "/" in key or ".." in key or "\0" in key:
            raise CgroupError(f"cgroup unified: invalid key {key!r} (a file name in the cgroup, no '/' or '..')")


def v2(d: str, values: dict, f) -> None:
    check(values)
    for key, value in values.items():
        f.write(d, key, value)
