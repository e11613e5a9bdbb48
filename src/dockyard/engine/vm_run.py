"""`run`/`create`/`start` with `--isolation=vm` (issue 7): the same image, command, env,
workdir, user and volumes as a container run, booted as a microVM by vm/ (VmBackend).

Shape of a VM container (beside a process one, so `ps`, `rm`, `logs` treat both alike):
- the record and bundle dir as any container's: the image's snapshot overlay-mounted at
  <dir>/merged (the VM's rootfs, shared by virtiofs: guest writes land in <dir>/upper),
  config.json (what `inspect` shows), meta.json with "isolation": "vm" and "vm" (the
  VmConfig, so `start` can boot it again) and the accelerator chosen and why;
- the guest's stdout and stderr: <dir>/vm-stdout and vm-stderr, appended by QEMU itself
  (`logs` reads them), the exit code on the VM's exit port in its run dir;
- no monitor process: QEMU daemonizes and needs nothing of ours; whoever next looks at the
  container (refresh) records its exit and removes the VM's run dir.

A foreground run records its pid as the VM's "owner": while it lives, refresh leaves the
exit to it (it prints the guest's output and returns the exit code).

Networking: on a bridge or user network the VM's virtio-net sits on a tap in that bridge,
made before QEMU starts (engine/networking.attach_vm) and gone with QEMU; the address, -p
rules and DNS names are released as a container's are (refresh, rm). The guest gets the
engine's /etc/hostname, hosts and resolv.conf (bound over the image's by its init).

Not built for VMs (refused in one line, never half-working): `--network host` and
`container:NAME` (a VM has its own kernel and network stack), `-t`/`-i`, `--read-only`,
`--tmpfs`, restart policies.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from .. import _json as json
from ..errors import ConfigError
from ..image.snapshots import Snapshots
from .spec import RunOptions, command, container_spec


def refuse_unsupported(opts: RunOptions, meta: dict) -> None:
    """The flags a VM cannot honour yet, each one line naming it."""
    network = opts.network or "bridge"
    if network == "host" or network.startswith("container:"):
        raise ConfigError(f"--isolation=vm: --network {network} shares a network stack with the host or "
                          "another container, and a VM has its own kernel; use a bridge or user network, or none")
    for flag, given in (("-t", opts.tty), ("-i", meta.get("interactive")), ("--read-only", opts.read_only),
                        ("--tmpfs", opts.tmpfs), ("--init", opts.init),
                        ("--restart", (meta.get("restart") or "no") != "no")):
        if given:
            raise ConfigError(f"--isolation=vm: {flag} is not built yet")
    if opts.cpus is not None and (opts.cpus < 1 or opts.cpus != int(opts.cpus)):
        raise ConfigError("--isolation=vm: --cpus is a whole number of vCPUs (1 or more)")


def _log(msg: str) -> None:
    sys.stderr.write(msg + "\n")  # first use: the kernel download and initramfs build


def _vm_config(spec: dict, opts: RunOptions, rootfs: str, d: str):
    from ..vm import VmConfig, VolumeMount

    proc = spec["process"]
    return VmConfig(rootfs=rootfs, args=proc["args"], env=proc["env"], cwd=proc.get("cwd") or "/",
                    uid=proc["user"]["uid"], gid=proc["user"]["gid"], hostname=spec["hostname"],
                    mounts=[VolumeMount(src, dst, ro) for src, dst, ro in opts.binds],
                    cpus=opts.cpus or 1, memory=opts.memory,
                    stdout=os.path.join(d, "vm-stdout"), stderr=os.path.join(d, "vm-stderr"))


def _config_from_meta(meta: dict):
    from ..vm import VmConfig, VolumeMount

    kw = dict(meta["vm"])
    kw["mounts"] = [VolumeMount(**m) for m in kw.get("mounts", [])]
    return VmConfig(**kw)


def _create_vm(containers, cid: str, cfg):
    """VmBackend.create, and what inspect needs to say about it once the run dir is gone."""
    from ..vm.backend import VmBackend
    from .backends import vm_id

    b = VmBackend(_log)
    h = b.create(vm_id(cid), cfg)
    containers.update_meta(cid, accel=h.record["accel"], accel_reason=h.record["accel_reason"],
                           vm_kernel=h.record["kernel_release"], vm_error="")
    return b, h


def _prepare(images, containers, image_ref: str, opts: RunOptions, name: str | None, rm: bool):
    """Record, mount, check, write config.json, create the VM (not started): (record, dir,
    backend, handle). On failure nothing is left."""
    from . import networking
    from .run import _check_executable

    meta = containers.pending_meta or {}
    refuse_unsupported(opts, meta)
    img = images.resolve(image_ref)
    argv = command(img.config.config, opts)
    netplan = networking.plan(opts, img.config.config, name)  # bad -p, missing network: before anything
    containers.pending_meta = {**meta, "network": netplan, "isolation": "vm"}
    top = images.unpack(img)
    rec = containers.new(str(img.id), argv, name, rm)
    d = containers.path(rec.id)
    b = h = None
    try:
        merged = images.snapshots.mount(top, d)
        spec = container_spec(img.config.config, opts, rootfs=merged, cid=rec.id)
        _check_executable(merged, argv[0], spec["process"]["env"], [dst for _, dst, _ in opts.binds])
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(spec))
        from . import etc_files

        # the guest's /etc/hostname, hosts, resolv.conf (rewritten with the address at start)
        etc_files.write(d, spec["hostname"], dns=netplan["dns"], dns_search=netplan["dns_search"],
                        dns_option=netplan["dns_option"], add_host=netplan["add_host"])
        cfg = _vm_config(spec, opts, merged, d)
        containers.update_meta(rec.id, vm=dataclasses.asdict(cfg))
        b, h = _create_vm(containers, rec.id, cfg)
    except BaseException:
        if h is not None:
            b.cleanup(h)
        Snapshots.unmount(d)
        containers.delete(rec.id)
        raise
    return rec, d, b, h


def _boot(containers, cid: str, b, h) -> None:
    """Network (a tap on the container's bridge, if it has one), then QEMU, which inherits
    the tap's fd: ours is closed once QEMU holds it, so the tap goes with QEMU. A failure
    releases the address, rules and names again."""
    from . import networking

    nic, etc = networking.attach_vm(containers, cid)
    try:
        b.start(h, nic=nic, etc=etc)
    except BaseException:
        if nic is not None:
            os.close(nic.fd)
            nic = None
        networking.release(containers, cid)
        raise
    finally:
        if nic is not None:
            os.close(nic.fd)


class _Follow:
    """Copy what QEMU appends to the guest's stdout/stderr files to our own fds."""

    def __init__(self, pairs) -> None:
        self.files = [(open(path, "rb"), fd) for path, fd in pairs]  # noqa: SIM115 - closed in close()

    def __call__(self) -> None:
        for f, fd in self.files:
            while chunk := f.read(65536):
                os.write(fd, chunk)

    def close(self) -> None:
        self()
        for f, _ in self.files:
            f.close()


def run_foreground(images, containers, image_ref: str, opts: RunOptions, *, name: str | None = None,
                   rm: bool = False) -> int:
    """Boot, follow the guest's output to our stdout/stderr, return its exit code. Signals
    sent to this CLI reach the workload through the guest agent (Docker's --sig-proxy); one
    arriving before the agent is up ends the VM."""
    import signal

    from ..runtime.procs import proc_start_time

    rec, d, b, h = _prepare(images, containers, image_ref, opts, name, rm)
    containers.update_meta(rec.id, owner=[os.getpid(), proc_start_time(os.getpid())])
    code = 125

    def proxy(signum, _frame):
        try:
            b.kill(h, signum)
        except Exception:  # noqa: BLE001 - no agent yet (booting) or already gone: end the VM
            b.kill(h, signal.SIGKILL) if b.state(h)["status"] == "running" else None

    proxied = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
    previous = {}
    try:
        _boot(containers, rec.id, b, h)
        containers.set_state(rec.id, "running")
        follow = _Follow([(os.path.join(d, "vm-stdout"), 1), (os.path.join(d, "vm-stderr"), 2)])
        previous = {sig: signal.signal(sig, proxy) for sig in proxied}
        try:
            code = b.wait(h, on_tick=follow)
        finally:
            follow.close()
        error = b.state(h).get("error")
        if error:
            sys.stderr.write(f"dockyard: {error}\n")
            containers.update_meta(rec.id, vm_error=error)
        containers.set_state(rec.id, "exited", code)
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        b.cleanup(h)
        from . import networking

        networking.release(containers, rec.id)  # the tap went with QEMU: rules, names, address now
        Snapshots.unmount(d, remove=rm)
        if rm:
            containers.delete(rec.id)
        else:
            containers.update_meta(rec.id, owner=None)
            if code == 125:
                containers.set_state(rec.id, "exited", code)


def create_detached(images, containers, image_ref: str, opts: RunOptions, *, name: str | None = None,
                    rm: bool = False) -> str:
    """`create --isolation=vm`: the VM is created (its run dir, config, accelerator), not booted."""
    rec, _, _, _ = _prepare(images, containers, image_ref, opts, name, rm)
    return rec.id


def start(images, containers, rec) -> None:
    """Boot a created VM; an exited one is created again from its meta (same rootfs and
    upper dir: its files survive, as a container's do) and booted."""
    from ..errors import NotFound
    from ..vm.backend import VmBackend
    from .backends import vm_id

    b = VmBackend(_log)
    try:
        h = b.load(vm_id(rec.id))
    except NotFound:
        h = None
    if h is None or h.record["status"] != "created":
        if h is not None:
            b.cleanup(h)
        d = containers.path(rec.id)
        if not os.path.ismount(os.path.join(d, "merged")):
            images.snapshots.mount(images.unpack(images.get(rec.image)), d)
        b, h = _create_vm(containers, rec.id, _config_from_meta(containers.meta(rec.id)))
    _boot(containers, rec.id, b, h)
    containers.set_state(rec.id, "running")
    if containers.meta(rec.id).get("manual_stop"):
        containers.update_meta(rec.id, manual_stop=False)


def run_detached(images, containers, image_ref: str, opts: RunOptions, *, name: str | None = None,
                 rm: bool = False) -> str:
    """`run -d --isolation=vm`: QEMU daemonized, the ID returned; nothing of ours stays."""
    cid = create_detached(images, containers, image_ref, opts, name=name, rm=rm)
    try:
        start(images, containers, containers.get(cid))
    except BaseException:
        from . import networking
        from .backends import VM

        VM.release(containers, containers.get(cid))
        networking.release(containers, cid)
        Snapshots.unmount(containers.path(cid))
        containers.delete(cid)
        raise
    return cid
