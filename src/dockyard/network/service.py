"""What the engine calls: networks as a store, endpoints attached to and detached from a
container's netns, and recover() after a crash. See the package docstring for the contract.

Order of an attach, and why: the endpoint row (the address) is written first, so a crash at
any later instruction leaves a row that recover() finds; then, under one host-wide lock, the
network is brought up (bridge, sysctls, nftables rules, dnsmasq) and the container's ports,
veth, DNAT rules and DNS name are added. A failure at any step undoes the steps before it, so
a refused attach leaves nothing half-configured.
"""

from __future__ import annotations

import ipaddress
import os
import sys

from .. import config
from . import dns, netlink, nft
from . import ports as portspec
from .errors import NetworkError
from .store import DEFAULT_NETWORK, Endpoint, Network, NetworkStore

VETH_PREFIX = "dyv"
TAP_PREFIX = "dyt"  # a VM's tap (attach_tap): a link name, unlike the tests' dyt-* netns


def veth_name(container: str, net_id: str, prefix: str = VETH_PREFIX) -> str:
    """Host end of the container's veth (or a VM's tap) on a network: stable, so recover()
    can name it."""
    try:
        from _sha256 import sha256  # the builtin: hashlib loads OpenSSL (~2.5 ms per run)
    except ImportError:
        from hashlib import sha256
    return prefix + sha256(f"{container}/{net_id}".encode()).hexdigest()[:11]


def tap_alive_path(tap: str) -> str:
    """What a tap endpoint stores as its "netns": the path exists exactly while the tap does,
    i.e. while QEMU (or the attaching process, before QEMU starts) holds its fd, so
    recover()'s "netns gone" test works unchanged for VMs."""
    return f"/sys/class/net/{tap}"


def is_tap(ep: Endpoint) -> bool:
    return ep.veth.startswith(TAP_PREFIX)


