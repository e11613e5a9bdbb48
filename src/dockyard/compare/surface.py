"""Attack surface: what a workload can reach of the host kernel, and what is exposed to it.

Containers share the host kernel: what they reach is the syscalls their seccomp filter lets
through (with the capabilities that gate the rest) and the device nodes in their /dev. A VM's
workload reaches only its guest kernel; the host kernel is reached by the VMM (QEMU) and its
helpers (virtiofsd) on the workload's behalf, so their syscalls are the VM's host surface:
counted from `strace -f` of one whole VM run (every syscall QEMU and virtiofsd made, from exec
to exit; QEMU runs without `-sandbox`, so this is what it did, not a bound on what it may do),
plus the devices the guest sees (vm/devices.py). A plain host process reaches everything."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile

from .figures import measured, missing

# Docker's own profile is reference data kept beside the project (shared/reference), not in it
DOCKER_PROFILE_PATHS = tuple(os.path.join(base, "reference", "docker-default-seccomp.json")
                             for base in (os.environ.get("DOCKYARD_SHARED"), "/work/shared") if base)
PODMAN_PROFILE = "/usr/share/containers/seccomp.json"
UNISTD = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
VMM_PROGRAMS = ("qemu-system-x86_64", "virtiofsd")


def allowed(oci_seccomp: dict) -> tuple[int, int]:
    """(syscalls allowed whatever the arguments, syscalls allowed at least for some arguments)."""
    plain, any_ = set(), set()
    for rule in oci_seccomp.get("syscalls") or ():
        if rule.get("action") != "SCMP_ACT_ALLOW":
            continue
        any_.update(rule["names"])
        if not rule.get("args"):
            plain.update(rule["names"])
    return len(plain), len(any_)


def host_syscall_count() -> dict:
    try:
        with open(UNISTD) as f:
            n = sum(1 for line in f if line.startswith("#define __NR_"))
        return measured(n, "syscalls", f"every x86_64 syscall (#define __NR_ lines in {UNISTD}): no filter")
    except OSError:
        return missing(f"{UNISTD} not installed (linux-libc-dev): the host process reaches every syscall")


def _seccomp_figures(oci: dict, how: str) -> dict:
    plain, any_ = allowed(oci)
    return {"host_syscalls": measured(any_, "syscalls", f"{how}: names allowed for some arguments (x86_64)"),
            "host_syscalls_unconditional": measured(plain, "syscalls", f"{how}: names allowed whatever the arguments")}


def containers(modes_by_key: dict) -> dict:
    from ..oci.docker_seccomp import DOCKER_DEFAULT_CAPS, to_oci
    from ..runtime.mounts import DEFAULT_DEVICES
    from ..runtime.profiles import defaults
    from ..runtime.profiles.seccomp_default import seccomp_for

    caps = defaults.default_capabilities()
    devs = ", ".join(f"/dev/{d[0]}" for d in DEFAULT_DEVICES)
    dev_how = f"{devs} and devpts' /dev/ptmx (runtime/mounts.py DEFAULT_DEVICES)"
    out = {"process": {
        **_seccomp_figures(seccomp_for(caps), "dockyard's default seccomp allowlist for the 14 default capabilities "
                           "(runtime/profiles/seccomp_default.py; the rest return EPERM)"),
        "capabilities": measured(len(caps), "capabilities", "runtime/profiles/defaults.py (Docker's 14)"),
        "devices": measured(len(DEFAULT_DEVICES) + 1, "device nodes", dev_how),
    }}
    docker_profile = next((p for p in DOCKER_PROFILE_PATHS if os.path.exists(p)), None)
    if docker_profile:
        with open(docker_profile) as f:
            prof = to_oci(json.load(f), caps=DOCKER_DEFAULT_CAPS)
        out["docker"] = {**_seccomp_figures(prof, f"Docker's default profile ({docker_profile}), resolved for its 14 "
                                            "default capabilities as dockerd does (oci/docker_seccomp.py); static, no "
                                            "dockerd needed"),
                         "capabilities": measured(len(DOCKER_DEFAULT_CAPS), "capabilities", "Docker's defaults"),
                         "devices": measured(len(DEFAULT_DEVICES) + 1, "device nodes", "Docker's: " + dev_how)}
    if os.path.exists(PODMAN_PROFILE):
        with open(PODMAN_PROFILE) as f:
            prof = to_oci(json.load(f), caps=DOCKER_DEFAULT_CAPS)
        out["podman"] = {**_seccomp_figures(prof, f"podman's default profile ({PODMAN_PROFILE}, containers-common), "
                                            "resolved for the same capabilities"),
                         "capabilities": measured(11, "capabilities", "podman 4's default_capabilities "
                                                  "(Docker's 14 without AUDIT_WRITE, MKNOD, NET_RAW)"),
                         "devices": measured(len(DEFAULT_DEVICES) + 1, "device nodes", "runtime-spec defaults: " + dev_how)}
    for key in ("crun", "runc"):
        if key in modes_by_key and modes_by_key[key].available:
            every = host_syscall_count()
            if every["value"] is not None:
                every["how"] = "the bundle (runc spec's default config) has no seccomp section: " + every["how"]
            out[key] = {"host_syscalls": every,
                        "capabilities": measured(3, "capabilities", "runc spec's default: AUDIT_WRITE, KILL, "
                                                 "NET_BIND_SERVICE (oci/runtime_spec.py default_spec)"),
                        "devices": measured(len(DEFAULT_DEVICES) + 1, "device nodes", dev_how)}
    return out


_LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")
_RESULT = re.compile(r"\)\s+=\s+(\d+)")


def vmm_syscalls(trace: str) -> dict[str, set[str]]:
    """From `strace -f -o FILE` output: program -> distinct syscall names its processes and
    threads made. A pid is the program it last exec'd; a clone's child, its parent's (so
    QEMU's threads and its daemonized child count as QEMU). Calls a pid made before any exec
    of its own go to its parent's program once that is known."""
    program: dict[int, str] = {}
    parent: dict[int, int] = {}
    calls: dict[int, list[tuple[str | None, str]]] = {}
    for line in trace.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        pid, name, rest = int(m.group(1)), m.group(2) or m.group(3), m.group(4)
        if name == "execve" and m.group(3):
            path = rest.split('"', 2)[1] if rest.startswith('"') else ""
            program[pid] = os.path.basename(path)
        if name in ("clone", "clone3", "fork", "vfork"):
            r = _RESULT.search(rest)
            if r:
                parent[int(r.group(1))] = pid
        calls.setdefault(pid, []).append((program.get(pid), name))

    def prog_of(pid: int, seen=()) -> str | None:
        if pid in program:
            return program[pid]
        p = parent.get(pid)
        return prog_of(p, (*seen, pid)) if p is not None and p not in seen else None

    out: dict[str, set[str]] = {}
    for pid, items in calls.items():
        for prog, name in items:
            owner = prog or prog_of(parent.get(pid, -1))
            if owner:
                out.setdefault(owner, set()).add(name)
    return out


