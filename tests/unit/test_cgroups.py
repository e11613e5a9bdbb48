"""The cgroup layer against a temp tree that imitates the cgroupfs (no root needed).

The fake tree only has the files a test creates: a knob that is not there is a knob "the
kernel" does not have. Writes truncate, so a file holds the last value written; tests that
care about order or about several writes to one file record them (see ``writes``).
"""

from __future__ import annotations

import errno
import json
import os

import pytest

from dockyard.errors import CgroupError, DockyardError
from dockyard.runtime.cgroups import Layout, Manager, detect
from dockyard.runtime.cgroups import convert, devices, files, freezer, layout as layoutmod, manager as managermod

# -- sample mountinfo texts ---------------------------------------------------------------

# Ubuntu 18.04-like pure v1: cpu and cpuacct co-mounted, net_cls,net_prio too.
MOUNTINFO_V1 = """\
22 27 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 22 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset,clone_children
33 25 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
34 25 0:32 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,devices
35 25 0:33 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,freezer
36 25 0:34 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,blkio
37 25 0:35 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,hugetlb
38 25 0:36 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:22 - cgroup cgroup rw,perf_event
39 25 0:37 / /sys/fs/cgroup/rdma rw,nosuid,nodev,noexec,relatime shared:23 - cgroup cgroup rw,rdma
"""

# This machine: separate cpu and cpuacct hierarchies, cgroup2 at .../unified. {root} is
# replaced by a temp dir so detect() can read cgroup.controllers from it.
MOUNTINFO_HYBRID = """\
31 23 0:28 / {root} rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / {root}/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / {root}/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / {root}/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / {root}/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / {root}/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / {root}/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / {root}/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / {root}/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / {root}/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / {root}/unified rw,relatime - cgroup2 cgroup2 rw
"""

MOUNTINFO_V2 = """\
24 30 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
26 23 0:24 / {root} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
27 23 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw
"""


def write_tree(base, spec: dict) -> None:
    """spec: {"rel/dir": {"file": "content", ...}}; creates dirs and files."""
    for rel, entries in spec.items():
        d = os.path.join(base, rel)
        os.makedirs(d, exist_ok=True)
        for name, content in (entries or {}).items():
            with open(os.path.join(d, name), "w") as f:
                f.write(content)


def cat(*parts) -> str:
    with open(os.path.join(*map(str, parts))) as f:
        return f.read()


@pytest.fixture
def writes(monkeypatch):
    """Record every (directory-relative path, value) written through Files.attempt."""
    log: list[tuple[str, str]] = []
    real = files.Files.attempt

    def attempt(self, d, name, value):
        err = real(self, d, name, value)
        log.append((os.path.join(d, name), str(value), err))
        return err

    monkeypatch.setattr(files.Files, "attempt", attempt)
    return log


def names(log, base) -> list[tuple[str, str]]:
    return [(os.path.relpath(p, base), v) for p, v, err in log if err == 0]


# -- detect ------------------------------------------------------------------------------


