"""`dockyard-runtime`: runc's command line over the runtime library.

Parsing is hand-rolled rather than argparse: argparse (with re and enum) costs several ms
of imports on every container start, and runc's grammar is small. Flags take the forms
runc (urfave/cli) accepts: ``--flag value``, ``--flag=value``, ``-flag value``.
"""

from __future__ import annotations

import os
import sys

from ..errors import ConfigError, DockyardError

USAGE = """usage: dockyard-runtime [global options] COMMAND [options] [ID] [args]

An OCI runtime (runc's command line), part of dockyard.

global options:
  --root DIR          state directory (default /run/dockyard/runtime)
  --log FILE          log file (default: stderr only)
  --log-format FMT    text or json
  --debug             verbose log
  --systemd-cgroup    accepted for runc compatibility; dockyard drives cgroupfs itself and
                      maps "slice:prefix:name" paths to /slice/prefix-name.scope (no systemd API)

commands:
  spec      [--bundle B] [--rootless]           write a default config.json
  create    [--bundle B] [--pid-file F] [--console-socket S] [--no-pivot] [--preserve-fds N] ID
  start     ID                                  run the user process of a created container
  run       [create options] [--detach] [--keep] [--start-gate FD] ID   create + start + wait; exit code
            passed through. --start-gate: after create, write "PID\n" to the socket FD and start only
            when it answers "1" (the caller sets up the container's network in between)
  state     ID                                  the OCI state JSON
  kill      [--all] ID [SIGNAL]                 default SIGTERM
  delete    [--force] ID
  list      [--format table|json] [--quiet]
  ps        [--format table|json] ID [ps args]
  exec      [--process F | options] ID [COMMAND...]   options: --tty --detach --pid-file --console-socket
            --cwd --env K=V --user UID[:GID] --additional-gids G --cap CAP --no-new-privs --preserve-fds N
  pause     ID
  resume    ID
  update    [--resources F|-] [--memory N] [--memory-swap N] [--memory-reservation N] [--cpu-shares N]
            [--cpu-quota N] [--cpu-period N] [--cpuset-cpus L] [--cpuset-mems L] [--pids-limit N]
            [--blkio-weight N] ID
  events    [--stats] [--interval SECONDS] ID   resource usage and OOM events as JSON
  features                                      what this runtime supports (JSON)

not built yet: checkpoint/restore (CRIU), rootless mode (--rootless on `spec` writes the
config, but dockyard-runtime itself must run as root).
"""

# command -> {flag: (dest, kind)}; kind: "bool", "str", "int", "list"
_CREATE = {"bundle": ("bundle", "str"), "b": ("bundle", "str"), "pid-file": ("pid_file", "str"),
           "console-socket": ("console_socket", "str"), "no-pivot": ("no_pivot", "bool"),
           "no-new-keyring": ("no_new_keyring", "bool"), "preserve-fds": ("preserve_fds", "int")}
FLAGS = {
    "spec": {"bundle": ("bundle", "str"), "b": ("bundle", "str"), "rootless": ("rootless", "bool")},
    "create": _CREATE,
    "run": {**_CREATE, "detach": ("detach", "bool"), "d": ("detach", "bool"), "keep": ("keep", "bool"),
            "start-gate": ("start_gate", "int")},
    "start": {},
    "state": {},
    "kill": {"all": ("all", "bool"), "a": ("all", "bool")},
    "delete": {"force": ("force", "bool"), "f": ("force", "bool")},
    "list": {"format": ("format", "str"), "f": ("format", "str"), "quiet": ("quiet", "bool"), "q": ("quiet", "bool")},
    "ps": {"format": ("format", "str"), "f": ("format", "str")},
    "exec": {"process": ("process", "str"), "p": ("process", "str"), "tty": ("tty", "bool"), "t": ("tty", "bool"),
             "detach": ("detach", "bool"), "d": ("detach", "bool"), "pid-file": ("pid_file", "str"),
             "console-socket": ("console_socket", "str"), "cwd": ("cwd", "str"), "env": ("env", "list"),
             "e": ("env", "list"), "user": ("user", "str"), "u": ("user", "str"),
             "additional-gids": ("additional_gids", "list"), "g": ("additional_gids", "list"),
             "cap": ("cap", "list"), "c": ("cap", "list"), "no-new-privs": ("no_new_privs", "bool"),
             "preserve-fds": ("preserve_fds", "int"), "apparmor": ("apparmor", "str"),
             "process-label": ("process_label", "str")},
    "pause": {}, "resume": {},
    "update": {"resources": ("resources", "str"), "r": ("resources", "str"), "memory": ("memory", "str"),
               "memory-swap": ("memory_swap", "str"), "memory-reservation": ("memory_reservation", "str"),
               "cpu-shares": ("cpu_shares", "int"), "cpu-quota": ("cpu_quota", "int"),
               "cpu-period": ("cpu_period", "int"), "cpuset-cpus": ("cpuset_cpus", "str"),
               "cpuset-mems": ("cpuset_mems", "str"), "pids-limit": ("pids_limit", "int"),
               "blkio-weight": ("blkio_weight", "int"), "kernel-memory": ("kernel_memory", "str")},
    "events": {"stats": ("stats", "bool"), "interval": ("interval", "str")},
    "features": {},
}
GLOBAL = {"root": ("root", "str"), "log": ("log", "str"), "log-format": ("log_format", "str"),
          "debug": ("debug", "bool"), "systemd-cgroup": ("systemd_cgroup", "bool"),
          "rootless": ("rootless", "str"), "criu": ("criu", "str")}


