"""The OCI runtime spec as data: load and validate config.json, the default spec, features.

Pure: no syscalls here. Validation catches what would otherwise fail half-way through
container creation, so bad input is a one-line error before anything is created.
"""

from __future__ import annotations

import os

from ..errors import ConfigError

OCI_VERSION = "1.2.0"
NAMESPACES = {
    "pid": 0x20000000, "network": 0x40000000, "mount": 0x00020000, "ipc": 0x08000000,
    "uts": 0x04000000, "user": 0x10000000, "cgroup": 0x02000000, "time": 0x00000080,
}
HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def load_json(path: str, what: str):
    from .. import _json as json

    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory: {path}") from None
    except ValueError as e:  # bad JSON, UnicodeDecodeError
        raise ConfigError(f"{what} {path} is not valid JSON: {e}") from None


def load_config(bundle: str) -> dict:
    cfg = load_json(os.path.join(bundle, "config.json"), "config.json")
    validate(cfg, bundle)
    return cfg


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(f"config.json: {msg}")


def validate_process(p, where: str = "process") -> None:
    _need(isinstance(p, dict), f"{where} must be an object")
    args = p.get("args")
    _need(isinstance(args, list) and args and all(isinstance(a, str) for a in args),
          f"{where}.args must be a non-empty list of strings")
    cwd = p.get("cwd", "/")
    _need(isinstance(cwd, str) and cwd.startswith("/"), f"{where}.cwd must be an absolute path, got {cwd!r}")
    env = p.get("env", [])
    _need(isinstance(env, list) and all(isinstance(e, str) for e in env), f"{where}.env must be a list of strings")
    user = p.get("user", {})
    _need(isinstance(user, dict), f"{where}.user must be an object")
    for k in ("uid", "gid"):
        _need(isinstance(user.get(k, 0), int) and user.get(k, 0) >= 0, f"{where}.user.{k} must be a non-negative integer")
    for r in p.get("rlimits", []) or []:
        _need(isinstance(r, dict) and isinstance(r.get("type"), str) and r["type"].startswith("RLIMIT_"),
              f"{where}.rlimits entries need a type like RLIMIT_NOFILE, got {r!r}")
        _need(isinstance(r.get("soft"), int) and isinstance(r.get("hard"), int),
              f"{where}.rlimits {r.get('type')}: soft and hard must be integers")
    caps = p.get("capabilities")
    _need(caps is None or isinstance(caps, dict), f"{where}.capabilities must be an object")
    if "oomScoreAdj" in p:
        _need(isinstance(p["oomScoreAdj"], int) and -1000 <= p["oomScoreAdj"] <= 1000,
              f"{where}.oomScoreAdj must be an integer in [-1000, 1000]")


