"""Links, addresses and routes over rtnetlink (our own client, rtnetlink.py): the bridge,
a container's veth.

Not pyroute2: importing it costs 130-240 ms, more than the whole `run --rm` budget on the
default bridge; rtnetlink.py is stdlib socket+struct and imports in ~1 ms.

A container's side is configured through a netlink socket *opened inside its netns*: a
short-lived thread setns()es into it (setns(CLONE_NEWNET) changes only the calling thread),
opens the socket and exits; a netlink socket stays bound to the netns it was created in. So
the calling process never changes namespace and never forks (DESIGN.md §3).
"""

from __future__ import annotations

import errno
import os
import _socket as socket  # as rtnetlink.py: no enum/selectors on the run path
import threading

from .._sys import libc
from ..errors import DockyardError
from .errors import NetworkError
from .rtnetlink import NETLINK_ROUTE, NetlinkError, RtNetlink

CLONE_NEWNET = 0x40000000


def _err(step: str, e: OSError) -> NetworkError:
    return NetworkError(f"{step}: {os.strerror(e.errno) if e.errno else e}")


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
            box["sock"] = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
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


def link_exists(name: str) -> bool:
    with RtNetlink() as rt:
        return rt.link(name) is not None


def links_with_prefix(prefix: str) -> list[str]:
    with RtNetlink() as rt:
        return [link.name for link in rt.links() if link.name.startswith(prefix)]


def default_route_mtu() -> int:
    """The MTU of the host's default-route interface (1500 if there is none): a container
    behind a smaller uplink (a VPN, a cloud VM's 1460) must not send bigger packets."""
    with RtNetlink() as rt:
        link = rt.default_route_link()
    return (link.mtu if link else None) or 1500


def host_routes(skip_links: set[str]) -> list[str]:
    """The host's IPv4 routes (CIDR) except default routes and those through ``skip_links``."""
    with RtNetlink() as rt:
        names = {link.index: link.name for link in rt.links()}
        return [f"{r.dst}/{r.dst_len}" for r in rt.routes() if r.dst and names.get(r.oif) not in skip_links]


def ensure_bridge(name: str, gateway: str, prefixlen: int, mtu: int) -> bool:
    """The bridge, up, with the gateway address. Idempotent; True if it was created."""
    created = False
    with RtNetlink() as rt:
        link = rt.link(name)
        if link is None:
            try:
                rt.add_bridge(name, mtu)
                created = True
            except NetlinkError as e:
                if e.errno != errno.EEXIST:  # another process made it first
                    raise _err(f"create bridge {name}", e) from None
            link = rt.link(name)
            if link is None:
                raise NetworkError(f"bridge {name} vanished while it was being set up")
        try:
            if gateway not in {a.local or a.address for a in rt.addrs(link.index)}:
                try:
                    rt.add_addr(link.index, gateway, prefixlen)
                except NetlinkError as e:
                    if e.errno != errno.EEXIST:
                        raise _err(f"address {gateway}/{prefixlen} on {name}", e) from None
            if not link.flags & 1:  # IFF_UP
                rt.set_link(link.index, up=True)
        except NetlinkError as e:
            raise _err(f"bring up bridge {name}", e) from None
    return created


def delete_link(name: str) -> bool:
    """Delete a link (a veth takes its peer with it). False if it did not exist."""
    with RtNetlink() as rt:
        link = rt.link(name)
        if link is None:
            return False
        try:
            rt.delete_link(link.index)
        except NetlinkError as e:
            if e.errno != errno.ENODEV:
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
    try:
        with RtNetlink(netns_socket(netns_path)) as ns, RtNetlink() as rt:
            names = {link.name for link in ns.links()}
            inside = next(f"eth{i}" for i in range(len(names) + 1) if f"eth{i}" not in names)
            br = rt.link(bridge)
            if br is None:
                raise NetworkError(f"bridge {bridge} does not exist")
            try:
                rt.add_veth(host_name, inside, nsfd, mtu)
            except NetlinkError as e:
                raise _err(f"create veth {host_name}", e) from None
            host = rt.link(host_name)
            if host is None:
                raise NetworkError(f"veth {host_name} vanished while it was being set up")
            rt.set_link(host.index, master=br.index, up=True)
            lo, eth = ns.link("lo"), ns.link(inside)
            if lo is None or eth is None:
                raise NetworkError(f"{inside} or lo missing in {netns_path} right after the veth was made")
            ns.set_link(lo.index, up=True)
            ns.add_addr(eth.index, ip, prefixlen)
            ns.set_link(eth.index, up=True)
            if not ns.default_routes():
                ns.add_default_route(gateway, eth.index)
    except NetlinkError as e:
        raise NetworkError(f"configure the container's interface in {netns_path}: {e}") from None
    finally:
        os.close(nsfd)
    return inside


def ports_of(bridge: str) -> list[str]:
    """Names of the links enslaved to ``bridge`` (none if it does not exist)."""
    with RtNetlink() as rt:
        br = rt.link(bridge)
        if br is None:
            return []
        return [link.name for link in rt.links() if link.master == br.index]


def add_tap(name: str, bridge: str, mtu: int) -> int:
    """A tap (network/tap.py) on ``bridge``, up, with ``mtu``; returns the fd that keeps it
    alive (the VM's QEMU inherits it). The host side of a VM's virtio-net: the guest
    configures its own address, so nothing is done inside."""
    from . import tap

    try:
        fd = tap.open_tap(name)
    except OSError as e:
        raise _err(f"create tap {name} ({tap.TUN_DEVICE})", e) from None
    try:
        with RtNetlink() as rt:
            br, link = rt.link(bridge), rt.link(name)
            if br is None:
                raise NetworkError(f"bridge {bridge} does not exist")
            if link is None:
                raise NetworkError(f"tap {name} vanished while it was being set up")
            rt.set_link(link.index, mtu=mtu)
            rt.set_link(link.index, master=br.index, up=True)
    except NetlinkError as e:
        os.close(fd)
        raise _err(f"put tap {name} on {bridge}", e) from None
    except BaseException:
        os.close(fd)  # the kernel removes the tap with its last fd
        raise
    return fd