def test_parse_v1_comounted():
    v1, unified = layoutmod.parse(MOUNTINFO_V1)
    assert unified is None
    assert v1["cpu"] == v1["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert v1["net_cls"] == v1["net_prio"] == "/sys/fs/cgroup/net_cls,net_prio"
    assert v1["name=systemd"] == "/sys/fs/cgroup/systemd"
    assert v1["cpuset"] == "/sys/fs/cgroup/cpuset"  # "clone_children" is an option, not a controller
    assert "clone_children" not in v1 and "xattr" not in v1 and "rw" not in v1
    assert layoutmod.mode_of(v1, unified) == "v1"


def test_detect_v1(tmp_path):
    p = tmp_path / "mountinfo"
    p.write_text(MOUNTINFO_V1)
    lay = detect(str(p))
    assert lay.mode == "v1" and lay.unified is None and lay.unified_controllers == set()
    # One directory per hierarchy, not per controller.
    assert lay.hierarchies().count("/sys/fs/cgroup/cpu,cpuacct") == 1


def test_detect_hybrid_this_machine(tmp_path):
    root = tmp_path / "cg"
    write_tree(root, {"unified": {"cgroup.controllers": "hugetlb\n"}})
    p = tmp_path / "mountinfo"
    p.write_text(MOUNTINFO_HYBRID.format(root=root))
    lay = detect(str(p))
    assert lay.mode == "hybrid"
    assert lay.v1["cpu"] == f"{root}/cpu" and lay.v1["cpuacct"] == f"{root}/cpuacct"
    assert lay.v1["name=systemd"] == f"{root}/systemd"
    assert "hugetlb" not in lay.v1
    assert lay.unified == f"{root}/unified"
    assert lay.unified_controllers == {"hugetlb"}


def test_detect_v2(tmp_path):
    root = tmp_path / "cg"
    write_tree(root, {"": {"cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n"}})
    p = tmp_path / "mountinfo"
    p.write_text(MOUNTINFO_V2.format(root=root))
    lay = detect(str(p))
    assert lay.mode == "v2" and lay.v1 == {} and lay.unified == str(root)
    assert lay.unified_controllers == {"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"}


def test_v2_with_legacy_systemd_mount_is_v2():
    text = MOUNTINFO_V2.format(root="/sys/fs/cgroup") + (
        "40 26 0:40 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n")
    v1, unified = layoutmod.parse(text)
    assert v1 == {"name=systemd": "/sys/fs/cgroup/systemd"}
    assert layoutmod.mode_of(v1, unified) == "v2"


def test_parse_escapes_and_prefers_hierarchy_root():
    text = (
        "50 1 0:40 /docker/abc /mnt/bind rw - cgroup cgroup rw,memory\n"
        "51 1 0:40 / /mnt/my\\040cgroups rw - cgroup cgroup rw,memory\n"
        "52 1 0:41 / /other rw shared:3 master:1 - cgroup2 cgroup2 rw\n"
    )
    v1, unified = layoutmod.parse(text)
    assert v1 == {"memory": "/mnt/my cgroups"}
    assert unified == "/other"


def test_detect_without_cgroups_never_fails(tmp_path):
    lay = detect(str(tmp_path / "missing"))
    assert lay.mode == "v1" and lay.v1 == {} and lay.unified is None
    m = Manager(lay, "/c")
    m.create()
    warnings = m.set({"memory": {"limit": 1 << 20}, "pids": {"limit": 5}})
    assert warnings == ["memory: not applied (no memory hierarchy mounted)",
                        "pids: not applied (no pids hierarchy mounted)"]
    assert m.pids() == [] and m.oom_kills() == 0 and m.stats() == {} and not m.frozen()
    m.destroy()


def test_detect_real_host_is_cheap_and_sane():
    lay = detect()  # whatever this machine has; must not raise
    assert lay.mode in ("v1", "hybrid", "v2")


# -- layout / manager persistence ---------------------------------------------------------


def test_roundtrip_json():
    lay = Layout("hybrid", {"cpu": "/c/cpu", "cpuacct": "/c/cpu"}, "/c/unified", {"hugetlb"})
    m = Manager(lay, "dockyard//c1/")
    d = json.loads(json.dumps(m.to_dict()))
    m2 = Manager.from_dict(d)
    assert m2.path == "/dockyard/c1" and m2.layout == lay
    assert m2.layout.unified_controllers == {"hugetlb"}


@pytest.mark.parametrize("bad", ["/a/../b", "..", "/a/./b", "/", "", "a\0b"])
def test_manager_rejects_bad_paths(bad):
    with pytest.raises(CgroupError):
        Manager(Layout("v2", {}, "/x", set()), bad)


def test_cgroup_error_is_a_dockyard_error():
    assert issubclass(CgroupError, DockyardError)


# -- conversions -----------------------------------------------------------------------------


def test_cpu_weight():
    assert convert.cpu_weight(0) == 0
    assert convert.cpu_weight(2) == 1
    assert convert.cpu_weight(1024) == 39  # docker's default shares -> runc's weight
    assert convert.cpu_weight(262144) == 10000
    assert convert.cpu_weight(1) == 1 and convert.cpu_weight(10**9) == 10000  # clamped


def test_cpu_max():
    assert convert.cpu_max(50000, 100000) == "50000 100000"
    assert convert.cpu_max(50000, None) == "50000 100000"
    assert convert.cpu_max(-1, 200000) == "max 200000"
    assert convert.cpu_max(None, 0) is None


def test_swap_max():
    assert convert.swap_max(0, -1) == "max"  # unlimited memory: unlimited swap
    assert convert.swap_max(-1, 100) == "max"
    assert convert.swap_max(300, 100) == "200"
    assert convert.swap_max(100, 100) == "0"
    assert convert.swap_max(0, 100) is None
    with pytest.raises(CgroupError):
        convert.swap_max(300, 0)
    with pytest.raises(CgroupError):
        convert.swap_max(50, 100)


def test_other_conversions():
    assert convert.limit(0) is None and convert.limit(-1) == "max" and convert.limit(5) == "5"
    assert convert.pids_max(0) == "max" and convert.pids_max(-1) == "max" and convert.pids_max(10) == "10"
    assert convert.io_weight(10) == 1 and convert.io_weight(1000) == 10000 and convert.io_weight(500) == 4950
    assert convert.io_weight(0) == 0
    assert convert.device_number(-1) == "*" and convert.device_number(None) == "*" and convert.device_number(7) == "7"


def test_device_rules():
    assert devices.lines({"allow": False}) == ["a *:* rwm"]
    assert devices.lines({"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}) == ["c 1:3 rwm"]
    assert devices.lines({"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rw"}) == ["c 136:* rw"]
    assert devices.lines({"allow": True, "type": "a", "access": "m"}) == ["c *:* m", "b *:* m"]
    for bad in ({"type": "p"}, {"type": "c", "access": "rwx"}, {"type": "c", "access": "rr"}):
        with pytest.raises(CgroupError):
            devices.lines(bad)


# -- fake hosts --------------------------------------------------------------------------------

V1_KNOBS = {
    "cpu,cpuacct": {"cpu.shares": "1024", "cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000",
                    "cpu.cfs_burst_us": "0", "cpu.rt_runtime_us": "0", "cpu.rt_period_us": "1000000",
                    "cpu.idle": "0", "cpuacct.usage": "123456789", "cpuacct.usage_percpu": "100 200",
                    "cpuacct.usage_user": "1000", "cpuacct.usage_sys": "2000",
                    "cpu.stat": "nr_periods 5\nnr_throttled 1\nthrottled_time 77\n", "cgroup.procs": ""},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": "", "cgroup.procs": ""},
    "memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.memsw.limit_in_bytes": "9223372036854771712",
               "memory.soft_limit_in_bytes": "9223372036854771712", "memory.swappiness": "60",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
               "memory.kmem.tcp.limit_in_bytes": "9223372036854771712", "memory.use_hierarchy": "1",
               "memory.usage_in_bytes": "4096", "memory.max_usage_in_bytes": "8192", "memory.failcnt": "0",
               "memory.stat": "cache 10\nrss 20\ntotal_cache 30\n", "cgroup.procs": ""},
    "pids": {"pids.max": "max", "pids.current": "2", "cgroup.procs": ""},
    "blkio": {"blkio.bfq.weight": "100", "blkio.bfq.weight_device": "", "blkio.throttle.read_bps_device": "",
              "blkio.throttle.write_bps_device": "", "blkio.throttle.read_iops_device": "",
              "blkio.throttle.write_iops_device": "", "cgroup.procs": ""},
    "devices": {"devices.allow": "", "devices.deny": "", "cgroup.procs": ""},
    "freezer": {"freezer.state": "THAWED", "cgroup.procs": ""},
    "net_cls,net_prio": {"net_cls.classid": "0", "net_prio.ifpriomap": "", "cgroup.procs": ""},
    "systemd": {"cgroup.procs": ""},
}
V1_MOUNTS = {"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "cpuset": "cpuset", "memory": "memory",
             "pids": "pids", "blkio": "blkio", "devices": "devices", "freezer": "freezer",
             "net_cls": "net_cls,net_prio", "net_prio": "net_cls,net_prio", "name=systemd": "systemd"}

V2_KNOBS = {"cpu.weight": "100", "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0",
            "cpu.stat": "usage_usec 5\nuser_usec 2\nsystem_usec 3\nnr_periods 4\nnr_throttled 1\nthrottled_usec 9\n",
            "cpuset.cpus": "", "cpuset.mems": "", "memory.max": "max", "memory.swap.max": "max",
            "memory.low": "0", "memory.current": "4096", "memory.peak": "8192", "memory.swap.current": "0",
            "memory.events": "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n", "memory.stat": "anon 1\nfile 7\n",
            "memory.high": "max", "pids.max": "max", "pids.current": "1", "io.weight": "default 100",
            "io.max": "", "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
            "hugetlb.2MB.max": "max", "hugetlb.2MB.current": "0", "hugetlb.2MB.events": "max 0\n",
            "cgroup.procs": "", "cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0\n"}
V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma misc"

CG = "dockyard/c1"


def v1_host(base, knobs=V1_KNOBS, mounts=V1_MOUNTS, unified=None) -> Manager:
    write_tree(base, {f"{h}/{CG}": k for h, k in knobs.items()})
    for h in set(mounts.values()):
        os.makedirs(os.path.join(base, h), exist_ok=True)
    lay = Layout("hybrid" if unified else "v1", {c: os.path.join(base, h) for c, h in mounts.items()},
                 os.path.join(base, "unified") if unified else None, set(unified or ()))
    return Manager(lay, "/" + CG)


def v2_host(base, controllers=V2_CONTROLLERS, knobs=V2_KNOBS) -> Manager:
    write_tree(base, {"": {"cgroup.controllers": controllers, "cgroup.subtree_control": ""}, CG: knobs})
    return Manager(Layout("v2", {}, str(base), set(controllers.split())), "/" + CG)


# -- set() on v1 -------------------------------------------------------------------------------


def test_set_v1_writes_expected_files(tmp_path):
    m = v1_host(tmp_path)
    warnings = m.set({
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0", "burst": 1000},
        "memory": {"limit": 32 << 20, "reservation": 16 << 20, "swappiness": 10, "disableOOMKiller": True},
        "pids": {"limit": 10},
        "blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
    })
    assert warnings == []
    cpu = tmp_path / "cpu,cpuacct" / CG
    assert cat(cpu, "cpu.shares") == "512"
    assert cat(cpu, "cpu.cfs_quota_us") == "50000" and cat(cpu, "cpu.cfs_period_us") == "100000"
    assert cat(cpu, "cpu.cfs_burst_us") == "1000"
    assert cat(tmp_path / "cpuset" / CG, "cpuset.cpus") == "0-1"
    assert cat(tmp_path / "cpuset" / CG, "cpuset.mems") == "0"
    mem = tmp_path / "memory" / CG
    assert cat(mem, "memory.limit_in_bytes") == str(32 << 20)
    assert cat(mem, "memory.soft_limit_in_bytes") == str(16 << 20)
    assert cat(mem, "memory.swappiness") == "10" and cat(mem, "memory.oom_control") == "1"
    assert cat(tmp_path / "pids" / CG, "pids.max") == "10"
    blk = tmp_path / "blkio" / CG
    assert cat(blk, "blkio.bfq.weight") == "300"  # no CFQ blkio.weight: BFQ's file
    assert cat(blk, "blkio.bfq.weight_device") == "8:0 200"
    assert cat(blk, "blkio.throttle.read_bps_device") == "8:0 1048576"
    assert cat(tmp_path / "net_cls,net_prio" / CG, "net_cls.classid") == "1048577"
    assert cat(tmp_path / "net_cls,net_prio" / CG, "net_prio.ifpriomap") == "eth0 5"


def test_set_v1_pids_unlimited(tmp_path):
    m = v1_host(tmp_path)
    assert m.set({"pids": {"limit": 0}}) == []
    assert cat(tmp_path / "pids" / CG, "pids.max") == "max"
    assert m.set({"pids": {"limit": -1}}) == []
    assert cat(tmp_path / "pids" / CG, "pids.max") == "max"


def test_v1_memory_raise_writes_memsw_first(tmp_path, writes):
    m = v1_host(tmp_path)
    mem = tmp_path / "memory" / CG
    (mem / "memory.limit_in_bytes").write_text(str(64 << 20))
    m.set({"memory": {"limit": 128 << 20, "swap": 256 << 20}})
    order = [n for n, _ in names(writes, mem)]
    assert order == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_v1_memory_lower_writes_memory_first(tmp_path, writes):
    m = v1_host(tmp_path)
    mem = tmp_path / "memory" / CG
    (mem / "memory.limit_in_bytes").write_text(str(512 << 20))
    m.set({"memory": {"limit": 128 << 20, "swap": 256 << 20}})
    assert [n for n, _ in names(writes, mem)] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    assert cat(mem, "memory.memsw.limit_in_bytes") == str(256 << 20)


def test_v1_memory_unlimited_sets_memsw_unlimited_first(tmp_path, writes):
    m = v1_host(tmp_path)
    mem = tmp_path / "memory" / CG
    m.set({"memory": {"limit": -1}})
    assert names(writes, mem) == [("memory.memsw.limit_in_bytes", "-1"), ("memory.limit_in_bytes", "-1")]


def test_v1_memory_without_swap_accounting_warns(tmp_path):
    m = v1_host(tmp_path)
    mem = tmp_path / "memory" / CG
    os.remove(mem / "memory.memsw.limit_in_bytes")
    warnings = m.set({"memory": {"limit": 100 << 20, "swap": 200 << 20, "kernel": 1 << 20}})
    assert cat(mem, "memory.limit_in_bytes") == str(100 << 20)
    assert any(w.startswith("memory: swap=") and "swap accounting is off" in w for w in warnings)
    assert any("kernel=" in w and "ignored" in w for w in warnings)


def test_v1_memory_swap_below_limit_is_refused_before_writing(tmp_path, writes):
    m = v1_host(tmp_path)
    with pytest.raises(CgroupError):
        m.set({"pids": {"limit": 3}, "memory": {"limit": 200, "swap": 100}})
    assert writes == []  # validated before the first write


def test_v1_memory_check_before_update(tmp_path):
    m = v1_host(tmp_path)  # usage is 4096
    with pytest.raises(CgroupError, match="below current usage"):
        m.set({"memory": {"limit": 1024, "checkBeforeUpdate": True}})
    assert m.set({"memory": {"limit": 8192, "checkBeforeUpdate": True}}) == []


def test_v1_cpu_period_retried_after_quota_on_einval(tmp_path, monkeypatch, writes):
    m = v1_host(tmp_path)
    cpu = tmp_path / "cpu,cpuacct" / CG
    real = files.Files.attempt
    refused = []

    def attempt(self, d, name, value):
        if name == "cpu.cfs_period_us" and not refused:
            refused.append(value)
            return errno.EINVAL
        return real(self, d, name, value)

    monkeypatch.setattr(files.Files, "attempt", attempt)
    m.set({"cpu": {"quota": 20000, "period": 50000}})
    assert refused == [50000]
    assert names(writes, cpu) == [("cpu.cfs_quota_us", "20000"), ("cpu.cfs_period_us", "50000")]


def test_v1_cpu_realtime_before_quota(tmp_path, writes):
    m = v1_host(tmp_path)
    cpu = tmp_path / "cpu,cpuacct" / CG
    m.set({"cpu": {"realtimeRuntime": 950000, "realtimePeriod": 1000000, "quota": 1000}})
    assert [n for n, _ in names(writes, cpu)] == ["cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.cfs_quota_us"]


def test_v1_devices_in_order(tmp_path, writes):
    m = v1_host(tmp_path)
    dev = tmp_path / "devices" / CG
    m.set({"devices": [{"allow": False, "access": "rwm"},
                       {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                       {"allow": True, "type": "c", "major": 136, "access": "rwm"}]})
    assert names(writes, dev) == [("devices.deny", "a *:* rwm"), ("devices.allow", "c 1:3 rwm"),
                                  ("devices.allow", "c 136:* rwm")]


def test_bad_device_rule_writes_nothing(tmp_path, writes):
    m = v1_host(tmp_path)
    with pytest.raises(CgroupError, match="devices"):
        m.set({"memory": {"limit": 1 << 20}, "devices": [{"allow": True, "type": "z"}]})
    assert writes == []


def test_missing_controllers_and_files_are_warnings(tmp_path):
    knobs = {h: k for h, k in V1_KNOBS.items() if h not in ("pids", "blkio")}
    mounts = {c: h for c, h in V1_MOUNTS.items() if h not in ("pids", "blkio")}
    m = v1_host(tmp_path, knobs, mounts)
    os.remove(tmp_path / "cpu,cpuacct" / CG / "cpu.cfs_burst_us")  # older kernel: no CFS burst
    warnings = m.set({"pids": {"limit": 5}, "blockIO": {"weight": 500},
                      "cpu": {"quota": 1000, "burst": 10},
                      "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
                      "unified": {"memory.high": "1G"}})
    assert cat(tmp_path / "cpu,cpuacct" / CG, "cpu.cfs_quota_us") == "1000"
    assert "pids: not applied (no pids hierarchy mounted)" in warnings
    assert "blkio: not applied (no blkio hierarchy mounted)" in warnings
    assert "hugetlb: not applied (no hugetlb hierarchy mounted)" in warnings
    assert "unified: not applied (no cgroup v2 hierarchy on this host)" in warnings
    assert any(w.startswith("cpu: cpu.cfs_burst_us=10 not applied") for w in warnings)
    assert len(warnings) == 5


def test_real_write_error_is_one_line_cgroup_error(tmp_path):
    m = v1_host(tmp_path)
    mem = tmp_path / "memory" / CG
    os.remove(mem / "memory.limit_in_bytes")
    os.mkdir(mem / "memory.limit_in_bytes")  # open(O_WRONLY) -> EISDIR, a "real" error
    with pytest.raises(CgroupError) as e:
        m.set({"memory": {"limit": 1234}})
    msg = str(e.value)
    assert "\n" not in msg
    assert "memory" in msg and "memory.limit_in_bytes" in msg and "1234" in msg and os.strerror(errno.EISDIR) in msg
    assert e.value.errno == errno.EISDIR and e.value.controller == "memory" and e.value.code == "cgroup"


def test_set_before_create_is_an_error(tmp_path):
    m = Manager(Layout("v1", {"pids": str(tmp_path)}, None, set()), "/nope")
    with pytest.raises(CgroupError, match="does not exist"):
        m.set({"pids": {"limit": 1}})


# -- set() on v2 and hybrid ---------------------------------------------------------------------


def test_set_v2_converts_like_runc(tmp_path):
    m = v2_host(tmp_path)
    warnings = m.set({
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "1", "realtimeRuntime": 5},
        "memory": {"limit": 100 << 20, "swap": 300 << 20, "reservation": 50 << 20, "swappiness": 0,
                   "disableOOMKiller": True},
        "pids": {"limit": 10},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 100}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
        "unified": {"memory.high": "90000000"},
    })
    d = tmp_path / CG
    assert cat(d, "cpu.weight") == "39" and cat(d, "cpu.max") == "50000 100000" and cat(d, "cpuset.cpus") == "1"
    assert cat(d, "memory.max") == str(100 << 20)
    assert cat(d, "memory.swap.max") == str(200 << 20)  # OCI swap is memory+swap
    assert cat(d, "memory.low") == str(50 << 20)
    assert cat(d, "pids.max") == "10"
    assert cat(d, "io.weight") == "4950"  # no io.bfq.weight: converted to io.weight
    assert cat(d, "io.max") == "8:0 rbps=100"
    assert cat(d, "hugetlb.2MB.max") == str(4 << 20)
    assert cat(d, "memory.high") == "90000000"
    assert any(w.startswith("memory: swappiness=0 not applied") for w in warnings)
    assert any(w.startswith("memory: disableOOMKiller not applied") for w in warnings)
    assert any(w.startswith("cpu: realtimeRuntime") for w in warnings)
    assert len(warnings) == 3  # (devices on v2: a BPF program, tested for real in integration)


def test_v2_unlimited_values(tmp_path):
    m = v2_host(tmp_path)
    (tmp_path / CG / "memory.max").write_text("1000")
    assert m.set({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1, "period": 100000}}) == []
    d = tmp_path / CG
    assert cat(d, "memory.max") == "max" and cat(d, "memory.swap.max") == "max"
    assert cat(d, "pids.max") == "max" and cat(d, "cpu.max") == "max 100000"


