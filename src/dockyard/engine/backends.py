"""How a container is isolated, and what the lifecycle code asks of it (issue 7).

Two backends behind one small protocol, chosen per container by `--isolation` (kept in its
meta.json as "isolation"; old containers have none and are "process"):

- ``process``: namespaces and cgroups through dockyard-runtime, held by conmon when detached
  (monitor.py); its exit code is conmon's exit file, its output conmon's k8s-file log.
- ``vm``: a QEMU microVM (vm/, VmBackend). QEMU daemonizes and writes the workload's
  stdout/stderr and exit code into files itself, so there is no monitor process.

lifecycle.py (refresh/stop/kill/rm/logs/exec/top/inspect) calls these methods and never
branches on the isolation; `run`/`create`/`start` choose their path in run.py (vm_run.py).

The default isolation comes from the config file: $DOCKYARD_CONFIG, else
/etc/dockyard/dockyard.json, a JSON object whose "isolation" is "process" or "vm"
(no file: process, as Docker).
"""

from __future__ import annotations

import os

from .. import _json as json
from .. import config
from ..errors import ConfigError, DockyardError, InvalidState, NotFound

ISOLATIONS = ("process", "vm")
CONFIG_FILE = "/etc/dockyard/dockyard.json"

# Recorded when a container ended without anyone seeing its exit status: a foreground
# `dockyard run` killed before its workload finished (nothing like conmon held it), or a VM
# whose record vanished.
UNKNOWN_EXIT = 255


def config_file() -> str:
    return os.environ.get("DOCKYARD_CONFIG") or CONFIG_FILE


def default_isolation() -> str:
    path = config_file()
    try:
        with open(path) as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        return "process"
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: {getattr(e, 'strerror', None) or e}") from None
    value = data.get("isolation", "process") if isinstance(data, dict) else None
    if value not in ISOLATIONS:
        raise ConfigError(f"{path}: \"isolation\" must be one of {', '.join(ISOLATIONS)}, not {value!r}")
    return value


def resolve(flag: str | None) -> str:
    """--isolation's value: process, vm, or default/absent (the config file's)."""
    if flag in (None, "", "default"):
        return default_isolation()
    if flag not in ISOLATIONS:
        raise ConfigError(f"--isolation {flag!r}: use process, vm or default")
    return flag


def isolation_of(containers, cid: str) -> str:
    return containers.meta(cid).get("isolation") or "process"


def of(containers, cid: str):
    return VM if isolation_of(containers, cid) == "vm" else PROCESS


def vm_id(cid: str) -> str:
    """The VM's name in vm/ (its run dir <run root>/vm/<name>): the container ID's first 16
    hex digits, because virtiofsd's and QEMU's unix sockets live in that dir and a socket
    path has 108 bytes at most (a 64-digit ID made them too long under a test's run root)."""
    return cid[:16]


def signal_number(sig: str) -> int:
    """"TERM", "SIGTERM" or "15" -> 15 (Docker's spellings)."""
    import signal

    if sig.isdigit():
        return int(sig)
    name = sig.upper() if sig.upper().startswith("SIG") else "SIG" + sig.upper()
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ConfigError(f"invalid signal {sig!r}") from None


def runtime(*args: str):
    """`dockyard-runtime ARGS` (CompletedProcess). subprocess is imported here, not at the
    top: `run` imports this module on its hot path (resolve)."""
    import subprocess

    from .run import runtime_binary

    return subprocess.run([runtime_binary(), "--root", config.runtime_root(), *args], capture_output=True, text=True,
                          check=False)


