"""What every e2e module's `env` fixture does: a private storage and run root, busybox made
there, and afterwards whatever a failed test left removed — then checked, so a leak fails
the module even when every test passed."""

from __future__ import annotations

import os
import subprocess
import sys

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")


def private_env(root) -> dict:
    """The environment of a dockyard with its own roots under ``root``."""
    return {**os.environ, "DOCKYARD_ROOT": str(root / "lib"), "DOCKYARD_RUN_ROOT": str(root / "run"),
            "DOCKYARD_SECCOMP_CACHE": str(root / "seccomp-cache")}


def bootstrap_busybox(env: dict) -> None:
    p = subprocess.run([DOCKYARD, "bootstrap", "busybox"], env=env, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr


def remove_leftovers(env: dict, volumes: bool = False) -> list[str]:
    """`rm -f` every container (and with ``volumes`` every volume) of this root; returns the
    containers that were left, which the caller reports as a leak."""
    def ids(*args):
        return subprocess.run([DOCKYARD, *args], env=env, capture_output=True, text=True,
                              check=False).stdout.split()

    left = ids("ps", "-a", "-q")
    for cid in left:
        subprocess.run([DOCKYARD, "rm", "-f", cid], env=env, capture_output=True, check=False)
    for vol in ids("volume", "ls", "-q") if volumes else ():
        subprocess.run([DOCKYARD, "volume", "rm", "-f", vol], env=env, capture_output=True, check=False)
    return left


def mounted_under(root) -> bool:
    with open("/proc/self/mountinfo") as f:
        return str(root) in f.read()
