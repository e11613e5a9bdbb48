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

One `nft` run per attach and per detach: the handles nft echoes (`-e`) for the rules we add
are kept, by owner comment, in `<run_root>/network/nft-handles.json` together with the
handle of the table they live in (read over nfnetlink, ~0.1 ms, no process). Handles are
never reused within a table's life and /run is a tmpfs, so when the recorded table handle is
the live one a rule is deleted by its handle without listing the table first, and a
network's rules are known to be in place. Anything else (no record, another table, a rule
someone else deleted, which fails the whole batch) falls back to listing by comment.

Publishing to 127.0.0.1 works as netavark does it: the output chain DNATs locally sent
packets too, the bridge gets `route_localnet=1` so a packet with a 127.0.0.1 source may be
routed out of it, and postrouting masquerades 127.0.0.0/8 sources leaving through the bridge.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

from .. import _json as json  # no `re`: nft is not run at all without -p
from .errors import NetworkError

FAMILY, TABLE = "ip", "dockyard"
_T = {"family": FAMILY, "table": TABLE}


def _run(cmds: list[dict], step: str, echo: bool = False) -> dict:
    payload = json.dumps({"nftables": cmds})
    argv = ["nft", "-e", "-j", "-f", "-"] if echo else ["nft", "-j", "-f", "-"]
    import subprocess  # only when nft runs (-p, first network, teardown)

    p = subprocess.run(argv, input=payload, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        msg = (p.stderr.strip().splitlines() or ["nft failed"])[0]
        raise NetworkError(f"{step}: nft: {msg}")
    return json.loads(p.stdout) if p.stdout.strip() else {}


def _listing() -> list[dict]:
    import subprocess

    p = subprocess.run(["nft", "-j", "list", "table", FAMILY, TABLE], capture_output=True, text=True, check=False)
    if p.returncode != 0:
        return []  # no table yet
    return json.loads(p.stdout).get("nftables", [])


def rules(comment_prefix: str = "dockyard") -> list[dict]:
    """Our rules whose comment starts with ``comment_prefix`` (with chain and handle)."""
    return [o["rule"] for o in _listing() if "rule" in o and o["rule"].get("comment", "").startswith(comment_prefix)]


def table_exists() -> bool:
    import subprocess

    return subprocess.run(["nft", "list", "table", FAMILY, TABLE], capture_output=True, check=False).returncode == 0


def table_handle() -> int | None:
    """The kernel's handle of `table ip dockyard` (None: no table), asked over nfnetlink
    (NFT_MSG_GETTABLE) rather than by running nft."""
    from . import rtnetlink as nl

    body = struct.pack("=BBH", _NFPROTO_IPV4, 0, 0) + nl.attr_str(_NFTA_TABLE_NAME, TABLE)
    with nl.Netlink(nl.NETLINK_NETFILTER) as sock:
        try:
            replies = sock.request(_NFT_MSG_GETTABLE, body, f"look up table {FAMILY} {TABLE}")
        except nl.NetlinkError as e:
            if e.errno == errno.ENOENT:
                return None
            raise NetworkError(str(e)) from None
    for _kind, payload in replies:
        handle = nl.attrs(payload, 4).get(_NFTA_TABLE_HANDLE)  # after the 4-byte nfgenmsg
        if handle is not None:
            return struct.unpack(">Q", handle)[0]
    return None


_NFPROTO_IPV4, _NFTA_TABLE_NAME, _NFTA_TABLE_HANDLE = 2, 1, 4
_NFT_MSG_GETTABLE = (10 << 8) | 1  # NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE


class Handles:
    """Rule handles by owner comment, valid for one table handle (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path) as f:
                saved = json.loads(f.read())
        except (OSError, ValueError):
            saved = {}
        self.table, self.owners = saved.get("table"), saved.get("owners", {})
        self.dirty = False
        self._live: list = []  # [table handle] once asked during this lock

    def live_table(self) -> int | None:
        if not self._live:
            self._live.append(table_handle())
        return self._live[0]

    def known(self, comment: str) -> list | None:
        """[(chain, handle)] of ``comment``'s rules if recorded for the live table, else None."""
        if comment not in self.owners or self.table is None or self.live_table() != self.table:
            return None
        return self.owners[comment]

    def record(self, table: int | None, comment: str, found: list) -> None:
        self._live[:] = [table]
        if table != self.table:  # a new table: what was recorded was for the old one
            self.table, self.owners = table, {}
        self.owners[comment] = [[chain, handle] for chain, handle in found]
        self.dirty = True

    def forget(self, comment: str) -> None:
        if self.owners.pop(comment, None) is not None:
            self.dirty = True

    def reset(self) -> None:
        self.table, self.owners, self._live[:], self.dirty = None, {}, [None], True

    def save(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps({"table": self.table, "owners": self.owners}))
        os.replace(tmp, self.path)


_held: list = []  # the lock this process holds: its Handles are what the functions below use


class lock:
    """One writer at a time on the table (list, then add or delete by handle); while held,
    the recorded rule handles of this run root are loaded and saved back on release."""

    # Host-wide, not per run root: the nft table, the default bridge and the sysctls are the
    # host's, and another store (another DOCKYARD_ROOT) may be taking dockyard0 down while we
    # put a veth on it. The rule handles stay per run root.
    HOST_LOCK = "/run/lock/dockyard-network.lock"

    def __init__(self, run_root: str) -> None:
        d = os.path.join(run_root, "network")
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.makedirs(os.path.dirname(self.HOST_LOCK), exist_ok=True)
        self.path = self.HOST_LOCK
        self.handles_path = os.path.join(d, "nft-handles.json")

    def __enter__(self):
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.handles = Handles(self.handles_path)
        _held.append(self)
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.handles.dirty:
                self.handles.save()
        finally:
            _held.remove(self)
            os.close(self.fd)


def _handles() -> Handles | None:
    return _held[-1].handles if _held else None


def _owned(echoed: dict, comment: str) -> list:
    """(chain, handle) of the rules with ``comment`` in nft's echo or listing output."""
    out = []
    for o in echoed.get("nftables", []):
        r = o.get("add", o).get("rule")
        if r and r.get("comment") == comment and "handle" in r:
            out.append((r["chain"], r["handle"]))
    return out


def _table_in(echoed: dict) -> int | None:
    for o in echoed.get("nftables", []):
        t = o.get("add", o).get("table")
        if t and t.get("name") == TABLE and "handle" in t:
            return t["handle"]
    return None


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
    """The table (if missing) and the network's rules (if missing). Caller holds lock().
    No nft run at all when the rules are recorded for the live table."""
    c = network_comment(net_id)
    handles = _handles()
    if handles is not None and handles.known(c):
        return
    # no table (asked over nfnetlink): nothing to list, the whole table is made in one run
    listing = [] if handles is not None and handles.live_table() is None else _listing()
    have = {o["rule"].get("comment") for o in listing if "rule" in o}
    cmds = [] if listing else _skeleton()
    if c in have:
        if handles is not None:
            handles.record(_table_in({"nftables": listing}), c, _owned({"nftables": listing}, c))
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
    echoed = _run(cmds, f"nftables rules of {bridge}", echo=True)
    if handles is not None:
        table = _table_in(echoed) or _table_in({"nftables": listing})
        handles.record(table, c, _owned(echoed, c))


def publish(container: str, net_id: str, container_ip: str, ports: list[dict]) -> None:
    """One DNAT rule per published port, in one nft run. Caller holds lock()."""
    c = container_comment(container, net_id)
    handles = _handles()
    if not ports:
        if handles is not None and handles.live_table() is not None:
            handles.record(handles.live_table(), c, [])  # so detach knows there is nothing to delete
        return
    cmds = []
    for p in ports:
        expr = []
        if p["host_ip"]:
            expr.append(_match(_field("ip", "daddr"), p["host_ip"]))
        expr.append(_match(_field(p["proto"], "dport"), p["host_port"]))
        expr.append({"dnat": {"addr": container_ip, "port": p["container_port"]}})
        cmds.append(_rule("published", expr, c))
    echoed = _run(cmds, f"publish ports of {container[:12]}", echo=True)
    if handles is not None:
        handles.record(handles.live_table(), c, _owned(echoed, c))


def _delete(found: list, comment: str) -> None:
    _run([{"delete": {"rule": {**_T, "chain": chain, "handle": handle}}} for chain, handle in found],
         f"delete rules '{comment}'")


def delete_owned(comment: str) -> int:
    """Delete every rule whose comment is ``comment``. Caller holds lock(). Returns how many.
    By the recorded handles (one nft run, none if there are no rules) when they are valid."""
    handles = _handles()
    known = handles.known(comment) if handles is not None else None
    if known:
        try:
            _delete(known, comment)
        except NetworkError:
            known = None  # a recorded rule is gone (deleted by hand?): the batch did nothing; list
    if known is not None:
        handles.forget(comment)
        return len(known)
    doomed = [(r["chain"], r["handle"]) for r in rules(comment) if r.get("comment") == comment]
    if doomed:
        _delete(doomed, comment)
    if handles is not None:
        handles.forget(comment)
    return len(doomed)


def drop_table_if_unused() -> bool:
    """Delete the table when no network rule is left in it. Caller holds lock()."""
    listing = _listing()
    if not listing:
        return False
    if any(o["rule"].get("comment", "").startswith(("dockyard net", "dockyard ctr")) for o in listing if "rule" in o):
        return False
    _run([{"delete": {"table": {"family": FAMILY, "name": TABLE}}}], f"delete table {TABLE}")
    if _handles() is not None:
        _handles().reset()
    return True
