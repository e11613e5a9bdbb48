"""The VM backend end to end under TCG (issue 7): `dockyard vm run` and the VmBackend library
on a real QEMU microVM booting Debian's kernel. Each boot costs ~2 s here, so each test
checks several things in one boot. Every test must leave no QEMU, virtiofsd, mount or run
dir behind (the `clean` fixture checks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from support import need, need_binary, processes_naming

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")
pytestmark = pytest.mark.root


def shared_vm_root(tmp_path_factory):
    """One storage root (kernel, initramfs, busybox image) for every VM test module of the
    session: the kernel download and unpack costs ~7 s."""
    root = tmp_path_factory.getbasetemp() / "vm-shared"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    need(os.geteuid() == 0, "needs root")
    need_binary("qemu-system-x86_64")
    need(os.path.exists("/bin/busybox"), "needs busybox-static")
    root = shared_vm_root(tmp_path_factory)
    run = tmp_path_factory.mktemp("vmrun")
    e = {**os.environ, "DOCKYARD_ROOT": str(root / "lib"), "DOCKYARD_RUN_ROOT": str(run)}
    for argv in (["vm", "setup"], ["bootstrap", "busybox"]):
        p = subprocess.run([DOCKYARD, *argv], env=e, capture_output=True, text=True, timeout=300, check=False)
        assert p.returncode == 0, p.stderr
    yield e


def _ours(env) -> list[str]:
    """Processes whose command line names our run root (QEMU, virtiofsd)."""
    return processes_naming(env["DOCKYARD_RUN_ROOT"])


def _left(env) -> list[str]:
    left = _ours(env)
    vm_dir = os.path.join(env["DOCKYARD_RUN_ROOT"], "vm")
    if os.path.isdir(vm_dir):
        left += [f"run dir {d}" for d in os.listdir(vm_dir)]
    with open("/proc/self/mountinfo") as f:
        left += [line for line in f if env["DOCKYARD_RUN_ROOT"] in line or env["DOCKYARD_ROOT"] in line]
    containers = os.path.join(env["DOCKYARD_ROOT"], "vm", "containers")
    if os.path.isdir(containers):
        left += [f"rootfs dir {d}" for d in os.listdir(containers)]
    return left


@pytest.fixture
def clean(env):
    yield env
    end = time.monotonic() + 5  # a killed QEMU takes a moment to be gone from /proc
    while _ours(env) and time.monotonic() < end:
        time.sleep(0.05)
    assert not _left(env)


def vm(env, *args, timeout=90):
    return subprocess.run([DOCKYARD, "vm", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_exit_code_and_separate_streams(clean):
    p = vm(clean, "run", "busybox", "sh", "-c", "echo out; echo err >&2; printf 'no newline'; exit 7")
    assert p.returncode == 7, p.stderr
    assert p.stdout == "out\nno newline"
    assert p.stderr == "err\n"  # no kernel message, no init chatter


def test_env_workdir_user_guest_kernel_and_no_host_processes(clean):
    p = vm(clean, "run", "-e", "GREETING=hi there", "-w", "/tmp/wd", "-u", "nobody", "--hostname", "vmbox",
           "busybox", "sh", "-c", "echo \"$GREETING\"; pwd; id -u; id -g; hostname; uname -r; ps -o pid,ppid,comm")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:5] == ["hi there", "/tmp/wd", "65534", "65534", "vmbox"]
    assert lines[5] != os.uname().release and lines[5].startswith("6.1.")
    procs = [line.split(None, 2) for line in lines[7:]]
    user = [comm for pid, ppid, comm in procs if "2" not in (pid, ppid)]  # kthreadd (2) and its kernel threads aside
    # the guest's init and its agent loop, the shell, ps: nothing of the host's
    assert not any("python" in c or "dockyard" in c or "pytest" in c for c in user), user
    assert len(user) <= 5 and user[0] == "init", user


def test_volumes_read_write_and_read_only(clean, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "in.txt").write_text("from the host\n")
    p = vm(clean, "run", "-v", f"{rw}:/data", "-v", f"{ro}:/ro:ro", "busybox", "sh", "-c",
           "cat /ro/in.txt; echo written > /data/out.txt; mount -o remount,rw /ro; touch /ro/x || echo refused")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["from the host", "refused"]
    assert (rw / "out.txt").read_text() == "written\n"
    assert sorted(os.listdir(ro)) == ["in.txt"]  # even a remount inside the guest cannot write


def test_write_lands_in_upper_dir(clean, monkeypatch):
    """The rootfs is the container's overlay: a write in the guest is a file in its upper dir,
    the image's snapshot is untouched."""
    for k in ("DOCKYARD_ROOT", "DOCKYARD_RUN_ROOT"):
        monkeypatch.setenv(k, clean[k])
    from dockyard.image.snapshots import Snapshots
    from dockyard.image.store import ImageStore
    from dockyard.vm import VmConfig
    from dockyard.vm.backend import VmBackend

    images = ImageStore(clean["DOCKYARD_ROOT"])
    dest = os.path.join(clean["DOCKYARD_ROOT"], "vm", "containers", "upper-test")
    b, h = VmBackend(), None
    try:
        top = images.unpack(images.resolve("busybox"))
        merged = images.snapshots.mount(top, dest)
        h = b.create("upper-test", VmConfig(rootfs=merged, args=["sh", "-c", "echo data > /etc/written; rm /bin/vi"],
                                            env=["PATH=/bin"]))
        b.start(h)
        assert b.wait(h, 60) == 0, b.state(h)
        upper = os.path.join(dest, "upper")
        with open(os.path.join(upper, "etc", "written")) as f:
            assert f.read() == "data\n"
        assert os.path.exists(os.path.join(upper, "bin", "vi"))  # the whiteout of the deleted file
        assert not any(os.path.exists(os.path.join(lower, "etc", "written")) for lower in images.snapshots.chain(top))
    finally:
        if h:
            b.cleanup(h)
        Snapshots.unmount(dest)
        images.close()


