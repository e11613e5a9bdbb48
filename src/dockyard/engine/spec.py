"""What `docker run` means as an OCI runtime spec: image config + user options -> config.json.

Pure (the user lookup reads the image's /etc/passwd through a safe root-relative path).
The rules are Docker's, so an image behaves here as it does there:

- command: ``--entrypoint`` replaces the image's ENTRYPOINT *and* drops its CMD; arguments
  after the image replace CMD; the process is ENTRYPOINT + CMD; nothing at all is an error
  (exit 125 in the CLI);
- environment: PATH default, then the image's Env, then ``-e`` (``-e NAME`` copies the
  caller's value, and is dropped when the caller has none), HOSTNAME set, HOME from the user;
- security: Docker's 14 capabilities, ± ``--cap-add``/``--cap-drop`` (``ALL`` allowed), our
  default seccomp allowlist for the resulting capabilities, masked and read-only paths,
  ``no-new-privileges`` on request; ``--privileged`` drops the filter, the masks and the
  capability limits, and says so loudly elsewhere;
- ``--init``: the host's static tini at /sbin/docker-init as PID 1, forwarding signals and
  reaping orphans, as Docker's docker-init (tini) does;
- resources: ``--memory``, ``--cpus`` (as quota per 100 ms period), ``--pids-limit``,
  ``--ulimit`` (never above what the caller may set — the runtime refuses that anyway);
- network: a new network namespace, none with ``--network host`` (and the host's name as
  hostname, as Docker), or another container's by path (``container:X``).
"""

from __future__ import annotations

import os

from ..errors import ConfigError
from ..oci.runtime_spec import OCI_VERSION
from ..runtime.caps import NAMES as ALL_CAPS

# --init: a static init from the host, bind-mounted where Docker puts its own (docker-init is
# tini too). Static, because the image may have no libc at all.
INIT_BINARIES = ("/usr/bin/tini-static", "/usr/libexec/docker/docker-init", "/usr/bin/docker-init",
                 "/usr/libexec/podman/catatonit")
INIT_PATH = "/sbin/docker-init"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000


class RunOptions:
    """The subset of `docker run` flags that shape the spec (the CLI fills it)."""

    def __init__(self, **kw) -> None:
        self.args: list[str] = kw.pop("args", [])
        self.entrypoint: str | None = kw.pop("entrypoint", None)
        self.env: list[str] = kw.pop("env", [])
        self.workdir: str | None = kw.pop("workdir", None)
        self.user: str | None = kw.pop("user", None)
        self.hostname: str | None = kw.pop("hostname", None)
        self.tty: bool = kw.pop("tty", False)
        self.read_only: bool = kw.pop("read_only", False)
        self.privileged: bool = kw.pop("privileged", False)
        self.cap_add: list[str] = kw.pop("cap_add", [])
        self.cap_drop: list[str] = kw.pop("cap_drop", [])
        self.seccomp: str | dict | None = kw.pop("seccomp", None)  # None: default; "unconfined"; a profile
        self.no_new_privileges: bool = kw.pop("no_new_privileges", False)
        self.memory: int | None = kw.pop("memory", None)
        self.cpus: float | None = kw.pop("cpus", None)
        self.pids_limit: int | None = kw.pop("pids_limit", None)
        self.ulimits: list[tuple[str, int, int]] = kw.pop("ulimits", [])
        self.tmpfs: list[str] = kw.pop("tmpfs", [])
        self.binds: list[tuple[str, str, bool]] = kw.pop("binds", [])  # (host, container, read-only)
        self.init: bool = kw.pop("init", False)
        # networking (engine/networking.py): the mode, and what a bridge/user network attach takes
        self.network: str = kw.pop("network", None) or "bridge"  # none | host | bridge | container:X | NAME
        self.netns_path: str | None = kw.pop("netns_path", None)  # container:X: X's netns, joined by path
        self.network_aliases: list[str] = kw.pop("network_aliases", [])
        self.ip: str | None = kw.pop("ip", None)
        self.publish: list[str] = kw.pop("publish", [])
        self.publish_all: bool = kw.pop("publish_all", False)
        self.dns: list[str] = kw.pop("dns", [])
        self.dns_search: list[str] = kw.pop("dns_search", [])
        self.dns_option: list[str] = kw.pop("dns_option", [])
        self.add_host: list[str] = kw.pop("add_host", [])
        self.isolation: str = kw.pop("isolation", "process")  # process | vm (engine/backends.py)
        if kw:
            raise TypeError(f"unknown run options: {', '.join(sorted(kw))}")


