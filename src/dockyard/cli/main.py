"""`dockyard`: the Docker-style front end. Parses, calls the engine, prints — no behaviour
lives here. Verbs not built yet say so and which issue tracks them."""

from __future__ import annotations

import sys

NOT_YET: dict[str, int] = {}

USAGE = """usage: dockyard COMMAND [ARGS...]

commands:
  run [OPTIONS] IMAGE [COMMAND...]   run a container (-d: detached, held by conmon)
        -d  --rm  --name N  -e K=V  -w DIR  -u USER  --entrypoint CMD  --hostname H  -t
        --read-only  --privileged  --cap-add C  --cap-drop C  --security-opt no-new-privileges
        --security-opt seccomp=unconfined  --memory N  --cpus N  --pids-limit N  --tmpfs PATH
        -v HOST_PATH|VOLUME:CONTAINER_PATH[:ro]  --env-file F  --ulimit N=S[:H]  --label K=V  --stop-signal S  --stop-timeout N
        --init (tini as PID 1)  -i (keep stdin open)
        --restart no|always|unless-stopped|on-failure[:N]   (with -d; no daemon: conmon's exit command)
        --network bridge|none|host|container:NAME|NETWORK (default bridge)  -p [IP:][HOST:]PORT[/udp]  -P
        --network-alias A  --ip IP  --dns IP  --dns-search D  --dns-option O  --add-host HOST:IP
  images                             list images
  ps [-a] [-q] [--filter K=V] [--format TEMPLATE]   list containers (filters: name id status exited label)
  logs [-f] [--tail N] [-t] CONTAINER
  stop [-t SECONDS] CONTAINER...     SIGTERM, then SIGKILL after the timeout (default 10)
  exec [-i] [-t] [-e K=V] [-u USER] [-w DIR] CONTAINER COMMAND...
  kill [-s SIGNAL] CONTAINER...      default SIGKILL
  wait CONTAINER...                  print exit codes
  top CONTAINER                      its processes
  attach [--no-stdin] [--sig-proxy=false] [--detach-keys KEYS] CONTAINER   stdio of a detached container
                                     (stdin with run -d -i; ctrl-p ctrl-q detaches; its exit code)
  stats [-a] [--no-stream] [--no-trunc] [--format TEMPLATE] [CONTAINER...]   CPU, memory, pids, block I/O
  inspect CONTAINER|IMAGE...         JSON
  rename CONTAINER NEW_NAME
  update [--memory N] [--memory-swap N] [--cpus N] [--cpu-shares N] [--cpuset-cpus L] [--pids-limit N]
         [--restart P] CONTAINER...  change limits of running containers now (kept across restarts)
  network create [--subnet CIDR] [--gateway IP] [--internal] [--label K=V] NAME | ls [-q] [--format T]
          | inspect NET... | rm NET... | prune | connect [--alias A] [--ip IP] NET CONTAINER
          | disconnect NET CONTAINER   bridge networks (user networks resolve container names)
  cp [-a] [-L] CONTAINER:SRC_PATH DEST_PATH|-   copy out of a container (running or stopped; - = tar to stdout)
  cp [-a] [-L] SRC_PATH|- CONTAINER:DEST_PATH   copy into it (- = tar from stdin; -a: owned by its user)
  create [run options] IMAGE [COMMAND...]   prepare a container under conmon, not started
  start CONTAINER...                 start a created or exited container (its files kept)
  restart [-t SECONDS] CONTAINER...
  rm [-f] CONTAINER...               remove containers (-f: running ones too)
  rmi IMAGE...                       remove images
  save -o FILE IMAGE...              an archive docker/podman/skopeo load (OCI layout + manifest.json)
  load -i FILE                       a `docker save`/`podman save` archive or an OCI layout tar
  import FILE|- [REPOSITORY[:TAG]]   a root filesystem tarball as a one-layer image
  tag SOURCE TARGET                  another name for an image
  history IMAGE                      how the image was made
  image prune [-a]                   remove untagged images (-a: also unused tagged ones)
  container prune                    remove all stopped containers
  system df                          disk use of images, containers, layers
  volume create [NAME] | ls | inspect NAME | rm [-f] NAME | prune
  pull [-q] [--platform OS/ARCH[/VARIANT]] [--insecure] NAME[:TAG|@DIGEST]   from a registry
  push [-q] [--insecure] NAME[:TAG]  to a registry
  login [-u USER] [-p PASS | --password-stdin] [SERVER]   (checked, then kept in ~/.docker/config.json)
  logout [SERVER]
  manifest inspect [--insecure] NAME  the manifest or index a registry serves
  search [--limit N] [--format TEMPLATE] [--no-trunc] [REGISTRY/]TERM   repositories (v1 search, else the catalog)
  build [-f FILE] [-t NAME]... [--target S] [--build-arg K=V]... [--label K=V] [--no-cache] [--pull]
        [--progress plain|tty|auto] [-q] [--iidfile F] [--secret id=ID,src=FILE] [--network host|none]
        CONTEXT|-                    build an image from a Dockerfile (BuildKit's semantics, docs/build.md)
  bootstrap busybox | debian[:SUITE] make a base image on this machine (no registry needed): busybox
                                     from Debian's busybox-static; Debian with debootstrap
  vm setup | info | run [--cpus N] [--memory SIZE] [-e K=V] [-w DIR] [-u USER] [-v DIR:PATH[:ro]]
     [--timeout S] IMAGE [COMMAND...]  microVMs (QEMU): fetch the guest kernel, show KVM/TCG, run an image
  compare [IMAGE] [--runs N] [--density N] [--json] [--html FILE] [--plot DIR]
                                     containers vs microVMs vs crun/runc/podman/host, measured (docs/compare.md)
  runtime ...                        the OCI runtime (same as dockyard-runtime)
  version

storage: $DOCKYARD_ROOT (default /var/lib/dockyard), $DOCKYARD_RUN_ROOT (default /run/dockyard)
not built yet: {}
""".format(", ".join(sorted(NOT_YET)) or "none")


