"""VmBackend: one container as a microVM — create / start / wait / kill / delete / state /
exec / update_memory, the same verbs as the runtime's, over a VmConfig (see __init__.py).

Each VM has a run dir, <run root>/vm/<id>/:
    vm.json          the record: config summary, accel, pids (+ start times), status
    initrd           base initramfs + this VM's config (removed once QEMU has loaded it)
    qemu.pid         written by QEMU (-daemonize -pidfile)
    exit             the guest's exit port: "STARTED", then "EXIT <code>" or "ERROR <why>"
    console.log      kernel messages (panics included)
    qmp.sock agent.sock fs<N>.sock   QMP, the guest agent, virtiofsd's vhost-user sockets
    virtiofsd-<N>.log, exec.stdout/.stderr, ro-<N>/ (read-only bind of a :ro volume)
`cleanup` removes all of it and every process it names, from any state (QEMU killed with
-9 included): the engine calls it from rm and refresh."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from .. import _json as json
from .. import config
from ..errors import AlreadyExists, InvalidState, MountError, NotFound
from ..runtime.procs import proc_start_time
from . import GuestNic, VmConfig, VmHandle
from .errors import VmError

BOOT_TIMEOUT = 60.0  # to the guest's STARTED line; under TCG a boot takes ~1.5 s here


def boot_timeout() -> float:
    """BOOT_TIMEOUT, or $DOCKYARD_VM_BOOT_TIMEOUT (seconds) when set (tests, slow hosts)."""
    try:
        return float(os.environ.get("DOCKYARD_VM_BOOT_TIMEOUT") or BOOT_TIMEOUT)
    except ValueError:
        raise VmError("DOCKYARD_VM_BOOT_TIMEOUT: expected a number of seconds") from None


def vm_run_root() -> str:
    return os.path.join(config.run_root(), "vm")


def _tb_size_mib(default: int) -> int:
    """DOCKYARD_VM_TB_MIB overrides the TCG translation cache size (benchmarks/vm.sh
    measures memory against it); 0 is QEMU's own default."""
    value = os.environ.get("DOCKYARD_VM_TB_MIB", "")
    if not value:
        return default
    if not value.isdigit():
        raise VmError(f"DOCKYARD_VM_TB_MIB={value!r}: expected a number of MiB")
    return int(value)


def _alive(pid: int | None, start: int | None) -> bool:
    return bool(pid) and proc_start_time(pid) == start and start is not None


def _kill(pid: int | None, start: int | None, sig: int = signal.SIGKILL) -> None:
    if _alive(pid, start):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap_or_wait(pid: int, timeout: float) -> None:
    """Wait for ``pid`` to go, reaping it if it is our child (a virtiofsd we started)."""
    end = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:
            if proc_start_time(pid) is None:
                return
        if time.monotonic() > end:
            return
        time.sleep(0.005)