class ProcessBackend:
    """The runtime + conmon path (what every container was before issue 7)."""

    name = "process"

    def exit_code(self, containers, rec) -> int | None:
        """The exit code once the container has ended, None while it runs: conmon's exit
        file (detached), else the runtime's state (a foreground run whose CLI was killed)."""
        from . import monitor

        d = containers.path(rec.id)
        code = monitor.exit_code(d, rec.id)
        if code is None and not _monitor_alive(d):  # no conmon, or one killed: ask the runtime
            p = runtime("state", rec.id)
            try:
                gone = p.returncode != 0 or json.loads(p.stdout).get("status") == "stopped"
            except ValueError:
                gone = True
            if gone:
                code = UNKNOWN_EXIT
        return code

    def signal(self, containers, rec, sig: str, all_: bool = False) -> None:
        p = runtime("kill", *(["--all"] if all_ else []), rec.id, sig)
        if p.returncode != 0:
            raise DockyardError(p.stderr.strip().removeprefix("dockyard-runtime: ") or f"kill {sig} failed")

    def release(self, containers, rec) -> None:
        """Everything of the container's last run outside its bundle dir (rm)."""
        runtime("delete", "--force", rec.id)

    def read_log(self, containers, rec):
        from . import monitor

        return monitor.read_log(containers.path(rec.id))

    def exec(self, containers, rec, argv, *, env=(), user=None, workdir=None, tty=False) -> int:
        from .run import runtime_binary

        d = containers.path(rec.id)
        log = os.path.join(d, "exec.log")
        args = [runtime_binary(), "--root", config.runtime_root(), "--log", log, "--log-format", "json", "exec"]
        for e in env:
            args += ["--env", e if "=" in e else f"{e}={os.environ.get(e, '')}"]
        if user:
            from .spec import resolve_user

            uid, gid, _, _ = resolve_user(user, os.path.join(d, "merged"))
            args += ["--user", f"{uid}:{gid}"]
        if workdir:
            args += ["--cwd", workdir]
        if tty:
            args.append("--tty")
        try:
            os.unlink(log)
        except FileNotFoundError:
            pass
        import subprocess

        code = subprocess.call([*args, rec.id, *argv])
        try:
            with open(log) as f:
                errors = [json.loads(line)["msg"] for line in f if '"error"' in line]
        except (OSError, ValueError, KeyError):
            errors = []
        if errors:
            return 127 if "not found" in errors[-1] else 126 if "permission denied" in errors[-1] else 125
        return code

    def top(self, containers, rec) -> str:
        return runtime("ps", rec.id).stdout

    def pid(self, containers, rec) -> int:
        try:
            with open(os.path.join(containers.path(rec.id), "pid")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def details(self, containers, rec) -> dict:
        return {}


def _monitor_alive(d: str) -> bool:
    try:
        with open(os.path.join(d, "conmon.pid")) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return False
    return pid > 0 and os.path.exists(f"/proc/{pid}")


class VmIsolation:
    """A container booted as a microVM: each call loads the VM's record (VmBackend is
    stateless), so any CLI process may ask. The VM's run dir goes once its exit is recorded:
    an exited VM container holds only its bundle dir (rootfs mount, logs, meta)."""

    name = "vm"

    @staticmethod
    def backend():
        from ..vm.backend import VmBackend

        return VmBackend()

    def _handle(self, rec):
        b = self.backend()
        try:
            return b, b.load(vm_id(rec.id))
        except NotFound:
            return b, None

    def exit_code(self, containers, rec) -> int | None:
        from ..runtime.procs import proc_start_time

        owner = containers.meta(rec.id).get("owner")
        if owner and proc_start_time(owner[0]) == owner[1]:
            return None  # a foreground `run` follows this VM and records its exit itself
        b, h = self._handle(rec)
        if h is None:
            containers.update_meta(rec.id, vm_error="the VM's run dir is gone (host rebooted?)")
            return UNKNOWN_EXIT
        if b.state(h)["status"] != "exited":
            return None
        code = b.wait(h)  # QEMU is gone: stops virtiofsd, reads the exit port
        error = b.state(h).get("error")
        if error:
            containers.update_meta(rec.id, vm_error=error)
        b.cleanup(h)
        return code

    def signal(self, containers, rec, sig: str, all_: bool = False) -> None:
        """SIGKILL ends the VM (QEMU); other signals reach the workload through the agent."""
        from ..vm.errors import VmError

        b, h = self._handle(rec)
        if h is None:
            raise InvalidState(f"container {rec.name} has no VM")
        try:
            b.kill(h, signal_number(sig))
        except (VmError, OSError) as e:
            raise DockyardError(f"cannot signal the VM's workload: {e} (the guest agent is not up yet?)") from None

    def release(self, containers, rec) -> None:
        b, h = self._handle(rec)
        if h is not None:
            b.cleanup(h)  # QEMU, virtiofsd, read-only binds, sockets, run dir

    def read_log(self, containers, rec):
        """(time, stream, text) per line of the files QEMU appends the guest's output to;
        a last line without its newline only once the VM has ended (it may still grow)."""
        import time

        d = containers.path(rec.id)
        final = rec.state != "running"
        for stream in ("stdout", "stderr"):
            path = os.path.join(d, f"vm-{stream}")
            try:
                with open(path, "rb") as f:
                    data = f.read().decode(errors="replace")
                ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(path).st_mtime))
            except FileNotFoundError:
                continue
            lines = data.split("\n")
            for line in lines[:-1]:
                yield ts, stream, line + "\n"
            if lines[-1] and final:
                yield ts, stream, lines[-1]

    def exec(self, containers, rec, argv, *, env=(), user=None, workdir=None, tty=False) -> int:
        """Through the guest agent: the container's env, user and workdir unless given."""
        from .spec import resolve_user

        if tty:
            raise ConfigError("exec -t: a VM has no terminal for exec yet (--isolation=vm)")
        b, h = self._handle(rec)
        if h is None:
            raise InvalidState(f"container {rec.name} has no VM")
        d = containers.path(rec.id)
        vm = containers.meta(rec.id).get("vm") or {}
        environ = dict(e.split("=", 1) for e in vm.get("env", []) if "=" in e)
        for e in env:
            k, eq, v = e.partition("=")
            if eq:
                environ[k] = v
            elif k in os.environ:
                environ[k] = os.environ[k]
        uid, gid = vm.get("uid", 0), vm.get("gid", 0)
        if user:
            uid, gid, _, _ = resolve_user(user, os.path.join(d, "merged"))
        return b.exec(h, argv, env=[f"{k}={v}" for k, v in environ.items()], cwd=workdir or vm.get("cwd", "/"),
                      uid=uid, gid=gid)

    def top(self, containers, rec) -> str:
        raise ConfigError("top: not built for --isolation=vm (the guest's processes: `exec CONTAINER ps`)")

    def pid(self, containers, rec) -> int:
        b, h = self._handle(rec)
        return b.state(h).get("pid") or 0 if h is not None else 0

    def details(self, containers, rec) -> dict:
        """inspect's "VM": how it is booted, and why KVM or TCG (never a silent fallback)."""
        meta = containers.meta(rec.id)
        vm = meta.get("vm") or {}
        out = {"Accel": meta.get("accel"), "AccelReason": meta.get("accel_reason"), "Kernel": meta.get("vm_kernel"),
               "CPUs": vm.get("cpus"), "Memory": vm.get("memory"), "Error": meta.get("vm_error") or ""}
        b, h = self._handle(rec)
        if h is not None:
            st = b.state(h)
            out.update(Accel=st["accel"], AccelReason=st["accel_reason"], Kernel=st["kernel"], CPUs=st["cpus"],
                       Memory=st["memory"], Balloon=h.record.get("balloon"), RunDir=h.run_dir)
        return out


PROCESS = ProcessBackend()
VM = VmIsolation()
