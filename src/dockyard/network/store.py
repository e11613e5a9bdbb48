"""Networks, endpoints and published ports in SQLite (WAL) under the storage root.

    <root>/network/network.db
      networks   name, id, driver, subnet, gateway, bridge, internal, labels
      endpoints  (container, network) -> ip, veth, netns, names; UNIQUE(network, ip) is IPAM
                 (a VM's endpoint: veth = its tap, netns = /sys/class/net/<tap>; service.attach_tap)
      ports      (proto, host_port, host_ip) -> container, container port

Every change that hands something out (an address, a host port, a subnet) runs in one
`BEGIN IMMEDIATE` transaction: SQLite takes its write lock before the read that decides, so
concurrent processes serialise and never hand the same thing out twice; the UNIQUE
constraints back that up. An endpoint row is written *before* its veth and rules exist, so a
crash leaves a row that names what recover() must clean.
"""

from __future__ import annotations

import os
import time

from .. import _json as json  # not `json`: it imports `re` (~3 ms per run)
from ..errors import AlreadyExists, NotFound
from . import ipam
from .errors import NetworkError, PortInUse

DEFAULT_NETWORK = "bridge"  # Docker's name for the default network
DEFAULT_BRIDGE = "dockyard0"
DEFAULT_NETWORK_ID = "d0c4ad00" + "0" * 56  # fixed: see NetworkStore.create
# 10.88.0.0/16 as podman: not Docker's 172.17.0.0/16, so dockerd and dockyard can run on one
# host; override with $DOCKYARD_DEFAULT_SUBNET (e.g. when 10.88/16 is routed on the host).
DEFAULT_SUBNET = "10.88.0.0/16"
# user networks without --subnet get the next free /24 from here (podman's 10.89.x.0/24)
AUTO_POOL = "10.89.0.0/16"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    driver TEXT NOT NULL,
    subnet TEXT NOT NULL,
    gateway TEXT NOT NULL,
    bridge TEXT UNIQUE NOT NULL,
    internal INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoints (
    container TEXT NOT NULL,
    network TEXT NOT NULL REFERENCES networks(id),
    ip TEXT NOT NULL,
    veth TEXT NOT NULL,
    netns TEXT NOT NULL,
    names TEXT NOT NULL DEFAULT '[]',   -- DNS names: container name, hostname, aliases
    state TEXT NOT NULL,                -- attaching | ready
    PRIMARY KEY (container, network),
    UNIQUE (network, ip)
);
CREATE TABLE IF NOT EXISTS ports (
    proto TEXT NOT NULL,
    host_ip TEXT NOT NULL,              -- '' = every host address
    host_port INTEGER NOT NULL,
    container TEXT NOT NULL,
    network TEXT NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (proto, host_ip, host_port)
);
"""


class Network:
    __slots__ = ("bridge", "created", "driver", "gateway", "id", "internal", "labels", "name", "subnet")

    def __init__(self, row) -> None:
        (self.id, self.name, self.driver, self.subnet, self.gateway, self.bridge, internal, labels,
         self.created) = row
        self.internal, self.labels = bool(internal), json.loads(labels)

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_NETWORK

    @property
    def dns(self) -> bool:
        """User-defined networks resolve container names; the default bridge does not (Docker)."""
        return not self.is_default

    def as_dict(self) -> dict:
        return {"Name": self.name, "Id": self.id, "Driver": self.driver, "Created": self.created,
                "Internal": self.internal, "Labels": self.labels,
                "IPAM": {"Config": [{"Subnet": self.subnet, "Gateway": self.gateway}]},
                "Options": {"com.docker.network.bridge.name": self.bridge}}


class Endpoint:
    __slots__ = ("container", "ip", "names", "netns", "network", "state", "veth")

    def __init__(self, row) -> None:
        self.container, self.network, self.ip, self.veth, self.netns, names, self.state = row
        self.names = json.loads(names)


def default_subnet() -> str:
    return os.environ.get("DOCKYARD_DEFAULT_SUBNET") or DEFAULT_SUBNET


class NetworkStore:
    def __init__(self, root: str) -> None:
        import sqlite3

        d = os.path.join(root, "network")
        os.makedirs(d, mode=0o700, exist_ok=True)
        self.db = sqlite3.connect(os.path.join(d, "network.db"), timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=60000")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _tx(self):
        return _Immediate(self.db)

    # -- networks ------------------------------------------------------------------------

    def _row(self, where: str, arg) -> Network | None:
        row = self.db.execute(f"SELECT * FROM networks WHERE {where}", (arg,)).fetchone()
        return Network(row) if row else None

    def get(self, ref: str) -> Network:
        """By name, full id or a unique id prefix. The default network exists implicitly."""
        if ref == DEFAULT_NETWORK:
            return self._row("name = ?", ref) or self._make_default()
        n = self._row("name = ?", ref) or self._row("id = ?", ref)
        if n:
            return n
        if len(ref) >= 3 and all(c in "0123456789abcdef" for c in ref):
            rows = self.db.execute("SELECT * FROM networks WHERE id LIKE ?", (ref + "%",)).fetchall()
            if len(rows) == 1:
                return Network(rows[0])
        raise NotFound(f"network {ref} not found")

    def list(self) -> list[Network]:
        # by name, as `docker network ls` prints them (creation times have one-second steps)
        return [Network(r) for r in self.db.execute("SELECT * FROM networks ORDER BY name")]

    def _make_default(self) -> Network:
        try:
            return self.create(DEFAULT_NETWORK, subnet=default_subnet(), bridge=DEFAULT_BRIDGE)
        except AlreadyExists:  # another process made it first
            return self._row("name = ?", DEFAULT_NETWORK)

    def create(self, name: str, *, subnet: str | None = None, gateway: str | None = None, internal: bool = False,
               labels: dict | None = None, bridge: str | None = None, avoid: tuple[str, ...] = ()) -> Network:
        """A network row. ``avoid``: subnets routed on the host, skipped when picking one."""
        if not name or len(name) > 64 or not name[0].isalnum() or not all(c.isalnum() or c in "_.-" for c in name):
            raise NetworkError(f"invalid network name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]* (at most 64)")
        if gateway and not subnet:
            raise NetworkError("--gateway needs --subnet")
        # the default network's id is the same in every store: its bridge, rules (named by
        # id) and dnsmasq are host-wide, so two roots (tests, DOCKYARD_ROOT) must share them
        # rather than each add a set of rules that no other root can remove
        nid = DEFAULT_NETWORK_ID if bridge == DEFAULT_BRIDGE else os.urandom(32).hex()
        bridge = bridge or "dy-" + nid[:12]  # Docker's br-<id12>: at most 15 characters (IFNAMSIZ)
        with self._tx():
            if self._row("name = ?", name):
                raise AlreadyExists(f"network with name {name} already exists")
            existing = [(n.name, n.subnet) for n in self.list()]
            if subnet:
                net = ipam.subnet(subnet)
                for other, theirs in existing:
                    if ipam.overlaps(str(net), theirs):
                        raise NetworkError(f"subnet {net} overlaps with network {other!r} ({theirs})")
            else:
                net = self._pick_subnet([s for _, s in existing] + list(avoid))
            gw = ipam.check_gateway(net, gateway) if gateway else ipam.default_gateway(net)
            created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.db.execute("INSERT INTO networks VALUES (?,?,?,?,?,?,?,?,?)",
                            (nid, name, "bridge", str(net), gw, bridge, int(internal), json.dumps(labels or {}),
                             created))
        return self.get(name)

    @staticmethod
    def _pick_subnet(taken: list[str]):
        import ipaddress

        for candidate in ipaddress.ip_network(AUTO_POOL).subnets(new_prefix=24):
            if not any(candidate.overlaps(ipaddress.ip_network(t)) for t in taken):
                return candidate
        raise NetworkError(f"no free /24 left in {AUTO_POOL}: give --subnet")

    def remove(self, net: Network) -> None:
        with self._tx():
            if self.db.execute("SELECT 1 FROM endpoints WHERE network = ?", (net.id,)).fetchone():
                users = self.endpoints(net.id)
                raise NetworkError(f"network {net.name} has active endpoints ({', '.join(e.container[:12] for e in users)})")
            self.db.execute("DELETE FROM networks WHERE id = ?", (net.id,))

    # -- endpoints (IPAM) ----------------------------------------------------------------

    def endpoints(self, network_id: str | None = None, container: str | None = None) -> list[Endpoint]:
        q, args = "SELECT * FROM endpoints WHERE 1", []
        if network_id:
            q += " AND network = ?"
            args.append(network_id)
        if container:
            q += " AND container = ?"
            args.append(container)
        return [Endpoint(r) for r in self.db.execute(q + " ORDER BY ip", args)]

    def allocate(self, net: Network, container: str, veth: str, netns: str, names: list[str],
                 ip: str | None = None) -> Endpoint:
        """Reserve an address for the container on ``net`` (state 'attaching')."""
        import ipaddress

        with self._tx():
            if self.db.execute("SELECT 1 FROM networks WHERE id = ?", (net.id,)).fetchone() is None:
                raise NotFound(f"network {net.name} not found")
            if self.db.execute("SELECT 1 FROM endpoints WHERE container = ? AND network = ?",
                               (container, net.id)).fetchone():
                raise AlreadyExists(f"container {container[:12]} is already connected to network {net.name}")
            used = {r[0] for r in self.db.execute("SELECT ip FROM endpoints WHERE network = ?", (net.id,))}
            addr = ipam.pick(ipaddress.ip_network(net.subnet), net.gateway, used, ip)
            self.db.execute("INSERT INTO endpoints VALUES (?,?,?,?,?,?,?)",
                            (container, net.id, addr, veth, netns, json.dumps(names), "attaching"))
        return self.endpoints(net.id, container)[0]

    def mark_ready(self, container: str, network_id: str) -> None:
        self.db.execute("UPDATE endpoints SET state = 'ready' WHERE container = ? AND network = ?",
                        (container, network_id))

    def release(self, container: str, network_id: str) -> None:
        """The address and the ports of the endpoint, in one transaction."""
        with self._tx():
            self.db.execute("DELETE FROM ports WHERE container = ? AND network = ?", (container, network_id))
            self.db.execute("DELETE FROM endpoints WHERE container = ? AND network = ?", (container, network_id))

    # -- published ports -----------------------------------------------------------------

    def ports(self, container: str | None = None) -> list[dict]:
        q = "SELECT proto, host_ip, host_port, container, network, container_port FROM ports"
        rows = self.db.execute(q + (" WHERE container = ?" if container else ""), (container,) if container else ())
        keys = ("proto", "host_ip", "host_port", "container", "network", "container_port")
        return [dict(zip(keys, r)) for r in rows]

    def reserve_ports(self, container: str, network_id: str, mappings, host_free) -> list[dict]:
        """Give each mapping its host port (picking one where asked) and record it. A port that
        another mapping holds, or that ``host_free(proto, ip, port)`` says a host socket holds,
        is refused (or skipped when picking)."""
        out = []
        with self._tx():
            held = {(r["proto"], r["host_ip"], r["host_port"]) for r in self.ports()}

            def clash(proto: str, ip: str, port: int) -> bool:  # '' (all addresses) clashes with any
                return any(p == proto and hp == port and (not ip or not hip or hip == ip) for p, hip, hp in held)

            for m in mappings:
                if m.host_port and not m.host_port_end:
                    if clash(m.proto, m.host_ip, m.host_port):
                        raise PortInUse(f"host port {m.host_port}/{m.proto} is already published by another container")
                    if not host_free(m.proto, m.host_ip, m.host_port):
                        raise PortInUse(f"host port {m.host_port}/{m.proto} is already in use on the host")
                    port = m.host_port
                else:
                    port = _pick_port(m, clash, host_free)
                held.add((m.proto, m.host_ip, port))
                self.db.execute("INSERT INTO ports VALUES (?,?,?,?,?,?)",
                                (m.proto, m.host_ip, port, container, network_id, m.container_port))
                out.append({"proto": m.proto, "host_ip": m.host_ip, "host_port": port,
                            "container_port": m.container_port})
        return out


# Docker's dynamic range for random host ports (/proc/sys/net/ipv4/ip_local_port_range is
# where the kernel's own ephemeral ports come from; Docker reads it too)
def _pick_port(m, clash, host_free) -> int:
    if m.host_port_end:
        candidates = range(m.host_port, m.host_port_end + 1)
    else:
        try:
            with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
                lo, hi = map(int, f.read().split())
        except (OSError, ValueError):
            lo, hi = 32768, 60999
        start = lo + int.from_bytes(os.urandom(4), "big") % (hi - lo + 1)  # not secrets: its import costs ~2 ms
        candidates = list(range(start, hi + 1)) + list(range(lo, start))
    for port in candidates:
        if not clash(m.proto, m.host_ip, port) and host_free(m.proto, m.host_ip, port):
            return port
    where = f"{m.host_port}-{m.host_port_end}" if m.host_port_end else "the dynamic range"
    raise PortInUse(f"no free host port in {where} for {m.container_port}/{m.proto}")


class _Immediate:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the write lock before the first read."""

    def __init__(self, db) -> None:
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *_):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
