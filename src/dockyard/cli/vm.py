"""`dockyard vm setup | info | run`: the VM backend's own front end (docs/vm.md) — until the
engine runs `run --isolation=vm` through the same library, `vm run` is the direct path:
image -> snapshot -> overlay rootfs -> microVM, output followed, everything removed after."""

from __future__ import annotations

import os
import sys

USAGE = """usage: dockyard vm setup              fetch the guest kernel, build the initramfs (cached)
       dockyard vm info               kernel, QEMU, accelerator available/chosen and why
       dockyard vm run [--cpus N] [--memory SIZE] [-e K=V] [-w DIR] [-u USER[:GROUP]]
                       [-v HOST_DIR:PATH[:ro]] [--hostname H] [--timeout SECONDS] [--debug]
                       IMAGE [COMMAND...]   boot IMAGE as a microVM, run COMMAND, remove it
"""

_RUN_FLAGS = {}
for _names, _spec in (
        (("--cpus",), ("cpus", "value", None)), (("-m", "--memory"), ("memory", "value", None)),
        (("-e", "--env"), ("env", "list", None)), (("-w", "--workdir"), ("workdir", "value", None)),
        (("-u", "--user"), ("user", "value", None)), (("-v", "--volume"), ("volume", "list", None)),
        (("-h", "--hostname"), ("hostname", "value", None)), (("--timeout",), ("timeout", "value", None)),
        (("--debug",), ("debug", "bool", False)), (("--rm",), ("rm", "bool", True))):
    for _n in _names:
        _RUN_FLAGS[_n] = _spec


def cmd_vm(argv: list[str]) -> int:
    from ..errors import ConfigError

    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    if verb == "setup":
        return _setup(rest)
    if verb == "info":
        return _info(rest)
    if verb == "run":
        return _run(rest)
    raise ConfigError(f"vm: unknown command {verb!r} (setup, info, run)")


def _no_args(verb: str, rest: list[str]) -> None:
    from ..errors import ConfigError

    if rest:
        raise ConfigError(f"vm {verb}: takes no arguments")


def _setup(rest: list[str]) -> int:
    from ..vm import setup

    _no_args("setup", rest)
    assets = setup.setup(lambda msg: print(msg, file=sys.stderr))
    k = assets.kernel
    print(f"kernel {k.release} ({k.package} {k.version}), boot: {'PVH vmlinux' if k.pvh else 'bzImage'}")
    print(f"kernel image {k.image}")
    print(f"initramfs {assets.initramfs}")
    return 0


def _info(rest: list[str]) -> int:
    import subprocess

    from ..vm import accel, qemu, setup

    _no_args("info", rest)
    path = qemu.find_qemu()
    version = subprocess.run([path, "--version"], check=False, capture_output=True, text=True).stdout.splitlines()[0]
    assets = setup.ensure(fetch=False)
    k = assets.kernel
    chosen = accel.choose(k.release, k.image, assets.initramfs, setup.vm_root())
    kvm_why_not = accel._kvm_usable_device()
    print(f"QEMU: {version} ({path})")
    print(f"virtiofsd: {qemu.find_virtiofsd()}")
    print(f"kernel: {k.release} ({k.package} {k.version}), boot: {'PVH vmlinux' if k.pvh else 'bzImage'}")
    print(f"initramfs: {assets.initramfs}")
    print(f"KVM: {'no: ' + kvm_why_not if kvm_why_not else '/dev/kvm present'}")
    print(f"accelerator: {chosen.name} ({chosen.reason})")
    if chosen.name == "tcg":
        print(f"TCG translation cache: {qemu.TCG_TB_MIB} MiB; guest TSC rate: {qemu.host_tsc_khz()} kHz")
    print(f"default memory: {qemu.DEFAULT_MEMORY >> 20} MiB, vCPUs: 1")
    return 0


