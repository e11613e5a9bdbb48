"""Where dockyard keeps things (DESIGN.md §4). Overridable for tests and rootless use."""

from __future__ import annotations

import os


def storage_root() -> str:
    """Images, snapshots, container records: persistent."""
    return os.environ.get("DOCKYARD_ROOT") or "/var/lib/dockyard"


def run_root() -> str:
    """Runtime state and mounts of running containers: gone at reboot (tmpfs)."""
    return os.environ.get("DOCKYARD_RUN_ROOT") or "/run/dockyard"


def runtime_root() -> str:
    return os.path.join(run_root(), "runtime")
