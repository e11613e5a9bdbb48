"""Our default seccomp profile, as data: what a container may call, and why.

Read ``RULES`` top to bottom: every entry is one purpose, with the syscalls it needs and a
one-line ``why``. Anything not listed returns EPERM (the default action), as with Docker.
``seccomp_for(caps, arch)`` turns the table into the OCI ``linux.seccomp`` object for one
container; ``runtime/seccomp.compile`` builds the filter from that.

An entry is a dict with:

- ``why``: one line, the reason the entry exists (required);
- ``names``: the syscalls, separated by spaces (required);
- ``caps``: allowed only when the container holds all of these capabilities (Docker's
  ``includes.caps``): the kernel would refuse the call without the capability anyway, and
  a syscall that cannot succeed is attack surface for nothing;
- ``unless_caps``: left out when the container holds any of these (Docker's ``excludes.caps``);
- ``arches``: only in the profile for these architectures (keys of ``ARCHITECTURES``);
- ``min_kernel``: only when the running kernel is at least this (major, minor);
- ``args_any``: allowed only when one of these argument conditions holds, each an
  (argument index, operator, value) tuple; one OCI rule per condition, so they are ORed;
- ``action``/``errno``: for the rare entry that is not an allow (clone3's ENOSYS).

How this table was written: Docker's default profile (moby/profiles/seccomp/default.json, kept
in shared/reference/ to compare against; not copied) was read syscall by syscall and each one
placed under the purpose that needs it. tests/unit/test_default_profiles.py checks that the
result is Docker's profile, rule for rule, for every capability set, except for the
differences in ``DOCKER_ALLOWS_WE_DENY`` and ``WE_ALLOW_DOCKER_DENIES`` below.

Differences from Docker (x86_64 and aarch64, the architectures we build profiles for):

- Denied here, allowed by Docker: ``epoll_ctl_old``/``epoll_wait_old`` (never implemented by
  any kernel, so an allow rule buys nothing) and ``riscv_hwprobe`` (RISC-V only; we have no
  RISC-V profile). None of them changes what a program can do; the list just says no to
  entries that have not earned their place.
- Allowed here, denied by Docker: nothing.
- Docker's s390/ppc64le/riscv64/mips entries are left out with those architectures.

Same as Docker, and worth knowing: ``ptrace`` (with process_vm_readv/writev) is allowed without
CAP_SYS_PTRACE on kernels >= 4.8, where seccomp re-checks a syscall after a tracer changes it;
the PID namespace limits whom a container can trace. ``io_uring`` is not allowed (see DENIED).
On 32-bit x86, ``socketcall`` reaches every socket call through one multiplexer whose
arguments sit in memory, where seccomp cannot read them; libseccomp filters ``socket`` itself.
"""

from __future__ import annotations

# Plain literals and no imports beyond os (used lazily): the runtime imports this module on
# every `run`, and parsing a JSON file or building dataclasses would cost more than the table.

EPERM = 1  # what a denied syscall returns, as with Docker: "not permitted", not "not there"
ENOSYS = 38  # "not implemented": makes a libc fall back to an older syscall

DEFAULT_ACTION = "SCMP_ACT_ERRNO"
DEFAULT_ERRNO = EPERM

# Our arch name -> the seccomp architectures its profile covers. 32-bit binaries run on both
# (x86 and x32 on x86_64, arm on aarch64); left out, they would bypass the filter by calling
# through the other syscall table, so the kernel would have to kill them instead (bad arch).
ARCHITECTURES = {
    "x86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "aarch64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
}
ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}  # Go/OCI image names for the same

# Argument values the conditions below compare against (from the kernel's uapi headers).
AF_ALG, AF_NFC, AF_VSOCK = 38, 39, 40
PER_LINUX, PER_LINUX32, UNAME26, PER_QUERY = 0x0, 0x8, 0x0020000, 0xFFFFFFFF
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x10000000, 0x20000000, 0x40000000
CLONE_NAMESPACES = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                    | CLONE_NEWPID | CLONE_NEWNET)  # == 0x7E020000, Docker's mask