def test_v2_prefers_bfq_weight(tmp_path):
    m = v2_host(tmp_path)
    (tmp_path / CG / "io.bfq.weight").write_text("default 100")
    m.set({"blockIO": {"weight": 500}})
    assert cat(tmp_path / CG, "io.bfq.weight") == "500"
    assert cat(tmp_path / CG, "io.weight") == "default 100"


def test_v2_missing_controller_warns(tmp_path):
    m = v2_host(tmp_path, controllers="cpu memory pids")
    warnings = m.set({"blockIO": {"weight": 500}, "cpu": {"cpus": "0"}, "pids": {"limit": 3}})
    assert warnings == ["cpuset: not applied (cpuset not in cgroup v2's cgroup.controllers)",
                        "blkio: not applied (io not in cgroup v2's cgroup.controllers)"]
    assert cat(tmp_path / CG, "pids.max") == "3"


def test_v2_swap_without_accounting(tmp_path):
    m = v2_host(tmp_path)
    os.remove(tmp_path / CG / "memory.swap.max")
    assert m.set({"memory": {"limit": 100, "swap": 100}}) == []  # "no swap" needs no swap knob
    warnings = m.set({"memory": {"limit": 100, "swap": 300}})
    assert warnings == ["memory: swap=300 not applied (swap accounting is off: no memory.swap.max)"]


