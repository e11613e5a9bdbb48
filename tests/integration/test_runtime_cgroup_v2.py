"""The runtime on a pure cgroup v2 host, for real: in a private mount namespace the v1
hierarchies are unmounted and cgroup2 is mounted at /sys/fs/cgroup, so `detect()` sees
exactly what a v2-only host shows (here with only the controllers this kernel left to
cgroup2: hugetlb; cgroup.freeze and cgroup.procs are core files and always work)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from runtime_fixtures import RUNTIME, cid

pytestmark = pytest.mark.root

V2_VIEW = ("set -e; for m in $(awk '$9 ~ /^cgroup2?$/ {print $5}' /proc/self/mountinfo | sort -r); do "
           "umount -l \"$m\"; done; umount -l /sys/fs/cgroup 2>/dev/null || true; "
           "mount -t cgroup2 cgroup2 /sys/fs/cgroup; exec \"$@\"")


def v2(rt, *args, check=True):
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", V2_VIEW, "sh",
                        RUNTIME, "--root", rt.root, *args], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, env=rt.env)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} -> {p.returncode}: {p.stderr}")
    return p


def test_pure_v2_lifecycle_freeze_and_warnings(rt, bundle, tmp_path):
    if not os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") and \
            not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        pytest.skip("no cgroup2 on this host")
    # a host device node the device rules (deny all + the standard nodes) do not allow; root
    # may open it on the host (no capability needed), so only the device filter can refuse it
    disk = next(d for d in ("/dev/loop-control", "/dev/loop0") if os.path.exists(d))
    os.close(os.open(disk, os.O_RDONLY))
    b = bundle("sh", "-c", "ls /sys/fs/cgroup > /tmp/cg; cat /proc/self/cgroup >> /tmp/cg;"
               " head -c1 /dev/zero | wc -c >> /tmp/cg; head -c1 /disk > /dev/null 2>> /tmp/cg; sleep 30")
    b.config["root"]["readonly"] = False
    b.config["mounts"].append({"destination": "/disk", "type": "bind", "source": disk, "options": ["bind"]})
    b.linux(resources={"memory": {"limit": 64 << 20}, "pids": {"limit": 10},
                       "devices": [{"allow": False, "access": "rwm"}]})  # deny all but the standard nodes
    c = cid(rt, "v2")
    errf = tmp_path / "err"
    with open(errf, "w") as err:
        p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", V2_VIEW, "sh",
                            RUNTIME, "--root", rt.root, "run", "-d", "--bundle", b.path, c],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=60, env=rt.env)
    assert p.returncode == 0, errf.read_text()
    try:
        state = json.loads(v2(rt, "state", c).stdout)
        assert state["status"] == "running"
        with open(f"/proc/{state['pid']}/cgroup") as f:
            assert f"0::/dockyard/{c}" in f.read()  # seen from the host: its v2 cgroup
        # controllers cgroup2 does not have here are warnings, not failures
        warnings = errf.read_text()
        controllers = open("/sys/fs/cgroup/unified/cgroup.controllers").read().split() \
            if os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") else []
        if "memory" not in controllers:
            assert "warning" in warnings and "memory" in warnings, warnings
        # freezing is core cgroup v2 (cgroup.freeze), no controller needed
        v2(rt, "pause", c)
        assert json.loads(v2(rt, "state", c).stdout)["status"] == "paused"
        v2(rt, "resume", c)
        assert json.loads(v2(rt, "state", c).stdout)["status"] == "running"
        inside = v2(rt, "exec", c, "cat", "/tmp/cg").stdout
        assert "cgroup.procs" in inside and "cgroup.freeze" in inside  # the container sees a v2 tree
        assert "0::/\n" in inside  # and is the root of its own cgroup namespace
        # device rules on v2: an eBPF program; /dev/zero allowed (1 byte read), loop-control refused
        assert "\n1\n" in inside and "Operation not permitted" in inside, inside
        assert json.loads(v2(rt, "ps", "--format", "json", c).stdout)
    finally:
        # only the v2 view finds this cgroup: the host-side teardown could not remove it
        v2(rt, "delete", "--force", c, check=False)
    assert not os.path.exists(f"/sys/fs/cgroup/unified/dockyard/{c}")
