"""Docker's seccomp profile format -> the OCI runtime spec's ``linux.seccomp``.

Docker's profiles (moby/profiles/seccomp/default.json and what users pass with
``--security-opt seccomp=FILE``) carry an ``archMap`` and per-entry ``includes``/``excludes``
on architectures and capabilities; dockerd resolves those before handing an OCI profile to
the runtime. This does the same, for one architecture and one capability set. Used today by
the tests and benchmarks (with Docker's own profile as reference data); `dockyard run`
will use it for ``--security-opt seccomp=FILE`` (issue 3).
"""

from __future__ import annotations

# Docker's 14 default capabilities, which decide the capability-gated entries by default.
DOCKER_DEFAULT_CAPS = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})


def to_oci(profile: dict, arch: str = "SCMP_ARCH_X86_64", go_arch: str = "amd64",
           caps=DOCKER_DEFAULT_CAPS) -> dict:
    arches = []
    for entry in profile.get("archMap") or ():
        if entry["architecture"] == arch:
            arches = [arch, *(entry.get("subArchitectures") or [])]
    syscalls = []
    for entry in profile.get("syscalls") or ():
        inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
        if inc.get("arches") and go_arch not in inc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= set(caps):
            continue
        if go_arch in (exc.get("arches") or []) or set(exc.get("caps") or []) & set(caps):
            continue
        syscalls.append({k: v for k, v in entry.items() if k in ("names", "action", "errnoRet", "args")})
    out = {"defaultAction": profile["defaultAction"], "architectures": arches, "syscalls": syscalls}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return out