@pytest.mark.parametrize("key", ["../memory.max", "a/b", "..", ""])
def test_unified_rejects_path_keys(tmp_path, key):
    m = v2_host(tmp_path)
    with pytest.raises(CgroupError, match="unified"):
        m.set({"unified": {key: "1"}})


def test_unified_missing_file_warns(tmp_path):
    m = v2_host(tmp_path)
    assert m.set({"unified": {"memory.oom.group": "1"}}) == [
        "unified: memory.oom.group=1 not applied (this kernel or cgroup has no memory.oom.group)"]


def test_hybrid_routes_controllers_where_they_are(tmp_path):
    # This machine: everything on v1 except hugetlb, which only cgroup2 offers.
    m = v1_host(tmp_path, unified={"hugetlb"})
    write_tree(tmp_path, {f"unified/{CG}": {"hugetlb.2MB.max": "max", "hugetlb.2MB.rsvd.max": "max",
                                            "cgroup.procs": ""}})
    warnings = m.set({"hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 20}],
                      "memory": {"limit": 1 << 30}, "devices": [{"allow": False}],
                      "unified": {"memory.high": "1G"}})
    u = tmp_path / "unified" / CG
    assert cat(u, "hugetlb.2MB.max") == str(2 << 20) and cat(u, "hugetlb.2MB.rsvd.max") == str(2 << 20)
    assert cat(tmp_path / "memory" / CG, "memory.limit_in_bytes") == str(1 << 30)
    assert cat(tmp_path / "devices" / CG, "devices.deny") == "a *:* rwm"  # v1 devices, no eBPF needed
    # memory lives on v1 here, so cgroup2 has no memory.high: a warning, not a crash.
    assert warnings == ["unified: memory.high=1G not applied (this kernel or cgroup has no memory.high)"]


