"""Docker's defaults as data: capabilities, masked paths, read-only paths, each with a reason.

The values are Docker's (moby/oci/caps/defaults.go and oci/defaults.go); the reasons are ours.
A container gets exactly these unless the user adds or drops some (--cap-add/--cap-drop) or
asks for --privileged. Tables are ordered as Docker lists them; accessors return fresh lists
so callers can edit their copy without changing the defaults.
"""

from __future__ import annotations

# Capability -> why a container keeps it. Everything else is dropped from all five sets,
# the bounding set included, so nothing in the container can regain it.
CAPABILITIES = {
    "CAP_CHOWN": "change file owners: package managers and entrypoints chown what they install",
    "CAP_DAC_OVERRIDE": "root in the container reads and writes files whatever their mode bits, as root expects",
    "CAP_FSETID": "keep setuid/setgid bits when root modifies a file (otherwise the kernel clears them)",
    "CAP_FOWNER": "chmod, utime and the like on files root does not own (tar extraction, cp -p)",
    "CAP_MKNOD": "create device nodes (mknod); the device cgroup still decides which ones can be opened",
    "CAP_NET_RAW": "raw and packet sockets for ping and traceroute; only reach the container's network namespace",
    "CAP_SETGID": "switch group ids: su, gosu, daemons dropping root after start",
    "CAP_SETUID": "switch user ids: su, gosu, daemons dropping root after start",
    "CAP_SETFCAP": "set file capabilities, which some packages install (ping in iputils)",
    "CAP_SETPCAP": "change the process's own capability sets, e.g. drop more before running a service",
    "CAP_NET_BIND_SERVICE": "bind ports below 1024: web servers on 80/443 without extra setup",
    "CAP_SYS_CHROOT": "chroot: build tools and sshd's privilege separation",
    "CAP_KILL": "signal processes of other users in the container; the PID namespace hides the host's",
    "CAP_AUDIT_WRITE": "write to the audit log: login, su and sshd refuse to work when they cannot",
}

# Path -> why it is hidden: /dev/null is bind-mounted over files, an empty read-only tmpfs over
# directories, so reads show nothing and writes go nowhere. Paths absent on a kernel are skipped.
MASKED_PATHS = {
    "/proc/asound": "the host's sound cards and their state; nothing a container needs",
    "/proc/acpi": "ACPI tables and controls of the host (some writable, e.g. wakeup devices)",
    "/proc/kcore": "the host's physical memory as a core file",
    "/proc/keys": "kernel keyrings are not namespaced: this lists keys the host and other containers hold",
    "/proc/latency_stats": "latency accounting of every host process, and a write resets it host-wide",
    "/proc/timer_list": "every host timer with the owning process's name and pid, and kernel function names",
    "/proc/timer_stats": "timer statistics of every host process (older kernels; writable to start/stop)",
    "/proc/sched_debug": "scheduler state of every host process: names, pids, cgroups",
    "/proc/scsi": "the host's SCSI devices; writing /proc/scsi/scsi adds or removes devices",
    "/sys/firmware": "firmware tables (ACPI, DMI, EFI variables): host secrets, and efivars writes can brick it",
    "/sys/devices/virtual/powercap": "RAPL energy counters: the Platypus side channel reads secrets through power use",
}

# Path -> why it is read-only (bind-mounted onto itself, then remounted ro): the container may
# read it, since programs do, but writes would change the host.
READONLY_PATHS = {
    "/proc/bus": "PCI and USB configuration of the host's devices",
    "/proc/fs": "filesystem tunables (nfsd, xfs, ext4) that apply to the whole host",
    "/proc/irq": "interrupt routing (smp_affinity) of the host's CPUs",
    "/proc/sys": "sysctls: most are host-wide; namespaced ones are set from linux.sysctl before this",
    "/proc/sysrq-trigger": "a write triggers SysRq on the host: crash, reboot, kill everything",
}


def default_capabilities() -> list[str]:
    """Docker's 14 default capabilities, in Docker's order."""
    return list(CAPABILITIES)


def capability_reason(name: str) -> str | None:
    """Why a default capability is granted; None for a capability that is not a default."""
    return CAPABILITIES.get(name.upper())


def masked_paths() -> list[str]:
    """linux.maskedPaths for a non-privileged container."""
    return list(MASKED_PATHS)


def readonly_paths() -> list[str]:
    """linux.readonlyPaths for a non-privileged container."""
    return list(READONLY_PATHS)


def path_reason(path: str) -> str | None:
    """Why a path is masked or read-only; None if it is neither."""
    return MASKED_PATHS.get(path) or READONLY_PATHS.get(path)
