"""`dockyard run` and `create`: Docker's flags parsed into RunOptions."""

from __future__ import annotations


from .common import _size, _with


# Docker's spellings -> (attribute, kind, default); cli/flags.py parses them as Docker does.
_RUN_FLAGS = {}
for _names, _spec in (
        (("--rm",), ("rm", "bool", False)), (("--name",), ("name", "value", None)),
        (("-e", "--env"), ("env", "list", None)), (("-w", "--workdir"), ("workdir", "value", None)),
        (("-u", "--user"), ("user", "value", None)), (("--entrypoint",), ("entrypoint", "value", None)),
        (("-h", "--hostname"), ("hostname", "value", None)), (("-t", "--tty"), ("tty", "bool", False)),
        (("-i", "--interactive"), ("interactive", "bool", False)), (("-d", "--detach"), ("detach", "bool", False)),
        (("--read-only",), ("read_only", "bool", False)), (("--init",), ("init", "bool", False)),
        (("--privileged",), ("privileged", "bool", False)), (("--cap-add",), ("cap_add", "list", None)),
        (("--cap-drop",), ("cap_drop", "list", None)), (("--security-opt",), ("security_opt", "list", None)),
        (("-m", "--memory"), ("memory", "value", None)), (("--cpus",), ("cpus", "value", None)),
        (("--pids-limit",), ("pids_limit", "value", None)), (("--tmpfs",), ("tmpfs", "list", None)),
        (("--env-file",), ("env_file", "list", None)), (("--ulimit",), ("ulimit", "list", None)),
        (("-l", "--label"), ("label", "list", None)), (("--stop-signal",), ("stop_signal", "value", None)),
        (("--stop-timeout",), ("stop_timeout", "value", None)), (("--restart",), ("restart", "value", "no")),
        (("-v", "--volume"), ("volume", "list", None)),
        (("-p", "--publish"), ("publish", "list", None)), (("-P", "--publish-all"), ("publish_all", "bool", False)),
        (("--network", "--net"), ("network", "value", None)), (("--network-alias", "--net-alias"), ("network_alias", "list", None)),
        (("--ip",), ("ip", "value", None)), (("--dns",), ("dns", "list", None)),
        (("--dns-search",), ("dns_search", "list", None)), (("--dns-option", "--dns-opt"), ("dns_option", "list", None)),
        (("--add-host",), ("add_host", "list", None)), (("--isolation",), ("isolation", "value", None))):
    for _n in _names:
        _RUN_FLAGS[_n] = _spec


def _number(a, name: str, convert):
    from ..errors import ConfigError

    value = getattr(a, name)
    if value is None:
        return None
    try:
        return convert(value)
    except ValueError:
        raise ConfigError(f"run: invalid argument {value!r} for --{name.replace('_', '-')}") from None


def _run_args(argv: list[str]):
    from .flags import parse

    a = parse("run", _RUN_FLAGS, argv)
    a.image, a.args = a.positionals[0], a.rest
    a.cpus, a.pids_limit = _number(a, "cpus", float), _number(a, "pids_limit", int)
    a.stop_timeout = _number(a, "stop_timeout", float)
    return a


