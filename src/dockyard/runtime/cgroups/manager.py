"""Manager: one container's cgroup, the same path in every hierarchy of a Layout.

Each controller is looked up where this host has it (layout.py): its v1 hierarchy, else the
unified one, else nowhere. Nowhere is not an error: set() applies what it can and returns
one human-readable warning per thing it could not apply. Refused values are errors.

Lifecycle, in the order the runtime calls it:

    create()      mkdir in every hierarchy; v1 cpuset gets cpus/mems from its parent,
                  v2 parents get our controllers enabled in cgroup.subtree_control
    set(res)      before the workload runs (and again on `update`)
    add(pid)      the container's init, before it execs the workload
    freeze/thaw   pause/resume;  pids/oom_kills/stats: read-only
    destroy()     after every process is gone (the caller kills them; we only rmdir)

A Manager is rebuilt from state.json (to_dict/from_dict) by later commands without reading
mountinfo again, so `kill` and `delete` act on the cgroups `create` made even if the
mounts have changed since.
"""

from __future__ import annotations

import errno
import os
import time

from ...errors import CgroupError
from .files import Files, error, read
from .layout import V2_CONTROLLERS, Layout

RMDIR_TIMEOUT = 1.0  # seconds of EBUSY retries: an exiting task leaves its cgroup shortly after


# (module, the linux.resources key it reads) in the order set() applies them. Why this
# order: cpuset and cpu first, as runc; devices late, so a bad device rule is not the reason
# the cheap limits are missing; unified last, so explicit v2 values win over converted ones.
# The key is repeated here (each module's KEY says the same; a unit test checks) so that
# set() imports only the controllers a config uses: ~0.2 ms each on every container start.
ORDER = (("cpuset", "cpu"), ("cpu", "cpu"), ("memory", "memory"), ("pids", "pids"), ("blkio", "blockIO"),
         ("hugetlb", "hugepageLimits"), ("rdma", "rdma"), ("net_cls", "network"), ("net_prio", "network"),
         ("devices", "devices"), ("unified", "unified"))


def _controllers(resources: dict | None = None) -> tuple:
    """The controller modules set() needs for ``resources`` (all of them when None)."""
    import importlib

    return tuple(importlib.import_module(f"{__package__}.{name}") for name, key in ORDER
                 if resources is None or resources.get(key))


def normalize(path: str) -> str:
    """"/a/b" from "/a/b", "a//b/" ...; ".." and "." are refused (a way out of our subtree),
    and so is the root (destroy would try to remove the hierarchy itself)."""
    if not isinstance(path, str) or "\0" in path:
        raise CgroupError(f"invalid cgroup path {path!r}")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise CgroupError(f"invalid cgroup path {path!r}: '.' and '..' are not allowed")
    if not parts:
        raise CgroupError(f"invalid cgroup path {path!r}: it must name a cgroup below the root")
    return "/" + "/".join(parts)


