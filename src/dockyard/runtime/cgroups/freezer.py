"""Freezing: pause every task of a cgroup (``pause``/``resume``, and a quiet moment for
``kill`` and ``checkpoint``).

v1: write FROZEN to freezer.state and read it back until the kernel says FROZEN (it says
FREEZING while tasks are still on their way). A task stuck in an uninterruptible sleep can
keep a group FREEZING for a long time; like runc, we thaw now and then and try again,
which lets such a task move on, and give up (thawed, with an error) after a deadline.

v2: write 1 to cgroup.freeze and wait for "frozen 1" in cgroup.events.
"""

from __future__ import annotations

import time

from ...errors import CgroupError
from .files import Files

TIMEOUT = 5.0  # seconds; a healthy group freezes in well under a millisecond


def _backoff(i: int) -> None:
    time.sleep(min(0.0001 * (2 ** min(i, 7)), 0.01))


def freeze_v1(d: str, timeout: float = TIMEOUT) -> None:
    f = Files("freezer")
    deadline = time.monotonic() + timeout
    i = 0
    while True:
        if i % 50 == 49:
            f.write(d, "freezer.state", "THAWED")
            time.sleep(0.01)
        if not f.write(d, "freezer.state", "FROZEN", optional=True):
            raise CgroupError(f"cgroup freezer: {d} has no freezer.state")
        state = f.read(d, "freezer.state")
        if state == "FROZEN":
            return
        if state != "FREEZING":
            raise CgroupError(f"cgroup freezer: {d}/freezer.state is {state!r} after writing FROZEN")
        if time.monotonic() > deadline:
            f.write(d, "freezer.state", "THAWED")
            raise CgroupError(f"cgroup freezer: {d} still FREEZING after {timeout:g}s "
                              "(a task in uninterruptible sleep?)")
        _backoff(i)
        i += 1


def thaw_v1(d: str) -> None:
    Files("freezer").write(d, "freezer.state", "THAWED")


def frozen_v1(d: str) -> bool:
    return Files("freezer").read(d, "freezer.state") == "FROZEN"


def frozen_v2(d: str) -> bool:
    events = Files("freezer").read(d, "cgroup.events") or ""
    return "frozen 1" in events.splitlines()


def freeze_v2(d: str, timeout: float = TIMEOUT) -> None:
    f = Files("freezer")
    if not f.write(d, "cgroup.freeze", 1, optional=True):
        raise CgroupError(f"cgroup freezer: {d} has no cgroup.freeze (kernel older than 5.2?)")
    deadline = time.monotonic() + timeout
    i = 0
    while not frozen_v2(d):
        if time.monotonic() > deadline:
            f.write(d, "cgroup.freeze", 0)
            raise CgroupError(f"cgroup freezer: {d} not frozen after {timeout:g}s")
        _backoff(i)
        i += 1


def thaw_v2(d: str) -> None:
    Files("freezer").write(d, "cgroup.freeze", 0)