def vm(mode, image: str, log) -> dict:
    from ..vm.devices import DEVICES

    # what the guest of compare's VM sees: not the machine type, the RAM backend or QMP (host
    # side), and no volume or network device (compare runs without -v, with --network none)
    host_side = {"machine", "memory backend", "QMP", "volumes", "network"}
    seen = [d for d in DEVICES if d[0] not in host_side]
    devices = measured(len(seen), "devices", "vm/devices.py rows the guest of a `--network none` VM without volumes "
                       "sees: " + "; ".join(f"{d[0]} ({d[1]})" for d in seen) + "; plus microvm's built-in legacy "
                       "PIC/PIT/RTC/IOAPIC (not counted)")
    strace = shutil.which("strace")
    if not mode.available:
        return {"host_syscalls": missing(mode.reason), "devices": devices}
    if not strace:
        return {"host_syscalls": missing("strace is not installed (apt-get install strace)"), "devices": devices}
    log("surface: one VM run under strace -f")
    with tempfile.TemporaryDirectory(prefix="dockyard-compare-strace-") as tmp:
        out = os.path.join(tmp, "trace")
        p = subprocess.run([strace, "-f", "-qq", "-o", out, *mode.argv("true")], capture_output=True, text=True,
                           timeout=300, check=False)
        if p.returncode != 0:
            return {"host_syscalls": missing(f"the traced VM run failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}"),
                    "devices": devices}
        with open(out, errors="replace") as f:
            by_program = vmm_syscalls(f.read())
    seen = {prog: names for prog, names in by_program.items() if prog in VMM_PROGRAMS}
    if not seen:
        return {"host_syscalls": missing("no QEMU or virtiofsd process in the trace"), "devices": devices}
    union = set().union(*seen.values())
    per = ", ".join(f"{prog} {len(names)}" for prog, names in sorted(seen.items()))
    return {"host_syscalls": measured(len(union), "syscalls",
                                      f"distinct syscalls QEMU and virtiofsd made on the host during one `{mode.how.split(' sh -c')[0]} "
                                      f"true` (strace -f, exec to exit): {per}; QEMU has no -sandbox, so not a bound",
                                      names=sorted(union)),
            "devices": devices,
            "capabilities": measured(_cap_eff().bit_count(), "capabilities",
                                     "held on the host by QEMU and virtiofsd: they run as root with the CLI's "
                                     "capabilities (no -runas); the workload's own are its guest kernel's business"),
            "guest_kernel": measured(True, "", "the workload's syscalls go to the guest's own kernel (uname -r in the "
                                     "guest is not the host's: tests/e2e/test_cli_isolation.py)")}


def measure(modes, image: str, log) -> dict:
    by_key = {m.key: m for m in modes}
    out = {}
    host = by_key["host"]
    out["host"] = {"host_syscalls": host_syscall_count(),
                   "capabilities": measured(_cap_eff().bit_count(), "capabilities", "CapEff of this process "
                                            "(/proc/self/status): root on the host"),
                   "devices": measured(_host_devices(), "device nodes", "every char/block node in the host's /dev")}
    if not host.available:
        out["host"] = {k: missing(host.reason) for k in out["host"]}
    out.update(containers(by_key))
    out["vm"] = vm(by_key["vm"], image, log)
    for m in modes:
        if m.key not in out:
            out[m.key] = {"host_syscalls": missing(m.reason or "no profile known for it")}
    return {m.key: out[m.key] for m in modes}


def _cap_eff() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def _host_devices() -> int:
    import stat

    n = 0
    for root, _dirs, files in os.walk("/dev"):
        for name in files:
            try:
                mode = os.lstat(os.path.join(root, name)).st_mode
            except OSError:
                continue
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                n += 1
    return n