def command(image_cfg: dict, o: RunOptions) -> list[str]:
    if o.entrypoint is not None:
        entry = [o.entrypoint] if o.entrypoint else []
        cmd = list(o.args)
    else:
        entry = list(image_cfg.get("Entrypoint") or [])
        cmd = list(o.args) or list(image_cfg.get("Cmd") or [])
    argv = entry + cmd
    if not argv:
        raise ConfigError("no command specified (the image has no CMD or ENTRYPOINT, and none was given)")
    return argv


def environment(image_cfg: dict, o: RunOptions, hostname: str, home: str, caller_env=os.environ) -> list[str]:
    env: dict[str, str] = {}
    for item in [DEFAULT_PATH, *(image_cfg.get("Env") or [])]:
        k, _, v = item.partition("=")
        env[k] = v
    env["HOSTNAME"] = hostname
    for item in o.env:
        k, eq, v = item.partition("=")
        if not k:
            raise ConfigError(f"invalid environment variable {item!r}")
        if eq:
            env[k] = v
        elif k in caller_env:
            env[k] = caller_env[k]
    env.setdefault("HOME", home)
    if o.tty:
        env.setdefault("TERM", "xterm")
    return [f"{k}={v}" for k, v in env.items()]


def resolve_user(spec_user: str, rootfs: str | None) -> tuple[int, int, list[int], str]:
    """(uid, gid, additional gids, home) for "name|uid[:group|gid]", looked up in the
    image's /etc/passwd and /etc/group as Docker does; numeric ids need no lookup."""
    name, _, group = (spec_user or "0").partition(":")
    passwd = _read_db(rootfs, "etc/passwd")
    groups = _read_db(rootfs, "etc/group")
    entry = next((p for p in passwd if p[0] == name or (name.isdigit() and p[2] == name)), None)
    if name.isdigit():
        uid = int(name)
    elif entry:
        uid = int(entry[2])
    else:
        raise ConfigError(f"unable to find user {name}: no matching entries in passwd file")
    gid = int(entry[3]) if entry and len(entry) > 3 and entry[3].isdigit() else (uid if name.isdigit() and not entry else 0)
    home = entry[5] if entry and len(entry) > 5 and entry[5] else "/"
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = next((x for x in groups if x[0] == group), None)
            if g is None:
                raise ConfigError(f"unable to find group {group}: no matching entries in group file")
            gid = int(g[2])
    user_name = entry[0] if entry else None
    extra = sorted({int(g[2]) for g in groups if len(g) > 3 and user_name and user_name in g[3].split(",")
                    and g[2].isdigit() and int(g[2]) != gid})
    return uid, gid, extra, home


def _read_db(rootfs: str | None, rel: str) -> list[list[str]]:
    if not rootfs:
        return []
    from .._sys import paths

    try:
        rfd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        fd = paths.open_in_root(rfd, rel)
        try:
            with open(paths.fd_path(fd)) as f:
                return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
        finally:
            os.close(fd)
    except (OSError, Exception):  # noqa: BLE001 - no such file in the image: no names to resolve
        return []
    finally:
        os.close(rfd)


def init_binary() -> str:
    """The host's static init for --init (Debian: apt install tini)."""
    for path in INIT_BINARIES:
        if os.access(path, os.X_OK):
            return path
    raise ConfigError("--init needs a static init on the host: apt install tini (for /usr/bin/tini-static)")