def mac_for(ip: str) -> str:
    """A VM's MAC from its address, as Docker derives a container's (02:42 + the IPv4 bytes):
    locally administered, unicast, unique on the network because the address is."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))


def netns_path(netns: str | int) -> str:
    return f"/proc/{netns}/ns/net" if isinstance(netns, int) else netns


def _store(root: str | None) -> NetworkStore:
    return NetworkStore(root or config.storage_root())


def _run_root(run_root: str | None) -> str:
    return run_root or config.run_root()


# -- sysctls --------------------------------------------------------------------------

def _write_sysctl(path: str, value: str) -> bool:
    """Write a sysctl if it differs; True if it changed."""
    with open(path) as f:
        if f.read().strip() == value:
            return False
    with open(path, "w") as f:
        f.write(value)
    return True


def _sysctls(bridge: str, internal: bool) -> None:
    # NAT needs forwarding on; we turn it on (Docker does too) and say so, but never touch
    # the FORWARD policy of the host's own tables
    if not internal and _write_sysctl("/proc/sys/net/ipv4/ip_forward", "1"):
        sys.stderr.write("dockyard: enabled net.ipv4.ip_forward (needed for container NAT)\n")
    # lets a DNAT'ed 127.0.0.1 packet leave through the bridge (published ports on localhost)
    _write_sysctl(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet", "1")


# -- network state in the kernel --------------------------------------------------------

def _dns_entries(store: NetworkStore, net: Network) -> list[tuple[str, list[str]]]:
    return [(e.ip, e.names) for e in store.endpoints(net.id)]


def _up(store: NetworkStore, net: Network, run_root: str) -> None:
    """Bridge, sysctls, rules and (user networks) DNS. Idempotent. Caller holds nft.lock."""
    sub = ipaddress.ip_network(net.subnet)
    netlink.ensure_bridge(net.bridge, net.gateway, sub.prefixlen, netlink.default_route_mtu())
    _sysctls(net.bridge, net.internal)
    nft.ensure_network(net.id, net.subnet, net.bridge, net.internal)
    if net.dns:
        dns.write_hosts(run_root, net.id, _dns_entries(store, net))
        dns.start(run_root, net.id, net.gateway)


def _down(net: Network, run_root: str) -> None:
    """Everything the kernel holds for a network. Caller holds nft.lock."""
    dns.stop(run_root, net.id)
    nft.delete_owned(nft.network_comment(net.id))
    nft.drop_table_if_unused()
    netlink.delete_link(net.bridge)


# -- networks ----------------------------------------------------------------------------

def create_network(name: str, *, subnet: str | None = None, gateway: str | None = None, internal: bool = False,
                   labels: dict | None = None, root: str | None = None) -> Network:
    """A network record; its bridge comes up with its first endpoint. Overlaps refused."""
    with _store(root) as store:
        ours = {n.bridge for n in store.list()}
        routed = netlink.host_routes(skip_links=ours)
        if subnet:
            for r in routed:
                if ipaddress.ip_network(subnet, strict=False).overlaps(ipaddress.ip_network(r)):
                    raise NetworkError(f"subnet {subnet} overlaps with the host's route to {r}")
        return store.create(name, subnet=subnet, gateway=gateway, internal=internal, labels=labels,
                            avoid=tuple(routed))


def list_networks(root: str | None = None) -> list[Network]:
    with _store(root) as store:
        store.get(DEFAULT_NETWORK)  # implicit: listed like Docker's `bridge`
        return store.list()


def inspect_network(ref: str, root: str | None = None) -> dict:
    with _store(root) as store:
        net = store.get(ref)
        out = net.as_dict()
        out["Containers"] = {e.container: {"IPv4Address": f"{e.ip}/{ipaddress.ip_network(net.subnet).prefixlen}",
                                           "Names": e.names} for e in store.endpoints(net.id)}
        return out


def remove_network(ref: str, *, root: str | None = None, run_root: str | None = None) -> str:
    """Remove a network with no endpoints: its row, bridge, rules and dnsmasq."""
    with _store(root) as store:
        net = store.get(ref)
        if net.is_default:
            raise NetworkError(f"{DEFAULT_NETWORK} is a pre-defined network and cannot be removed")
        store.remove(net)
        with nft.lock(_run_root(run_root)):
            _down(net, _run_root(run_root))
        return net.name


def prune_networks(*, root: str | None = None, run_root: str | None = None) -> list[str]:
    """Remove every user network without endpoints."""
    gone = []
    with _store(root) as store:
        for net in store.list():
            if not net.is_default and not store.endpoints(net.id):
                try:
                    gone.append(remove_network(net.id, root=root, run_root=run_root))
                except NetworkError:
                    continue  # an endpoint arrived meanwhile: in use, not prunable
    return gone


def down_default(*, root: str | None = None, run_root: str | None = None) -> bool:
    """Take the default bridge down when no container uses it (Docker keeps docker0 for
    ever; we keep dockyard0 until this is called: `system reset`, tests)."""
    with _store(root) as store:
        net = store.get(DEFAULT_NETWORK)
        if store.endpoints(net.id):
            return False
        with nft.lock(_run_root(run_root)):
            if netlink.ports_of(net.bridge):  # another store's containers or VMs are on it
                return False
            _down(net, _run_root(run_root))
        return True


# -- endpoints -------------------------------------------------------------------------

def attach(container: str, netns: str | int, network: str = DEFAULT_NETWORK, *, names=(), ip: str | None = None,
           publish=(), root: str | None = None, run_root: str | None = None) -> dict:
    """Connect the container whose network namespace is ``netns`` (a path such as
    /proc/PID/ns/net or /run/netns/NAME, or a pid) to ``network``. ``names``: DNS names
    (container name, hostname, aliases); ``publish``: -p specs or PortMappings."""
    mappings = [m for p in publish for m in ([p] if isinstance(p, portspec.PortMapping) else portspec.parse(p))]
    path = netns_path(netns)
    if not os.path.exists(path):
        raise NetworkError(f"container network namespace {path} does not exist")
    rr = _run_root(run_root)
    with _store(root) as store:
        net = store.get(network)
        if mappings and net.internal:
            raise NetworkError(f"network {net.name} is internal: ports cannot be published from it")
        dns_names = _dns_names(container, names)
        ep = store.allocate(net, container, veth_name(container, net.id), path, dns_names, ip)
        try:
            with nft.lock(rr):
                _up(store, net, rr)
                held = store.reserve_ports(container, net.id, mappings, host_port_free)
                prefix = ipaddress.ip_network(net.subnet).prefixlen
                ifname = netlink.add_veth(ep.veth, net.bridge, path, ep.ip, prefix, net.gateway, netlink.default_route_mtu())
                nft.publish(container, net.id, ep.ip, held)
                if net.dns:
                    dns.write_hosts(rr, net.id, _dns_entries(store, net))
                    dns.reload(rr, net.id)
            store.mark_ready(container, net.id)
        except BaseException:
            _teardown(store, net, ep, rr)
            raise
        return {"network": net.name, "network_id": net.id, "ip": ep.ip, "prefixlen": prefix,
                "gateway": net.gateway, "bridge": net.bridge, "veth": ep.veth, "ifname": ifname, "ports": held,
                "dns": net.gateway if net.dns else None}


def attach_tap(container: str, network: str = DEFAULT_NETWORK, *, names=(), ip: str | None = None, publish=(),
               root: str | None = None, run_root: str | None = None) -> dict:
    """Connect a VM to ``network`` through a tap on its bridge: the same IPAM, DNAT rules
    for ``publish`` and DNS names as attach(), but no netns — the guest sets its own address
    from what this returns. The tap lives as long as the returned ``fd`` (network/tap.py):
    hand it to QEMU (`-netdev tap,fd=N`) and close it here once QEMU has started.

    Order: the tap first (held by our fd: a crash from here on takes it with us), then the
    endpoint row naming it (recover() cleans a row whose tap is gone), then rules and DNS;
    a failure undoes what was made.
    Returns {"network", "network_id", "ip", "prefixlen", "gateway", "bridge", "tap", "fd",
    "mac", "mtu", "ports", "dns"}."""
    mappings = [m for p in publish for m in ([p] if isinstance(p, portspec.PortMapping) else portspec.parse(p))]
    rr = _run_root(run_root)
    with _store(root) as store:
        net = store.get(network)
        if mappings and net.internal:
            raise NetworkError(f"network {net.name} is internal: ports cannot be published from it")
        dns_names = _dns_names(container, names)
        tap = veth_name(container, net.id, TAP_PREFIX)
        mtu = netlink.default_route_mtu()
        ep = fd = None
        try:
            # all under the host-wide lock: recover() sweeps taps without a row under it too
            with nft.lock(rr):
                _up(store, net, rr)  # the bridge must exist before the tap goes on it
                fd = netlink.add_tap(tap, net.bridge, mtu)
                ep = store.allocate(net, container, tap, tap_alive_path(tap), dns_names, ip)
                held = store.reserve_ports(container, net.id, mappings, host_port_free)
                nft.publish(container, net.id, ep.ip, held)
                if net.dns:
                    dns.write_hosts(rr, net.id, _dns_entries(store, net))
                    dns.reload(rr, net.id)
            store.mark_ready(container, net.id)
        except BaseException:
            if fd is not None:
                os.close(fd)  # the kernel removes the tap with its last fd
            if ep is not None:
                _teardown(store, net, ep, rr)
            raise
        return {"network": net.name, "network_id": net.id, "ip": ep.ip,
                "prefixlen": ipaddress.ip_network(net.subnet).prefixlen, "gateway": net.gateway,
                "bridge": net.bridge, "tap": tap, "fd": fd, "mac": mac_for(ep.ip), "mtu": mtu, "ports": held,
                "dns": net.gateway if net.dns else None}


def _dns_names(container: str, names) -> list[str]:
    out = []
    for n in [*names, container[:12]]:
        if not n:
            continue
        if not all(c.isalnum() or c in "-_." for c in n) or len(n) > 253:
            raise NetworkError(f"invalid DNS name {n!r}")
        if n.lower() not in out:
            out.append(n.lower())
    return out


def _teardown(store: NetworkStore, net: Network, ep: Endpoint, run_root: str, netns_gone: bool = False) -> None:
    """Undo whatever exists of an endpoint: rules, veth, DNS name, ports and address.
    ``netns_gone``: every process of the container has exited, so the kernel destroys its
    netns and with it both ends of the veth, in its own worker; deleting the host end here
    would wait for an RCU grace period (~20 ms of every `run --rm`) for nothing.
    A VM's tap goes with QEMU's fd; deleting it here covers a QEMU still holding it."""
    with nft.lock(run_root):
        nft.delete_owned(nft.container_comment(ep.container, net.id))
        if not netns_gone or is_tap(ep):
            netlink.delete_link(ep.veth)
        store.release(ep.container, net.id)
        if net.dns:
            if store.endpoints(net.id):
                dns.write_hosts(run_root, net.id, _dns_entries(store, net))
                dns.reload(run_root, net.id)
            else:
                dns.stop(run_root, net.id)  # the network's last endpoint: no one to answer


def detach(container: str, network: str | None = None, *, root: str | None = None,
           run_root: str | None = None, netns_gone: bool = False) -> list[str]:
    """Disconnect the container from ``network`` (every network if None): its veth, rules,
    DNS name, ports and address. Returns the networks it left. Missing pieces are fine.
    ``netns_gone=True`` when the container has exited (see _teardown): the veth is the
    kernel's to remove; recover() collects one that would outlive its netns."""
    rr = _run_root(run_root)
    left = []
    with _store(root) as store:
        nets = [store.get(network)] if network else [store.get(n.id) for n in store.list()]
        for net in nets:
            for ep in store.endpoints(net.id, container):
                _teardown(store, net, ep, rr, netns_gone)
                left.append(net.name)
        if network and not left:
            raise NetworkError(f"container {container[:12]} is not connected to network {nets[0].name}")
    return left


