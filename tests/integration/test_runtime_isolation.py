"""What a process sees from inside a dockyard-runtime container (busybox rootfs)."""

from __future__ import annotations

import pytest

from runtime_fixtures import cid

pytestmark = pytest.mark.root


def run(rt, b, name="") -> tuple[int, str, str]:
    p = rt("run", "--bundle", b.path, cid(rt, name), timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_pid1_hostname_and_exit_code(rt, bundle):
    b = bundle("sh", "-c", "echo pid=$$; hostname; ls -d /proc/[0-9]* | wc -l; exit 42")
    b.set(hostname="inside-box")
    code, out, err = run(rt, b)
    assert code == 42, err
    lines = out.split()
    assert lines[0] == "pid=1"
    assert lines[1] == "inside-box"
    assert int(lines[2]) <= 3  # sh, ls and wc: nothing of the host's


def test_no_host_mounts_and_masked_paths(rt, bundle, tmp_path):
    b = bundle("sh", "-c", "cat /proc/self/mountinfo; echo ---; cat /proc/timer_list | wc -c; ls -A /sys/firmware | wc -l;"
               " echo x > /proc/sysrq-trigger && echo sysrq-writable || echo sysrq-ro;"
               " touch /rootfile && echo root-rw || echo root-ro")
    code, out, err = run(rt, b)
    assert code == 0, err
    mounts, _, rest = out.partition("---\n")
    assert "/work" not in mounts and "/home" not in mounts
    # the only trace of the host path is the root mount's source, never a mount point
    for line in mounts.splitlines():
        assert str(tmp_path) not in line.split()[4]
    timer_list, firmware, sysrq, root = rest.split()
    with open("/proc/timer_list") as f:
        assert f.read(10)  # not empty on the host...
    assert timer_list == "0"  # ...masked (/dev/null) in the container
    assert firmware == "0"
    assert sysrq == "sysrq-ro"
    assert root == "root-ro"  # root.readonly in the default spec


def test_capabilities_nnp_and_bounding_set(rt, bundle):
    b = bundle("sh", "-c", "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status")
    b.process(capabilities={"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"],
                            "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]})
    code, out, err = run(rt, b)
    assert code == 0, err
    st = dict(line.split(":\t") for line in out.strip().splitlines())
    kill = 1 << 5
    assert int(st["CapEff"], 16) == kill
    assert int(st["CapPrm"], 16) == kill
    assert int(st["CapBnd"], 16) == kill | 1  # CAP_CHOWN is bit 0
    assert int(st["CapAmb"], 16) == kill
    assert st["NoNewPrivs"] == "1"


def test_default_spec_capabilities(rt, bundle):
    b = bundle("sh", "-c", "grep CapEff /proc/self/status")
    code, out, err = run(rt, b)
    assert code == 0, err
    # CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10)
    assert int(out.split()[1], 16) == (1 << 29) | (1 << 5) | (1 << 10)


def test_seccomp_denies_with_the_specs_errno(rt, bundle):
    b = bundle("sh", "-c", "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x; echo mkdir=$?; ls /tmp")
    b.linux(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                     "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]})
    b.config["root"]["readonly"] = False
    b.write()
    code, out, err = run(rt, b)
    assert code == 0, err
    assert "Seccomp:\t2" in out
    assert "mkdir=1" in out
    assert "not supported" in err  # strerror(95) printed by busybox mkdir


def test_seccomp_without_nnp_is_loaded_before_caps_drop(rt, bundle):
    b = bundle("sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mkdir /tmp/d 2>/dev/null; echo mkdir=$?")
    b.process(noNewPrivileges=False)
    b.config["root"]["readonly"] = False
    b.linux(seccomp={"defaultAction": "SCMP_ACT_ALLOW",
                     "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})
    code, out, err = run(rt, b)
    assert code == 0, err
    assert "Seccomp:\t2" in out and "NoNewPrivs:\t0" in out
    assert "mkdir=1" in out


def test_rlimits(rt, bundle):
    b = bundle("sh", "-c", "ulimit -n; ulimit -Hn; ulimit -s")
    b.process(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768},
                       {"type": "RLIMIT_STACK", "soft": 4 << 20, "hard": 8 << 20}])
    code, out, err = run(rt, b)
    assert code == 0, err
    assert out.split() == ["512", "768", "4096"]


def test_rlimit_above_host_hard_limit_is_a_clear_error(rt, bundle):
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    b = bundle("true")
    b.process(rlimits=[{"type": "RLIMIT_NOFILE", "soft": hard * 4, "hard": hard * 4}])
    code, out, err = run(rt, b)
    if code == 0:
        pytest.skip("this host lets root raise RLIMIT_NOFILE (CAP_SYS_RESOURCE)")
    assert "RLIMIT_NOFILE" in err and len(err.strip().splitlines()) == 1


def test_user_groups_umask(rt, bundle):
    b = bundle("sh", "-c", "id -u; id -g; id -G; umask; grep CapEff /proc/self/status")
    b.process(user={"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 0o027})
    code, out, err = run(rt, b)
    assert code == 0, err
    uid, gid, *rest = out.split()
    assert (uid, gid) == ("1000", "1001")
    groups = rest[: rest.index("0027")]
    assert set(groups) == {"1001", "10", "20"}
    # execve as a non-root user clears the effective set (no ambient caps asked): as Docker
    assert int(out.split()[-1], 16) == 0


def test_memory_limit_oom_kills_and_is_reported(rt, bundle):
    b = bundle("sh", "-c", "echo start; dd if=/dev/zero of=/dev/null bs=64M count=1; echo survived")
    b.linux(resources={"memory": {"limit": 16 << 20, "swap": 16 << 20}})
    c = cid(rt, "oom")
    p = rt("run", "--keep", "--bundle", b.path, c)
    assert "start" in p.stdout and "survived" in p.stdout  # dd itself was killed, sh went on
    assert "Killed" in p.stderr or p.returncode == 0
    import json

    stats = json.loads(rt("events", "--stats", c, check=True).stdout)
    assert stats["data"]["memory"]["oom_kill"] >= 1
    rt("delete", c, check=True)


def test_pids_limit(rt, bundle):
    b = bundle("sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max;"
               " for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & echo $i; done")
    b.linux(resources={"pids": {"limit": 5}})
    code, out, err = run(rt, b)
    lines = out.split()
    assert lines[0] == "5"  # the container sees its own cgroup's limit
    # sh holds one pid: at most 4 of the 10 sleeps start, then fork fails
    assert len(lines) - 1 <= 4, out
    assert "can't fork" in err, err


def test_sysctl_and_domainname(rt, bundle):
    b = bundle("sh", "-c", "cat /proc/sys/kernel/domainname; cat /proc/sys/net/ipv4/ip_forward")
    b.set(domainname="example.test")
    b.linux(sysctl={"net.ipv4.ip_forward": "1"})
    # /proc/sys is read-only in the default spec: sysctls are applied before that
    code, out, err = run(rt, b)
    assert code == 0, err
    assert out.split() == ["example.test", "1"]


def test_devices_from_spec(rt, bundle):
    b = bundle("sh", "-c", "ls -l /dev/null /dev/zero /dev/fuse | cut -c1; echo data > /dev/null && echo null-ok;"
               " ls -l /dev/ptmx")
    b.linux(devices=[{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}])
    code, out, err = run(rt, b)
    assert code == 0, err
    assert out.split()[:3] == ["c", "c", "c"]
    assert "null-ok" in out
    assert "pts/ptmx" in out


def test_user_namespace_with_mappings(rt, bundle):
    b = bundle("sh", "-c", "id -u; cat /proc/self/uid_map; echo ok > /tmp/f && cat /tmp/f")
    b.config["root"]["readonly"] = False
    b.config["linux"]["namespaces"].append({"type": "user"})
    b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1},
                                        {"containerID": 1, "hostID": 100000, "size": 65535}]
    b.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1},
                                        {"containerID": 1, "hostID": 100000, "size": 65535}]
    b.write()
    code, out, err = run(rt, b)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "0"
    assert lines[1].split() == ["0", "0", "1"] and lines[2].split() == ["1", "100000", "65535"]
    assert lines[-1] == "ok"


def test_join_network_namespace_by_path(rt, bundle):
    a = bundle("sleep", "30")
    ca = cid(rt, "a")
    rt.detach("run", "--detach", "--bundle", a.path, ca)
    pid = rt.state(ca)["pid"]
    import os

    want = os.readlink(f"/proc/{pid}/ns/net")
    b = bundle("readlink", "/proc/self/ns/net")
    b.config["linux"]["namespaces"] = [n if n["type"] != "network" else {"type": "network", "path": f"/proc/{pid}/ns/net"}
                                       for n in b.config["linux"]["namespaces"]]
    b.write()
    code, out, err = run(rt, b, "b")
    assert code == 0, err
    assert out.strip() == want
    rt("delete", "--force", ca, check=True)


def _keyrings() -> str:
    with open("/proc/keys") as f:
        return f.read()


def test_own_session_keyring_unless_no_new_keyring(rt, bundle):
    b = bundle("sleep", "30")
    c = cid(rt, "k")
    rt.detach("run", "-d", "--bundle", b.path, c)
    assert f"_ses.{c}" in _keyrings()
    rt("delete", "--force", c, check=True)
    c2 = cid(rt, "nk")
    rt.detach("run", "-d", "--no-new-keyring", "--bundle", b.path, c2)
    assert f"_ses.{c2}" not in _keyrings()
    rt("delete", "--force", c2, check=True)


def test_bind_mount_options_and_propagation(rt, bundle, tmp_path):
    shared = tmp_path / "share"
    shared.mkdir()
    (shared / "in").write_text("from host\n")
    b = bundle("sh", "-c", "cat /ro/in; echo x > /ro/new 2>/dev/null && echo ro-writable || echo ro-refused;"
               " echo y > /rw/new && echo rw-ok; grep -E ' /(ro|rw) ' /proc/self/mountinfo")
    b.config["mounts"] += [
        {"destination": "/ro", "type": "bind", "source": str(shared), "options": ["rbind", "ro", "nosuid", "rprivate"]},
        {"destination": "/rw", "type": "bind", "source": str(shared), "options": ["bind", "rw", "noexec"]},
    ]
    b.write()
    code, out, err = run(rt, b)
    assert code == 0, err
    assert "from host" in out and "ro-refused" in out and "rw-ok" in out
    assert (shared / "new").read_text() == "y\n"
    ro_line = next(line for line in out.splitlines() if " /ro " in line)
    rw_line = next(line for line in out.splitlines() if " /rw " in line)
    assert " ro," in ro_line and "nosuid" in ro_line and "shared:" not in ro_line
    assert "noexec" in rw_line


def test_missing_controller_is_a_warning_not_a_failure(rt, bundle):
    """rdma is not mounted on this host (nor net_cls): the container still runs, and the
    runtime says what it could not apply."""
    from dockyard.runtime.cgroups import detect

    layout = detect()
    if "rdma" in layout.v1 or "rdma" in layout.unified_controllers:
        pytest.skip("this host has an rdma controller: nothing to warn about")
    b = bundle("true")
    b.linux(resources={"rdma": {"mlx5_0": {"hcaHandles": 3}}, "pids": {"limit": 10}})
    code, out, err = run(rt, b)
    assert code == 0, err
    assert "warning" in err and "rdma" in err


DENY_MKDIR = {"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]}


def _mkdir_denied(rt, bundle, name):
    b = bundle("sh", "-c", "mkdir /tmp/x 2>/dev/null; echo mkdir=$?; grep '^Seccomp:' /proc/self/status")
    b.config["root"]["readonly"] = False
    b.linux(seccomp=DENY_MKDIR)
    code, out, err = run(rt, b, name)
    assert code == 0, err
    return "mkdir=1" in out and "Seccomp:\t2" in out


def test_seccomp_cache_miss_then_hit_same_filter(rt, bundle):
    import os

    cache = rt.env["DOCKYARD_SECCOMP_CACHE"]
    assert _mkdir_denied(rt, bundle, "miss")
    entries = os.listdir(cache)
    assert len(entries) == 1  # compiled once, stored
    stamp = os.stat(os.path.join(cache, entries[0])).st_mtime_ns
    assert _mkdir_denied(rt, bundle, "hit")  # installed from the cache: same behaviour
    assert os.listdir(cache) == entries and os.stat(os.path.join(cache, entries[0])).st_mtime_ns == stamp


def test_seccomp_cache_corrupt_entry_or_unsafe_dir_is_not_trusted(rt, bundle):
    import os

    cache = rt.env["DOCKYARD_SECCOMP_CACHE"]
    assert _mkdir_denied(rt, bundle, "a")
    (entry,) = os.listdir(cache)
    with open(os.path.join(cache, entry), "wb") as f:
        f.write(b"\0" * 13)  # not a header + whole BPF instructions
    assert _mkdir_denied(rt, bundle, "b")  # recompiled, still enforced
    os.chmod(cache, 0o777)  # anyone could plant a filter here: the runtime must not read it
    with open(os.path.join(cache, entry), "wb") as f:
        f.write(bytes(8) + bytes.fromhex("06000000" "0000ff7f"))  # header + "return ALLOW"
    assert _mkdir_denied(rt, bundle, "c")


def test_oom_score_adj(rt, bundle):
    b = bundle("cat", "/proc/self/oom_score_adj")
    b.process(oomScoreAdj=500)
    code, out, err = run(rt, b)
    assert code == 0, err
    assert out.strip() == "500"


def test_time_namespace_with_offsets(rt, bundle):
    b = bundle("cut", "-d.", "-f1", "/proc/uptime")
    b.config["linux"]["namespaces"].append({"type": "time"})
    b.config["linux"]["timeOffsets"] = {"boottime": {"secs": 10 ** 7, "nanosecs": 0}}
    b.write()
    code, out, err = run(rt, b)
    assert code == 0, err
    with open("/proc/uptime") as f:
        host = int(float(f.read().split()[0]))
    assert int(out) - host >= 10 ** 7 - 5


def test_unsupported_field_is_a_warning(rt, bundle):
    b = bundle("true")
    b.process(scheduler={"policy": "SCHED_BATCH"})
    code, out, err = run(rt, b)
    assert code == 0, err
    assert "process.scheduler is not supported" in err


def test_our_default_seccomp_profile_in_a_real_container(rt, bundle):
    """runtime/profiles: Docker's 14 capabilities and our default allowlist, loaded for real.
    Everyday commands work; a user namespace — which the kernel grants without any
    capability, so only the filter can refuse it — is refused."""
    from dockyard.runtime.profiles import defaults
    from dockyard.runtime.profiles import seccomp_default

    caps = defaults.default_capabilities()
    script = ("grep '^Seccomp:' /proc/self/status; rm -rf /tmp/d; mkdir /tmp/d && echo mkdir-ok;"
              " ls / > /dev/null && echo ls-ok; echo data | sort | wc -c;"
              " unshare -U true 2>/dev/null; echo unshare=$?")
    b = bundle("sh", "-c", script)
    b.config["root"]["readonly"] = False
    b.process(capabilities={k: caps for k in ("bounding", "effective", "permitted")})
    code, out, err = run(rt, b, "control")
    assert code == 0 and "unshare=0" in out.split(), out + err  # without the filter: allowed
    b.linux(seccomp=seccomp_default.seccomp_for(set(caps)))
    code, out, err = run(rt, b, "filtered")
    assert code == 0, err
    lines = out.split()
    assert lines[:2] == ["Seccomp:", "2"]
    assert "mkdir-ok" in lines and "ls-ok" in lines and "5" in lines
    assert "unshare=1" in lines  # refused by the filter (EPERM), the shell goes on
