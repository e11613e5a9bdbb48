"""`dockyard run --isolation=process|vm` end to end (issue 7): the same CLI semantics for a
container and for a microVM (QEMU under TCG here, ~2 s per boot, so each test checks many
things in one boot). Each module run has its own run root; the storage root (guest kernel,
initramfs, busybox) is shared with tests/integration/test_vm_*.py for the session. Every test
must leave no container, QEMU, virtiofsd, mount or VM run dir behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from support import need, need_binary, processes_naming

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")
pytestmark = pytest.mark.root
ISOLATIONS = ["process", "vm"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    need(os.geteuid() == 0, "needs root")
    need_binary("qemu-system-x86_64")
    need(os.path.exists("/bin/busybox"), "needs busybox-static")
    shared = tmp_path_factory.getbasetemp() / "vm-shared"  # as tests/integration/test_vm_run.py
    shared.mkdir(exist_ok=True)
    run = tmp_path_factory.mktemp("isorun")
    e = {**os.environ, "DOCKYARD_ROOT": str(shared / "lib"), "DOCKYARD_RUN_ROOT": str(run),
         "DOCKYARD_SECCOMP_CACHE": str(run / "seccomp-cache"), "DOCKYARD_CONFIG": str(run / "no-config.json")}
    for argv in (["vm", "setup"], ["bootstrap", "busybox"]):
        p = subprocess.run([DOCKYARD, *argv], env=e, capture_output=True, text=True, timeout=300, check=False)
        assert p.returncode == 0, p.stderr
    yield e
    left = dy(e, "ps", "-a", "-q").stdout.split()
    for cid in left:
        dy(e, "rm", "-f", cid)
    assert not left, f"containers left by the tests (now removed): {left}"


def dy(env, *args, timeout=120):
    return subprocess.run([DOCKYARD, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _ours(env) -> list[str]:
    """Processes whose command line names our run root (QEMU, virtiofsd, conmon)."""
    return processes_naming(env["DOCKYARD_RUN_ROOT"])


def _left(env) -> list[str]:
    end = time.monotonic() + 5  # a killed QEMU takes a moment to be reaped
    while _ours(env) and time.monotonic() < end:
        time.sleep(0.05)
    left = _ours(env)
    vm_dir = os.path.join(env["DOCKYARD_RUN_ROOT"], "vm")
    if os.path.isdir(vm_dir):
        left += [f"VM run dir {d}" for d in os.listdir(vm_dir)]
    with open("/proc/self/mountinfo") as f:
        left += [line for line in f if env["DOCKYARD_RUN_ROOT"] in line
                 or os.path.join(env["DOCKYARD_ROOT"], "containers") in line]
    containers = os.path.join(env["DOCKYARD_ROOT"], "containers")
    if os.path.isdir(containers):
        left += [f"container dir {d}" for d in os.listdir(containers) if not d.startswith(".")]
    left += [f"container {c}" for c in dy(env, "ps", "-a", "-q").stdout.split()]
    return left


@pytest.fixture
def clean(env):
    yield env
    assert not _left(env)


def _wait_for(pred, timeout=60.0, what=""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_foreground_run(clean, isolation, tmp_path):
    """Exit code, separate stdout/stderr, env, workdir, user, rw and ro volumes, --rm, and
    what the workload sees of its kernel and of the host's processes, in one run."""
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "in.txt").write_text("from the host\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(rw, 0o777)  # the user "nobody" writes here
    p = dy(clean, "run", "--rm", f"--isolation={isolation}", "-e", "GREETING=hi there", "-w", "/tmp/wd",
           "-u", "nobody", "-v", f"{rw}:/data", "-v", f"{ro}:/ro:ro", "--cpus", "1", "--memory", "128m", "busybox",
           "sh", "-c", 'echo "$GREETING"; pwd; id -u; cat /ro/in.txt; echo written > /data/out.txt;'
           " touch /ro/x 2>/dev/null || echo ro refused; uname -r; ps -o comm | tail -n +2 | sort -u | tr '\\n' ' ';"
           " echo; echo to-stderr >&2; exit 3")
    assert p.returncode == 3, p.stderr
    assert p.stderr == "to-stderr\n"
    lines = p.stdout.splitlines()
    assert lines[:5] == ["hi there", "/tmp/wd", "65534", "from the host", "ro refused"], p.stdout
    assert (rw / "out.txt").read_text() == "written\n"
    assert sorted(os.listdir(ro)) == ["in.txt"]
    procs = lines[6].split()
    assert not any(c in ("python3", "pytest", "dockyard", "conmon", "qemu-system-x86") for c in procs), procs
    if isolation == "vm":
        assert lines[5] != os.uname().release and lines[5].startswith("6."), lines[5]  # the guest's kernel
    else:
        assert lines[5] == os.uname().release


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_detached_logs_exec_stop_wait_rm(clean, isolation):
    """-d, ps, logs (both streams), exec (env, user, exit code, missing command), inspect,
    stop (the workload's SIGTERM trap runs), wait, rm."""
    name = f"iso-{isolation}"
    p = dy(clean, "run", "-d", f"--isolation={isolation}", "--name", name, "-e", "MARK=m1", "busybox", "sh", "-c",
           "trap 'echo got-term; exit 7' TERM; echo ready; echo warn >&2; while true; do sleep 0.2; done")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    assert len(cid) == 64
    _wait_for(lambda: "ready" in dy(clean, "logs", name).stdout, what="ready in logs")
    logs = dy(clean, "logs", name)
    assert logs.stdout == "ready\n" and logs.stderr == "warn\n"
    ps = dy(clean, "ps", "--format", "{{.Names}} {{.State}}").stdout.splitlines()
    assert f"{name} running" in ps
    ex = dy(clean, "exec", "-u", "nobody", name, "sh", "-c", 'echo "exec $MARK $(id -u)"; exit 4')
    assert ex.returncode == 4 and ex.stdout == "exec m1 65534\n", ex.stderr
    assert dy(clean, "exec", name, "no-such-command").returncode == 127
    info = json.loads(dy(clean, "inspect", name).stdout)[0]
    assert info["HostConfig"]["Isolation"] == isolation and info["State"]["Running"] and info["State"]["Pid"] > 0
    if isolation == "vm":
        assert info["VM"]["Accel"] in ("kvm", "tcg") and info["VM"]["AccelReason"]  # which, and why
        assert info["VM"]["Memory"] == 256 << 20  # the library's default
    else:
        assert "VM" not in info
    p = dy(clean, "stop", name)
    assert p.returncode == 0, p.stderr
    assert dy(clean, "wait", name).stdout.strip() == "7"
    assert f"{name} exited" in dy(clean, "ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.splitlines()
    assert dy(clean, "logs", name).stdout == "ready\ngot-term\n"
    assert dy(clean, "rm", name).returncode == 0


def test_vm_kill_9_of_qemu_restart_update_and_rm(clean):
    """Crash recovery: QEMU killed with -9 -> the container is exited (137), `start` boots it
    again, `update --memory` balloons it down (not up), `rm -f` leaves nothing."""
    p = dy(clean, "run", "-d", "--isolation=vm", "--name", "k9", "busybox", "sh", "-c",
           "echo booted; exec sleep 1000")
    assert p.returncode == 0, p.stderr
    _wait_for(lambda: "booted" in dy(clean, "logs", "k9").stdout, what="booted in logs")
    pid = json.loads(dy(clean, "inspect", "k9").stdout)[0]["State"]["Pid"]
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert b"qemu-system" in f.read()
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: "k9 Exited (137)" in dy(clean, "ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout,
              timeout=20, what="Exited (137)")
    info = json.loads(dy(clean, "inspect", "k9").stdout)[0]
    assert info["State"]["ExitCode"] == 137 and "without an exit code" in info["VM"]["Error"]
    assert not os.listdir(os.path.join(clean["DOCKYARD_RUN_ROOT"], "vm"))  # the exit, once seen, released it

    assert dy(clean, "start", "k9").returncode == 0
    _wait_for(lambda: dy(clean, "logs", "k9").stdout == "booted\nbooted\n", what="second boot in logs")
    p = dy(clean, "update", "--memory", "128m", "k9")
    assert p.returncode == 0, p.stderr
    p = dy(clean, "update", "--memory", "512m", "k9")
    assert p.returncode == 1 and "cannot grow past its boot memory" in p.stderr
    p = dy(clean, "update", "--cpus", "2", "k9")
    assert p.returncode == 1 and "only --memory" in p.stderr
    assert dy(clean, "rm", "-f", "k9").returncode == 0


def test_vm_refusals_and_config_default(clean, tmp_path):
    """What a VM cannot do is refused in one line before anything is made, and the
    default isolation comes from the config file (no VM boots here)."""
    for args, words in ((["--network", "host"], "--isolation=vm: --network host"),
                        (["--network", "container:other"], "a VM has its own kernel"),
                        (["-t"], "-t is not built yet"), (["--cpus", "1.5"], "whole number of vCPUs")):
        p = dy(clean, "run", "--rm", "--isolation=vm", *args, "busybox", "true")
        assert p.returncode == 125 and p.stderr.count("\n") == 1 and words in p.stderr, (args, p.stderr)
    p = dy(clean, "run", "--rm", "--isolation=bogus", "busybox", "true")
    assert p.returncode == 125 and "use process, vm or default" in p.stderr
    cfg = tmp_path / "dockyard.json"
    cfg.write_text(json.dumps({"isolation": "vm"}))
    e = {**clean, "DOCKYARD_CONFIG": str(cfg)}
    p = dy(e, "run", "--rm", "--network", "host", "busybox", "true")  # the default is vm: refused as a VM
    assert p.returncode == 125 and "--isolation=vm: --network host" in p.stderr, p.stderr
    p = dy(e, "run", "--rm", "--isolation=process", "--network", "none", "busybox", "true")
    assert p.returncode == 0, p.stderr
    cfg.write_text("{not json")
    p = dy(e, "run", "--rm", "busybox", "true")
    assert p.returncode == 125 and p.stderr.startswith(f"dockyard: {cfg}:") and p.stderr.count("\n") == 1
