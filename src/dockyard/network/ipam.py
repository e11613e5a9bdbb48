"""Address arithmetic for IPAM (pure; the store does the bookkeeping under a transaction).

A subnet's network address, broadcast address and gateway are never handed out. Addresses are
given lowest-free-first; the store makes that atomic across processes.
"""

from __future__ import annotations

import ipaddress

from .errors import AddressInUse, NetworkError


def subnet(text: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise NetworkError(f"invalid subnet {text!r}: expected an IPv4 CIDR such as 10.89.0.0/24") from None
    if net.version != 4:
        raise NetworkError(f"invalid subnet {text!r}: dockyard networks are IPv4 only")
    if net.prefixlen > 30:
        raise NetworkError(f"invalid subnet {text!r}: a /{net.prefixlen} has no room for a gateway and a container")
    if str(net) != text and "/" in text:
        raise NetworkError(f"invalid subnet {text!r}: host bits set (did you mean {net}?)")
    return net


def default_gateway(net: ipaddress.IPv4Network) -> str:
    return str(net.network_address + 1)


def check_gateway(net: ipaddress.IPv4Network, gateway: str) -> str:
    try:
        gw = ipaddress.IPv4Address(gateway)
    except ValueError:
        raise NetworkError(f"invalid gateway {gateway!r}: not an IPv4 address") from None
    if gw not in net or gw in (net.network_address, net.broadcast_address):
        raise NetworkError(f"gateway {gateway} is not a usable address of {net}")
    return str(gw)


def reserved(net: ipaddress.IPv4Network, gateway: str) -> set[str]:
    return {str(net.network_address), str(net.broadcast_address), gateway}


def pick(net: ipaddress.IPv4Network, gateway: str, used: set[str], requested: str | None = None) -> str:
    """The requested address if free, else the lowest free one. Raises if none is left."""
    taken = used | reserved(net, gateway)
    if requested:
        try:
            want = ipaddress.IPv4Address(requested)
        except ValueError:
            raise NetworkError(f"invalid IP address {requested!r}") from None
        if want not in net:
            raise NetworkError(f"IP address {requested} is not in the network's subnet {net}")
        if str(want) in taken:
            raise AddressInUse(f"IP address {requested} is already in use (or reserved) on {net}")
        return str(want)
    for host in net.hosts():
        if str(host) not in taken:
            return str(host)
    raise NetworkError(f"no free IP address left in {net}")


def overlaps(a: str, b: str) -> bool:
    return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))
