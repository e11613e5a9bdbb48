"""Which cgroup a container gets, and what goes into it beyond the spec's own resources.

Pure decisions (paths, device rules, which host directories the container sees under
/sys/fs/cgroup) plus creating the Manager; the cgroup writes themselves live in cgroups/.
"""

from __future__ import annotations

import os

from ..errors import ConfigError


def cgroup_path(cfg: dict, cid: str, systemd: bool) -> str:
    """The container's cgroup, the same path in every hierarchy.

    Absolute ``cgroupsPath`` is used as given, a relative one is placed under the root,
    none means ``/dockyard/<id>``. With ``--systemd-cgroup`` a "slice:prefix:name" path is
    mapped to the cgroupfs path systemd would use (/slice/prefix-name.scope), because this
    runtime drives cgroupfs itself (no systemd D-Bus API here)."""
    p = (cfg.get("linux") or {}).get("cgroupsPath") or ""
    if systemd and p.count(":") == 2:
        slice_, prefix, name = p.split(":")
        p = f"/{slice_ or 'system.slice'}/{prefix + '-' if prefix else ''}{name}.scope"
    if not p:
        p = f"/dockyard/{cid}"
    if not p.startswith("/"):
        p = "/" + p
    if ".." in p.split("/"):
        raise ConfigError(f"linux.cgroupsPath {p!r} must not contain '..'")
    return os.path.normpath(p)


def cgroup_binds(mgr) -> list[tuple[str, str]]:
    """What the container's /sys/fs/cgroup shows: (name under it, host directory of the
    container's own cgroup) per hierarchy; one entry named "" on pure cgroup v2."""
    layout = mgr.layout
    if layout.mode == "v2":
        return [("", layout.unified + mgr.path)]
    return [(os.path.basename(mp), mp + mgr.path) for mp in layout.hierarchies()
            if os.path.isdir(mp + mgr.path)]


# Devices every container may use whatever the spec's device rules say: the default nodes,
# /dev/console, /dev/ptmx and the container's own ptys (runc's AllowedDevices).
DEFAULT_DEVICE_RULES = [
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # null
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # zero
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},  # full
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},  # random
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},  # urandom
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},  # tty
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},  # console
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},  # ptmx
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},            # pts/*
]


def resources_with_default_devices(cfg: dict) -> dict:
    linux = cfg.get("linux") or {}
    res = dict(linux.get("resources") or {})
    rules = list(res.get("devices") or [])
    if rules:
        rules += DEFAULT_DEVICE_RULES
        # Nodes the spec asks us to create must also be usable.
        rules += [{"allow": True, "type": "c" if d["type"] == "u" else d["type"], "major": d.get("major"),
                   "minor": d.get("minor"), "access": "rwm"} for d in linux.get("devices") or []
                  if d["type"] in ("c", "b", "u")]
        res["devices"] = rules
    return res


def manager_for(cid: str, cfg: dict, systemd: bool):
    """The container's cgroup Manager (nothing created yet: the caller records it first, so
    a crash between mkdir and the record cannot leak a cgroup nobody knows about)."""
    from . import cgroups

    return cgroups.Manager(cgroups.detect(), cgroup_path(cfg, cid, systemd))