def test_hanging_workload_is_killed_at_the_timeout(clean):
    t = time.monotonic()
    p = vm(clean, "run", "--timeout", "4", "busybox", "sleep", "1000")
    assert p.returncode == 137 and "killed after --timeout 4 s" in p.stderr
    assert time.monotonic() - t < 15


def test_panicking_guest_ends_with_its_panic(clean):
    p = vm(clean, "run", "busybox", "sh", "-c", "echo c > /proc/sysrq-trigger; sleep 100")
    assert p.returncode == 137
    assert p.stderr.strip().splitlines()[-1] == (
        "dockyard: vm run: guest kernel panic: Kernel panic - not syncing: sysrq triggered crash")


@pytest.fixture
def backend(clean, monkeypatch, tmp_path):
    """A VmBackend over a plain directory rootfs (busybox's files), started by the test."""
    for k in ("DOCKYARD_ROOT", "DOCKYARD_RUN_ROOT"):
        monkeypatch.setenv(k, clean[k])
    from dockyard.vm.backend import VmBackend

    rootfs = tmp_path / "rootfs"
    for d in ("bin", "tmp"):
        (rootfs / d).mkdir(parents=True)
    subprocess.run(["cp", "/bin/busybox", str(rootfs / "bin")], check=True)
    subprocess.run([str(rootfs / "bin" / "busybox"), "--install", "-s", str(rootfs / "bin")], check=True)
    b = VmBackend()
    made = []
    yield b, str(rootfs), made
    for h in made:
        b.cleanup(h)