def validate(cfg, bundle: str) -> None:
    _need(isinstance(cfg, dict), "top level must be an object")
    _need(isinstance(cfg.get("ociVersion"), str), "ociVersion is required")
    root = cfg.get("root")
    _need(isinstance(root, dict) and isinstance(root.get("path"), str) and root["path"],
          "root.path is required")
    rootfs = rootfs_path(cfg, bundle)
    if not os.path.isdir(rootfs):
        raise ConfigError(f"rootfs {rootfs} does not exist or is not a directory")
    _need("process" in cfg, "process is required")
    validate_process(cfg["process"])
    linux = cfg.get("linux", {})
    _need(isinstance(linux, dict), "linux must be an object")
    seen = set()
    for ns in linux.get("namespaces", []) or []:
        _need(isinstance(ns, dict), "linux.namespaces entries must be objects")
        t = ns.get("type")
        _need(t in NAMESPACES, f"unknown namespace type {t!r} (known: {', '.join(sorted(NAMESPACES))})")
        _need(t not in seen, f"namespace {t!r} listed twice")
        seen.add(t)
        if "path" in ns:
            _need(isinstance(ns["path"], str) and ns["path"].startswith("/"),
                  f"namespace {t} path must be absolute")
    for k in ("uidMappings", "gidMappings"):
        maps = linux.get(k) or []
        _need(not maps or "user" in seen, f"linux.{k} needs a user namespace")
        for m in maps:
            _need(all(isinstance(m.get(f), int) and m.get(f) >= 0 for f in ("containerID", "hostID", "size")),
                  f"linux.{k} entries need containerID, hostID and size")
    if "user" in seen and not any(n.get("path") for n in linux["namespaces"] if n["type"] == "user"):
        _need(linux.get("uidMappings") and linux.get("gidMappings"),
              "a new user namespace needs linux.uidMappings and linux.gidMappings")
    for m in cfg.get("mounts", []) or []:
        _need(isinstance(m, dict) and isinstance(m.get("destination"), str),
              "mounts entries need a destination")
        _need(m["destination"].startswith("/"), f"mount destination {m['destination']!r} must be absolute")
        _need(isinstance(m.get("options", []), list), f"mount {m['destination']}: options must be a list")
    hooks = cfg.get("hooks", {}) or {}
    _need(isinstance(hooks, dict), "hooks must be an object")
    for kind, lst in hooks.items():
        _need(kind in HOOK_KINDS, f"unknown hook kind {kind!r}")
        for h in lst or []:
            _need(isinstance(h, dict) and isinstance(h.get("path"), str) and h["path"].startswith("/"),
                  f"hooks.{kind}: each hook needs an absolute path")
    offsets = linux.get("timeOffsets")
    if offsets:
        _need("time" in seen and not any(n.get("path") for n in linux["namespaces"] if n["type"] == "time"),
              "linux.timeOffsets needs a new time namespace")
        for clock, o in offsets.items():
            _need(clock in ("monotonic", "boottime") and isinstance(o, dict)
                  and isinstance(o.get("secs", 0), int) and isinstance(o.get("nanosecs", 0), int),
                  f"linux.timeOffsets.{clock}: expected monotonic/boottime with integer secs and nanosecs")
    for k in (linux.get("sysctl") or {}):
        _need(isinstance(k, str) and k and ".." not in k and "/" not in k, f"invalid sysctl name {k!r}")
    for d in linux.get("devices", []) or []:
        _need(isinstance(d.get("path"), str) and d["path"].startswith("/dev/") and d.get("type") in ("c", "b", "u", "p"),
              f"linux.devices entry {d!r}: needs a /dev/ path and type c, b, u or p")


# Spec fields this runtime reads but does not apply yet: each is reported as a warning
# (runc would apply them; a silent ignore would let a user believe they took effect).
NOT_APPLIED = (("process", "apparmorProfile"), ("process", "selinuxLabel"), ("process", "scheduler"),
               ("process", "ioPriority"), ("process", "execCPUAffinity"), ("linux", "intelRdt"),
               ("linux", "personality"), ("linux", "mountLabel"), ("linux", "memoryPolicy"))


def not_applied(cfg: dict) -> list[str]:
    """The NOT_APPLIED fields present in ``cfg``, as "process.scheduler" etc."""
    return [f"{sect}.{key}" for sect, key in NOT_APPLIED if (cfg.get(sect) or {}).get(key)]


def seccomp_wanted(seccomp_spec: dict | None) -> bool:
    """runc reads a seccomp object with neither defaultAction nor syscalls as "no seccomp"."""
    return bool(seccomp_spec) and bool(seccomp_spec.get("defaultAction") or seccomp_spec.get("syscalls"))


def rootfs_path(cfg: dict, bundle: str) -> str:
    return os.path.normpath(os.path.join(bundle, cfg["root"]["path"]))


def namespace_list(cfg: dict) -> list[dict]:
    return (cfg.get("linux") or {}).get("namespaces") or []


def default_spec(args: list[str] | None = None, terminal: bool = True) -> dict:
    """What ``spec`` writes: runc's default, a busybox-friendly sh in a fully isolated container
    (masked and read-only paths from the policy tables, runtime/profiles/defaults.py)."""
    from ..runtime.profiles import defaults

    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": args or ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "dockyard",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": defaults.masked_paths(),
            "readonlyPaths": defaults.readonly_paths(),
        },
    }


def features() -> dict:
    """What ``features`` prints (runtime-spec features.md), true to what this build does."""
    from ..runtime import caps, mounts

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_KINDS),
        "mountOptions": sorted(mounts.OPTION_NAMES),
        "linux": {
            "namespaces": sorted(NAMESPACES),
            "capabilities": list(caps.NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": {
                "enabled": True,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                            "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                   "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {"org.dockyard.runtime": "dockyard-runtime"},
    }