def _parse_run(argv: list[str]):
    from ..errors import ConfigError
    from ..vm import VolumeMount
    from .common import _size
    from .flags import parse

    a = parse("vm run", _RUN_FLAGS, argv)
    a.image, a.args = a.positionals[0], a.rest
    try:
        a.cpus = float(a.cpus) if a.cpus is not None else 1
        a.timeout = float(a.timeout) if a.timeout is not None else None
        a.memory = _size(a.memory) if a.memory else None
    except (ValueError, ConfigError):
        raise ConfigError("vm run: --cpus, --timeout take numbers and --memory a size (e.g. 256m)") from None
    if a.cpus < 1 or a.cpus != int(a.cpus):
        raise ConfigError("vm run: --cpus is a whole number of vCPUs (1 or more)")
    mounts = []
    for v in a.volume:
        parts = v.split(":")
        if len(parts) not in (2, 3) or not parts[0].startswith("/") or not parts[1].startswith("/") or (
                len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise ConfigError(f"vm run: -v {v!r}: expected HOST_DIR:CONTAINER_PATH[:ro|rw]")
        mounts.append(VolumeMount(parts[0], parts[1], len(parts) == 3 and parts[2] == "ro"))
    a.mounts = mounts
    return a


def _run(argv: list[str]) -> int:
    import secrets
    import signal

    from .. import config
    from ..engine.spec import RunOptions, command, environment, resolve_user
    from ..image.snapshots import Snapshots
    from ..image.store import ImageStore
    from ..vm import VmConfig
    from ..vm.backend import VmBackend

    a = _parse_run(argv)
    images = ImageStore(config.storage_root())
    try:
        img = images.resolve(a.image)
        image_cfg = img.config.config or {}
        opts = RunOptions(args=a.args, env=a.env, workdir=a.workdir, user=a.user, hostname=a.hostname)
        args = command(image_cfg, opts)
        top = images.unpack(img)
        vm_id = secrets.token_hex(6)
        dest = os.path.join(config.storage_root(), "vm", "containers", vm_id)
        backend = VmBackend(lambda msg: print(msg, file=sys.stderr))
        h = None
        # SIGTERM/SIGHUP end the VM as ctrl-c does: through the cleanup below
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            merged = images.snapshots.mount(top, dest)
            uid, gid, _groups, home = resolve_user(a.user or image_cfg.get("User") or "0", merged)
            hostname = a.hostname or vm_id
            cfg = VmConfig(rootfs=merged, args=args, env=environment(image_cfg, opts, hostname, home),
                           cwd=a.workdir or image_cfg.get("WorkingDir") or "/", uid=uid, gid=gid, hostname=hostname,
                           mounts=a.mounts, cpus=a.cpus, memory=a.memory, debug=a.debug)
            h = backend.create(vm_id, cfg)
            backend.start(h)
            follow = _Follow([(h.record["stdout"], 1), (h.record["stderr"], 2)])
            try:
                code = backend.wait(h, a.timeout, on_tick=follow)
                if code is None:
                    backend.kill(h)
                    code = backend.wait(h, on_tick=follow)
                    sys.stderr.write(f"dockyard: vm run: killed after --timeout {a.timeout:g} s\n")
                    return code
            finally:
                follow.close()
            error = backend.state(h).get("error")
            if error:
                sys.stderr.write(f"dockyard: vm run: {error}\n")
            return code
        finally:
            if h is not None:
                backend.cleanup(h)
            Snapshots.unmount(dest)
    finally:
        images.close()


class _Follow:
    """Copy what the VM appends to its stdout/stderr files to our own fds."""

    def __init__(self, pairs) -> None:
        self.files = [(open(path, "rb"), fd) for path, fd in pairs]  # noqa: SIM115 - closed in close()

    def __call__(self) -> None:
        for f, fd in self.files:
            while True:
                chunk = f.read(65536)
                if not chunk:
                    break
                os.write(fd, chunk)

    def close(self) -> None:
        self()
        for f, _ in self.files:
            f.close()
