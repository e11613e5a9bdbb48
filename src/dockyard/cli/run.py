"""`dockyard run` and `create`: Docker's flags parsed into RunOptions."""

from __future__ import annotations


from .common import _size, _with


def _run_args(argv: list[str]):
    import argparse

    from ..errors import ConfigError

    class Parser(argparse.ArgumentParser):
        def error(self, message):  # one line, exit 125, like docker's flag errors
            raise ConfigError(f"run: {message}")

    p = Parser(prog="dockyard run", add_help=False)
    p.add_argument("--rm", action="store_true")
    p.add_argument("--name")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-w", "--workdir")
    p.add_argument("-u", "--user")
    p.add_argument("--entrypoint")
    p.add_argument("--hostname", "-h")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--init", action="store_true")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--cap-add", action="append", default=[])
    p.add_argument("--cap-drop", action="append", default=[])
    p.add_argument("--security-opt", action="append", default=[])
    p.add_argument("--memory", "-m")
    p.add_argument("--cpus", type=float)
    p.add_argument("--pids-limit", type=int)
    p.add_argument("--tmpfs", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("--ulimit", action="append", default=[])
    p.add_argument("--label", "-l", action="append", default=[])
    p.add_argument("--stop-signal")
    p.add_argument("--stop-timeout", type=float)
    p.add_argument("--restart", default="no")  # no | always | unless-stopped | on-failure[:N]
    p.add_argument("-v", "--volume", action="append", default=[])
    p.add_argument("image")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return p.parse_args(argv)


def cmd_run(argv: list[str], create_only: bool = False) -> int:
    from ..engine.run import run_foreground
    from ..engine.spec import RunOptions
    from ..errors import ConfigError

    a = _run_args(argv)
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
                      tmpfs=a.tmpfs, binds=binds, init=a.init)
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
            "restart_count": 0}
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
