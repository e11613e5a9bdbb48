"""Every way compare runs a workload: the same busybox `sh -c SCRIPT` as a plain host process
(the reference), a dockyard container, a dockyard microVM, crun and runc on an OCI bundle,
podman on a private store; docker and gVisor when they can run here, else the reason.

A Mode knows how to run a script in the foreground (`argv`), and, where it has one, how to
start and remove an idle detached workload (`start_idle`/`stop_idle`: the processes that
exist for it are found by command line, `pids`). `open_modes` sets up what the peers need
(a bundle, podman's store) in a temp dir and takes it all down again, whatever happened."""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import shutil
import subprocess
import tempfile

from ..errors import DockyardError
from . import procs

BUSYBOX = "/bin/busybox"
IDLE = ["sleep", "3600"]
CGROUP_GLOBS = ("/sys/fs/cgroup/*/libpod_parent", "/sys/fs/cgroup/*/libpod_parent/*/")


class CompareError(DockyardError):
    exit_code = 125


def run(argv: list[str], what: str, timeout: float = 180, env: dict | None = None) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CompareError(f"compare: {what}: {e}") from None
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
        raise CompareError(f"compare: {what}: {last}")
    return p.stdout


class Mode:
    key = ""
    label = ""
    how = ""
    reason: str | None = None  # set when the mode cannot run here
    idle_reason: str | None = None  # set when it has no detached idle workload to measure
    net_reason: str | None = None  # set when it has no path to the host's network to time (measure_network)

    @property
    def available(self) -> bool:
        return self.reason is None

    def argv(self, script: str) -> list[str]:
        raise NotImplementedError

    def bridge_argv(self, script: str) -> list[str]:
        """The script run with a network path to the host (measure_network; the host: loopback)."""
        raise NotImplementedError

    def start_idle(self):
        raise NotImplementedError

    def pids(self, handle) -> set[int]:
        raise NotImplementedError

    def stop_idle(self, handle) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Remove what the mode set up (default: nothing)."""


class Unavailable(Mode):
    def __init__(self, key: str, label: str, reason: str):
        self.key, self.label, self.reason = key, label, reason


class Host(Mode):
    key, label = "host", "host process"
    how = "/bin/busybox sh -c SCRIPT on the host: no isolation (the reference)"

    def argv(self, script):
        return [BUSYBOX, "sh", "-c", script]

    def bridge_argv(self, script):
        return self.argv(script)

    def start_idle(self):
        return subprocess.Popen([BUSYBOX, *IDLE])

    def pids(self, handle):
        return {handle.pid}

    def stop_idle(self, handle):
        handle.kill()
        handle.wait()


class Dockyard(Mode):
    """A dockyard container (process isolation) or microVM (vm isolation), by the CLI."""

    def __init__(self, dockyard: str, image: str, isolation: str, vm_path: str | None = None,
                 isolation_flag: bool = True):
        self.dockyard, self.image, self.isolation = dockyard, image, isolation
        self.vm_path = vm_path
        self.flag = [f"--isolation={isolation}"] if isolation_flag else []
        self.key = isolation
        self.label = "dockyard container" if isolation == "process" else "dockyard microVM"
        if isolation == "vm" and vm_path == "vm run":
            self.how = f"dockyard vm run {image} sh -c SCRIPT (the engine has no --isolation here)"
            self.idle_reason = "`dockyard vm run` has no detached mode and the engine no --isolation=vm"
            self.net_reason = "not measured: `dockyard vm run` has no network option (the engine no --isolation=vm)"
        else:
            self.how = (f"dockyard run --rm {' '.join(self.flag)} --network none {image} sh -c SCRIPT").replace("  ", " ")
        self.ids: list[str] = []

    def argv(self, script):
        if self.isolation == "vm" and self.vm_path == "vm run":
            return [self.dockyard, "vm", "run", self.image, "sh", "-c", script]
        return [self.dockyard, "run", "--rm", *self.flag, "--network", "none", self.image, "sh", "-c", script]

    def bridge_argv(self, script):
        # the default bridge: a veth (container) or a tap (VM) on dockyard0, the host at its gateway
        return [self.dockyard, "run", "--rm", *self.flag, "--network", "bridge", self.image, "sh", "-c", script]

    def run_detached(self, *extra: str, command=IDLE) -> str:
        out = run([self.dockyard, "run", "-d", *self.flag, "--network", "none", *extra, self.image, *command],
                  f"{self.label}: run -d")
        cid = out.strip().splitlines()[-1]
        self.ids.append(cid)
        return cid

    def start_idle(self):
        return self.run_detached()

    def pids(self, cid):
        # conmon names the container ID; QEMU and virtiofsd name the VM's run dir (vm/<id[:16]>)
        needle = f"/vm/{cid[:16]}" if self.isolation == "vm" else cid
        return procs.tree(procs.matching(needle))

    def stop_idle(self, cid):
        subprocess.run([self.dockyard, "rm", "-f", cid], capture_output=True, timeout=60, check=False)
        if cid in self.ids:
            self.ids.remove(cid)

    def close(self):
        for cid in list(self.ids):
            self.stop_idle(cid)


class Bundle(Mode):
    """crun or runc `run` of an OCI bundle whose rootfs is Debian's busybox-static (the same
    binary `dockyard bootstrap busybox` puts in the image)."""

    def __init__(self, key: str, binary: str, tmp: str):
        from ..runtime.bundle import make_busybox_bundle

        self.key, self.label, self.binary = key, f"{key} (OCI bundle)", binary
        self.net_reason = (f"not measured: the {key} bundle gets a private network namespace with only lo; "
                           "wiring it to a bridge (CNI) is not part of compare")
        self.bundle, self.state = os.path.join(tmp, f"{key}-bundle"), os.path.join(tmp, f"{key}-state")
        make_busybox_bundle(self.bundle, ["true"], terminal=False)
        self.counter = itertools.count()
        self.idle_reason = (f"{key} has no monitor: a detached {key} container is its workload process "
                            "alone (the host row's figure); podman's row is runc under conmon")
        if key == "crun":
            self.how = ("crun --root DIR run --bundle B in a private mount namespace with /sys/fs/cgroup/unified "
                        "unmounted (crun 1.8 refuses this hybrid cgroup host otherwise: PEERS.md)")
        else:
            self.how = f"{key} --root DIR run --bundle B"

    def argv(self, script):
        path = os.path.join(self.bundle, "config.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg["ociVersion"] = "1.0.2"  # crun 1.8 / runc 1.1 know 1.0.x
        cfg["process"].update(args=["sh", "-c", script], terminal=False)
        cfg["root"]["readonly"] = False  # the workloads write in /tmp, as they do in an image's rootfs
        with open(path, "w") as f:
            json.dump(cfg, f)
        cid = f"dockyard-compare-{os.getpid()}-{next(self.counter)}"
        if self.key == "crun":
            return ["unshare", "--mount", "--propagation", "slave", "sh", "-c",
                    (f"umount /sys/fs/cgroup/unified 2>/dev/null; exec {self.binary} --root {self.state} run "
                    f"--bundle {self.bundle} {cid}")]
        return [self.binary, "--root", self.state, "run", "--bundle", self.bundle, cid]


class Podman(Mode):
    """podman with a private store, network config dir and runc root (never the host's),
    the image loaded from `dockyard save`; runc because crun refuses this host's hybrid cgroups,
    ulimits it may set (no CAP_SYS_RESOURCE here): tests/podman_support.py, benchmarks/run.sh."""

    key, label = "podman", "podman (runc, conmon)"
    net_reason = ("not measured: podman's default bridge is 10.88.0.0/16 like dockyard's, so both cannot be up "
                  "at once (benchmarks/network.sh moves dockyard's aside to time podman's bridge)")

    def __init__(self, binary: str, runc: str, dockyard: str, image: str, tmp: str):
        d = self.dir = os.path.join(tmp, "podman")
        self.cgroups_before = _podman_cgroups()
        for sub in ("root", "runroot", "tmp", "net", "runc"):
            os.makedirs(os.path.join(d, sub))
        with open(os.path.join(d, "containers.conf"), "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n')
        self.env = {**os.environ, "CONTAINERS_CONF": os.path.join(d, "containers.conf")}
        self.base = [binary, "--root", f"{d}/root", "--runroot", f"{d}/runroot", "--tmpdir", f"{d}/tmp",
                     "--network-config-dir", f"{d}/net", "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
                     "--events-backend", "file", "--runtime", runc, "--runtime-flag", f"root={d}/runc"]
        archive = os.path.join(d, "image.tar")
        run([dockyard, "save", "-o", archive, image], f"dockyard save {image} for podman")
        out = run([*self.base, "load", "-q", "-i", archive], "podman load", env=self.env)
        os.unlink(archive)
        self.image = out.strip().split(": ", 1)[-1].split(",")[0].strip()
        self.how = f"podman run --rm --network none {self.image} sh -c SCRIPT (private store, runc, cgroupfs)"
        self.ids: list[str] = []

    def _cmd(self, *args: str) -> list[str]:
        # podman reads CONTAINERS_CONF from its environment: env(1) keeps argv self-contained
        return ["env", f"CONTAINERS_CONF={self.env['CONTAINERS_CONF']}", *self.base, *args]

    def argv(self, script):
        return self._cmd("run", "--rm", "--network", "none", self.image, "sh", "-c", script)

    def start_idle(self):
        cid = run(self._cmd("run", "-d", "--network", "none", self.image, *IDLE), "podman run -d").strip()
        self.ids.append(cid)
        return cid

    def pids(self, cid):
        return procs.tree(procs.matching(cid))

    def stop_idle(self, cid):
        subprocess.run(self._cmd("rm", "-f", "-t", "0", cid), capture_output=True, timeout=60, check=False)
        if cid in self.ids:
            self.ids.remove(cid)

    def close(self):
        for cid in list(self.ids):
            self.stop_idle(cid)
        subprocess.run(self._cmd("system", "reset", "-f"), capture_output=True, timeout=120, check=False)
        subprocess.run(["umount", "-R", "-l", self.dir], capture_output=True, check=False)
        # podman (cgroupfs manager, v1) leaves each container's libpod-ID cgroup behind, and the
        # parent when it made it: remove the ones that appeared during our run (rmdir only
        # removes an empty cgroup, so nothing another user still runs in is touched)
        for path in sorted(_podman_cgroups() - self.cgroups_before, key=len, reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        shutil.rmtree(self.dir, ignore_errors=True)


def _podman_cgroups() -> set[str]:
    return {p.rstrip("/") for g in CGROUP_GLOBS for p in glob.glob(g)}


def _docker_reason() -> str | None:
    docker = shutil.which("docker")
    if not docker:
        return "docker is not installed"
    p = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                       timeout=20, check=False)
    if p.returncode != 0 or not p.stdout.strip():
        return (f"no dockerd running here ({docker} is a client without an engine); PEERS.md measured "
                "`docker run --rm --network none busybox true` at 174 ms median on this kind of machine")
    return None


@contextlib.contextmanager
def open_modes(dockyard: str, image: str, vm_path: str, accel_name: str | None, wanted: set[str] | None):
    """The modes in report order, set up; everything they made removed on the way out."""
    tmp = tempfile.mkdtemp(prefix="dockyard-compare-")
    opened: list[Mode] = []

    def add(key: str, label: str, make):
        if wanted is not None and key not in wanted:
            opened.append(Unavailable(key, label, "not selected (--modes)"))
            return
        try:
            opened.append(make())
        except DockyardError as e:
            opened.append(Unavailable(key, label, str(e)))

    try:
        flag = vm_path == "run --isolation=vm"
        add("host", Host.label, Host)
        add("process", "dockyard container", lambda: Dockyard(dockyard, image, "process", isolation_flag=flag))
        if accel_name:
            add("vm", "dockyard microVM", lambda: Dockyard(dockyard, image, "vm", vm_path, isolation_flag=flag))
        else:
            opened.append(Unavailable("vm", "dockyard microVM", "no QEMU/guest kernel here (see accel)"))
        for key in ("crun", "runc"):
            binary = shutil.which(key)
            if binary:
                add(key, f"{key} (OCI bundle)", lambda k=key, b=binary: Bundle(k, b, tmp))
            else:
                opened.append(Unavailable(key, f"{key} (OCI bundle)", f"{key} is not installed"))
        podman, runc = shutil.which("podman"), shutil.which("runc")
        if podman and runc:
            add("podman", Podman.label, lambda: Podman(podman, runc, dockyard, image, tmp))
        else:
            opened.append(Unavailable("podman", Podman.label, "podman (and runc) not installed"))
        reason = _docker_reason() if wanted is None or "docker" in wanted else "not selected (--modes)"
        opened.append(Unavailable("docker", "docker", reason) if reason else
                      Unavailable("docker", "docker", "a running dockerd was found but compare does not drive it yet"))
        runsc = shutil.which("runsc")
        opened.append(Unavailable("runsc", "gVisor runsc", "gVisor's runsc is not installed (not in Debian 12)" if not runsc
                                  else "runsc is installed but compare does not drive it yet"))
        yield opened
    finally:
        for m in opened:
            with contextlib.suppress(Exception):
                m.close()
        shutil.rmtree(tmp, ignore_errors=True)