def test_kill_9_of_qemu_leaves_nothing(backend):
    from dockyard.vm import VmConfig

    b, rootfs, made = backend
    h = b.create("k9", VmConfig(rootfs=rootfs, args=["sleep", "1000"], env=["PATH=/bin"]))
    made.append(h)
    b.start(h)
    helpers = [s["pid"] for s in h.record["shares"]]
    assert helpers and all(os.path.exists(f"/proc/{p}") for p in helpers)
    os.kill(h.record["pid"], signal.SIGKILL)
    assert b.wait(h, 20) == 137
    assert "without an exit code" in b.state(h)["error"]
    for p in helpers:  # virtiofsd ended with QEMU's end of its socket, and was reaped
        assert not os.path.exists(f"/proc/{p}")
    b.cleanup(h)
    assert not os.path.exists(h.run_dir)


def test_hung_boot_is_killed_and_its_helpers_released(backend, monkeypatch):
    """A guest stuck before its workload starts (here: its rootfs server frozen, so the
    virtiofs mount never completes) is killed at the boot timeout; the frozen virtiofsd goes too."""
    from dockyard.vm import VmConfig

    b, rootfs, made = backend
    monkeypatch.setenv("DOCKYARD_VM_BOOT_TIMEOUT", "6")
    h = b.create("hung", VmConfig(rootfs=rootfs, args=["true"], env=["PATH=/bin"]))
    made.append(h)
    b.start(h)
    fsd = h.record["shares"][0]["pid"]
    os.kill(fsd, signal.SIGSTOP)
    t = time.monotonic()
    assert b.wait(h, 60) == 137
    assert 5 < time.monotonic() - t < 20
    assert b.state(h)["error"] == "the guest did not boot within 6 s"
    assert not os.path.exists(f"/proc/{fsd}")  # killed while stopped, and reaped


def test_exec_through_the_agent_signals_and_balloon(backend, tmp_path):
    from dockyard.vm import VmConfig

    b, rootfs, made = backend
    h = b.create("ex", VmConfig(rootfs=rootfs, args=["sh", "-c", "trap 'exit 42' TERM; while :; do sleep 1; done"],
                                env=["PATH=/bin"], memory=256 << 20))
    made.append(h)
    b.start(h)
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as o, open(err, "wb") as e:
        code = b.exec(h, ["sh", "-c", "echo to-out; echo to-err >&2; id -u; pwd; exit 3"], env=["PATH=/bin"],
                      cwd="/tmp", uid=1000, gid=1000, stdout=o.fileno(), stderr=e.fileno(), timeout=60)
    assert code == 3
    assert out.read_text() == "to-out\n1000\n/tmp\n" and err.read_text() == "to-err\n"

    def free_total() -> int:
        with open(out, "wb") as o:
            assert b.exec(h, ["free", "-m"], env=["PATH=/bin"], stdout=o.fileno(), timeout=60) == 0
        return int(out.read_text().splitlines()[1].split()[1])

    before = free_total()
    assert b.query_status(h) == "running"
    assert b.update_memory(h, 128 << 20) <= 128 << 20
    after = free_total()
    assert before - after >= 100, (before, after)  # the balloon took ~128 MiB from the guest
    with pytest.raises(Exception, match="boot memory"):
        b.update_memory(h, 512 << 20)
    assert b.stop(h, timeout=20) == 42  # SIGTERM reached the workload through the agent
    assert b.state(h)["status"] == "exited"


def test_bad_input_is_one_line(clean, tmp_path):
    for args, text in ((["--cpus", "0"], "--cpus"), (["--memory", "10m"], "at least 64 MiB"),
                       (["-v", f"{tmp_path}/missing:/x"], "no such file"), (["-v", "rel:/x"], "HOST_DIR"),
                       (["nosuchimage"], "not found")):
        p = vm(clean, "run", *args, *(["busybox", "true"] if args != ["nosuchimage"] else ["true"]))
        assert p.returncode == 125, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and text in p.stderr, (args, p.stderr)
    p = vm(clean, "bogus")
    assert p.returncode == 125 and "unknown command" in p.stderr
