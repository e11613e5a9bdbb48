"""`dockyard`: the Docker-style front end. At this stage only `dockyard runtime ...` (the
OCI runtime, same code as `dockyard-runtime`) and `version` exist; images, `run`, builds,
networks and VMs are the open issues 3-8 and say so instead of pretending."""

from __future__ import annotations

import sys

NOT_YET = {
    "run": 3, "create": 3, "start": 3, "stop": 3, "ps": 3, "exec": 3, "logs": 3, "images": 3, "rm": 3,
    "rmi": 3, "inspect": 3, "load": 3, "save": 3, "import": 3, "volume": 3, "stats": 6, "update": 6,
    "pull": 4, "push": 4, "login": 4, "build": 5, "network": 6, "compare": 8, "vm": 7,
}

USAGE = """usage: dockyard COMMAND [ARGS...]

commands:
  runtime ...   the OCI runtime (same as dockyard-runtime; see `dockyard runtime --help`)
  version       print the version

not built yet: {}
""".format(", ".join(sorted(NOT_YET)))


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
    if cmd in NOT_YET:
        sys.stderr.write(f"dockyard: {cmd!r} is not built yet (tracked in issue {NOT_YET[cmd]})\n")
        return 125
    sys.stderr.write(f"dockyard: unknown command {cmd!r} (see dockyard --help)\n")
    return 125


if __name__ == "__main__":
    sys.exit(main())
