"""Pure logic of the runtime, no root needed: path resolution in a rootfs, mount options,
capability masks, the CLI parser, spec validation, cgroup paths, update flags."""

from __future__ import annotations

import errno
import os

import pytest

from dockyard._sys import paths
from dockyard.errors import ConfigError, MountError, PathError
from dockyard.oci import runtime_spec
from dockyard.runtime import caps, mounts
from dockyard.runtime.cli import FLAGS, GLOBAL, parse
from dockyard.runtime.commands import _size, update_resources
from dockyard.runtime.cgroup_plan import cgroup_path, resources_with_default_devices
from dockyard.runtime.state import check_id


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "hosts").write_text("x")
    os.symlink("/etc", r / "abs-etc")
    os.symlink("../../../../..", r / "up")
    os.symlink("loop2", r / "loop1")
    os.symlink("loop1", r / "loop2")
    fd = os.open(r, os.O_PATH | os.O_DIRECTORY)
    yield r, fd
    os.close(fd)


def _real(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def test_open_in_root_plain_and_absolute_symlink(root):
    r, fd = root
    assert _real(paths.open_in_root(fd, "/etc/hosts")) == str(r / "etc" / "hosts")
    # an absolute link resolves against the rootfs, never the host's /etc
    assert _real(paths.open_in_root(fd, "/abs-etc/hosts")) == str(r / "etc" / "hosts")


def test_open_in_root_refuses_dotdot_escape(root):
    _, fd = root
    with pytest.raises(PathError) as e:
        paths.open_in_root(fd, "/up/etc/passwd")
    assert e.value.errno == errno.EXDEV and "escapes the rootfs" in str(e.value)
    with pytest.raises(PathError):
        paths.open_in_root(fd, "/../../etc")


def test_open_in_root_symlink_loop(root):
    _, fd = root
    with pytest.raises(PathError) as e:
        paths.open_in_root(fd, "/loop1/x")
    assert e.value.errno == errno.ELOOP


def test_open_in_root_creates_dirs_and_files_inside(root):
    r, fd = root
    assert _real(paths.open_in_root(fd, "/a/b/c", create="dir")) == str(r / "a" / "b" / "c")
    assert _real(paths.open_in_root(fd, "/abs-etc/new", create="file")) == str(r / "etc" / "new")
    assert (r / "etc" / "new").is_file()
    with pytest.raises(PathError):
        paths.open_in_root(fd, "/missing")
    with pytest.raises(PathError) as e:
        paths.open_in_root(fd, "/etc/hosts/x", create="dir")
    assert e.value.errno == errno.ENOTDIR


def test_mount_options():
    from dockyard._sys import libc

    flags, prop, data = mounts.parse_options(["nosuid", "ro", "rw", "rbind", "rslave", "mode=755", "size=1k"])
    assert flags == libc.MS_NOSUID | libc.MS_BIND | libc.MS_REC
    assert prop == libc.MS_SLAVE | libc.MS_REC
    assert data == "mode=755,size=1k"
    with pytest.raises(MountError):
        mounts.parse_options(["idmap"])


def test_capability_masks():
    unknown = []
    m = caps.masks({"bounding": ["CAP_KILL", "cap_chown", "CAP_NOPE"], "effective": ["CAP_BPF"]}, last_cap=37,
                   unknown=unknown)
    assert m["bounding"] == (1 << 5) | 1
    assert m["effective"] == 0  # CAP_BPF (39) is newer than this "kernel"
    assert unknown == ["CAP_NOPE", "CAP_BPF"]
    assert caps.names_of((1 << 21) | (1 << 0)) == ["CAP_CHOWN", "CAP_SYS_ADMIN"]


def test_cli_parse_forms():
    g, rest = parse(["--root", "/r", "--log=/l", "-debug", "create", "--bundle", "b", "x"], GLOBAL, True)
    assert g == {"root": "/r", "log": "/l", "debug": True} and rest[0] == "create"
    o, args = parse(rest[1:], FLAGS["create"], False)
    assert o == {"bundle": "b"} and args == ["x"]
    # exec: flags stop at the first positional so the command's own flags pass through
    o, args = parse(["-e", "A=1", "--tty", "cid", "ls", "-la"], FLAGS["exec"], True)
    assert o == {"env": ["A=1"], "tty": True} and args == ["cid", "ls", "-la"]
    with pytest.raises(ConfigError):
        parse(["--nope"], FLAGS["create"], False)
    with pytest.raises(ConfigError):
        parse(["--preserve-fds", "x"], FLAGS["create"], False)


@pytest.mark.parametrize("cid", ["a", "A-b_c.d+e", "x" * 64])
def test_good_ids(cid):
    check_id(cid)


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "a b", "é", "a\nb"])
def test_bad_ids(cid):
    with pytest.raises(ConfigError):
        check_id(cid)


def test_cgroup_paths():
    assert cgroup_path({}, "c1", False) == "/dockyard/c1"
    assert cgroup_path({"linux": {"cgroupsPath": "/k8s/pod/c"}}, "c1", False) == "/k8s/pod/c"
    assert cgroup_path({"linux": {"cgroupsPath": "rel/c"}}, "c1", False) == "/rel/c"
    assert cgroup_path({"linux": {"cgroupsPath": "system.slice:docker:abc"}}, "c1", True) == \
        "/system.slice/docker-abc.scope"
    with pytest.raises(ConfigError):
        cgroup_path({"linux": {"cgroupsPath": "/a/../b"}}, "c1", False)


