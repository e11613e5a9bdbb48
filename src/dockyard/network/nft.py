"""NAT, forwarding and published ports in an nftables table of our own: `table ip dockyard`.

    chain prerouting  nat    hook prerouting  dstnat: fib daddr type local -> jump published
    chain output      nat    hook output      dstnat: fib daddr type local -> jump published
    chain postrouting nat    hook postrouting srcnat: per network, masquerade what leaves it
    chain forward     filter hook forward     filter: per network, accept what our bridges carry
    chain published   one DNAT rule per published port

Every rule carries a comment naming its owner — `dockyard net NETID` for a network's rules,
`dockyard ctr CID NETID` for a container's ports — and is deleted by the handle nft reports
for that comment, so removing one owner never touches another's rules (or anything outside
our table: the host's own FORWARD policy is never changed). The table goes when its last
network does. Rules go through `nft -j -f -` (JSON): no text quoting, one atomic batch.

Publishing to 127.0.0.1 works as netavark does it: the output chain DNATs locally sent
packets too, the bridge gets `route_localnet=1` so a packet with a 127.0.0.1 source may be
routed out of it, and postrouting masquerades 127.0.0.0/8 sources leaving through the bridge.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess

from .errors import NetworkError

FAMILY, TABLE = "ip", "dockyard"
_T = {"family": FAMILY, "table": TABLE}


def _run(cmds: list[dict], step: str) -> dict:
    payload = json.dumps({"nftables": cmds})
    p = subprocess.run(["nft", "-j", "-f", "-"], input=payload, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        msg = (p.stderr.strip().splitlines() or ["nft failed"])[0]
        raise NetworkError(f"{step}: nft: {msg}")
    return json.loads(p.stdout) if p.stdout.strip() else {}


def _listing() -> list[dict]:
    p = subprocess.run(["nft", "-j", "list", "table", FAMILY, TABLE], capture_output=True, text=True, check=False)
    if p.returncode != 0:
        return []  # no table yet
    return json.loads(p.stdout).get("nftables", [])


def rules(comment_prefix: str = "dockyard") -> list[dict]:
    """Our rules whose comment starts with ``comment_prefix`` (with chain and handle)."""
    return [o["rule"] for o in _listing() if "rule" in o and o["rule"].get("comment", "").startswith(comment_prefix)]


def table_exists() -> bool:
    return subprocess.run(["nft", "list", "table", FAMILY, TABLE], capture_output=True, check=False).returncode == 0


class lock:
    """One writer at a time on the table (list, then add or delete by handle)."""

    def __init__(self, run_root: str) -> None:
        d = os.path.join(run_root, "network")
        os.makedirs(d, mode=0o700, exist_ok=True)
        self.path = os.path.join(d, "nft.lock")

    def __enter__(self):
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


# -- expression builders (nft's JSON grammar) -----------------------------------------

def _match(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> dict:
    return {"meta": {"key": key}}


def _field(proto: str, field: str) -> dict:
    return {"payload": {"protocol": proto, "field": field}}


def _prefix(cidr: str) -> dict:
    addr, _, n = cidr.partition("/")
    return {"prefix": {"addr": addr, "len": int(n)}}


def _rule(chain: str, expr: list, comment: str) -> dict:
    return {"add": {"rule": {**_T, "chain": chain, "expr": expr, "comment": comment}}}


def _skeleton() -> list[dict]:
    local = [_match({"fib": {"result": "type", "flags": ["daddr"]}}, "local"), {"jump": {"target": "published"}}]
    cmds = [{"add": {"table": {"family": FAMILY, "name": TABLE}}}]
    for name, typ, hook, prio in (("prerouting", "nat", "prerouting", -100), ("output", "nat", "output", -100),
                                  ("postrouting", "nat", "postrouting", 100), ("forward", "filter", "forward", 0)):
        cmds.append({"add": {"chain": {"family": FAMILY, "table": TABLE, "name": name, "type": typ, "hook": hook,
                                       "prio": prio, "policy": "accept"}}})
    cmds.append({"add": {"chain": {"family": FAMILY, "table": TABLE, "name": "published"}}})
    # the two jumps are the table's own rules: added once, when the table is made
    cmds += [_rule("prerouting", local, "dockyard table"), _rule("output", local, "dockyard table")]
    return cmds


def network_comment(net_id: str) -> str:
    return f"dockyard net {net_id[:12]}"


def container_comment(container: str, net_id: str) -> str:
    return f"dockyard ctr {container} {net_id[:12]}"


def ensure_network(net_id: str, subnet: str, bridge: str, internal: bool) -> None:
    """The table (if missing) and the network's rules (if missing). Caller holds lock()."""
    listing = _listing()
    have = {o["rule"].get("comment") for o in listing if "rule" in o}
    cmds = [] if listing else _skeleton()
    c = network_comment(net_id)
    if c in have:
        if cmds:
            _run(cmds, f"nftables table {TABLE}")
        return
    br_in, br_out = _match(_meta("iifname"), bridge), _match(_meta("oifname"), bridge)
    if internal:  # no way in or out of the bridge, containers on it still talk to each other
        cmds += [_rule("forward", [br_in, _match(_meta("oifname"), bridge, "!="), {"drop": None}], c),
                 _rule("forward", [br_out, _match(_meta("iifname"), bridge, "!="), {"drop": None}], c)]
    else:
        cmds += [
            # outbound: the subnet's traffic leaving through any other link is masqueraded
            _rule("postrouting", [_match(_field("ip", "saddr"), _prefix(subnet)),
                                  _match(_meta("oifname"), bridge, "!="), {"masquerade": None}], c),
            # published ports reached through 127.0.0.1: the container must answer the host
            _rule("postrouting", [br_out, _match(_field("ip", "saddr"), _prefix("127.0.0.0/8")),
                                  {"masquerade": None}], c),
            _rule("forward", [br_in, {"accept": None}], c),
            _rule("forward", [br_out, _match({"ct": {"key": "state"}}, ["established", "related"], "in"),
                              {"accept": None}], c),
            _rule("forward", [br_out, _match({"ct": {"key": "status"}}, "dnat", "in"), {"accept": None}], c),
        ]
    _run(cmds, f"nftables rules of {bridge}")


