"""linux.seccomp -> libseccomp context: validation and rule shaping. No root: nothing is loaded."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dockyard._sys import seccomp as _sc
from dockyard.errors import SeccompError
from dockyard.runtime import seccomp

from support import recv_with_fds, shared_reference  # noqa: E402

DOCKER_PROFILE = Path(shared_reference("docker-default-seccomp.json"))


def docker_to_oci(profile: dict) -> dict:
    """What dockerd does to its profile before handing it to runc (archMap, includes/excludes)."""
    from dockyard.oci.docker_seccomp import to_oci

    return to_oci(profile)


def allow_but(*rules: dict, **extra) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules), **extra}


@pytest.fixture
def build():
    made = []

    def _build(spec: dict) -> seccomp.Filter:
        flt = seccomp.compile(spec)
        made.append(flt)
        return flt

    yield _build
    for flt in made:
        flt.release()


# --- validation: one line naming what is wrong ------------------------------------------------
@pytest.mark.parametrize(
    "spec, needle",
    [
        ({"defaultAction": "SCMP_ACT_FOO"}, "SCMP_ACT_FOO"),
        (allow_but({"names": ["mkdir"], "action": "SCMP_ACT_BAR"}), "SCMP_ACT_BAR"),
        (allow_but({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}), "SCMP_CMP_ALMOST"),
        (allow_but({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}), "index"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}, "SCMP_ARCH_VAX"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_MAGIC"]}, "SECCOMP_FILTER_FLAG_MAGIC"),
        (allow_but({"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}), "listenerPath"),
        ({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}, "default action"),
        (allow_but({"names": ["write"], "action": "SCMP_ACT_NOTIFY"}, listenerPath="/x"), "write"),
        (allow_but({"names": [], "action": "SCMP_ACT_ERRNO"}), "names"),
        (allow_but({"names": [""], "action": "SCMP_ACT_ERRNO"}), "name"),
        (allow_but({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": -1}), "errnoRet"),
        ({"syscalls": []}, "defaultAction"),
    ],
)
def test_invalid_profiles_are_one_line_seccomp_errors(spec, needle):
    with pytest.raises(SeccompError) as info:
        seccomp.compile(spec)
    message = str(info.value)
    assert needle in message and "\n" not in message
    assert info.value.code == "seccomp"


def test_arch_unknown_to_this_libseccomp_is_refused_plainly():
    with pytest.raises(SeccompError, match="SCMP_ARCH_SHEB.*not supported by libseccomp"):
        seccomp.compile({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_SHEB"]})


# --- rule shaping, read back from libseccomp's pseudo filter code -----------------------------
def test_unknown_syscall_names_are_skipped(build):
    flt = build(allow_but({"names": ["no_such_syscall", "mkdir"], "action": "SCMP_ACT_ERRNO"}))
    assert flt.skipped == ("no_such_syscall",)
    assert '"mkdir"' in flt.export_pfc()


def test_errno_defaults_to_eperm_and_errno_ret_is_used(build):
    pfc = build(allow_but({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                          {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})).export_pfc()
    assert "action ERRNO(1);" in pfc and "action ERRNO(38);" in pfc


def test_rule_equal_to_default_action_is_skipped(build):
    spec = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},  # EPERM == default: skipped
                         {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    pfc = build(spec).export_pfc()
    assert '"mkdir"' not in pfc and '"read"' in pfc


def test_same_arg_index_twice_becomes_separate_rules(build):
    same = build(allow_but({"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 10, "op": "SCMP_CMP_EQ"}]}))
    different = build(allow_but({"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]}))
    assert same.export_pfc().count("action ERRNO(1);") == 2  # OR: either family
    assert different.export_pfc().count("action ERRNO(1);") == 1  # AND: one nested rule


def test_masked_eq_uses_value_as_mask_and_value_two_as_result(build):
    pfc = build(allow_but({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "args": [
        {"index": 0, "value": 0x7E020000, "valueTwo": 0x20000, "op": "SCMP_CMP_MASKED_EQ"}]})).export_pfc()
    assert "$a0.lo32 & 0x7e020000 == 131072" in pfc


def test_extra_architectures_are_added_and_native_stays(build):
    pfc = build({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                 "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}).export_pfc()
    assert f"arch x86_64 ({_sc.arch_native()})" in pfc
    assert f"arch x86 ({_sc.arch_resolve_name('x86')})" in pfc


def test_flags_map_to_libseccomp_attributes(build):
    absent = build({"defaultAction": "SCMP_ACT_ALLOW"})
    empty = build({"defaultAction": "SCMP_ACT_ALLOW", "flags": []})
    some = build({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"]})
    get = _sc.attr_get
    assert get(absent._live(), _sc.SCMP_FLTATR_CTL_SSB) == 1  # runc's default: SPEC_ALLOW
    assert get(empty._live(), _sc.SCMP_FLTATR_CTL_SSB) == 0
    assert get(some._live(), _sc.SCMP_FLTATR_CTL_LOG) == 1
    assert get(some._live(), _sc.SCMP_FLTATR_CTL_TSYNC) == 1
    for flt in (absent, empty, some):
        assert get(flt._live(), _sc.SCMP_FLTATR_CTL_NNP) == 0  # the runtime sets no_new_privs itself


def test_notify_rule_sets_has_notify(build):
    flt = build(allow_but({"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"},
                          listenerPath="/run/agent.sock", listenerMetadata="meta"))
    assert flt.has_notify and flt.listener_path == "/run/agent.sock" and flt.listener_metadata == "meta"
    assert not build(allow_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO"})).has_notify


def test_export_bpf_is_a_nonempty_program(build):
    bpf = build(allow_but({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"})).export_bpf()
    assert bpf and len(bpf) % 8 == 0  # struct sock_filter is 8 bytes


def test_release_is_idempotent_and_final():
    flt = seccomp.compile({"defaultAction": "SCMP_ACT_ALLOW"})
    flt.release()
    flt.release()
    with pytest.raises(SeccompError, match="released"):
        flt.load()


def test_wanted_follows_runc():
    assert not seccomp.wanted(None) and not seccomp.wanted({}) and not seccomp.wanted({"syscalls": []})
    assert seccomp.wanted({"defaultAction": "SCMP_ACT_ALLOW"})


# --- Docker's default profile -------------------------------------------------------------------
def test_docker_default_profile_compiles(build):
    oci = docker_to_oci(json.loads(DOCKER_PROFILE.read_text()))
    flt = build(oci)
    pfc = flt.export_pfc()
    assert "arch x86 (" in pfc and "arch x32 (" in pfc
    assert '"read"' in pfc and "action ERRNO(38);" in pfc  # clone3 -> ENOSYS without CAP_SYS_ADMIN
    assert len(flt.export_bpf()) > 1000
    # Names newer than this libseccomp are skipped, not fatal.
    assert all(_sc.syscall_resolve_name(name) is None for name in flt.skipped)


def test_docker_profile_as_shipped_compiles(build):
    # Extra keys (archMap, includes, comment) are ignored as runc's JSON decoding ignores them.
    assert build(json.loads(DOCKER_PROFILE.read_text())).export_bpf()


# --- the listener protocol ------------------------------------------------------------------------
def test_send_listener_fd_sends_state_and_fd(tmp_path):
    path = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(10)
    got = {}

    def agent():
        conn, _ = server.accept()
        with conn:
            data, fds = recv_with_fds(conn)
            got["msg"], got["fds"] = json.loads(data), fds

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    r, w = os.pipe()
    try:
        state = {"ociVersion": "1.2.1", "id": "c1", "status": "creating", "pid": 4242, "bundle": "/b"}
        seccomp.send_listener_fd(path, r, state, "hello")
        thread.join(10)
        assert got["msg"] == {"ociVersion": "1.2.1", "fds": ["seccompFd"], "pid": 4242,
                              "metadata": "hello", "state": state}
        (passed,) = got["fds"]
        os.write(w, b"x")
        assert os.read(passed, 1) == b"x"  # the same pipe, received through SCM_RIGHTS
        os.close(passed)
    finally:
        os.close(r), os.close(w), server.close()


def test_send_listener_fd_reports_a_missing_agent(tmp_path):
    with pytest.raises(SeccompError, match="agent.sock"):
        seccomp.send_listener_fd(str(tmp_path / "agent.sock"), 0, {"pid": 1})


# --- cheap import -----------------------------------------------------------------------------------
def test_importing_does_not_load_libseccomp():
    code = ("import dockyard.runtime.seccomp, dockyard._sys.seccomp as s\n"
            "maps = open('/proc/self/maps').read()\n"
            "assert s._LIB is None and 'libseccomp' not in maps, 'loaded at import'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