def test_default_device_rules_added_only_with_device_rules():
    assert "devices" not in resources_with_default_devices({"linux": {"resources": {"memory": {}}}})
    res = resources_with_default_devices({"linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]}})
    rules = res["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}  # deny-all first, then the allows
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in rules
    assert {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"} in rules


def test_update_flags_to_resources():
    assert _size("512m") == 512 << 20 and _size("1g") == 1 << 30 and _size("-1") == -1 and _size("4096") == 4096
    res = update_resources({"memory": "64m", "cpu_quota": 5000, "pids_limit": 7, "cpuset_cpus": "0"})
    assert res == {"memory": {"limit": 64 << 20}, "cpu": {"quota": 5000, "cpus": "0"}, "pids": {"limit": 7}}
    with pytest.raises(ConfigError):
        _size("lots")


def _valid_cfg(tmp_path):
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    return runtime_spec.default_spec(["true"])


def test_default_spec_validates(tmp_path):
    runtime_spec.validate(_valid_cfg(tmp_path), str(tmp_path))


@pytest.mark.parametrize("mutate, msg", [
    (lambda c: c["process"].update(args=[]), "process.args"),
    (lambda c: c["process"].update(cwd="rel"), "absolute"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "listed twice"),
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]), "user namespace"),
    (lambda c: c.update(hooks={"nope": []}), "unknown hook kind"),
    (lambda c: c["linux"].update(sysctl={"../x": "1"}), "invalid sysctl"),
    (lambda c: c["process"].update(rlimits=[{"type": "NOFILE", "soft": 1, "hard": 1}]), "RLIMIT_"),
    (lambda c: c.pop("ociVersion"), "ociVersion"),
    (lambda c: c["process"].update(oomScoreAdj=5000), "oomScoreAdj"),
    (lambda c: c["linux"].update(timeOffsets={"boottime": {"secs": 1}}), "time namespace"),
])
def test_spec_validation_errors(tmp_path, mutate, msg):
    cfg = _valid_cfg(tmp_path)
    mutate(cfg)
    with pytest.raises(ConfigError) as e:
        runtime_spec.validate(cfg, str(tmp_path))
    assert msg in str(e.value)


def test_reference_schema_fixtures_that_we_can_judge():
    """The runtime-spec's own good configs (shared/reference) must pass our validation
    (the rootfs check aside: they point at bundles that do not exist here)."""
    import glob
    import json

    from support import shared_reference

    files = glob.glob(os.path.join(shared_reference("runtime-spec-schema", "test", "config", "good"), "*.json"))
    assert files
    for f in files:
        cfg = json.load(open(f))
        if not isinstance(cfg.get("process"), dict) or "root" not in cfg:
            continue
        try:
            runtime_spec.validate(cfg, "/nonexistent-bundle")
        except ConfigError as e:
            assert "rootfs" in str(e), f"{os.path.basename(f)}: {e}"


def test_cgroup_binds_per_layout(tmp_path):
    from dockyard.runtime.cgroup_plan import cgroup_binds
    from dockyard.runtime.cgroups import Layout, Manager

    for h in ("memory", "cpu,cpuacct", "unified"):
        (tmp_path / h / "dockyard" / "c1").mkdir(parents=True)
    (tmp_path / "pids").mkdir()  # a hierarchy where our cgroup was not made: not shown
    hybrid = Layout("hybrid", {"memory": str(tmp_path / "memory"), "cpu": str(tmp_path / "cpu,cpuacct"),
                               "cpuacct": str(tmp_path / "cpu,cpuacct"), "pids": str(tmp_path / "pids")},
                    str(tmp_path / "unified"), {"hugetlb"})
    assert sorted(cgroup_binds(Manager(hybrid, "/dockyard/c1"))) == [
        ("cpu,cpuacct", str(tmp_path / "cpu,cpuacct" / "dockyard" / "c1")),
        ("memory", str(tmp_path / "memory" / "dockyard" / "c1")),
        ("unified", str(tmp_path / "unified" / "dockyard" / "c1"))]
    v2 = Layout("v2", {}, str(tmp_path / "unified"), {"memory", "pids"})
    assert cgroup_binds(Manager(v2, "/dockyard/c1")) == [("", str(tmp_path / "unified" / "dockyard" / "c1"))]


def test_parse_duration():
    from dockyard.runtime.commands import parse_duration

    assert parse_duration("5s") == 5 and parse_duration("500ms") == 0.5 and parse_duration("1m") == 60
    for bad in ("5", "xs", "-1s", "0s", "1d"):
        with pytest.raises(ConfigError):
            parse_duration(bad)


def test_unexpected_exception_is_one_line(monkeypatch, capsys):
    from dockyard.runtime import cli, commands

    def boom(*a):
        raise KeyError("surprise")

    monkeypatch.setattr(commands, "cmd_list", boom)
    assert cli.main(["--root", "/nonexistent", "list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and "Traceback" not in err


def test_unsupported_fields_are_named():
    cfg = runtime_spec.default_spec(["true"])
    assert runtime_spec.not_applied(cfg) == []
    cfg["process"]["scheduler"] = {"policy": "SCHED_BATCH"}
    cfg["linux"]["personality"] = {"domain": "LINUX32"}
    assert runtime_spec.not_applied(cfg) == ["process.scheduler", "linux.personality"]
