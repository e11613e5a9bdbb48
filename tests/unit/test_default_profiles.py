"""Default policy tables (runtime/profiles): reasons, Docker parity, dangerous syscalls denied.

Pure checks: profiles are built and compiled with libseccomp, never loaded, so no root.

Comparison with Docker's default profile (shared/reference/docker-default-seccomp.json,
converted by oci.docker_seccomp.to_oci as dockerd would), on x86_64 and aarch64, for no
capabilities, Docker's 14, all of them, and Docker's 14 plus each other one:

- every rule (name, action, errno, argument conditions) is the same, except
- we deny, Docker allows: epoll_ctl_old and epoll_wait_old (never implemented by any kernel)
  and riscv_hwprobe (RISC-V only; we build no RISC-V profile);
- we allow, Docker denies: nothing.

With Docker's capabilities on a current kernel, x86_64: 364 syscalls allowed without
conditions (Docker: 367), plus socket, personality and clone with argument conditions and
clone3 answering ENOSYS. Like Docker we allow ptrace (and process_vm_readv/writev) without
CAP_SYS_PTRACE on kernels >= 4.8.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import shared_reference

from dockyard._sys import seccomp as _sc
from dockyard.errors import ConfigError
from dockyard.oci.docker_seccomp import DOCKER_DEFAULT_CAPS, to_oci
from dockyard.runtime import caps as capnames
from dockyard.runtime import seccomp
from dockyard.runtime.profiles import defaults
from dockyard.runtime.profiles import seccomp_default as sd

MODERN = (6, 18)  # a current kernel, so min_kernel entries are in
ALLOW = "SCMP_ACT_ALLOW"
DOCKER_ARCH = {"x86_64": ("SCMP_ARCH_X86_64", "amd64"), "aarch64": ("SCMP_ARCH_AARCH64", "arm64")}
DOCKER_14 = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
             "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
             "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
RULE_KEYS = {"why", "names", "caps", "unless_caps", "arches", "min_kernel", "args_any", "action", "errno"}

# Written out here, not taken from the table, so the table cannot quietly lose one.
DANGEROUS = ["kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
             "mount", "umount", "umount2", "pivot_root", "swapon", "swapoff", "bpf", "perf_event_open",
             "keyctl", "add_key", "request_key", "unshare", "setns", "open_by_handle_at", "iopl", "ioperm",
             "userfaultfd", "acct", "settimeofday", "stime", "clock_settime", "clock_settime64",
             "io_uring_setup", "fsopen", "move_mount", "open_tree", "kcmp", "pidfd_getfd"]


@pytest.fixture(scope="module")
def docker_profile() -> dict:
    return json.loads(Path(shared_reference("docker-default-seccomp.json")).read_text())


def docker_oci(profile: dict, caps, arch: str = "x86_64") -> dict:
    return to_oci(profile, *DOCKER_ARCH[arch], caps=caps)


def rules_of(spec: dict) -> set[tuple]:
    """Each (name, action, errno, conditions) the object asks for; the same name twice is one."""
    out = set()
    for entry in spec["syscalls"]:
        conds = tuple(sorted((a["index"], a["op"], a["value"], a.get("valueTwo", 0))
                             for a in entry.get("args") or ()))
        err = entry.get("errnoRet") if entry["action"] != ALLOW else None
        out.update((name, entry["action"], err, conds) for name in entry["names"])
    return out


def unconditional(spec: dict) -> set[str]:
    return {name for name, action, _, conds in rules_of(spec) if action == ALLOW and not conds}


def allowed_somehow(spec: dict) -> set[str]:
    return {name for name, action, _, _ in rules_of(spec) if action == ALLOW}


def names_in(table) -> list[str]:
    return [name for rule in table for name in rule["names"].split()]


# --- the tables themselves ---------------------------------------------------------------------
@pytest.mark.parametrize("table", ["RULES", "DENIED"])
def test_every_entry_has_a_one_line_reason_and_known_fields(table):
    for rule in getattr(sd, table):
        assert set(rule) <= RULE_KEYS, rule
        assert rule["why"].strip() and "\n" not in rule["why"], rule
        assert rule["names"].split(), rule
        for cap in (*rule.get("caps", ()), *rule.get("unless_caps", ())):
            assert cap in capnames.BITS, cap
        assert set(rule.get("arches", ())) <= set(sd.ARCHITECTURES), rule
        for index, op, value in rule.get("args_any", ()):
            assert 0 <= index < 6 and op.startswith("SCMP_CMP_") and 0 <= value < 2**64, rule
    for table_ in (sd.DOCKER_ALLOWS_WE_DENY, sd.WE_ALLOW_DOCKER_DENIES):
        assert all(why.strip() and "\n" not in why for why in table_.values())


def test_no_syscall_twice_in_the_unconditional_allows():
    plain = [rule for rule in sd.RULES if set(rule) <= {"why", "names"}]
    names = names_in(plain)
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    assert not set(names) & set(names_in(sd.DENIED))


def test_names_are_known_to_libseccomp_or_marked_newer():
    """libseccomp skips names it does not know (they stay denied); those must be marked."""
    x86_64 = _sc.arch_resolve_name("x86_64")
    names = set(names_in(sd.RULES)) | set(names_in(sd.DENIED))
    unknown = {name for name in names if _sc.syscall_resolve_name(name, x86_64) is None}
    assert unknown <= set(sd.NEWER_THAN_LIBSECCOMP), sorted(unknown - set(sd.NEWER_THAN_LIBSECCOMP))
    assert set(sd.NEWER_THAN_LIBSECCOMP) <= names  # no stale marks


# --- building and compiling ------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize("caps", [set(DOCKER_14), set(), set(capnames.NAMES)], ids=["docker", "none", "all"])
def test_profile_compiles(arch, caps):
    spec = sd.seccomp_for(caps, arch)
    assert spec["defaultAction"] == "SCMP_ACT_ERRNO" and spec["defaultErrnoRet"] == 1
    assert spec["architectures"] == list(sd.ARCHITECTURES[arch])
    with seccomp.compile(spec) as flt:
        assert set(flt.skipped) <= set(sd.NEWER_THAN_LIBSECCOMP)
        assert flt.export_bpf()


def test_arch_aliases_cap_spelling_and_unknown_arch():
    assert sd.seccomp_for(DOCKER_14, "amd64", kernel=MODERN) == sd.seccomp_for(DOCKER_14, "x86_64", kernel=MODERN)
    assert sd.seccomp_for(["sys_admin"], kernel=MODERN) == sd.seccomp_for({"CAP_SYS_ADMIN"}, kernel=MODERN)
    with pytest.raises(ConfigError, match="riscv64"):
        sd.seccomp_for(DOCKER_14, "riscv64")


def test_running_kernel_is_parsed():
    major, minor = sd.running_kernel()
    assert major >= 3 and minor >= 0


# --- Docker parity -----------------------------------------------------------------------------
CAP_SETS = {"docker": set(DOCKER_14), "none": set(), "all": set(capnames.NAMES),
            **{f"docker+{c}": set(DOCKER_14) | {c} for c in capnames.NAMES if c not in DOCKER_14}}


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize("caps", list(CAP_SETS.values()), ids=list(CAP_SETS))
def test_same_rules_as_docker_but_the_documented_differences(docker_profile, arch, caps):
    ours = rules_of(sd.seccomp_for(caps, arch, kernel=MODERN))
    docker = rules_of(docker_oci(docker_profile, caps, arch))
    assert docker - ours == {(n, ALLOW, None, ()) for n in sd.DOCKER_ALLOWS_WE_DENY}
    assert ours - docker == {(n, ALLOW, None, ()) for n in sd.WE_ALLOW_DOCKER_DENIES}


def test_unconditional_allows_are_not_more_than_dockers(docker_profile):
    """Ours <= Docker's + WE_ALLOW_DOCKER_DENIES (empty). What we deny that Docker allows:

    epoll_ctl_old, epoll_wait_old: never implemented by any kernel, an allow buys nothing;
    riscv_hwprobe: RISC-V only, and we build no RISC-V profile.
    """
    ours = unconditional(sd.seccomp_for(DOCKER_14, kernel=MODERN))
    docker = unconditional(docker_oci(docker_profile, DOCKER_14))
    assert ours <= docker | set(sd.WE_ALLOW_DOCKER_DENIES), sorted(ours - docker)
    assert docker - ours == set(sd.DOCKER_ALLOWS_WE_DENY)
    print(f"\nunconditional allows: ours {len(ours)}, Docker {len(docker)}; "
          f"Docker only: {sorted(docker - ours)}; ours only: {sorted(ours - docker)}")


def test_architectures_match_dockers_arch_map(docker_profile):
    for arch in DOCKER_ARCH:
        assert docker_oci(docker_profile, DOCKER_14, arch)["architectures"] == list(sd.ARCHITECTURES[arch])


# --- what must stay denied ------------------------------------------------------------------------
@pytest.mark.parametrize("caps", [set(), set(DOCKER_14)], ids=["none", "docker"])
def test_dangerous_syscalls_are_denied_without_capabilities(caps):
    for arch in sd.ARCHITECTURES:
        allowed = allowed_somehow(sd.seccomp_for(caps, arch, kernel=MODERN))
        assert not allowed & set(DANGEROUS), sorted(allowed & set(DANGEROUS))


def test_denied_table_is_denied_whatever_the_capabilities():
    allowed = allowed_somehow(sd.seccomp_for(capnames.NAMES, kernel=MODERN))
    assert not allowed & set(names_in(sd.DENIED))


def test_ptrace_follows_docker_and_needs_kernel_4_8_without_cap_sys_ptrace():
    """Docker allows ptrace to everyone on >= 4.8, where seccomp re-checks after a tracer."""
    trio = {"ptrace", "process_vm_readv", "process_vm_writev"}
    assert trio <= unconditional(sd.seccomp_for(DOCKER_14, kernel=(4, 8)))
    assert not trio & allowed_somehow(sd.seccomp_for(DOCKER_14, kernel=(4, 7)))
    assert trio <= unconditional(sd.seccomp_for({"CAP_SYS_PTRACE"}, kernel=(4, 7)))


@pytest.mark.parametrize("cap, names", [
    ("CAP_SYS_ADMIN", {"unshare", "setns", "mount", "umount2", "clone", "clone3"}),
    ("CAP_SYS_MODULE", {"init_module", "finit_module", "delete_module"}),
    ("CAP_SYS_BOOT", {"reboot"}),
    ("CAP_SYS_TIME", {"settimeofday", "clock_settime"}),
    ("CAP_SYS_RAWIO", {"iopl", "ioperm"}),
    ("CAP_SYS_PACCT", {"acct"}),
    ("CAP_DAC_READ_SEARCH", {"open_by_handle_at"}),
    ("CAP_BPF", {"bpf"}),
    ("CAP_PERFMON", {"perf_event_open"}),
])
def test_capability_gated_entries_come_with_their_capability(cap, names):
    assert not names & unconditional(sd.seccomp_for(DOCKER_14, kernel=MODERN))
    assert names <= unconditional(sd.seccomp_for(set(DOCKER_14) | {cap}, kernel=MODERN))


def test_clone_without_namespace_flags_and_clone3_enosys():
    rules = rules_of(sd.seccomp_for(DOCKER_14, kernel=MODERN))
    flags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
    assert [r for r in rules if r[0] == "clone"] == [("clone", ALLOW, None, ((0, "SCMP_CMP_MASKED_EQ", flags, 0),))]
    assert [r for r in rules if r[0] == "clone3"] == [("clone3", "SCMP_ACT_ERRNO", 38, ())]

    admin = rules_of(sd.seccomp_for(set(DOCKER_14) | {"CAP_SYS_ADMIN"}, kernel=MODERN))
    assert {r for r in admin if r[0] in ("clone", "clone3")} == {("clone", ALLOW, None, ()),
                                                                ("clone3", ALLOW, None, ())}


def test_socket_and_personality_only_for_safe_arguments():
    rules = rules_of(sd.seccomp_for(DOCKER_14, kernel=MODERN))
    sockets = {r[3][0][1:3] for r in rules if r[0] == "socket"}
    assert sockets == {("SCMP_CMP_LT", 38), ("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40)}  # no AF_ALG, AF_VSOCK
    personas = {r[3][0][2] for r in rules if r[0] == "personality"}
    assert personas == {0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF}  # no ADDR_NO_RANDOMIZE (0x40000)


# --- capabilities and paths ---------------------------------------------------------------------
def test_default_capabilities_are_dockers_14():
    assert defaults.default_capabilities() == DOCKER_14
    assert set(DOCKER_14) == DOCKER_DEFAULT_CAPS
    assert all(c in capnames.BITS for c in DOCKER_14)
    for cap in DOCKER_14:
        reason = defaults.capability_reason(cap)
        assert reason and reason.strip() and "\n" not in reason
    assert defaults.capability_reason("CAP_SYS_ADMIN") is None


def test_masked_and_readonly_paths_are_dockers_with_reasons():
    assert defaults.masked_paths() == [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"]
    assert defaults.readonly_paths() == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    for path in defaults.masked_paths() + defaults.readonly_paths():
        reason = defaults.path_reason(path)
        assert reason and reason.strip() and "\n" not in reason
    assert defaults.path_reason("/proc/cpuinfo") is None


def test_accessors_return_copies():
    defaults.masked_paths().append("/x")
    defaults.default_capabilities().clear()
    assert "/x" not in defaults.masked_paths() and len(defaults.default_capabilities()) == 14