def test_hugetlb_bad_page_size(tmp_path):
    m = v2_host(tmp_path)
    for size in ("2mb", "../x", "0MB", "MB"):
        with pytest.raises(CgroupError, match="pageSize"):
            m.set({"hugepageLimits": [{"pageSize": size, "limit": 1}]})


# -- create / add / destroy ----------------------------------------------------------------------


def test_create_v1_makes_every_hierarchy_and_fills_cpuset(tmp_path):
    mounts = {"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "cpuset": "cpuset", "name=systemd": "systemd"}
    write_tree(tmp_path, {"cpuset": {"cpuset.cpus": "0-3", "cpuset.mems": "0"},
                          # what the kernel would put in the new directories: empty cpusets
                          "cpuset/dockyard": {"cpuset.cpus": "", "cpuset.mems": ""},
                          f"cpuset/{CG}": {"cpuset.cpus": "", "cpuset.mems": ""}})
    lay = Layout("v1", {c: str(tmp_path / h) for c, h in mounts.items()}, None, set())
    m = Manager(lay, "/" + CG)
    m.create()
    for h in ("cpu,cpuacct", "cpuset", "systemd"):
        assert (tmp_path / h / CG).is_dir()
    for d in ("cpuset/dockyard", f"cpuset/{CG}"):
        assert cat(tmp_path / d, "cpuset.cpus") == "0-3" and cat(tmp_path / d, "cpuset.mems") == "0"
    m.create()  # idempotent


def test_create_v1_keeps_a_set_cpuset(tmp_path):
    write_tree(tmp_path, {"cpuset": {"cpuset.cpus": "0-3", "cpuset.mems": "0"},
                          "cpuset/c": {"cpuset.cpus": "2", "cpuset.mems": "0"}})
    Manager(Layout("v1", {"cpuset": str(tmp_path / "cpuset")}, None, set()), "/c").create()
    assert cat(tmp_path / "cpuset/c", "cpuset.cpus") == "2"


def test_create_v2_enables_controllers_in_parents(tmp_path, writes):
    write_tree(tmp_path, {"": {"cgroup.controllers": "cpu io memory pids", "cgroup.subtree_control": "memory"},
                          "dockyard": {"cgroup.controllers": "cpu io memory pids", "cgroup.subtree_control": ""}})
    m = Manager(Layout("v2", {}, str(tmp_path), {"cpu", "io", "memory", "pids", "misc"}), "/" + CG)
    m.create()
    assert (tmp_path / CG).is_dir()
    assert names(writes, tmp_path) == [
        ("cgroup.subtree_control", "+cpu"), ("cgroup.subtree_control", "+io"), ("cgroup.subtree_control", "+pids"),
        ("dockyard/cgroup.subtree_control", "+cpu"), ("dockyard/cgroup.subtree_control", "+io"),
        ("dockyard/cgroup.subtree_control", "+memory"), ("dockyard/cgroup.subtree_control", "+pids")]


def test_create_v2_tolerates_refused_subtree_control(tmp_path, monkeypatch):
    write_tree(tmp_path, {"": {"cgroup.controllers": "cpu memory", "cgroup.subtree_control": ""}})
    monkeypatch.setattr(files.Files, "attempt", lambda self, d, name, value: errno.EBUSY)
    Manager(Layout("v2", {}, str(tmp_path), {"cpu", "memory"}), "/c").create()
    assert (tmp_path / "c").is_dir()


def test_add_writes_pid_everywhere_the_cgroup_exists(tmp_path):
    m = v1_host(tmp_path, unified={"hugetlb"})  # unified/dockyard/c1 not created: skipped
    m.add(4242)
    for h in ("cpu,cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer", "systemd"):
        assert cat(tmp_path / h / CG, "cgroup.procs") == "4242"


def test_destroy_removes_deepest_first_and_tolerates_gone(tmp_path):
    lay = Layout("hybrid", {"memory": str(tmp_path / "memory"), "pids": str(tmp_path / "pids")},
                 str(tmp_path / "unified"), set())
    m = Manager(lay, "/" + CG)
    m.create()
    os.makedirs(tmp_path / "memory" / CG / "sub" / "subsub")  # the container made its own cgroups
    os.rmdir(tmp_path / "pids" / CG)  # already gone in one hierarchy
    m.destroy()
    for h in ("memory", "pids", "unified"):
        assert not (tmp_path / h / CG).exists()
        assert (tmp_path / h / "dockyard").is_dir()  # parents are shared, left alone
    m.destroy()  # twice is fine


def test_destroy_retries_ebusy(tmp_path, monkeypatch):
    m = Manager(Layout("v1", {"pids": str(tmp_path)}, None, set()), "/c")
    m.create()
    real, calls = os.rmdir, []

    def rmdir(path):
        calls.append(path)
        if len(calls) < 3:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        real(path)

    monkeypatch.setattr(managermod.os, "rmdir", rmdir)
    m.destroy()
    assert len(calls) == 3 and not (tmp_path / "c").exists()


def test_destroy_gives_up_on_lasting_ebusy(tmp_path, monkeypatch):
    m = Manager(Layout("v1", {"pids": str(tmp_path)}, None, set()), "/c")
    m.create()

    def rmdir(path):
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)

    monkeypatch.setattr(managermod.os, "rmdir", rmdir)
    monkeypatch.setattr(managermod, "RMDIR_TIMEOUT", 0.02)
    with pytest.raises(CgroupError, match="rmdir"):
        m.destroy()


