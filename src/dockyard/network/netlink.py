"""Links, addresses and routes over rtnetlink (pyroute2): the bridge, a container's veth.

pyroute2 is imported here only, and only the engine's network path imports this module
(`run --rm` without a network and the runtime never do: importing pyroute2 costs ~130 ms).

A container's side is configured through a netlink socket *opened inside its netns*: a
short-lived thread setns()es into it (setns(CLONE_NEWNET) changes only the calling thread),
opens the socket and exits; a netlink socket stays bound to the netns it was created in. So
the calling process never changes namespace and never forks (DESIGN.md §3).
"""

from __future__ import annotations

import errno
import os
import socket
import threading

from pyroute2 import IPRoute
from pyroute2.netlink import NETLINK_ROUTE
from pyroute2.netlink.exceptions import NetlinkError as _NLError

from .._sys import libc
from ..errors import DockyardError
from .errors import NetworkError

CLONE_NEWNET = 0x40000000


def _err(step: str, e: BaseException) -> NetworkError:
    code = getattr(e, "code", None) or getattr(e, "errno", None) or 0
    why = os.strerror(code) if isinstance(code, int) and code else str(e)
    return NetworkError(f"{step}: {why}")


def netns_socket(netns_path: str) -> socket.socket:
    """An rtnetlink socket bound to the network namespace at ``netns_path``."""
    box: dict = {}

    def enter_and_open() -> None:
        try:
            fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            box["error"] = NetworkError(f"container network namespace {netns_path}: {e.strerror}")
            return
        try:
            libc.setns(fd, CLONE_NEWNET, netns_path)
            box["sock"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        except (OSError, DockyardError) as e:  # carried to the caller's thread
            box["error"] = e
        finally:
            os.close(fd)

    t = threading.Thread(target=enter_and_open, name="dockyard-netns")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["sock"]


def _index(ipr, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def link_exists(name: str) -> bool:
    with IPRoute() as ipr:
        return _index(ipr, name) is not None


def links_with_prefix(prefix: str) -> list[str]:
    with IPRoute() as ipr:
        names = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
    return [n for n in names if n and n.startswith(prefix)]


def default_route_mtu() -> int:
    """The MTU of the host's default-route interface (1500 if there is none): a container
    behind a smaller uplink (a VPN, a cloud VM's 1460) must not send bigger packets."""
    with IPRoute() as ipr:
        for route in ipr.get_default_routes(family=socket.AF_INET):
            oif = route.get_attr("RTA_OIF")
            if oif:
                link = ipr.get_links(oif)[0]
                return int(link.get_attr("IFLA_MTU") or 1500)
    return 1500


def host_routes(skip_links: set[str]) -> list[str]:
    """The host's IPv4 routes (CIDR) except default routes and those through ``skip_links``."""
    out = []
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for r in ipr.get_routes(family=socket.AF_INET, table=254):
            dst = r.get_attr("RTA_DST")
            if dst and names.get(r.get_attr("RTA_OIF")) not in skip_links:
                out.append(f"{dst}/{r['dst_len']}")
    return out


def ensure_bridge(name: str, gateway: str, prefixlen: int, mtu: int) -> bool:
    """The bridge, up, with the gateway address. Idempotent; True if it was created."""
    created = False
    with IPRoute() as ipr:
        idx = _index(ipr, name)
        if idx is None:
            try:
                ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
                created = True
            except _NLError as e:
                if e.code != errno.EEXIST:  # another process made it first
                    raise _err(f"create bridge {name}", e) from None
            idx = _index(ipr, name)
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx, family=socket.AF_INET)}
        if gateway not in have:
            try:
                ipr.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
            except _NLError as e:
                if e.code != errno.EEXIST:
                    raise _err(f"address {gateway}/{prefixlen} on {name}", e) from None
        ipr.link("set", index=idx, state="up")
    return created


def delete_link(name: str) -> bool:
    """Delete a link (a veth takes its peer with it). False if it did not exist."""
    with IPRoute() as ipr:
        idx = _index(ipr, name)
        if idx is None:
            return False
        try:
            ipr.link("del", index=idx)
        except _NLError as e:
            if e.code != errno.ENODEV:
                raise _err(f"delete {name}", e) from None
            return False
    return True


def add_veth(host_name: str, bridge: str, netns_path: str, ip: str, prefixlen: int, gateway: str, mtu: int) -> str:
    """A veth pair: ``host_name`` on the bridge, its peer made directly in the container's
    netns as the first free ethN (eth0 for the first network; no rename dance), with the
    address, lo and the link up, and a default route via ``gateway`` if the netns has none
    (the first network a container joins gives its default route, as in Docker).
    Returns the interface name inside."""
    try:
        nsfd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NetworkError(f"container network namespace {netns_path}: {e.strerror}") from None
    sock = netns_socket(netns_path)
    try:
        with IPRoute(use_socket=sock) as ns:
            names = {link.get_attr("IFLA_IFNAME") for link in ns.get_links()}
            inside = next(f"eth{i}" for i in range(len(names) + 1) if f"eth{i}" not in names)
            with IPRoute() as ipr:
                br = _index(ipr, bridge)
                if br is None:
                    raise NetworkError(f"bridge {bridge} does not exist")
                try:
                    ipr.link("add", ifname=host_name, kind="veth", mtu=mtu,
                             peer={"ifname": inside, "net_ns_fd": nsfd, "mtu": mtu})
                except _NLError as e:
                    raise _err(f"create veth {host_name}", e) from None
                ipr.link("set", index=_index(ipr, host_name), master=br, state="up")
            lo, eth = _index(ns, "lo"), _index(ns, inside)
            ns.link("set", index=lo, state="up")
            ns.addr("add", index=eth, address=ip, prefixlen=prefixlen)
            ns.link("set", index=eth, state="up")
            if not ns.get_default_routes(family=socket.AF_INET):
                ns.route("add", dst="0.0.0.0/0", gateway=gateway, oif=eth)
    except _NLError as e:
        raise _err(f"configure the container's interface in {netns_path}", e) from None
    finally:
        sock.close()
        os.close(nsfd)
    return inside


def ports_of(bridge: str) -> list[str]:
    """Names of the links enslaved to ``bridge`` (none if it does not exist)."""
    with IPRoute() as ipr:
        br = _index(ipr, bridge)
        if br is None:
            return []
        return [link.get_attr("IFLA_IFNAME") for link in ipr.get_links() if link.get_attr("IFLA_MASTER") == br]
