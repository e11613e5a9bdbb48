"""`dockyard cp`: copy files between a container and the host, as `docker cp`.

    dockyard cp [-a] [-L] CONTAINER:SRC_PATH DEST_PATH|-
    dockyard cp [-a] [-L] SRC_PATH|- CONTAINER:DEST_PATH

Errors exit with status 1, as `docker cp`'s do (not the 125 of `run`).
"""

from __future__ import annotations

import sys

from .common import _with

USAGE = ("usage: dockyard cp [-a] [-L] CONTAINER:SRC_PATH DEST_PATH|-\n"
         "       dockyard cp [-a] [-L] SRC_PATH|- CONTAINER:DEST_PATH")
_FLAGS = {"a": "archive", "L": "follow", "q": "quiet"}
_LONG = {"--archive": "archive", "--follow-link": "follow", "--quiet": "quiet"}


def parse(argv: list[str]) -> tuple[dict, list[str]]:
    """Options (-a, -L, -q and their long forms, bundled as -aL) and the two paths; "-"
    is a path (stdin/stdout), "--" ends the options."""
    from ..errors import ConfigError

    opts = {"archive": False, "follow": False, "quiet": False}
    args, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            args += argv[i + 1:]
            break
        if a in _LONG:
            opts[_LONG[a]] = True
        elif a.startswith("-") and a != "-":
            for ch in a[1:]:
                if ch not in _FLAGS:
                    raise ConfigError(f"cp: unknown option {a} (dockyard cp --help)")
                opts[_FLAGS[ch]] = True
        else:
            args.append(a)
        i += 1
    if len(args) != 2:
        raise ConfigError("cp: requires exactly 2 arguments (dockyard cp --help)")
    return opts, args


def cmd_cp(argv: list[str]) -> int:
    from ..engine.copy import copy_from_container, copy_to_container
    from ..engine.copy_rules import split_arg
    from ..errors import DockyardError

    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    try:
        opts, (src, dst) = parse(argv)
        src_c, src_path = split_arg(src) if src != "-" else (None, "-")
        dst_c, dst_path = split_arg(dst) if dst != "-" else (None, "-")
        if src_c is not None and dst_c is not None:
            raise DockyardError("copying between containers is not supported")
        if src_c is None and dst_c is None:
            raise DockyardError("must specify at least one container source")
        if (src_c is not None and not src_path) or (dst_c is not None and not dst_path):
            raise DockyardError("a container path cannot be empty (use CONTAINER:/ for its root)")

        def go(images, containers):
            if src_c is not None:
                copy_from_container(images, containers, src_c, src_path, dst_path, follow=opts["follow"],
                                    out=sys.stdout.buffer)
            else:
                copy_to_container(images, containers, src_path, dst_c, dst_path, follow=opts["follow"],
                                  archive=opts["archive"], stdin=sys.stdin.buffer)
            return 0
        return _with(go)
    except DockyardError as e:
        sys.stderr.write(f"dockyard: {e}\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"dockyard: cp: {e.strerror or e}" + (f": {e.filename}" if e.filename else "") + "\n")
        return 1
