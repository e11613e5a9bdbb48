"""`dockyard network create|ls|inspect|rm|prune|connect|disconnect`: Docker's verbs over
dockyard.network.service (networks) and engine/networking.py (containers joining them)."""

from __future__ import annotations

import sys

from .common import _with

USAGE = """usage: dockyard network COMMAND

  create [--subnet CIDR] [--gateway IP] [--internal] [--label K=V]... NAME
  ls [-q] [--format TEMPLATE]          fields: .ID .Name .Driver .Scope .Subnet .Gateway .Internal
  inspect NETWORK...
  rm NETWORK...
  prune                                remove user networks no container uses
  connect [--alias NAME]... [--ip IP] NETWORK CONTAINER
  disconnect NETWORK CONTAINER
"""
_FLAGS = {
    "create": {"--subnet": ("subnet", "value", None), "--gateway": ("gateway", "value", None),
               "--internal": ("internal", "bool", False), "--label": ("label", "list", None),
               "-d": ("driver", "value", "bridge"), "--driver": ("driver", "value", "bridge")},
    "ls": {"-q": ("quiet", "bool", False), "--quiet": ("quiet", "bool", False),
           "--format": ("format", "value", None), "--no-trunc": ("no_trunc", "bool", False)},
    "inspect": {}, "rm": {}, "prune": {"-f": ("force", "bool", False), "--force": ("force", "bool", False)},
    "connect": {"--alias": ("alias", "list", None), "--ip": ("ip", "value", None)},
    "disconnect": {"-f": ("force", "bool", False), "--force": ("force", "bool", False)},
}
_POSITIONALS = {"create": 1, "ls": 0, "inspect": 1, "rm": 1, "prune": 0, "connect": 2, "disconnect": 2}
_ALIASES = {"list": "ls", "remove": "rm"}


def _row(n, no_trunc: bool) -> dict:
    return {"ID": n.id if no_trunc else n.id[:12], "Name": n.name, "Driver": n.driver, "Scope": "local",
            "Subnet": n.subnet, "Gateway": n.gateway, "Internal": str(n.internal).lower()}


def cmd_network(argv: list[str]) -> int:
    from ..errors import ConfigError
    from .flags import parse

    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    sub = _ALIASES.get(argv[0], argv[0])
    if sub not in _FLAGS:
        raise ConfigError(f"network: unknown command {argv[0]!r} (create, ls, inspect, rm, prune, connect, disconnect)")
    a = parse(f"network {sub}", _FLAGS[sub], argv[1:], positionals=_POSITIONALS[sub])
    words = a.positionals + a.rest
    if sub in ("connect", "disconnect", "create") and len(words) != _POSITIONALS[sub]:
        raise ConfigError(f"network {sub}: expected {_POSITIONALS[sub]} argument(s), got {len(words)}")
    from ..errors import DockyardError
    from ..network import service as net

    if sub == "create":
        if a.driver != "bridge":
            raise ConfigError(f"network create: driver {a.driver!r} is not supported (bridge only)")
        labels = dict(x.partition("=")[::2] for x in a.label)
        print(net.create_network(words[0], subnet=a.subnet, gateway=a.gateway, internal=a.internal, labels=labels).id)
    elif sub == "ls":
        from .containers import _render

        rows = [_row(n, a.no_trunc) for n in net.list_networks()]
        if a.quiet:
            sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
        elif a.format:

            if a.format.startswith("table"):
                sys.stdout.write(_table(a.format, rows))
            else:
                sys.stdout.write("".join(_render(a.format, r) + "\n" for r in rows))
        else:
            sys.stdout.write(_table("table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", rows))
    elif sub == "inspect":
        import json

        print(json.dumps([net.inspect_network(ref) for ref in words], indent=4))
    elif sub == "rm":
        failed = 0
        for ref in words:
            try:
                print(net.remove_network(ref))
            except DockyardError as e:  # as docker: report each, go on, exit 1
                sys.stderr.write(f"dockyard: {e}\n")
                failed = 1
        return failed
    elif sub == "prune":
        def go(im, containers):
            from ..engine.networking import recover

            recover(containers)  # endpoints of containers that are gone do not keep a network in use
            gone = net.prune_networks()
            if gone:
                print("Deleted Networks:\n" + "\n".join(gone))
            return 0
        return _with(go)
    else:
        from ..engine import networking

        def go(im, containers):
            if sub == "connect":
                networking.connect(containers, words[1], words[0], aliases=a.alias, ip=a.ip)
            else:
                networking.disconnect(containers, words[1], words[0])
            return 0
        return _with(go)
    return 0


def _table(template: str, rows: list[dict]) -> str:
    from .containers import _render
    from .stats import _aligned

    body = template[len("table"):].strip()
    headers = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Subnet": "SUBNET",
               "Gateway": "GATEWAY", "Internal": "INTERNAL"}
    lines = [_render(body, headers)] + [_render(body, r) for r in rows]
    return "".join(line + "\n" for line in _aligned(lines))