def parse(argv: list[str], table: dict, stop_at_positional: bool) -> tuple[dict, list[str]]:
    """Flags from ``table`` until the first positional (if ``stop_at_positional``) or to the end.
    ``--`` ends flags."""
    opts: dict = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest.extend(argv[i + 1:])
            break
        if a.startswith("-") and len(a) > 1 and not (rest and stop_at_positional):
            name, eq, val = a.lstrip("-").partition("=")
            if name not in table:
                if stop_at_positional and rest:
                    rest.append(a)
                    i += 1
                    continue
                raise ConfigError(f"unknown option {a.split('=')[0]}")
            dest, kind = table[name]
            if kind == "bool":
                opts[dest] = val.lower() not in ("false", "0") if eq else True
            else:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise ConfigError(f"option {a} needs a value")
                    val = argv[i]
                if kind == "int":
                    try:
                        val = int(val)
                    except ValueError:
                        raise ConfigError(f"option {a}: {val!r} is not an integer") from None
                if kind == "list":
                    opts.setdefault(dest, []).append(val)
                else:
                    opts[dest] = val
        else:
            rest.append(a)
            if stop_at_positional:
                rest.extend(argv[i + 1:])
                break
        i += 1
    return opts, rest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    if argv[:1] in (["--version"], ["-v"]):
        argv = ["version"]
    elif argv[:1] in (["--help"], ["-h"]):
        argv = ["help"]
    try:
        g, rest = parse(argv, GLOBAL, stop_at_positional=True)
        from . import log

        log.configure(g.get("log"), g.get("log_format", "text"), bool(g.get("debug")))
        if not rest or rest[0] in ("help", "-h", "--help"):
            sys.stdout.write(USAGE)
            return 0 if rest else 2
        if rest[0] in ("-v", "--version", "version"):
            from .. import __version__
            from ..oci.runtime_spec import OCI_VERSION

            print(f"dockyard-runtime version {__version__}\nspec: {OCI_VERSION}")
            return 0
        cmd = rest[0]
        if cmd not in FLAGS:
            raise ConfigError(f"unknown command {cmd!r} (see dockyard-runtime --help)")
        # exec/ps take the container's argv after the id: stop parsing flags there.
        opts, args = parse(rest[1:], FLAGS[cmd], stop_at_positional=cmd in ("exec", "ps", "kill"))
        root = g.get("root") or os.environ.get("DOCKYARD_RUNTIME_ROOT") or "/run/dockyard/runtime"
        from . import commands

        return getattr(commands, "cmd_" + cmd)(root, opts, args, g)
    except DockyardError as e:
        _report(e, debug)
        return getattr(e, "exit_code", 1)
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # an unexpected system error: still one line, with --debug for the rest
        _report(DockyardError(f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")), debug)
        return 1
    except Exception as e:  # noqa: BLE001 - a bug of ours: one line, never a traceback (--debug shows it)
        _report(DockyardError(f"internal error: {type(e).__name__}: {e} (rerun with --debug for details)"), debug)
        return 1


def _report(e: BaseException, debug: bool) -> None:
    from . import log

    if debug:
        import traceback

        traceback.print_exc()
    log.log("error", str(e))


if __name__ == "__main__":
    sys.exit(main())
