"""`dockyard volume create|ls|inspect|rm|prune`."""

from __future__ import annotations

import json

from .common import _with


def _users(containers) -> dict[str, list[str]]:
    """volume name -> names of the containers (any state) that mount it."""
    users: dict[str, list[str]] = {}
    for r in containers.list():
        for v in containers.meta(r.id).get("volumes") or []:
            users.setdefault(v, []).append(r.name)
    return users


def cmd_volume(argv: list[str]) -> int:
    from .. import config
    from ..engine.volumes import Volumes
    from ..errors import ConfigError

    if not argv:
        raise ConfigError("volume: create, ls, inspect, rm or prune")
    sub, args = argv[0], argv[1:]
    vols = Volumes(config.storage_root())

    def go(im, containers):
        if sub == "create":
            labels = {}
            names = []
            i = 0
            while i < len(args):
                if args[i] in ("--label", "-l"):
                    i += 1
                    k, _, v = args[i].partition("=")
                    labels[k] = v
                elif not args[i].startswith("-"):
                    names.append(args[i])
                i += 1
            print(vols.create(names[0] if names else None, labels))
        elif sub in ("ls", "list"):
            quiet = "-q" in args
            if not quiet:
                print(f"{'DRIVER':<8} VOLUME NAME")
            for n in vols.list():
                print(n if quiet else f"{'local':<8} {n}")
        elif sub == "inspect":
            print(json.dumps([vols.inspect(n) for n in args if not n.startswith("-")], indent=4))
        elif sub == "rm":
            force = "-f" in args or "--force" in args
            users = _users(containers)
            for n in [x for x in args if not x.startswith("-")]:
                vols.remove(n, users.get(n, []), force)
                print(n)
        elif sub == "prune":
            users = _users(containers)
            for n in vols.list():
                if n not in users:
                    vols.remove(n, [])
                    print(f"Deleted: {n}")
        else:
            raise ConfigError(f"volume: unknown command {sub!r} (create, ls, inspect, rm, prune)")
        return 0
    return _with(go)
