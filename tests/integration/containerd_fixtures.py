"""A private containerd (Debian's 1.6) for driving `dockyard-runtime` through `ctr run
--runc-binary`, and a busybox image imported into it from an OCI archive we write ourselves
(no registry is reachable here).

Everything containerd owns lives under one tmp dir (socket, root, state, the `opt` plugin's
dir, ctr's fifos), except what the runc shim hard-codes: `/run/containerd/runc/<ns>` (the
runtime's `--root`, unless `--runc-root` is given), `/run/containerd/s/<sha256>` (shim
sockets) and the cgroups `/<ns>/<id>`. The namespace is unique per test session so those are
ours alone, and teardown FAILS the run if any of them, a mount, or a process is left.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest


from support import need, need_binary  # noqa: E402  (skip locally, fail in CI)

RUNTIME = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")
IMAGE = "localhost/dockyard-busybox:test"
SHIM_STATE = "/run/containerd"  # the runc v2 shim's fixed root (sockets, runc root)
CGROUP_ROOT = "/sys/fs/cgroup"

CONFIG = """\
version = 2
root = "{root}"
state = "{state}"
# No CRI (it wants CNI networking), and no snapshotters this machine cannot use.
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
  level = "debug"
[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{opt}"
  [plugins."io.containerd.runtime.v1.linux"]
    runtime_root = "{state}/runtime-v1"
"""
# The snapshotter is the client's choice: ctr's default on Linux is overlayfs (asked for
# explicitly on import). The runc v2 shim is found on PATH (Debian's containerd-shim-runc-v2).


class Containerd:
    """A running containerd and a `ctr` bound to its socket and our namespace."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.sock = os.path.join(base, "c.sock")
        self.root = os.path.join(base, "root")
        self.state = os.path.join(base, "state")
        self.opt = os.path.join(base, "opt")
        self.fifo_dir = os.path.join(base, "fifo")
        self.log_path = os.path.join(base, "containerd.log")
        self.ns = f"dockyardtest-{uuid.uuid4().hex[:8]}"
        self.prefix = f"dyc{uuid.uuid4().hex[:6]}"
        self.runc_root = os.path.join(SHIM_STATE, "runc", self.ns)
        self.ids: set[str] = set()  # every container id a test used, for the leak checks
        self.proc: subprocess.Popen | None = None

    # -- ctr ---------------------------------------------------------------------------
    def ctr(self, *args: str, input: str | None = None, timeout: float = 60,
            check: bool = False) -> subprocess.CompletedProcess:
        p = subprocess.run(["ctr", "--address", self.sock, "--namespace", self.ns, *args], input=input,
                           stdin=None if input is not None else subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} -> {p.returncode}\nstdout: {p.stdout}\n"
                                 f"stderr: {p.stderr}\n{self.diagnostics()}")
        return p

    def cid(self, name: str) -> str:
        cid = f"{self.prefix}-{name}"
        self.ids.add(cid)
        return cid

    def tasks(self) -> dict[str, tuple[int, str]]:
        """`ctr task ls` as {id: (pid, status)}."""
        out = {}
        for line in self.ctr("task", "ls", check=True).stdout.splitlines()[1:]:
            f = line.split()
            if len(f) >= 3:
                out[f[0]] = (int(f[1]), f[2])
        return out

    def containers(self) -> list[str]:
        return self.ctr("container", "ls", "-q", check=True).stdout.split()

    def remove_all(self) -> list[str]:
        """Kill, delete and remove every task and container of our namespace; returns their ids."""
        left = sorted(set(self.tasks()) | set(self.containers()))
        for cid in left:
            self.ctr("task", "kill", "-s", "SIGKILL", cid)
            end = time.monotonic() + 10
            while self.tasks().get(cid, (0, "STOPPED"))[1] != "STOPPED" and time.monotonic() < end:
                time.sleep(0.05)
            self.ctr("task", "delete", "--force", cid)
            self.ctr("container", "rm", cid)
        return left

    def shim_socket(self, cid: str) -> str:
        """Where the runc v2 shim of `cid` listens (containerd 1.6's shim.SocketAddress)."""
        d = hashlib.sha256(os.path.join(self.sock, self.ns, cid).encode()).hexdigest()
        return os.path.join(SHIM_STATE, "s", d)

    def diagnostics(self, lines: int = 40) -> str:
        try:
            with open(self.log_path) as f:
                tail = f.readlines()[-lines:]
        except OSError:
            tail = []
        logs = []
        task_dir = os.path.join(self.state, "io.containerd.runtime.v2.task", self.ns)
        for cid in sorted(self.ids):
            p = os.path.join(task_dir, cid, "log.json")
            if os.path.exists(p):
                with open(p) as f:
                    logs.append(f"--- {p}\n{f.read()}")
        return "--- containerd log (tail)\n" + "".join(tail) + "\n".join(logs)

    # -- daemon ------------------------------------------------------------------------
    def start(self) -> None:
        for d in (self.root, self.state, self.opt, self.fifo_dir):
            os.makedirs(d, exist_ok=True)
        cfg = os.path.join(self.base, "config.toml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(root=self.root, state=self.state, sock=self.sock, opt=self.opt))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["containerd", "--config", cfg], stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        end = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"containerd exited with {self.proc.returncode}\n{self.diagnostics()}")
            if os.path.exists(self.sock) and subprocess.run(
                    ["ctr", "--address", self.sock, "version"], capture_output=True, timeout=10).returncode == 0:
                return
            if time.monotonic() > end:
                raise AssertionError(f"containerd did not answer on {self.sock}\n{self.diagnostics()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# -- leak checks -------------------------------------------------------------------------
def processes_matching(*needles: str) -> list[tuple[int, str]]:
    """(pid, cmdline) of every process whose command line contains one of ``needles``
    (what `ps -eo pid,args | grep` would show, without the grep matching itself)."""
    out = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if cmd and any(n in cmd for n in needles):
            out.append((int(name), cmd))
    return out


def mounts_matching(*needles: str) -> list[str]:
    """Mount points (field 5 of /proc/self/mountinfo) under any of ``needles``."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if any(mp == n or mp.startswith(n.rstrip("/") + "/") for n in needles):
                out.append(mp)
    return out


def cgroups_under(name: str) -> list[str]:
    """Every `/sys/fs/cgroup/<hierarchy>/<name>` directory (the namespace's parent cgroup)
    and what is inside it."""
    out = []
    for h in sorted(os.listdir(CGROUP_ROOT)):
        d = os.path.join(CGROUP_ROOT, h, name)
        if os.path.isdir(d):
            for dirpath, dirnames, _ in os.walk(d, topdown=False):
                out.append(dirpath)
    return out


def cgroup_procs(d: str) -> list[int]:
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def teardown_and_check(cd: Containerd, run_dirs_before: set[str]) -> None:
    """Stop containerd and remove everything it and the shims made; then FAIL if anything had
    been left behind by the tests (tasks, shims, mounts, cgroups, runtime state, sockets)."""
    leaks: dict[str, list] = {}
    try:
        if cd.proc is not None and cd.proc.poll() is None:
            left = cd.remove_all()
            if left:
                leaks["containers left in containerd"] = left
    finally:
        cd.stop()

    # Processes: shims of this containerd and anything still in our cgroups.
    shims = processes_matching(f"-address {cd.sock}")
    if shims:
        leaks["shim processes"] = shims
    for pid, _ in shims:
        _kill(pid)
    pids = sorted({pid for d in cgroups_under(cd.ns) for pid in cgroup_procs(d)})
    if pids:
        leaks["processes in our cgroups"] = pids
        for pid in pids:
            _kill(pid)

    # Runtime state left under the shim's --root for our namespace.
    if os.path.isdir(cd.runc_root):
        state = os.listdir(cd.runc_root)
        if state:
            leaks["runtime state"] = [os.path.join(cd.runc_root, s) for s in state]
            for cid in state:
                subprocess.run([RUNTIME, "--root", cd.runc_root, "delete", "--force", cid], capture_output=True)
        shutil.rmtree(cd.runc_root, ignore_errors=True)

    # Mounts under our dirs (task rootfs, snapshots); unmount deepest first.
    mounts = mounts_matching(cd.base, cd.runc_root)
    if mounts:
        leaks["mounts"] = mounts
        for mp in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)

    # Cgroups: /<ns>/<id> must be gone; the /<ns> parent (runc leaves it too) is ours to remove.
    for d in cgroups_under(cd.ns):
        if os.path.basename(d) != cd.ns:
            leaks.setdefault("cgroups", []).append(d)
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
    named = [d for d in _cgroups_named(cd.prefix)]
    if named:
        leaks.setdefault("cgroups", []).extend(named)

    sockets = [s for s in map(cd.shim_socket, sorted(cd.ids)) if os.path.exists(s)]
    if sockets:
        leaks["shim sockets"] = sockets
        for s in sockets:
            os.unlink(s)

    # ctr's default fifo dirs (/run/containerd/fifo/<random>/<id>-stdout...): the tests pass
    # --fifo-dir, but a run without it that is never waited for leaves one behind.
    fifo_root = os.path.join(SHIM_STATE, "fifo")
    for d in (os.listdir(fifo_root) if os.path.isdir(fifo_root) else []):
        full = os.path.join(fifo_root, d)
        try:
            ours = any(f.startswith(cd.prefix) for f in os.listdir(full))
        except OSError:
            continue
        if ours:
            leaks.setdefault("fifo dirs", []).append(full)
            shutil.rmtree(full, ignore_errors=True)

    # /run/containerd and its subdirectories, if this fixture created them and they are empty.
    for d in (os.path.join(SHIM_STATE, "runc"), os.path.join(SHIM_STATE, "s"),
              os.path.join(SHIM_STATE, "fifo"), SHIM_STATE):
        if d not in run_dirs_before:
            try:
                os.rmdir(d)
            except OSError:
                pass

    if leaks:
        pytest.fail("containerd test leaked: " + "; ".join(f"{k}: {v}" for k, v in leaks.items())
                    + "\n" + cd.diagnostics())
    shutil.rmtree(cd.root, ignore_errors=True)  # snapshots and content: megabytes, not evidence
    shutil.rmtree(cd.state, ignore_errors=True)


def _cgroups_named(prefix: str) -> list[str]:
    out = []
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        out.extend(os.path.join(dirpath, d) for d in dirnames if d.startswith(prefix))
        if dirpath.count("/") > 6:
            dirnames[:] = []
    return out


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _existing_run_dirs() -> set[str]:
    return {d for d in (SHIM_STATE, *(os.path.join(SHIM_STATE, s) for s in ("runc", "s", "fifo")))
            if os.path.isdir(d)}


@pytest.fixture(scope="module")
def containerd(tmp_path_factory):
    need(os.geteuid() == 0, "needs root (containerd, namespaces, mounts, cgroups)")
    for b in ("containerd", "ctr", "containerd-shim-runc-v2"):
        need_binary(b)
    need(os.path.exists(RUNTIME), f"{RUNTIME} not installed (pip install -e . in the venv)")
    before = _existing_run_dirs()
    cd = Containerd(str(tmp_path_factory.mktemp("containerd")))
    try:
        cd.start()
        yield cd
    finally:
        teardown_and_check(cd, before)


@pytest.fixture(scope="module")
def image(containerd, tmp_path_factory):
    """The busybox image, imported into the test namespace from an OCI archive."""
    from dockyard.oci.image_tar import write_oci_archive
    from dockyard.runtime.bundle import BUSYBOX, make_busybox_bundle

    need(os.path.exists(BUSYBOX), f"needs {BUSYBOX} (apt: busybox-static)")
    d = tmp_path_factory.mktemp("image")
    make_busybox_bundle(str(d / "bundle"))
    archive = str(d / "busybox-oci.tar")
    digests = write_oci_archive(str(d / "bundle" / "rootfs"), archive, IMAGE)
    containerd.ctr("images", "import", "--snapshotter", "overlayfs", archive, check=True, timeout=120)
    listed = containerd.ctr("images", "ls", "-q", check=True).stdout.split()
    assert IMAGE in listed, f"import did not create {IMAGE}: {listed}"
    check = containerd.ctr("images", "check", check=True).stdout
    assert "complete" in check, check
    return {"ref": IMAGE, **digests}
