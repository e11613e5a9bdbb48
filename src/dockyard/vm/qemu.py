"""The QEMU command line for one microVM (devices and reasons: devices.py, docs/vm.md).

`-daemonize -pidfile`: QEMU's parent returns once the VM is built (a bad option or a missing
file is its exit status and stderr, seen by `start`), and the VM process then needs no
parent of ours: its stdout, stderr and exit code go to files through virtio-serial ports, so
nothing has to stay alive to hold them (as conmon does for containers). `-display none`, not
`-nographic`: the latter points the serial port at a stdio that -daemonize closes."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from .errors import VmSetupError

QEMU = "qemu-system-x86_64"
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"  # the C virtiofsd in Debian 12's qemu-system-common
DEFAULT_MEMORY = 256 << 20
# Why 256 MiB: the guest kernel + initramfs + page cache of a shell workload fit in ~60 MiB,
# and guest RAM is only touched (and so only costs host memory) as the guest uses it; 128 MiB
# leaves a small image's first apt/pip run little page cache. Docker's containers have no
# default limit; a VM needs some number.
# TCG's translation cache (MiB): QEMU's default reserves 1 GiB and fills it as code runs, most
# of an idle VM's memory; measured in docs/vm.md ("Memory").
TCG_TB_MIB = 64
# The emulated CPU under TCG: x86-64-v2 (what RHEL 9-based images require), nothing more.
# `-cpu max` boots ~0.2 s slower here (the guest kernel takes slower emulated paths: xsave,
# rdrand...), and QEMU 7.2's TCG has no AVX to offer anyway (docs/vm.md).
TCG_CPU = "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16"
PORTS = ("dockyard.stdout", "dockyard.stderr", "dockyard.exit", "dockyard.agent",
         "dockyard.exec-stdout", "dockyard.exec-stderr")


def find_qemu() -> str:
    path = shutil.which(QEMU)
    if not path:
        raise VmSetupError(f"{QEMU} not found (install qemu-system-x86)")
    return path


def find_virtiofsd() -> str:
    if not os.access(VIRTIOFSD, os.X_OK):
        raise VmSetupError(f"{VIRTIOFSD} not found (install qemu-system-common, part of qemu-system-x86)")
    return VIRTIOFSD


def host_tsc_khz() -> int | None:
    """The host's TSC rate: under TCG the guest reads the host's TSC, and without being told
    its rate this kernel's early calibration hangs at random (PEERS.md)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return int(float(line.split(":")[1]) * 1000)
    except OSError:
        pass
    return None


@dataclass
class Share:
    tag: str
    socket: str
    source: str
    readonly: bool = False


@dataclass
class Nic:
    """The VM's network device: a tap the host made and put on a bridge (network/tap.py),
    passed as an inherited fd, so the tap lives exactly as long as QEMU."""

    fd: int
    mac: str


@dataclass
class Machine:
    """Everything the command line depends on; paths are the VM's run dir files."""

    kernel: str
    initrd: str
    run_dir: str
    stdout: str
    stderr: str
    accel: str  # "kvm" or "tcg"
    cpus: int = 1
    memory: int = DEFAULT_MEMORY
    tb_size_mib: int = 0  # TCG translation cache; 0 = QEMU's default
    shares: list[Share] = field(default_factory=list)
    nic: Nic | None = None
    debug: bool = False  # kernel messages at the default level instead of `quiet`

    def path(self, name: str) -> str:
        return os.path.join(self.run_dir, name)


def kernel_cmdline(m: Machine) -> str:
    args = ["console=ttyS0", "panic=-1", "rdinit=/init"]
    # panic=-1: a panicking guest reboots at once, and -no-reboot turns that into QEMU's exit
    if not m.debug:
        args.append("quiet")
    if m.accel == "tcg":
        khz = host_tsc_khz()
        if khz:
            args.append(f"tsc_early_khz={khz}")
    return " ".join(args)


def command_line(m: Machine) -> list[str]:
    mib = max(m.memory >> 20, 64)
    argv = [find_qemu(), "-M", "microvm,x-option-roms=off,memory-backend=mem",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-daemonize", "-pidfile", m.path("qemu.pid")]
    if m.accel == "kvm":
        # -arch-capabilities: some nested KVMs refuse the MSR QEMU would otherwise pass through
        argv += ["-accel", "kvm", "-cpu", "host,-arch-capabilities"]
    else:
        argv += ["-accel", f"tcg,tb-size={m.tb_size_mib}" if m.tb_size_mib else "tcg", "-cpu", TCG_CPU]
    argv += ["-smp", str(max(1, m.cpus)), "-m", f"{mib}M",
             "-object", f"memory-backend-memfd,id=mem,size={mib}M,share=on",
             "-kernel", m.kernel, "-initrd", m.initrd, "-append", kernel_cmdline(m),
             "-chardev", f"file,id=console,path={m.path('console.log')}", "-serial", "chardev:console",
             # vhost-user-fs speaks only virtio 1.0; microvm's transports default to legacy
             "-global", "virtio-mmio.force-legacy=false",
             "-device", f"virtio-serial-device,max_ports={len(PORTS) + 1}"]
    files = {"dockyard.stdout": m.stdout, "dockyard.stderr": m.stderr, "dockyard.exit": m.path("exit"),
             "dockyard.exec-stdout": m.path("exec.stdout"), "dockyard.exec-stderr": m.path("exec.stderr")}
    for nr, name in enumerate(PORTS, start=1):
        cid = f"p{nr}"
        if name == "dockyard.agent":
            argv += ["-chardev", f"socket,id={cid},path={m.path('agent.sock')},server=on,wait=off"]
        else:
            argv += ["-chardev", f"file,id={cid},path={files[name]},append=on"]
        argv += ["-device", f"virtserialport,chardev={cid},name={name},nr={nr}"]
    for i, share in enumerate(m.shares):
        argv += ["-chardev", f"socket,id=fs{i},path={share.socket}",
                 "-device", f"vhost-user-fs-device,chardev=fs{i},tag={share.tag}"]
    if m.nic is not None:
        # fd=: the tap is already on the bridge and up; no script, no vhost (no /dev/vhost-net)
        argv += ["-netdev", f"tap,id=n0,fd={m.nic.fd}",
                 "-device", f"virtio-net-device,netdev=n0,mac={m.nic.mac}"]
    argv += ["-device", "virtio-balloon-device",
             "-qmp", f"unix:{m.path('qmp.sock')},server=on,wait=off"]
    return argv


def virtiofsd_command(share: Share) -> list[str]:
    # sandbox=chroot: one process (namespace mode forks a second), we are root anyway;
    # --rlimit-nofile=0: the hard limit here is below what it would ask for (PEERS.md);
    # no --syslog: its own seccomp filter kills it for that; cache=auto: the guest caches
    # but revalidates, so host-side changes to a volume show up
    argv = [find_virtiofsd(), f"--socket-path={share.socket}", "-o", f"source={share.source}",
            "-o", "sandbox=chroot", "-o", "cache=auto", "--rlimit-nofile=0", "-o", "log_level=err"]
    return argv