def publish(container: str, net_id: str, container_ip: str, ports: list[dict]) -> None:
    """One DNAT rule per published port. Caller holds lock()."""
    if not ports:
        return
    c = container_comment(container, net_id)
    cmds = []
    for p in ports:
        expr = []
        if p["host_ip"]:
            expr.append(_match(_field("ip", "daddr"), p["host_ip"]))
        expr.append(_match(_field(p["proto"], "dport"), p["host_port"]))
        expr.append({"dnat": {"addr": container_ip, "port": p["container_port"]}})
        cmds.append(_rule("published", expr, c))
    _run(cmds, f"publish ports of {container[:12]}")


def delete_owned(comment: str) -> int:
    """Delete every rule whose comment is ``comment``. Caller holds lock(). Returns how many."""
    doomed = [r for r in rules(comment) if r.get("comment") == comment]
    if doomed:
        _run([{"delete": {"rule": {**_T, "chain": r["chain"], "handle": r["handle"]}}} for r in doomed],
             f"delete rules '{comment}'")
    return len(doomed)


def drop_table_if_unused() -> bool:
    """Delete the table when no network rule is left in it. Caller holds lock()."""
    listing = _listing()
    if not listing:
        return False
    if any(o["rule"].get("comment", "").startswith(("dockyard net", "dockyard ctr")) for o in listing if "rule" in o):
        return False
    _run([{"delete": {"table": {"family": FAMILY, "name": TABLE}}}], f"delete table {TABLE}")
    return True