class Manager:
    __slots__ = ("layout", "path")

    def __init__(self, layout: Layout, path: str) -> None:
        self.layout = layout
        self.path = normalize(path)

    # -- where things are -------------------------------------------------------------

    def _dir(self, mount: str) -> str:
        return os.path.join(mount, self.path[1:])

    def _name(self, mount: str) -> str:
        """The controllers of a hierarchy, for messages ("cpu,cpuacct", "unified")."""
        names = sorted(c for c, mp in self.layout.v1.items() if mp == mount)
        return ",".join(names) or "unified"

    def _where(self, v1: str | None, v2: str | None) -> tuple[str, str] | None:
        """("v1", dir) or ("v2", dir) for a controller; None when this host has it nowhere.
        v2 == "" means the unified hierarchy itself (core files, the `unified` resource)."""
        if v1 and v1 in self.layout.v1:
            return "v1", self._dir(self.layout.v1[v1])
        if v2 is not None and self.layout.unified and (v2 == "" or v2 in self.layout.unified_controllers):
            return "v2", self._dir(self.layout.unified)
        return None

    def _missing(self, mod) -> str:
        if mod.V2 is None and self.layout.unified:
            return mod.WHY_NOT_V2
        if mod.V1 is None and not self.layout.unified:
            return mod.WHY_NOT_V1
        v1 = f"no {mod.V1} hierarchy mounted" if mod.V1 and self.layout.mode != "v2" else ""
        v2 = f"{mod.V2} not in cgroup v2's cgroup.controllers" if mod.V2 and self.layout.unified else ""
        return f"not applied ({' and '.join(x for x in (v1, v2) if x)})"

    # -- lifecycle --------------------------------------------------------------------

    def create(self) -> None:
        for mount in self.layout.hierarchies():
            d = self._dir(mount)
            try:
                os.makedirs(d, 0o755, exist_ok=True)
            except OSError as e:
                raise error(self._name(mount), d, None, e.errno or errno.EIO, "mkdir") from None
        if "cpuset" in self.layout.v1:
            from . import cpuset
            cpuset.inherit_v1(self.layout.v1["cpuset"], self.path, Files("cpuset"))
        if self.layout.unified:
            self._enable_v2()

    def _enable_v2(self) -> None:
        """Enable our controllers in cgroup.subtree_control of every ancestor, root first,
        one at a time so one refusal does not cost the others. Refusals are not fatal:
        the parent may hold processes ("no internal processes" rule, EBUSY) or not offer
        the controller; set() then reports the files it could not find."""
        wanted = self.layout.unified_controllers & V2_CONTROLLERS
        if not wanted:
            return
        f = Files("unified")
        d = self.layout.unified
        for part in self.path[1:].split("/"):
            available = set((read(d, "cgroup.controllers") or "").split())
            enabled = set((read(d, "cgroup.subtree_control") or "").split())
            for c in sorted(wanted & available - enabled):
                f.attempt(d, "cgroup.subtree_control", "+" + c)
            d = os.path.join(d, part)

    def add(self, pid: int) -> None:
        f = Files("cgroup")
        for mount in self.layout.hierarchies():
            d = self._dir(mount)
            err = f.attempt(d, "cgroup.procs", int(pid))
            if err and err != errno.ENOENT:  # ENOENT: not created in this hierarchy
                raise error(self._name(mount), os.path.join(d, "cgroup.procs"), pid, err)

    def set(self, resources: dict) -> list[str]:
        """Apply an OCI ``linux.resources`` object; returns what could not be applied.
        Everything is validated before the first write, so a malformed entry cannot leave
        half of the limits in place."""
        resources = resources or {}
        warnings: list[str] = []
        plan = []
        for mod in _controllers(resources):
            part = mod.pick(resources)
            if not part:
                continue
            check = getattr(mod, "check", None)
            if check:
                check(part)
            where = self._where(mod.V1, mod.V2)
            if where is None:
                warnings.append(f"{mod.NAME}: {self._missing(mod)}")
            else:
                plan.append((mod, part, where))
        for mod, part, (version, d) in plan:
            if not os.path.isdir(d):
                raise CgroupError(f"cgroup {mod.NAME}: {d} does not exist (was create() called?)")
            f = Files(mod.NAME)
            (mod.v1 if version == "v1" else mod.v2)(d, part, f)
            warnings += f.warnings
        return warnings

    def freeze(self) -> None:
        from . import freezer
        version, d = self._freezer()
        (freezer.freeze_v1 if version == "v1" else freezer.freeze_v2)(d)

    def thaw(self) -> None:
        from . import freezer
        version, d = self._freezer()
        (freezer.thaw_v1 if version == "v1" else freezer.thaw_v2)(d)

    def frozen(self) -> bool:
        from . import freezer
        where = self._where("freezer", "")
        if where is None:
            return False
        version, d = where
        return freezer.frozen_v1(d) if version == "v1" else freezer.frozen_v2(d)

    def _freezer(self) -> tuple[str, str]:
        # v2's freezer is core (cgroup.freeze), so any unified hierarchy has one.
        where = self._where("freezer", "")
        if where is None:
            raise CgroupError("cgroup freezer: no freezer hierarchy and no cgroup v2 on this host")
        return where

    def destroy(self) -> None:
        """rmdir our cgroup and anything below it (deepest first) in every hierarchy.
        Already gone is fine. EBUSY (a task still exiting) is retried briefly; other
        errors are raised after every hierarchy has been tried."""
        pending: list[str] = []
        for mount in self.layout.hierarchies():
            pending += _bottom_up(self._dir(mount))
        delay, deadline = 0.001, time.monotonic() + RMDIR_TIMEOUT
        failure: CgroupError | None = None
        while pending:
            busy = []
            for d in pending:
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    if e.errno == errno.EBUSY:
                        busy.append(d)
                    elif failure is None:
                        failure = error("cgroup", d, None, e.errno or errno.EIO, "rmdir")
            if busy and time.monotonic() > deadline:
                failure = failure or error("cgroup", busy[0], None, errno.EBUSY, "rmdir")
                break
            if busy:
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
            pending = busy
        if failure:
            raise failure

    # -- reading ----------------------------------------------------------------------

    def pids(self) -> list[int]:
        """Every pid in the cgroup and its descendants, from the first hierarchy that
        has our cgroup (pids, memory and freezer are where runtimes usually look)."""
        candidates = [self.layout.v1[c] for c in ("pids", "memory", "freezer") if c in self.layout.v1]
        if self.layout.unified:
            candidates.append(self.layout.unified)
        candidates += self.layout.hierarchies()
        for mount in candidates:
            d = self._dir(mount)
            if os.path.isdir(d):
                found: set[int] = set()
                for sub in _bottom_up(d):
                    found.update(int(x) for x in (read(sub, "cgroup.procs") or "").split())
                return sorted(found)
        return []

    def oom_kills(self) -> int:
        from . import stats
        where = self._where("memory", "memory")
        if where is None:
            return 0
        version, d = where
        return stats.oom_kills_v1(d) if version == "v1" else stats.oom_kills_v2(d)

    def stats(self) -> dict:
        from . import stats
        out: dict = {}
        if "cpu" in self.layout.v1 or "cpuacct" in self.layout.v1:
            cpu = stats.cpu_v1(*(self._dir(self.layout.v1[c]) if c in self.layout.v1 else None
                                 for c in ("cpuacct", "cpu")))
        elif self.layout.unified:
            cpu = stats.cpu_v2(self._dir(self.layout.unified))
        else:
            cpu = {}
        sections = {"cpu": cpu}
        for key, v1, v2, r1, r2 in (("memory", "memory", "memory", stats.memory_v1, stats.memory_v2),
                                    ("pids", "pids", "pids", stats.pids, stats.pids),
                                    ("blkio", "blkio", "io", stats.blkio_v1, stats.blkio_v2),
                                    ("hugetlb", "hugetlb", "hugetlb", stats.hugetlb_v1, stats.hugetlb_v2)):
            where = self._where(v1, v2)
            if where:
                sections[key] = (r1 if where[0] == "v1" else r2)(where[1])
        if not sections.get("pids"):
            # No pids controller (or not enabled): count the processes, as runc does on v2.
            procs = self.pids()
            if procs:
                sections["pids"] = {"current": len(procs), "limit": 0}
        for key, value in sections.items():
            if value:
                out[key] = value
        return out

    # -- persistence ------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"path": self.path, "layout": self.layout.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> Manager:
        return cls(Layout.from_dict(d["layout"]), d["path"])

    def __repr__(self) -> str:
        return f"Manager({self.path!r}, mode={self.layout.mode!r})"


def _bottom_up(d: str) -> list[str]:
    """d and every cgroup below it, children before parents; [] if d does not exist."""
    out: list[str] = []
    try:
        entries = list(os.scandir(d))
    except (FileNotFoundError, NotADirectoryError):
        return out
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            out += _bottom_up(e.path)
    out.append(d)
    return out