class VmBackend:
    """Stateless: every call reads and writes the VM's record, so the engine may create in
    one process and stop or remove in another."""

    def __init__(self, log=lambda msg: None) -> None:
        self.log = log

    # --- records -------------------------------------------------------------------------

    @staticmethod
    def _save(h: VmHandle) -> None:
        tmp = os.path.join(h.run_dir, f"vm.json.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps(h.record))
        os.rename(tmp, os.path.join(h.run_dir, "vm.json"))

    def load(self, vm_id: str) -> VmHandle:
        run_dir = os.path.join(vm_run_root(), vm_id)
        try:
            with open(os.path.join(run_dir, "vm.json")) as f:
                return VmHandle(vm_id, run_dir, json.loads(f.read()))
        except FileNotFoundError:
            raise NotFound(f"no VM {vm_id!r}") from None

    def list(self) -> list[str]:
        try:
            return sorted(os.listdir(vm_run_root()))
        except FileNotFoundError:
            return []

    # --- create --------------------------------------------------------------------------

    def create(self, vm_id: str, cfg: VmConfig) -> VmHandle:
        from . import accel, guest_config, setup

        if not cfg.args:
            raise VmError("no command to run")
        if not os.path.isdir(cfg.rootfs):
            raise VmError(f"rootfs {cfg.rootfs}: not a directory")
        for m in cfg.mounts:
            if not os.path.exists(m.source):
                raise VmError(f"volume source {m.source}: no such file or directory")
            if not os.path.isdir(m.source):
                raise VmError(f"volume source {m.source}: virtiofs shares directories only")
        if cfg.memory is not None and cfg.memory < (64 << 20):
            raise VmError("a VM needs at least 64 MiB of memory (--memory)")
        assets = setup.ensure(self.log)
        chosen = accel.choose(assets.kernel.release, assets.kernel.image, assets.initramfs, setup.vm_root())
        os.makedirs(vm_run_root(), exist_ok=True)
        run_dir = os.path.join(vm_run_root(), vm_id)
        try:
            os.mkdir(run_dir, 0o700)
        except FileExistsError:
            raise AlreadyExists(f"VM {vm_id!r} already exists") from None
        h = VmHandle(vm_id, run_dir, {})
        try:
            shares = [{"tag": "rootfs", "source": cfg.rootfs, "readonly": False}]
            volumes = []
            for i, m in enumerate(cfg.mounts):
                tag = f"vol{i}"
                shares.append({"tag": tag, "source": m.source, "readonly": m.readonly})
                volumes.append((tag, m.destination, m.readonly))
            for i, s in enumerate(shares):
                s["socket"] = os.path.join(run_dir, f"fs{i}.sock")
            argv = guest_config.workload_argv(cfg.args, cfg.env, cfg.cwd, cfg.uid, cfg.gid)
            script = guest_config.config_script(rootfs_tag="rootfs", volumes=volumes, hostname=cfg.hostname,
                                                cwd=cfg.cwd, argv=argv)
            with open(assets.initramfs, "rb") as src, open(os.path.join(run_dir, "initrd"), "wb") as dst:
                shutil.copyfileobj(src, dst)
                dst.write(guest_config.config_cpio(script))
            stdout = cfg.stdout or os.path.join(run_dir, "stdout")
            stderr = cfg.stderr or os.path.join(run_dir, "stderr")
            for path in (stdout, stderr, os.path.join(run_dir, "exit")):
                open(path, "ab").close()
            from .qemu import DEFAULT_MEMORY, TCG_TB_MIB

            h.record = {
                "id": vm_id, "status": "created", "kernel": assets.kernel.image, "kernel_release":
                assets.kernel.release, "pvh": assets.kernel.pvh, "accel": chosen.name, "accel_reason": chosen.reason,
                "tb_size_mib": _tb_size_mib(TCG_TB_MIB) if chosen.name == "tcg" else 0, "cpus": max(1, round(cfg.cpus or 1)),
                "memory": cfg.memory or DEFAULT_MEMORY, "shares": shares, "stdout": stdout, "stderr": stderr,
                "debug": cfg.debug, "created": time.time(),
            }
            self._save(h)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return h

    # --- start ---------------------------------------------------------------------------

    def _machine(self, h: VmHandle):
        from . import qemu

        r = h.record
        shares = [qemu.Share(s["tag"], s["socket"], s.get("served") or s["source"], s["readonly"]) for s in r["shares"]]
        return qemu.Machine(kernel=r["kernel"], initrd=os.path.join(h.run_dir, "initrd"), run_dir=h.run_dir,
                            stdout=r["stdout"], stderr=r["stderr"], accel=r["accel"], cpus=r["cpus"],
                            memory=r["memory"], tb_size_mib=r["tb_size_mib"], shares=shares, debug=r["debug"])

    def _start_virtiofsd(self, h: VmHandle, i: int, share: dict) -> None:
        from . import qemu

        source = share["source"]
        if share["readonly"]:
            # C virtiofsd has no read-only mode, and a root guest could remount rw: serve a
            # read-only bind of the source instead, so the host enforces it
            from .._sys import libc

            ro = os.path.join(h.run_dir, f"ro-{i}")
            os.makedirs(ro, exist_ok=True)
            libc.mount(source, ro, None, libc.MS_BIND | libc.MS_REC)
            libc.mount(None, ro, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY)
            share["served"] = source = ro
        with open(os.path.join(h.run_dir, f"virtiofsd-{i}.log"), "wb") as log:
            p = subprocess.Popen(qemu.virtiofsd_command(qemu.Share(share["tag"], share["socket"], source)),
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        share["pid"], share["start"] = p.pid, proc_start_time(p.pid)
        self._save(h)  # recorded before waiting: a failure from here on is cleaned up by pid
        end = time.monotonic() + 5
        while not os.path.exists(share["socket"]):
            if p.poll() is not None or time.monotonic() > end:
                with open(os.path.join(h.run_dir, f"virtiofsd-{i}.log"), "rb") as f:
                    last = (f.read().decode(errors="replace").strip().splitlines() or ["no socket"])[-1]
                raise VmError(f"virtiofsd for {share['source']}: {last}")
            time.sleep(0.001)

    def start(self, h: VmHandle, nic: GuestNic | None = None, etc: dict[str, str] | None = None) -> int:
        """Start virtiofsd per share, then QEMU; returns QEMU's pid. On failure everything
        started is stopped again and the VM is back to "created" (it may be deleted).
        ``nic``: a virtio-net on the tap whose fd it holds (QEMU inherits it; the caller
        closes its own copy afterwards), configured by the guest init before the workload;
        ``etc``: /etc/hostname, hosts, resolv.conf for the guest (name -> text)."""
        from . import guest_config, qemu

        if h.record["status"] != "created":
            raise InvalidState(f"VM {h.id} is {h.record['status']}, not created")
        machine = self._machine(h)
        if nic or etc:
            with open(machine.initrd, "ab") as f:  # a third archive: the kernel unpacks them in order
                f.write(guest_config.start_cpio(address=nic and f"{nic.ip}/{nic.prefixlen}",
                                                gateway=nic and nic.gateway, mtu=nic and nic.mtu, etc=etc))
        if nic:
            machine.nic = qemu.Nic(nic.fd, nic.mac)
            h.record["nic"] = {"tap": nic.tap, "mac": nic.mac, "ip": nic.ip}
        try:
            for i, share in enumerate(h.record["shares"]):
                self._start_virtiofsd(h, i, share)
            p = subprocess.run(qemu.command_line(machine), check=False, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, pass_fds=(nic.fd,) if nic else ())
            if p.returncode != 0:
                last = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
                raise VmError(f"QEMU: {last}")
            with open(os.path.join(h.run_dir, "qemu.pid")) as f:
                pid = int(f.read().strip())
        except BaseException:
            self._stop_processes(h)
            raise
        h.record.update(status="running", pid=pid, pid_start=proc_start_time(pid), started=time.time())
        self._save(h)
        try:
            os.unlink(os.path.join(h.run_dir, "initrd"))  # loaded into guest RAM: 3 MB of tmpfs back
        except FileNotFoundError:
            pass
        return pid

    # --- status --------------------------------------------------------------------------

    def _exit_lines(self, h: VmHandle) -> list[str]:
        try:
            with open(os.path.join(h.run_dir, "exit"), "rb") as f:
                return f.read().decode(errors="replace").split("\n")
        except FileNotFoundError:
            return []

    def guest_started(self, h: VmHandle) -> bool:
        return "STARTED" in self._exit_lines(h)

    def _outcome(self, h: VmHandle) -> tuple[int, str]:
        """(exit code, error) of a VM whose QEMU has gone."""
        for line in reversed(self._exit_lines(h)):
            if line.startswith("EXIT "):
                return int(line.split()[1]), ""
            if line.startswith("ERROR "):
                return 125, f"guest init: {line[6:]}"
        if h.record.get("error"):
            return 137, h.record["error"]
        try:
            with open(os.path.join(h.run_dir, "console.log"), "rb") as f:
                console = f.read().decode(errors="replace")
        except FileNotFoundError:
            console = ""
        for line in console.splitlines():
            if "Kernel panic" in line:
                return 137, "guest kernel panic: " + line.split("]", 1)[-1].strip()
        return 137, "the VM ended without an exit code (QEMU killed?)"

    def state(self, h: VmHandle) -> dict:
        r = h.record
        status = r["status"]
        if status == "running" and not _alive(r.get("pid"), r.get("pid_start")):
            status = "exited"
        out = {"id": h.id, "status": status, "pid": r.get("pid") if status == "running" else 0,
               "accel": r["accel"], "accel_reason": r["accel_reason"], "tcg_tb_size_mib": r["tb_size_mib"],
               "cpus": r["cpus"], "memory": r["memory"], "kernel": r["kernel_release"],
               "boot": "pvh" if r["pvh"] else "bzImage"}
        if status == "exited":
            code, error = (r["exit_code"], r.get("error", "")) if "exit_code" in r else self._outcome(h)
            out.update(exit_code=code, error=error)
        return out

    # --- wait / kill ---------------------------------------------------------------------

    def wait(self, h: VmHandle, timeout: float | None = None, on_tick=None) -> int | None:
        """Block until QEMU is gone, then release its helpers and return the exit code; None
        if ``timeout`` passed first. A guest that has not said STARTED within BOOT_TIMEOUT is
        killed (a hung boot). ``on_tick()`` runs every ~10 ms meanwhile (output following)."""
        import select

        r = h.record
        if r["status"] == "exited":
            return r["exit_code"]
        if r["status"] != "running":
            raise InvalidState(f"VM {h.id} is {r['status']}")
        end = None if timeout is None else time.monotonic() + timeout
        limit = boot_timeout()
        boot_end = r["started"] + limit
        try:
            pidfd = os.pidfd_open(r["pid"]) if _alive(r["pid"], r["pid_start"]) else None
        except ProcessLookupError:
            pidfd = None
        try:
            while pidfd is not None:
                if select.select([pidfd], [], [], 0.01)[0]:
                    break
                if on_tick:
                    on_tick()
                if time.time() > boot_end and not self.guest_started(h):
                    self._fail(h, f"the guest did not boot within {limit:g} s")
                    boot_end = float("inf")
                if end is not None and time.monotonic() > end:
                    return None
        finally:
            if pidfd is not None:
                os.close(pidfd)
        if on_tick:
            on_tick()
        return self._finish(h)

    def _fail(self, h: VmHandle, error: str) -> None:
        h.record["error"] = error
        self._save(h)
        _kill(h.record.get("pid"), h.record.get("pid_start"))

    def _finish(self, h: VmHandle) -> int:
        code, error = self._outcome(h)
        self._stop_processes(h)
        h.record.update(status="exited", exit_code=code, error=error, finished=time.time())
        self._save(h)
        return code

    def kill(self, h: VmHandle, sig: int = signal.SIGKILL) -> None:
        """SIGKILL ends the VM (QEMU itself); any other signal goes to the workload through
        the guest agent, as `docker kill -s` reaches the container's process."""
        if self.state(h)["status"] != "running":
            raise InvalidState(f"VM {h.id} is not running")
        if sig == signal.SIGKILL:
            self._fail(h, "killed")
            return
        from .agent import Agent

        with Agent(os.path.join(h.run_dir, "agent.sock")) as agent:
            agent.signal(sig)

    def stop(self, h: VmHandle, timeout: float = 10.0) -> int:
        """SIGTERM to the workload, SIGKILL to the VM after ``timeout`` (docker stop)."""
        try:
            self.kill(h, signal.SIGTERM)
        except VmError:
            pass  # the agent is not up yet: the timeout path below still ends it
        code = self.wait(h, timeout)
        if code is None:
            self._fail(h, "killed after the stop timeout")
            code = self.wait(h)
        return code

    # --- delete / cleanup ----------------------------------------------------------------

    def _stop_processes(self, h: VmHandle) -> None:
        """QEMU, then every virtiofsd (each exits by itself once QEMU's end of its socket
        closes; killed if not within a second), then the read-only binds."""
        r = h.record
        _kill(r.get("pid"), r.get("pid_start"))
        if r.get("pid"):
            _reap_or_wait(r["pid"], 5)
        for s in r.get("shares", []):
            if s.get("pid"):
                _reap_or_wait(s["pid"], 1)
                _kill(s["pid"], s.get("start"))
                _reap_or_wait(s["pid"], 5)
        from .._sys import libc

        for i, s in enumerate(r.get("shares", [])):
            if s.get("served"):  # a bind on the same filesystem: os.path.ismount cannot tell
                try:
                    libc.umount2(os.path.join(h.run_dir, f"ro-{i}"), libc.MNT_DETACH)
                except MountError:
                    pass  # not mounted (any more)

    def cleanup(self, h: VmHandle) -> None:
        """Everything of this VM goes: processes, mounts, sockets, the run dir. Safe to call
        in any state and more than once (the engine's rm and refresh)."""
        self._stop_processes(h)
        shutil.rmtree(h.run_dir, ignore_errors=True)

    def delete(self, h: VmHandle, force: bool = False) -> None:
        if self.state(h)["status"] == "running" and not force:
            raise InvalidState(f"VM {h.id} is running (stop it first, or force)")
        self.cleanup(h)

    # --- exec / resources ----------------------------------------------------------------

    def exec(self, h: VmHandle, args: list[str], *, env: list[str], cwd: str = "/", uid: int = 0, gid: int = 0,
             stdout: int = 1, stderr: int = 2, timeout: float | None = None) -> int:
        """Run ``args`` in the running VM (guest agent); its output is copied to the fds."""
        from .agent import Agent, exec_request
        from .guest_config import workload_argv

        if self.state(h)["status"] != "running":
            raise InvalidState(f"VM {h.id} is not running")
        import fcntl

        with open(os.path.join(h.run_dir, "exec.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one exec at a time: they share the exec ports
            outs = [(os.path.join(h.run_dir, "exec.stdout"), stdout), (os.path.join(h.run_dir, "exec.stderr"), stderr)]
            for path, _ in outs:
                os.truncate(path, 0)
            with Agent(os.path.join(h.run_dir, "agent.sock")) as agent:
                return agent.run(exec_request(workload_argv(args, env, cwd, uid, gid)), outs, timeout,
                                 alive=lambda: _alive(h.record["pid"], h.record["pid_start"]))

    def update_memory(self, h: VmHandle, size: int) -> int:
        """Balloon the guest to ``size`` bytes (at most its boot memory: microvm has no memory
        hotplug); returns the guest's actual size as QEMU reports it."""
        from .qmp import Qmp

        if self.state(h)["status"] != "running":
            raise InvalidState(f"VM {h.id} is not running")
        if size > h.record["memory"]:
            raise VmError(f"a VM cannot grow past its boot memory ({h.record['memory'] >> 20} MiB): "
                          "microvm has no memory hotplug, the balloon only gives memory back")
        if size < (64 << 20):
            raise VmError("a VM needs at least 64 MiB of memory")
        with Qmp(os.path.join(h.run_dir, "qmp.sock")) as q:
            q.execute("balloon", value=size)
            end = time.monotonic() + 10
            actual = q.execute("query-balloon")["actual"]
            while actual > size and time.monotonic() < end:  # the guest driver inflates in steps
                time.sleep(0.05)
                actual = q.execute("query-balloon")["actual"]
        h.record["balloon"] = size
        self._save(h)
        return actual

    def query_status(self, h: VmHandle) -> str:
        from .qmp import Qmp

        with Qmp(os.path.join(h.run_dir, "qmp.sock")) as q:
            return q.execute("query-status")["status"]