def capabilities(o: RunOptions) -> list[str]:
    from ..runtime.profiles import defaults

    if o.privileged:
        return list(ALL_CAPS)
    norm = lambda c: c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()  # noqa: E731
    add = [norm(c) for c in o.cap_add]
    drop = [norm(c) for c in o.cap_drop]
    for c in add + drop:
        if c != "CAP_ALL" and c not in ALL_CAPS:
            raise ConfigError(f"unknown capability {c!r}")
    caps = list(ALL_CAPS) if "CAP_ALL" in add else list(defaults.default_capabilities())
    if "CAP_ALL" in drop:
        caps = []
    caps = [c for c in caps if c not in drop] + [c for c in add if c != "CAP_ALL" and c not in caps]
    return caps


def container_spec(image_cfg: dict, o: RunOptions, *, rootfs: str, cid: str) -> dict:
    """The OCI config.json for one container; ``rootfs`` is its (mounted) root."""
    from ..runtime.profiles import defaults, seccomp_default

    hostname = o.hostname or (os.uname().nodename if o.network == "host" else cid[:12])  # Docker: host's name
    uid, gid, extra, home = resolve_user(o.user if o.user is not None else image_cfg.get("User") or "0", rootfs)
    caps = capabilities(o)
    process = {
        "terminal": o.tty,
        "user": {"uid": uid, "gid": gid, **({"additionalGids": extra} if extra else {})},
        "args": ([INIT_PATH, "--"] if o.init else []) + command(image_cfg, o),
        "env": environment(image_cfg, o, hostname, home),
        "cwd": o.workdir or image_cfg.get("WorkingDir") or "/",
        "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
        "noNewPrivileges": o.no_new_privileges,
        "rlimits": [{"type": f"RLIMIT_{n.upper()}", "soft": s, "hard": h} for n, s, h in o.ulimits],
    }
    if not process["cwd"].startswith("/"):
        raise ConfigError(f"the working directory {process['cwd']!r} is not an absolute path")
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    ]
    for t in o.tmpfs:
        dest, _, opts = t.partition(":")
        mounts.append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", *([x for x in opts.split(",") if x] or ["mode=1777"])]})
    for host, dest, ro in o.binds:
        mounts.append({"destination": dest, "type": "bind", "source": host,
                       "options": ["rbind", "rprivate", "ro" if ro else "rw"]})
    if o.init:
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": init_binary(), "options": ["bind", "ro", "nosuid", "nodev"]})
    resources: dict = {"devices": [{"allow": False, "access": "rwm"}]}
    if o.memory:
        # Docker: without --memory-swap the container may also swap as much as --memory
        # (the OCI swap value is memory + swap)
        resources["memory"] = {"limit": o.memory, "swap": 2 * o.memory}
    if o.cpus:
        resources["cpu"] = {"quota": int(o.cpus * CPU_PERIOD), "period": CPU_PERIOD}
    if o.pids_limit:
        resources["pids"] = {"limit": o.pids_limit}
    linux: dict = {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")], "resources": resources}
    # the network namespace: none of its own with --network host; another container's,
    # joined by path, with container:X; else a new one (lo only; a bridge or user network
    # gets its eth0 between the runtime's create and start)
    if o.network != "host":
        linux["namespaces"].insert(1, {"type": "network", **({"path": o.netns_path} if o.netns_path else {})})
    if not o.privileged:
        linux["maskedPaths"] = defaults.masked_paths()
        linux["readonlyPaths"] = defaults.readonly_paths()
        if o.seccomp is None:
            linux["seccomp"] = seccomp_default.seccomp_for(set(caps))
        elif isinstance(o.seccomp, dict):
            linux["seccomp"] = o.seccomp
        elif o.seccomp != "unconfined":
            raise ConfigError(f"--security-opt seccomp={o.seccomp}: expected a profile or 'unconfined'")
    else:
        resources["devices"] = [{"allow": True, "access": "rwm"}]
    return {"ociVersion": OCI_VERSION, "process": process, "root": {"path": rootfs, "readonly": o.read_only},
            "hostname": hostname, "mounts": mounts, "linux": linux}