# -- freezer ----------------------------------------------------------------------------------------


def test_freeze_v1(tmp_path):
    m = v1_host(tmp_path)
    assert not m.frozen()
    m.freeze()  # a regular file reads back FROZEN at once
    assert m.frozen() and cat(tmp_path / "freezer" / CG, "freezer.state") == "FROZEN"
    m.thaw()
    assert not m.frozen()


def test_freeze_v1_stuck_freezing_times_out_thawed(tmp_path, monkeypatch):
    d = tmp_path / "f"
    write_tree(tmp_path, {"f": {"freezer.state": "THAWED"}})
    real = files.Files.read
    def read(self, dd, name):
        return "FREEZING" if name == "freezer.state" else real(self, dd, name)

    monkeypatch.setattr(files.Files, "read", read)
    with pytest.raises(CgroupError, match="FREEZING"):
        freezer.freeze_v1(str(d), timeout=0.05)
    assert cat(d, "freezer.state") == "THAWED"


def test_freeze_v2(tmp_path):
    m = v2_host(tmp_path)
    (tmp_path / CG / "cgroup.events").write_text("populated 1\nfrozen 1\n")  # what the kernel would report
    m.freeze()
    assert cat(tmp_path / CG, "cgroup.freeze") == "1" and m.frozen()
    m.thaw()
    assert cat(tmp_path / CG, "cgroup.freeze") == "0"