# verb -> (module in dockyard.cli, function). Only the module of the verb asked for is imported:
# importing them all cost `run` ~5 ms (json, argparse, tarfile...) for nothing.
COMMANDS = {
    "run": ("run", "cmd_run"), "create": ("run", "cmd_create"),
    "ps": ("containers", "cmd_ps"), "rm": ("containers", "cmd_rm"), "stop": ("containers", "cmd_stop"),
    "logs": ("containers", "cmd_logs"), "exec": ("containers", "cmd_exec"), "kill": ("containers", "cmd_kill"),
    "wait": ("containers", "cmd_wait"), "top": ("containers", "cmd_top"), "rename": ("containers", "cmd_rename"),
    "start": ("containers", "cmd_start"), "restart": ("containers", "cmd_restart"),
    "container prune": ("containers", "cmd_container_prune"),
    "internal-cleanup": ("containers", "cmd_internal_cleanup"),
    "images": ("images", "cmd_images"), "rmi": ("images", "cmd_rmi"), "bootstrap": ("images", "cmd_bootstrap"),
    "inspect": ("images", "cmd_inspect"), "save": ("images", "cmd_save"), "load": ("images", "cmd_load"),
    "import": ("images", "cmd_import"), "tag": ("images", "cmd_tag"), "history": ("images", "cmd_history"),
    "image prune": ("images", "cmd_image_prune"), "system df": ("images", "cmd_system_df"),
    "volume": ("volumes", "cmd_volume"), "cp": ("copy", "cmd_cp"),
    "attach": ("attach", "cmd_attach"), "stats": ("stats", "cmd_stats"),
    "pull": ("registry", "cmd_pull"), "push": ("registry", "cmd_push"), "login": ("registry", "cmd_login"),
    "logout": ("registry", "cmd_logout"), "manifest": ("registry", "cmd_manifest"),
    "search": ("registry", "cmd_search"),
    "build": ("build", "cmd_build"),
    "network": ("network", "cmd_network"), "update": ("update", "cmd_update"),
    "vm": ("vm", "cmd_vm"), "compare": ("compare", "cmd_compare"),
}


def _command(verb: str):
    import importlib

    module, function = COMMANDS[verb]
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    cmd = argv[0]
    if cmd == "runtime":
        from ..runtime.cli import main as runtime_main

        return runtime_main(argv[1:])
    if cmd in ("version", "--version", "-v"):
        from .. import __version__

        print(f"dockyard {__version__}")
        return 0
    # Docker's two-word forms
    two = {("image", "bootstrap"): "bootstrap", ("image", "ls"): "images", ("image", "rm"): "rmi",
           ("image", "prune"): "image prune", ("container", "prune"): "container prune",
           ("container", "ls"): "ps", ("system", "df"): "system df", ("image", "history"): "history",
           ("image", "tag"): "tag", ("image", "inspect"): "inspect", ("container", "inspect"): "inspect"}
    target = two.get((cmd, argv[1] if len(argv) > 1 else ""))
    if target:
        cmd, argv = target, argv[1:]
    if cmd in COMMANDS:
        from ..errors import DockyardError

        try:
            return _command(cmd)(argv[1:])
        except DockyardError as e:
            sys.stderr.write(f"dockyard: {e}\n")
            return getattr(e, "exit_code", 1) if getattr(e, "exit_code", 1) != 1 else 125
        except OSError as e:
            sys.stderr.write(f"dockyard: {e.strerror or e}" + (f": {e.filename}" if e.filename else "") + "\n")
            return 125
        except KeyboardInterrupt:
            return 130
        except Exception as e:  # noqa: BLE001 - a bug of ours: one line, never a traceback
            sys.stderr.write(f"dockyard: internal error: {type(e).__name__}: {e}\n")
            return 125
    if cmd in NOT_YET:
        sys.stderr.write(f"dockyard: {cmd!r} is not built yet (tracked in issue {NOT_YET[cmd]})\n")
        return 125
    sys.stderr.write(f"dockyard: unknown command {cmd!r} (see dockyard --help)\n")
    return 125


if __name__ == "__main__":
    sys.exit(main())