def endpoints(container: str, root: str | None = None) -> list[dict]:
    """The container's endpoints (for inspect): network, address, gateway, names, ports."""
    with _store(root) as store:
        nets = {n.id: n for n in store.list()}
        ports = store.ports(container)
        return [{"network": nets[e.network].name, "ip": e.ip, "gateway": nets[e.network].gateway,
                 "names": e.names, "ports": [p for p in ports if p["network"] == e.network]}
                for e in store.endpoints(container=container)]


def resolv_conf(network: str, root: str | None = None) -> str | None:
    """resolv.conf text for a container on ``network``: the network's DNS for user networks;
    None for the default bridge (the engine keeps the host's, as Docker does)."""
    with _store(root) as store:
        net = store.get(network)
        return dns.resolv_conf(net.gateway) if net.dns else None


def host_port_free(proto: str, host_ip: str, port: int) -> bool:
    """Nothing on the host listens on ``port``: try to bind it (and let go at once)."""
    import socket

    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            s.bind((host_ip or "0.0.0.0", port))
        except OSError:
            return False
    return True


# -- crash recovery ----------------------------------------------------------------------

def recover(alive=None, *, root: str | None = None, run_root: str | None = None) -> list[str]:
    """Clean endpoints whose container is gone: its netns no longer exists, or
    ``alive(container_id)`` (the engine's container store) says False. Then what no record
    names: veths on our bridges, DNAT rules of our networks, dnsmasq of empty networks.
    Returns the container ids cleaned."""
    rr = _run_root(run_root)
    cleaned = []
    with _store(root) as store:
        nets = {n.id: n for n in store.list()}
        for ep in store.endpoints():
            if not os.path.exists(ep.netns) or (alive is not None and not alive(ep.container)):
                _teardown(store, nets[ep.network], ep, rr)
                cleaned.append(ep.container)
        with nft.lock(rr):
            known = {(e.container, e.network[:12]) for e in store.endpoints()}
            by_short = {nid[:12]: nid for nid in nets}
            for rule in nft.rules("dockyard ctr "):
                _, _, cid, short = rule["comment"].split(" ", 3)
                if short in by_short and (cid, short) not in known:
                    nft.delete_owned(rule["comment"])
                    cleaned.append(cid)
            veths = {e.veth for e in store.endpoints()}
            for net in nets.values():
                for link in netlink.ports_of(net.bridge):
                    if link.startswith((VETH_PREFIX, TAP_PREFIX)) and link not in veths:
                        netlink.delete_link(link)
                if net.dns and not store.endpoints(net.id):
                    dns.stop(rr, net.id)
    return sorted(set(cleaned))