RULES = [
    # --- files ---------------------------------------------------------------------------
    {"why": "file descriptors: open, duplicate, lock and close files",
     "names": "open openat openat2 creat close close_range dup dup2 dup3 fcntl fcntl64 flock"},
    {"why": "device and terminal control (window size, modes); /dev and the device cgroup bound which devices exist",
     "names": "ioctl"},
    {"why": "read and write data through a descriptor",
     "names": "read readv pread64 preadv preadv2 write writev pwrite64 pwritev pwritev2 lseek _llseek"},
    {"why": "copy data between descriptors inside the kernel (cp, web servers, pipes)",
     "names": "sendfile sendfile64 copy_file_range splice tee vmsplice"},
    {"why": "file size, preallocation and page-cache hints",
     "names": "truncate truncate64 ftruncate ftruncate64 fallocate fadvise64 fadvise64_64 readahead cachestat"},
    {"why": "flush written data to disk (databases, package managers)",
     "names": "fsync fdatasync sync syncfs sync_file_range"},
    {"why": "file status and access checks (ls, test -e, every libc path lookup)",
     "names": "stat stat64 lstat lstat64 fstat fstat64 fstatat64 newfstatat statx statfs statfs64 fstatfs "
              "fstatfs64 access faccessat faccessat2 readlink readlinkat"},
    {"why": "ownership and mode bits; the kernel still checks CAP_CHOWN and CAP_FOWNER",
     "names": "chmod fchmod fchmodat fchmodat2 chown chown32 fchown fchown32 fchownat lchown lchown32 umask"},
    {"why": "file timestamps (touch, tar, make)",
     "names": "utime utimes utimensat utimensat_time64 futimesat"},
    {"why": "the directory tree: create, rename, link, remove, list, change directory",
     "names": "mkdir mkdirat rmdir rename renameat renameat2 link linkat symlink symlinkat unlink unlinkat "
              "getdents getdents64 getcwd chdir fchdir"},
    {"why": "fifos, sockets and device nodes; devices need CAP_MKNOD and the device cgroup decides opening",
     "names": "mknod mknodat"},
    {"why": "extended attributes; the kernel guards the trusted. and security. namespaces itself",
     "names": "getxattr lgetxattr fgetxattr getxattrat setxattr lsetxattr fsetxattr setxattrat listxattr "
              "llistxattr flistxattr listxattrat removexattr lremovexattr fremovexattr removexattrat"},
    {"why": "encode a file handle (systemd, NFS tools); opening by handle is the dangerous half, gated below",
     "names": "name_to_handle_at"},
    {"why": "watch files for changes (inotify); fanotify_mark is inert without fanotify_init (CAP_SYS_ADMIN)",
     "names": "inotify_init inotify_init1 inotify_add_watch inotify_rm_watch fanotify_mark"},
    {"why": "read the container's own mount table (listmount/statmount see only its mount namespace)",
     "names": "listmount statmount"},

    # --- memory ------------------------------------------------------------------------------
    {"why": "memory management: heap, mappings, protections and advice",
     "names": "brk mmap mmap2 munmap mremap mprotect madvise mincore msync remap_file_pages membarrier mseal"},
    {"why": "lock memory in RAM; bounded by RLIMIT_MEMLOCK and the memory cgroup",
     "names": "mlock mlock2 mlockall munlock munlockall"},
    {"why": "anonymous in-memory files (memfd) and secret memory hidden even from the kernel's direct map",
     "names": "memfd_create memfd_secret"},
    {"why": "memory protection keys and x86 shadow stacks: hardening a program applies to itself",
     "names": "pkey_alloc pkey_free pkey_mprotect map_shadow_stack"},

    # --- processes and threads ------------------------------------------------------------
    {"why": "run programs, create processes, wait for them and exit",
     "names": "fork vfork execve execveat exit exit_group wait4 waitid waitpid"},
    {"why": "process and session identity (ps, shells' job control)",
     "names": "getpid getppid gettid getpgid getpgrp getsid setpgid setsid"},
    {"why": "user and group ids; changing them needs CAP_SETUID/CAP_SETGID (su, gosu, daemons dropping root)",
     "names": "getuid getuid32 geteuid geteuid32 getgid getgid32 getegid getegid32 getresuid getresuid32 "
              "getresgid getresgid32 getgroups getgroups32 setuid setuid32 setgid setgid32 setreuid setreuid32 "
              "setregid setregid32 setresuid setresuid32 setresgid setresgid32 setfsuid setfsuid32 setfsgid "
              "setfsgid32 setgroups setgroups32"},
    {"why": "read and drop the process's own capabilities; raising them is refused by the kernel",
     "names": "capget capset"},
    {"why": "process attributes (name, no_new_privs, dumpable); the privileged options check capabilities",
     "names": "prctl"},
    {"why": "thread setup every libc does: TLS, robust futex lists, restartable sequences",
     "names": "set_tid_address set_robust_list get_robust_list rseq set_thread_area get_thread_area"},
    {"why": "futexes: the locks and condition variables under every thread library",
     "names": "futex futex_time64 futex_waitv futex_wait futex_wake futex_requeue"},
    {"why": "signals; signalling other users' processes needs CAP_KILL, and the PID namespace hides the host's",
     "names": "kill tkill tgkill rt_sigaction rt_sigprocmask rt_sigreturn rt_sigsuspend rt_sigpending "
              "rt_sigtimedwait rt_sigtimedwait_time64 rt_sigqueueinfo rt_tgsigqueueinfo sigaltstack "
              "sigprocmask sigreturn signalfd signalfd4 pause restart_syscall"},
    {"why": "process file descriptors (pidfds): race-free signalling and reaping of the container's processes",
     "names": "pidfd_open pidfd_send_signal process_mrelease"},
    {"why": "scheduling and I/O priority; raising them or real-time classes needs CAP_SYS_NICE",
     "names": "sched_yield sched_getaffinity sched_setaffinity sched_getattr sched_setattr sched_getparam "
              "sched_setparam sched_getscheduler sched_setscheduler sched_get_priority_max "
              "sched_get_priority_min sched_rr_get_interval sched_rr_get_interval_time64 getpriority "
              "setpriority ioprio_get ioprio_set getcpu"},
    {"why": "resource limits and usage; raising a hard limit needs CAP_SYS_RESOURCE",
     "names": "getrlimit setrlimit ugetrlimit prlimit64 getrusage times"},

    # --- time -----------------------------------------------------------------------------
    {"why": "read clocks and sleep",
     "names": "time gettimeofday clock_gettime clock_gettime64 clock_getres clock_getres_time64 "
              "clock_nanosleep clock_nanosleep_time64 nanosleep"},
    {"why": "read the clock's adjustment state (ntp clients check it); changing it needs CAP_SYS_TIME",
     "names": "adjtimex clock_adjtime clock_adjtime64"},
    {"why": "timers: alarms, interval timers, POSIX timers, timerfds",
     "names": "alarm getitimer setitimer timer_create timer_delete timer_getoverrun timer_gettime "
              "timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime "
              "timerfd_gettime64 timerfd_settime timerfd_settime64"},

    # --- waiting, pipes, IPC, sockets ---------------------------------------------------------
    {"why": "wait on many descriptors at once (event loops) and event counters",
     "names": "select _newselect pselect6 pselect6_time64 poll ppoll ppoll_time64 epoll_create "
              "epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 eventfd eventfd2"},
    {"why": "pipes (every shell pipeline)",
     "names": "pipe pipe2"},
    {"why": "System V IPC (PostgreSQL, Oracle); the IPC namespace keeps it inside the container",
     "names": "ipc msgget msgctl msgsnd msgrcv semget semctl semop semtimedop semtimedop_time64 shmget shmctl "
              "shmat shmdt"},
    {"why": "POSIX message queues, namespaced with IPC",
     "names": "mq_open mq_unlink mq_timedsend mq_timedsend_time64 mq_timedreceive mq_timedreceive_time64 "
              "mq_notify mq_getsetattr"},
    {"why": "Linux AIO (databases); io_uring is not allowed, see DENIED",
     "names": "io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents io_pgetevents_time64"},
    {"why": "use sockets; the network namespace decides what they reach (socket itself is filtered below)",
     "names": "socketpair bind connect listen accept accept4 getsockname getpeername getsockopt setsockopt "
              "shutdown send sendto sendmsg sendmmsg recv recvfrom recvmsg recvmmsg recvmmsg_time64"},
    {"why": "32-bit x86 socket multiplexer (old i386 binaries); like Docker, allowed though seccomp cannot see its arguments",
     "names": "socketcall"},
    {"why": "create sockets of any family but AF_ALG (kernel crypto API, a string of kernel bugs) and AF_VSOCK "
            "(talks to the hypervisor/host, outside the network namespace)",
     "names": "socket", "args_any": [(0, "SCMP_CMP_LT", AF_ALG), (0, "SCMP_CMP_EQ", AF_NFC),
                                     (0, "SCMP_CMP_GT", AF_VSOCK)]},

    # --- system, sandboxing -------------------------------------------------------------------
    {"why": "system facts: kernel name, memory totals (namespaced or harmless) and random bytes",
     "names": "uname sysinfo getrandom"},
    {"why": "sandbox itself further (seccomp filters and Landlock rules only ever add restrictions)",
     "names": "seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self"},
    {"why": "uprobe return trampoline: kernel-inserted code calls it when the host traces a program; "
            "older kernels kill the traced process if it is denied",
     "names": "uretprobe"},
    {"why": "execution domain: only Linux, 32-bit Linux (linux32), UNAME26 and the query; other flags "
            "(ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) would switch off ASLR or NX",
     "names": "personality", "args_any": [(0, "SCMP_CMP_EQ", PER_LINUX), (0, "SCMP_CMP_EQ", PER_LINUX32),
                                          (0, "SCMP_CMP_EQ", UNAME26),
                                          (0, "SCMP_CMP_EQ", PER_LINUX32 | UNAME26),
                                          (0, "SCMP_CMP_EQ", PER_QUERY)]},

    # --- new processes: clone without namespaces --------------------------------------------
    {"why": "create processes and threads, but no new namespaces (a way out of ours) without CAP_SYS_ADMIN",
     "names": "clone", "unless_caps": ("CAP_SYS_ADMIN",),
     "args_any": [(0, "SCMP_CMP_MASKED_EQ", CLONE_NAMESPACES)]},  # (flags & NAMESPACES) == 0
    {"why": "clone3's flags sit in memory seccomp cannot read; ENOSYS (not EPERM) makes glibc fall back to clone",
     "names": "clone3", "unless_caps": ("CAP_SYS_ADMIN",), "action": "SCMP_ACT_ERRNO", "errno": ENOSYS},

    # --- per architecture ---------------------------------------------------------------------
    {"why": "x86_64 thread-local storage (FS/GS base): every threaded program needs it",
     "names": "arch_prctl", "arches": ("x86_64",)},
    {"why": "x86 local descriptor table: Wine and some 32-bit threading code",
     "names": "modify_ldt", "arches": ("x86_64",)},
    {"why": "32-bit ARM: TLS, cache flush for JITs, breakpoints and the ARM argument orders of two file calls",
     "names": "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
     "arches": ("aarch64",)},

    # --- by kernel version ----------------------------------------------------------------------
    {"why": "debuggers and strace, as Docker allows: since 4.8 a tracer cannot slip a syscall past seccomp; "
            "the PID namespace limits the tracees",
     "names": "ptrace process_vm_readv process_vm_writev", "min_kernel": (4, 8)},

    # --- by capability: allowed only with the capability the kernel will check ------------------
    {"why": "open files by handle: the 'shocker' escape reaches host files outside the container's root",
     "names": "open_by_handle_at", "caps": ("CAP_DAC_READ_SEARCH",)},
    {"why": "namespaces: unshare/setns/clone with namespace flags need CAP_SYS_ADMIN",
     "names": "clone clone3 unshare setns", "caps": ("CAP_SYS_ADMIN",)},
    {"why": "mounts (classic and the new mount API) need CAP_SYS_ADMIN",
     "names": "mount umount umount2 fsopen fsconfig fsmount fspick move_mount open_tree mount_setattr",
     "caps": ("CAP_SYS_ADMIN",)},
    {"why": "administration that needs CAP_SYS_ADMIN: hostname, quotas, fanotify, kernel log, LSM "
            "attributes, and bpf/perf on kernels before CAP_BPF/CAP_PERFMON",
     "names": "sethostname setdomainname quotactl quotactl_fd fanotify_init syslog lookup_dcookie "
              "lsm_get_self_attr lsm_list_modules lsm_set_self_attr bpf perf_event_open",
     "caps": ("CAP_SYS_ADMIN",)},
    {"why": "reboot: in a PID namespace it only ends the container's init, and needs CAP_SYS_BOOT",
     "names": "reboot", "caps": ("CAP_SYS_BOOT",)},
    {"why": "chroot (build tools, sshd privilege separation) needs CAP_SYS_CHROOT",
     "names": "chroot", "caps": ("CAP_SYS_CHROOT",)},
    {"why": "kernel modules are the host's kernel: only with CAP_SYS_MODULE",
     "names": "init_module finit_module delete_module", "caps": ("CAP_SYS_MODULE",)},
    {"why": "process accounting writes a host-wide log: only with CAP_SYS_PACCT",
     "names": "acct", "caps": ("CAP_SYS_PACCT",)},
    {"why": "inspect or act on other processes' memory and files: only with CAP_SYS_PTRACE",
     "names": "ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd process_madvise",
     "caps": ("CAP_SYS_PTRACE",)},
    {"why": "x86 I/O port access reaches hardware directly: only with CAP_SYS_RAWIO",
     "names": "iopl ioperm", "caps": ("CAP_SYS_RAWIO",)},
    {"why": "the clock is not namespaced; setting it changes the host's time: only with CAP_SYS_TIME",
     "names": "settimeofday stime clock_settime clock_settime64", "caps": ("CAP_SYS_TIME",)},
    {"why": "vhangup hangs up the terminal: only with CAP_SYS_TTY_CONFIG",
     "names": "vhangup", "caps": ("CAP_SYS_TTY_CONFIG",)},
    {"why": "NUMA memory policy can starve other workloads' nodes: only with CAP_SYS_NICE",
     "names": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node", "caps": ("CAP_SYS_NICE",)},
    {"why": "the kernel log is the host's: only with CAP_SYSLOG",
     "names": "syslog", "caps": ("CAP_SYSLOG",)},
    {"why": "eBPF programs run in the host kernel: only with CAP_BPF",
     "names": "bpf", "caps": ("CAP_BPF",)},
    {"why": "perf events observe the host's kernel and other processes: only with CAP_PERFMON",
     "names": "perf_event_open", "caps": ("CAP_PERFMON",)},
]

# Never allowed, whatever the capabilities: not compiled (the default action already denies
# them), listed so the reasons are written down and tests can hold us to them.
DENIED = [
    {"why": "load a new kernel to boot into: that kernel is the host's",
     "names": "kexec_load kexec_file_load"},
    {"why": "swap devices are host-wide",
     "names": "swapon swapoff"},
    {"why": "the runtime pivots the container's root before the workload starts; doing it again "
            "is only useful to escape",
     "names": "pivot_root"},
    {"why": "kernel keyrings are not namespaced: the host's and other containers' keys are reachable",
     "names": "keyctl add_key request_key"},
    {"why": "userfaultfd stalls kernel page faults at will, the usual tool to win kernel races",
     "names": "userfaultfd"},
    {"why": "io_uring runs I/O seccomp cannot filter and has a long CVE record; Docker denies it too",
     "names": "io_uring_setup io_uring_enter io_uring_register"},
    {"why": "move pages of any process between NUMA nodes; Docker denies them even with CAP_SYS_NICE",
     "names": "move_pages migrate_pages"},
    {"why": "obsolete interfaces no current libc uses, kept in some kernels and best left alone",
     "names": "uselib vm86 vm86old _sysctl sysfs ustat nfsservctl create_module get_kernel_syms query_module"},
]

# Docker allows these unconditionally; we do not (see the module docstring).
DOCKER_ALLOWS_WE_DENY = {
    "epoll_ctl_old": "x86_64 slot never implemented by any kernel (returns ENOSYS); nothing to allow",
    "epoll_wait_old": "x86_64 slot never implemented by any kernel (returns ENOSYS); nothing to allow",
    "riscv_hwprobe": "RISC-V only, and we build no RISC-V profile",
}
# We allow these; Docker does not. Each addition needs a reason here.
WE_ALLOW_DOCKER_DENIES: dict[str, str] = {}

# Names newer than libseccomp 2.5.4 (the version we test on): compile() skips them there
# (Filter.skipped), so they return EPERM until libseccomp learns them. Value: the kernel
# version that added them.
NEWER_THAN_LIBSECCOMP = {
    "listmount": "6.8", "statmount": "6.8",
    "lsm_get_self_attr": "6.8", "lsm_list_modules": "6.8", "lsm_set_self_attr": "6.8",
    "mseal": "6.10", "uretprobe": "6.11",
    "getxattrat": "6.13", "setxattrat": "6.13", "listxattrat": "6.13", "removexattrat": "6.13",
}


# --- the table -> an OCI linux.seccomp object ------------------------------------------------
def running_kernel() -> tuple[int, int]:
    """(major, minor) of the running kernel, from uname (e.g. "6.8.0-45-generic" -> (6, 8))."""
    import os

    parts = os.uname().release.split(".")
    nums = []
    for part in parts[:2]:
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        nums.append(int(digits or 0))
    return (nums + [0, 0])[0], (nums + [0, 0])[1]


def _cap_name(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") else "CAP_" + name


def _applies(rule: dict, caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
    if not set(rule.get("caps", ())) <= caps:
        return False
    if set(rule.get("unless_caps", ())) & caps:
        return False
    if "arches" in rule and arch not in rule["arches"]:
        return False
    return kernel >= rule.get("min_kernel", (0, 0))


def _condition(index: int, op: str, value: int) -> dict:
    return {"index": index, "value": value, "op": op}


def seccomp_for(capabilities, arch: str = "x86_64", *, kernel: tuple[int, int] | None = None) -> dict:
    """The OCI ``linux.seccomp`` object for a container holding ``capabilities``.

    ``arch`` is x86_64 or aarch64 (amd64/arm64 accepted); ``kernel`` is (major, minor) and
    defaults to the running kernel (it only decides ``min_kernel`` entries). Plain allows come
    first as one rule, then the conditional ones, one OCI rule per alternative.
    """
    arch = ARCH_ALIASES.get(arch, arch)
    if arch not in ARCHITECTURES:
        from dockyard.errors import ConfigError

        raise ConfigError(f"no default seccomp profile for architecture {arch!r} "
                          f"(have: {', '.join(ARCHITECTURES)})")
    caps = {_cap_name(c) for c in capabilities or ()}
    kernel = running_kernel() if kernel is None else tuple(kernel)
    plain: dict[str, None] = {}  # ordered set: a name allowed by two entries is listed once
    conditional = []
    for rule in RULES:
        if not _applies(rule, caps, arch, kernel):
            continue
        names = rule["names"].split()
        action = rule.get("action", "SCMP_ACT_ALLOW")
        if action == "SCMP_ACT_ALLOW" and "args_any" not in rule:
            plain.update(dict.fromkeys(names))
            continue
        base: dict = {"action": action}
        if "errno" in rule:
            base["errnoRet"] = rule["errno"]
        for cond in rule.get("args_any") or [None]:
            entry = {"names": list(names), **base}
            if cond is not None:
                entry["args"] = [_condition(*cond)]
            conditional.append(entry)
    return {
        "defaultAction": DEFAULT_ACTION,
        "defaultErrnoRet": DEFAULT_ERRNO,
        "architectures": list(ARCHITECTURES[arch]),
        "syscalls": [{"names": list(plain), "action": "SCMP_ACT_ALLOW"}, *conditional],
    }
