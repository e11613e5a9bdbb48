"""The VM backend (issue 7): a container's rootfs and process, booted as a QEMU microVM.

API for the engine (same verbs as the runtime's Backend; docs/vm.md has the why):

    from dockyard.vm import VmConfig, VolumeMount
    from dockyard.vm.backend import VmBackend

    b = VmBackend()
    h = b.create(container_id, VmConfig(
            rootfs=merged_dir,            # overlay-mounted merged dir: guest writes land in its upper dir
            args=["sh", "-c", "..."], env=["PATH=..."], cwd="/", uid=0, gid=0, hostname="abc",
            mounts=[VolumeMount("/host/dir", "/data", readonly=True)],   # directories (virtiofs)
            cpus=1, memory=256 << 20,     # vCPUs, guest RAM (default 256 MiB)
            stdout="/path/stdout.log", stderr="/path/stderr.log"))       # appended, raw bytes
    pid = b.start(h)                      # QEMU's pid (daemonized: needs no monitor process)
    pid = b.start(h, nic=GuestNic(fd, tap, mac, ip, prefixlen, gateway, mtu),   # a NIC on a tap
                  etc={"hosts": ..., "resolv.conf": ..., "hostname": ...})     # the guest's /etc files
    code = b.wait(h, timeout=None)        # exit code (137 + state()["error"] if the VM died)
    b.kill(h, signal.SIGTERM)             # non-KILL signals reach the workload via the agent
    b.stop(h, timeout=10)                 # SIGTERM, then QEMU killed
    b.exec(h, ["ls"], env=[...], cwd="/", uid=0, gid=0, stdout=fd, stderr=fd) -> exit code
    b.update_memory(h, 128 << 20)         # balloon through QMP (down from boot memory only)
    b.state(h)                            # {"status": created|running|exited, "pid", "exit_code",
                                          #  "error", "accel", "accel_reason", ...}
    b.load(container_id) -> handle        # from another process (records in <run root>/vm/<id>)
    b.cleanup(h)                          # processes, mounts, sockets, run dir: from any state

Modules: setup (kernel + initramfs), vmlinux (PVH ELF from the bzImage), modules (.ko deps),
cpio (newc writer), guest_init (the guest's PID 1), guest_config (per-VM config), qemu (the
command line), devices (what the VM gets and why), accel (KVM probe / TCG), qmp (QMP client),
agent (exec), backend (the lifecycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VolumeMount:
    source: str  # a host directory
    destination: str  # absolute path in the container
    readonly: bool = False


@dataclass
class VmConfig:
    rootfs: str
    args: list[str]
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    hostname: str = ""
    mounts: list[VolumeMount] = field(default_factory=list)
    cpus: float = 1
    memory: int | None = None  # bytes; None = qemu.DEFAULT_MEMORY
    stdout: str | None = None  # None: files in the VM's run dir
    stderr: str | None = None
    debug: bool = False  # kernel messages at full verbosity in console.log


@dataclass(frozen=True)
class GuestNic:
    """The VM's network as the host set it up (dockyard.network.service.attach_tap): the
    tap's fd (QEMU inherits it), and what the guest init configures on eth0."""

    fd: int
    tap: str
    mac: str
    ip: str
    prefixlen: int
    gateway: str
    mtu: int = 1500


@dataclass
class VmHandle:
    id: str
    run_dir: str
    record: dict