def test_freeze_v2_timeout_thaws(tmp_path):
    d = tmp_path / "c"
    write_tree(tmp_path, {"c": {"cgroup.freeze": "0", "cgroup.events": "populated 1\nfrozen 0\n"}})
    with pytest.raises(CgroupError, match="not frozen"):
        freezer.freeze_v2(str(d), timeout=0.02)
    assert cat(d, "cgroup.freeze") == "0"


def test_freeze_without_any_freezer(tmp_path):
    m = Manager(Layout("v1", {"pids": str(tmp_path)}, None, set()), "/c")
    m.create()
    with pytest.raises(CgroupError, match="freezer"):
        m.freeze()
    assert m.frozen() is False


# -- reading -------------------------------------------------------------------------------------------


def test_pids_walks_descendants(tmp_path):
    m = v1_host(tmp_path)
    write_tree(tmp_path, {f"pids/{CG}": {"cgroup.procs": "10\n12\n"}, f"pids/{CG}/sub": {"cgroup.procs": "11\n"}})
    assert m.pids() == [10, 11, 12]


def test_oom_kills(tmp_path):
    assert v1_host(tmp_path / "a").oom_kills() == 3
    m = v1_host(tmp_path / "b")
    (tmp_path / "b" / "memory" / CG / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")
    assert m.oom_kills() == 0  # kernel < 4.13: unknown, not guessed
    assert v2_host(tmp_path / "c").oom_kills() == 1


def test_stats_v1(tmp_path):
    s = v1_host(tmp_path).stats()
    assert s["cpu"]["usage"] == {"total": 123456789, "percpu": [100, 200], "user": 1000, "kernel": 2000}
    assert s["cpu"]["throttling"] == {"periods": 5, "throttledPeriods": 1, "throttledTime": 77}
    assert s["memory"]["usage"] == {"usage": 4096, "max": 8192, "limit": 9223372036854771712, "failcnt": 0}
    assert s["memory"]["oom_kill"] == 3 and s["memory"]["cache"] == 30
    assert s["pids"] == {"current": 2, "limit": 0}
    json.dumps(s)


def test_stats_v2(tmp_path):
    s = v2_host(tmp_path).stats()
    assert s["cpu"]["usage"] == {"total": 5000, "user": 2000, "kernel": 3000}
    assert s["cpu"]["throttling"] == {"periods": 4, "throttledPeriods": 1, "throttledTime": 9000}
    assert s["memory"]["usage"] == {"usage": 4096, "limit": 2**64 - 1, "max": 8192, "failcnt": 2}
    assert s["memory"]["oom_kill"] == 1 and s["memory"]["cache"] == 7
    assert s["pids"] == {"current": 1, "limit": 0}
    assert s["blkio"]["ioServiceBytesRecursive"] == [{"major": 8, "minor": 0, "op": "Read", "value": 10},
                                                     {"major": 8, "minor": 0, "op": "Write", "value": 20}]
    assert s["hugetlb"] == {"2MB": {"usage": 0, "limit": 2**64 - 1, "failcnt": 0}}
    json.dumps(s)


def test_stats_v2_without_pids_controller_counts_procs(tmp_path):
    knobs = dict(V2_KNOBS, **{"cgroup.procs": "7\n8\n"})
    del knobs["pids.current"], knobs["pids.max"]
    s = v2_host(tmp_path, controllers="cpu memory", knobs=knobs).stats()
    assert s["pids"] == {"current": 2, "limit": 0}


def test_manager_order_table_matches_each_controllers_key():
    import importlib

    from dockyard.runtime.cgroups.manager import ORDER

    for name, key in ORDER:
        mod = importlib.import_module(f"dockyard.runtime.cgroups.{name}")
        assert mod.KEY == key, name


def test_device_bpf_program_shape_and_decisions():
    from dockyard.runtime.cgroups import devices_bpf as d

    rules = [{"allow": False, "access": "rwm"},
             {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
             {"allow": True, "type": "c", "major": 136, "access": "rw"},
             {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]
    prog = d.program(rules)
    assert len(prog) % 8 == 0 and prog[-8] == 0x95  # whole instructions, ends in exit
    ev = d.evaluate
    assert ev(rules, "c", 1, 3, "r") and not ev(rules, "c", 1, 3, "w") and not ev(rules, "c", 1, 3, "rw")
    assert ev(rules, "c", 136, 7, "rw") and not ev(rules, "c", 136, 7, "m")
    assert not ev(rules, "b", 8, 0, "r") and not ev(rules, "c", 1, 5, "r")
    assert ev([], "b", 8, 0, "rwm")  # no rules: the kernel's default, allow
    with pytest.raises(CgroupError):
        d.program([{"allow": True, "type": "x"}])