def cmd_run(argv: list[str], create_only: bool = False) -> int:
    from ..engine.backends import resolve
    from ..engine.run import run_foreground
    from ..engine.spec import RunOptions
    from ..errors import ConfigError

    a = _run_args(argv)
    isolation = resolve(a.isolation)  # --isolation, else the config file's default
    seccomp, nnp = None, False
    for opt in a.security_opt:
        if opt in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
            nnp = True
        elif opt.startswith("seccomp=") or opt.startswith("seccomp:"):
            value = opt[len("seccomp="):]
            if value == "unconfined":
                seccomp = "unconfined"
            else:
                import json

                from ..oci.docker_seccomp import to_oci

                try:
                    with open(value) as f:
                        prof = json.load(f)
                except (OSError, ValueError) as e:
                    raise ConfigError(f"--security-opt {opt}: {e}") from None
                seccomp = to_oci(prof) if "archMap" in prof or "syscalls" in prof and "defaultAction" in prof else prof
        else:
            raise ConfigError(f"--security-opt {opt!r} is not supported")
    env = []
    for path in a.env_file:
        try:
            with open(path) as f:
                env += [line.rstrip("\n") for line in f if line.strip() and not line.lstrip().startswith("#")]
        except OSError as e:
            raise ConfigError(f"--env-file {path}: {e.strerror}") from None
    env += a.env
    ulimits = []
    for u in a.ulimit:
        name, _, limits = u.partition("=")
        soft, _, hard = limits.partition(":")
        try:
            ulimits.append((name, int(soft), int(hard or soft)))
        except ValueError:
            raise ConfigError(f"--ulimit {u!r}: expected NAME=SOFT[:HARD]") from None
    binds, named = [], []
    for v in a.volume:
        parts = v.split(":")
        if len(parts) not in (2, 3) or not parts[1].startswith("/") or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise ConfigError(f"-v {v!r}: expected HOST_PATH:CONTAINER_PATH[:ro|rw] or VOLUME:CONTAINER_PATH[:ro|rw]")
        ro = len(parts) == 3 and parts[2] == "ro"
        if parts[0].startswith("/"):
            binds.append((parts[0], parts[1], ro))
        else:
            named.append((parts[0], parts[1], ro))
    opts = RunOptions(args=a.args, entrypoint=a.entrypoint, env=env, ulimits=ulimits, workdir=a.workdir, user=a.user,
                      hostname=a.hostname, tty=a.tty, read_only=a.read_only, privileged=a.privileged,
                      cap_add=a.cap_add, cap_drop=a.cap_drop, seccomp=seccomp, no_new_privileges=nnp,
                      memory=_size(a.memory) if a.memory else None, cpus=a.cpus, pids_limit=a.pids_limit,
                      tmpfs=a.tmpfs, binds=binds, init=a.init, network=a.network, network_aliases=a.network_alias,
                      ip=a.ip, publish=a.publish, publish_all=a.publish_all, dns=a.dns, dns_search=a.dns_search,
                      dns_option=a.dns_option, add_host=a.add_host, isolation=isolation)
    policy, _, retries = a.restart.partition(":")
    if policy not in ("no", "always", "unless-stopped", "on-failure") or (retries and (
            policy != "on-failure" or not retries.isdigit())):
        raise ConfigError(f"--restart {a.restart!r}: use no, always, unless-stopped or on-failure[:N]")
    if policy != "no" and a.rm:
        raise ConfigError("--restart and --rm conflict: a container cannot be both kept and removed")
    if policy != "no" and not a.detach:
        raise ConfigError("--restart needs -d (a foreground container ends with its CLI)")
    meta = {"labels": dict(x.partition("=")[::2] for x in a.label), "stop_signal": a.stop_signal,
            "stop_timeout": a.stop_timeout, "restart": policy, "max_retries": int(retries) if retries else 0,
            "restart_count": 0, "interactive": a.interactive}
    def go(images, containers):
        if named:  # named volumes are made on first use, as `docker run -v name:/path` does
            from .. import config
            from ..engine.volumes import Volumes

            vols = Volumes(config.storage_root())
            for name, dest, ro in named:
                vols.create(name)
                opts.binds.append((vols.data(name), dest, ro))
            meta["volumes"] = [n for n, _, _ in named]
        containers.pending_meta = meta
        if a.detach:
            from ..engine.run import create_detached, run_detached

            make = create_detached if create_only else run_detached
            print(make(images, containers, a.image, opts, name=a.name, rm=a.rm))
            return 0
        return run_foreground(images, containers, a.image, opts, name=a.name, rm=a.rm)
    return _with(go)


def cmd_create(argv: list[str]) -> int:
    return cmd_run(["--detach", *argv], create_only=True)
