"""The cgroup layer on this machine's real cgroup filesystem (needs root).

Each test works in its own cgroup, /dockyard-test-<random>, in every hierarchy the host has,
and the fixture removes it: it thaws (a frozen task cannot die), kills and reaps what the
test started, destroys the cgroup and then checks that no directory with that name is left
anywhere under /sys/fs/cgroup. Other dockyard cgroups (other tests, other people) are not
touched and not looked at.

Read-backs go to wherever the layout says a controller lives (v1 file or v2 file), so the
tests hold on v1, hybrid (this machine) and v2 hosts alike.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import pytest

from dockyard.runtime.cgroups import Manager, detect

pytestmark = pytest.mark.root

CGROUP_ROOT = "/sys/fs/cgroup"


def leftovers(name: str) -> list[str]:
    found = []
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        found += [os.path.join(dirpath, d) for d in dirnames if d == name.strip("/")]
    return found


def knob(m: Manager, v1: tuple[str, str], v2: str) -> str:
    """The content of a controller's file: v1 = (hierarchy, file), else the unified file."""
    controller, name = v1
    if controller in m.layout.v1:
        path = os.path.join(m.layout.v1[controller], m.path[1:], name)
    else:
        path = os.path.join(m.layout.unified, m.path[1:], v2)
    with open(path) as f:
        return f.read().strip()


def stat_of(pid: int) -> tuple[str, int]:
    """(state letter, utime+stime ticks) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return fields[0], int(fields[11]) + int(fields[12])


def started_in(m: Manager, procs: list, argv: list[str]) -> subprocess.Popen:
    """Start argv so that it runs only once it is in the cgroup: a shell waits for a line
    on stdin, which we send after add(); then it execs argv."""
    p = subprocess.Popen(["sh", "-c", 'read _ && exec "$@"', "sh", *argv], stdin=subprocess.PIPE)
    procs.append(p)
    m.add(p.pid)
    p.stdin.write(b"go\n")
    p.stdin.close()
    return p


@pytest.fixture
def cgroup(need_root):  # need_root (tests/conftest.py): skip locally, fail in CI
    name = f"/dockyard-test-{secrets.token_hex(4)}"
    m = Manager(detect(), name)
    procs: list[subprocess.Popen] = []
    try:
        yield m, procs
    finally:
        try:
            if m.frozen():
                m.thaw()
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait(10)
            try:
                m.destroy()
            finally:
                left = leftovers(name)
                details = {d: open(os.path.join(d, "cgroup.procs")).read().split() for d in left}
                assert not left, f"cgroup directories left behind: {details}"


def test_limits_processes_freeze_and_destroy(cgroup):
    m, procs = cgroup
    m.create()
    for mount in m.layout.hierarchies():
        assert os.path.isdir(os.path.join(mount, m.path[1:]))

    warnings = m.set({"memory": {"limit": 32 << 20}, "pids": {"limit": 10},
                      "cpu": {"quota": 50000, "period": 100000}})
    assert warnings == []
    assert knob(m, ("memory", "memory.limit_in_bytes"), "memory.max") == str(32 << 20)
    assert knob(m, ("pids", "pids.max"), "pids.max") == "10"
    if "cpu" in m.layout.v1:
        assert knob(m, ("cpu", "cpu.cfs_quota_us"), "") == "50000"
        assert knob(m, ("cpu", "cpu.cfs_period_us"), "") == "100000"
    else:
        assert knob(m, ("cpu", ""), "cpu.max") == "50000 100000"

    sleeper = subprocess.Popen(["sleep", "30"])
    procs.append(sleeper)
    m.add(sleeper.pid)
    spinner = started_in(m, procs, ["sh", "-c", "while :; do :; done"])
    assert sleeper.pid in m.pids() and spinner.pid in m.pids()
    with open(f"/proc/{sleeper.pid}/cgroup") as f:
        lines = f.read().splitlines()
    joined = [ln for ln in lines if ln.endswith(m.path)]
    assert len(joined) == len(m.layout.hierarchies()), lines  # in every hierarchy we manage

    stats = m.stats()
    assert stats["pids"] == {"current": 2, "limit": 10}
    assert stats["memory"]["usage"]["limit"] == 32 << 20
    assert stats["cpu"]["usage"]["total"] >= 0

    time.sleep(0.1)  # let the spinner spin
    m.freeze()
    assert m.frozen()
    state, ticks = stat_of(spinner.pid)
    assert state != "R"
    assert stat_of(sleeper.pid)[0] != "R"
    if "freezer" in m.layout.v1:
        assert state == "D" and stat_of(sleeper.pid)[0] == "D"  # how v1 shows frozen tasks
    time.sleep(0.3)
    assert stat_of(spinner.pid)[1] == ticks, "a frozen task used CPU"

    m.thaw()
    assert not m.frozen()
    time.sleep(0.3)
    assert stat_of(spinner.pid)[1] > ticks, "the thawed spinner did not run again"

    for p in procs:
        p.kill()
        p.wait(10)
    deadline = time.monotonic() + 2
    while m.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert m.pids() == []
    m.destroy()
    for mount in m.layout.hierarchies():
        assert not os.path.exists(os.path.join(mount, m.path[1:]))


def test_live_memory_update_in_both_directions(cgroup):
    m, procs = cgroup
    m.create()
    started_in(m, procs, ["sleep", "30"])
    # Raise then lower memory+swap while a task is inside: on v1 the write order must follow
    # the direction or the kernel says EINVAL (memory.limit must stay <= memsw.limit).
    for limit, swap in ((32 << 20, 64 << 20), (128 << 20, 256 << 20), (16 << 20, 16 << 20)):
        m.set({"memory": {"limit": limit, "swap": swap}})
        assert knob(m, ("memory", "memory.limit_in_bytes"), "memory.max") == str(limit)


def test_oom_kill_is_counted(cgroup):
    m, procs = cgroup
    m.create()
    # swap == limit: no swap at all, so the hog is killed instead of swapped out.
    m.set({"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    hog = started_in(m, procs, [sys.executable, "-c", "b = b'x' * (256 << 20)"])
    assert hog.wait(30) == -9
    assert m.oom_kills() >= 1
    assert m.stats()["memory"]["oom_kill"] >= 1


def test_device_rules_are_enforced_or_reported(cgroup):
    m, procs = cgroup
    m.create()
    warnings = m.set({"devices": [{"allow": False, "access": "rwm"},
                                  {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
    assert warnings == []  # v1 devices files, or a v2 BPF program
    probe = ("import sys\nopen('/dev/null', 'w').close()\n"
             "try:\n    open('/dev/zero', 'rb')\nexcept PermissionError:\n    sys.exit(3)\n")
    assert started_in(m, procs, [sys.executable, "-c", probe]).wait(30) == 3  # /dev/null yes, /dev/zero no


def test_hugetlb_goes_where_the_host_has_it(cgroup):
    m, procs = cgroup
    m.create()
    warnings = m.set({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]})
    if "hugetlb" in m.layout.v1 or "hugetlb" in m.layout.unified_controllers:
        # On this machine hugetlb has no v1 mount and lives in cgroup2.
        assert warnings == []
        assert knob(m, ("hugetlb", "hugetlb.2MB.limit_in_bytes"), "hugetlb.2MB.max") == str(4 << 20)
    else:
        assert warnings and warnings[0].startswith("hugetlb: not applied")


def test_v2_device_rules_are_a_bpf_program_the_kernel_enforces():
    """The cgroup2 path for devices, for real: a v2-only view of this host's cgroup2 mount.
    The program is attached to the cgroup; a process in it may open /dev/null, not /dev/zero,
    and an update replaces the program (then /dev/zero is allowed)."""
    import subprocess
    import sys

    from dockyard.runtime.cgroups import Layout

    real = detect()
    if not real.unified:
        pytest.skip("no cgroup2 mount on this host")
    m = Manager(Layout("v2", {}, real.unified, real.unified_controllers), f"/dockyard-test-{secrets.token_hex(4)}")
    probe = ("import sys\nopen('/dev/null', 'w').close()\n"
             "try:\n    open('/dev/zero', 'rb')\nexcept PermissionError:\n    sys.exit(3)\n")
    procs = []
    try:
        m.create()
        rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
        assert m.set({"devices": rules}) == []
        p = subprocess.Popen(["sh", "-c", 'read _ && exec "$@"', "sh", sys.executable, "-c", probe], stdin=subprocess.PIPE)
        procs.append(p)
        m.add(p.pid)
        p.communicate(b"go\n", timeout=30)
        assert p.returncode == 3  # /dev/null yes, /dev/zero no
        assert m.set({"devices": rules + [{"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"}]}) == []
        from dockyard._sys import bpf

        fd = os.open(os.path.join(real.unified, m.path[1:]), os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert len(bpf.attached_programs(fd)) == 1  # replaced, not stacked
        finally:
            os.close(fd)
        p = subprocess.Popen(["sh", "-c", 'read _ && exec "$@"', "sh", sys.executable, "-c", probe], stdin=subprocess.PIPE)
        procs.append(p)
        m.add(p.pid)
        p.communicate(b"go\n", timeout=30)
        assert p.returncode == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        m.destroy()
    assert leftovers(m.path) == []
