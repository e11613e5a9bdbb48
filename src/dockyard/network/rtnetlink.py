"""A minimal netlink client: rtnetlink (links, addresses, routes) over a raw AF_NETLINK
socket, with stdlib ``socket`` and ``struct`` only.

Why not pyroute2: importing it costs 130-240 ms (its ``__init__`` loads every family), over
the whole 60 ms `run --rm` budget on the default bridge; this module imports in ~1 ms and
does exactly what network/netlink.py needs.

Wire format (<linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>), host byte order:

    nlmsghdr  u32 len | u16 type | u16 flags | u32 seq | u32 pid          (16 bytes)
    then the family header:
      ifinfomsg u8 family | u8 pad | u16 type | i32 index | u32 flags | u32 change  (16)
      ifaddrmsg u8 family | u8 prefixlen | u8 flags | u8 scope | u32 index           (8)
      rtmsg     u8 family dst_len src_len tos table protocol scope type | u32 flags  (12)
    then attributes: u16 len | u16 type | payload, each padded to 4 bytes (len excludes
    the padding). A nested attribute's payload is attributes; VETH_INFO_PEER's payload is
    an ifinfomsg followed by the peer's attributes.

A request carries NLM_F_REQUEST|NLM_F_ACK and is answered by data messages (if any) and an
NLMSG_ERROR whose error is 0 (the ACK) or -errno; a dump (NLM_F_DUMP) by data messages up
to NLMSG_DONE. Errors become NetlinkError (an OSError) naming the operation, with the
kernel's extended-ACK text when it sends one.
"""

from __future__ import annotations

import errno as _errno
import os
import _socket as socket  # the C module: `socket` imports enum, selectors (~2 ms per run)
import struct
from collections import namedtuple

# <linux/netlink.h>
NETLINK_ROUTE = 0
NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200  # in an NLMSG_ERROR's flags
NLMSGERR_ATTR_MSG = 1
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

# <linux/rtnetlink.h>
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15

# <linux/if_link.h>, <linux/if_addr.h>, <linux/veth.h>, <net/if.h>
IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD, IFLA_EXT_MASK = 3, 4, 10, 18, 28, 29
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
IFF_UP = 0x1

NLMSGHDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBI")
RTMSG = struct.Struct("=BBBBBBBBI")
RTATTR = struct.Struct("=HH")
U32 = struct.Struct("=I")
ERR = struct.Struct("=i")


class NetlinkError(OSError):
    """A request the kernel refused: ``errno`` as sent, ``str()`` names the operation."""

    def __init__(self, code: int, op: str, detail: str = "") -> None:
        why = os.strerror(code) + (f" ({detail})" if detail else "")
        super().__init__(code, f"{op}: {why}")

    def __str__(self) -> str:
        return self.strerror


# -- packing --------------------------------------------------------------------------

def align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes (the length field counts the payload, not the pad)."""
    n = RTATTR.size + len(payload)
    return RTATTR.pack(n, kind) + payload + b"\0" * (align(n) - n)


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, U32.pack(value))


def attr_str(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")  # NUL-terminated, as iproute2 sends names


def attr_ip(kind: int, address: str) -> bytes:
    return attr(kind, socket.inet_aton(address))


def nest(kind: int, *attrs: bytes) -> bytes:
    return attr(kind, b"".join(attrs))


def message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    """One netlink message, padded to 4 bytes so another may follow it in a datagram."""
    n = NLMSGHDR.size + len(body)
    return NLMSGHDR.pack(n, kind, flags, seq, 0) + body + b"\0" * (align(n) - n)


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)


def newlink_bridge(name: str, mtu: int) -> bytes:
    """RTM_NEWLINK body: a bridge."""
    return ifinfo() + attr_str(IFLA_IFNAME, name) + attr_u32(IFLA_MTU, mtu) + nest(
        IFLA_LINKINFO, attr_str(IFLA_INFO_KIND, "bridge"))


def newlink_veth(name: str, peer: str, peer_netns_fd: int | None, mtu: int) -> bytes:
    """RTM_NEWLINK body: a veth pair, the peer made directly in the netns open as
    ``peer_netns_fd`` (None: this netns) under its final name."""
    peer_attrs = attr_str(IFLA_IFNAME, peer) + attr_u32(IFLA_MTU, mtu)
    if peer_netns_fd is not None:
        peer_attrs += attr_u32(IFLA_NET_NS_FD, peer_netns_fd)
    return ifinfo() + attr_str(IFLA_IFNAME, name) + attr_u32(IFLA_MTU, mtu) + nest(
        IFLA_LINKINFO, attr_str(IFLA_INFO_KIND, "veth"),
        nest(IFLA_INFO_DATA, attr(VETH_INFO_PEER, ifinfo() + peer_attrs)))


def newaddr_v4(index: int, address: str, prefixlen: int) -> bytes:
    """RTM_NEWADDR body: an IPv4 address with its broadcast (none on /31 and /32)."""
    body = IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
    body += attr_ip(IFA_LOCAL, address) + attr_ip(IFA_ADDRESS, address)
    if prefixlen < 31:
        host = (1 << (32 - prefixlen)) - 1
        bcast = int.from_bytes(socket.inet_aton(address), "big") | host
        body += attr(IFA_BROADCAST, bcast.to_bytes(4, "big"))
    return body


def newroute_default_v4(gateway: str, oif: int) -> bytes:
    """RTM_NEWROUTE body: 0.0.0.0/0 via ``gateway`` out of link ``oif``, main table."""
    return RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0) + (
        attr_ip(RTA_GATEWAY, gateway) + attr_u32(RTA_OIF, oif))


# -- parsing ----------------------------------------------------------------------------

def attrs(buf: bytes, offset: int = 0) -> dict[int, bytes]:
    """Attributes from ``offset`` to the end of ``buf``: type -> payload (the last wins)."""
    out = {}
    while offset + RTATTR.size <= len(buf):
        n, kind = RTATTR.unpack_from(buf, offset)
        if n < RTATTR.size or offset + n > len(buf):
            break  # malformed: stop rather than read past the message
        out[kind & NLA_TYPE_MASK] = buf[offset + RTATTR.size:offset + n]
        offset += align(n)
    return out


def messages(buf: bytes):
    """(type, flags, seq, payload) of each netlink message in a datagram."""
    offset = 0
    while offset + NLMSGHDR.size <= len(buf):
        n, kind, flags, seq, _pid = NLMSGHDR.unpack_from(buf, offset)
        if n < NLMSGHDR.size or offset + n > len(buf):
            break
        yield kind, flags, seq, buf[offset + NLMSGHDR.size:offset + n]
        offset += align(n)


def error_of(flags: int, payload: bytes) -> tuple[int, str]:
    """An NLMSG_ERROR's (errno, extended-ACK message): errno 0 is an ACK."""
    code = -ERR.unpack_from(payload)[0]
    detail = ""
    if flags & NLM_F_ACK_TLVS and len(payload) >= ERR.size + NLMSGHDR.size:
        # the request echoed back: its header only if capped, else whole; then the TLVs
        echoed = NLMSGHDR.size if flags & NLM_F_CAPPED else NLMSGHDR.unpack_from(payload, ERR.size)[0]
        msg = attrs(payload, ERR.size + align(echoed)).get(NLMSGERR_ATTR_MSG)
        if msg:
            detail = msg.rstrip(b"\0").decode(errors="replace")
    return code, detail


def _str(value: bytes | None) -> str | None:
    return value.split(b"\0", 1)[0].decode(errors="replace") if value is not None else None


def _u32(value: bytes | None) -> int | None:
    return U32.unpack(value[:4])[0] if value is not None else None


def _ip(value: bytes | None) -> str | None:
    return socket.inet_ntoa(value) if value is not None and len(value) == 4 else None


# collections.namedtuple, not typing.NamedTuple: importing typing alone costs ~2 ms
Link = namedtuple("Link", "index name flags mtu master kind")  # mtu/master/kind may be None
Addr = namedtuple("Addr", "index prefixlen address local")
Route = namedtuple("Route", "dst dst_len gateway oif table")  # dst None: a default route


def parse_link(payload: bytes) -> Link:
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(payload)
    a = attrs(payload, IFINFOMSG.size)
    info = attrs(a[IFLA_LINKINFO]) if IFLA_LINKINFO in a else {}
    return Link(index, _str(a.get(IFLA_IFNAME)) or "", flags, _u32(a.get(IFLA_MTU)), _u32(a.get(IFLA_MASTER)),
                _str(info.get(IFLA_INFO_KIND)))


def parse_addr(payload: bytes) -> Addr:
    _family, prefixlen, _flags, _scope, index = IFADDRMSG.unpack_from(payload)
    a = attrs(payload, IFADDRMSG.size)
    return Addr(index, prefixlen, _ip(a.get(IFA_ADDRESS)), _ip(a.get(IFA_LOCAL)))


def parse_route(payload: bytes) -> Route:
    _family, dst_len, _src_len, _tos, table, _proto, _scope, _type, _flags = RTMSG.unpack_from(payload)
    a = attrs(payload, RTMSG.size)
    return Route(_ip(a.get(RTA_DST)), dst_len, _ip(a.get(RTA_GATEWAY)), _u32(a.get(RTA_OIF)),
                 _u32(a.get(RTA_TABLE)) or table)


# -- the socket ---------------------------------------------------------------------------

class Netlink:
    """A netlink socket speaking request/ACK and dumps. ``sock``: an AF_NETLINK socket
    already open (e.g. made inside another netns: it stays bound to that one)."""

    def __init__(self, protocol: int = NETLINK_ROUTE, sock: socket.socket | None = None) -> None:
        self.sock = sock or socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)
        for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):  # error text; no echo of our request
            try:
                self.sock.setsockopt(SOL_NETLINK, opt, 1)
            except OSError:
                continue  # older kernels: plain errno only
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, kind: int, body: bytes, op: str, flags: int = 0) -> list[tuple[int, bytes]]:
        """Send one request and collect its replies: [(type, payload)] up to the ACK
        (NLMSG_DONE for a dump). A refusal raises NetlinkError(op)."""
        self.seq += 1
        seq = self.seq
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        self.sock.send(message(kind, NLM_F_REQUEST | flags | (0 if dump else NLM_F_ACK), seq, body))
        out = []
        while True:
            data = self.sock.recv(1 << 16)
            for mkind, mflags, mseq, payload in messages(data):
                if mseq != seq:
                    continue  # a late answer to an earlier request
                if mkind == NLMSG_ERROR:
                    code, detail = error_of(mflags, payload)
                    if code:
                        raise NetlinkError(code, op, detail)
                    return out
                if mkind == NLMSG_DONE:
                    return out
                out.append((mkind, payload))


class RtNetlink(Netlink):
    """The rtnetlink operations the network library uses."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        super().__init__(NETLINK_ROUTE, sock)

    # links
    def link(self, name: str | None = None, index: int = 0) -> Link | None:
        """The link named ``name`` (or with ``index``), None if there is none."""
        body = ifinfo(index) + (attr_str(IFLA_IFNAME, name) if name else b"") + attr_u32(
            IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
        try:
            replies = self.request(RTM_GETLINK, body, f"look up link {name or index}")
        except NetlinkError as e:
            if e.errno == _errno.ENODEV:
                return None
            raise
        return next((parse_link(p) for k, p in replies if k == RTM_NEWLINK), None)

    def links(self) -> list[Link]:
        body = ifinfo() + attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
        return [parse_link(p) for k, p in self.request(RTM_GETLINK, body, "list links", NLM_F_DUMP)
                if k == RTM_NEWLINK]

    def add_bridge(self, name: str, mtu: int) -> None:
        self.request(RTM_NEWLINK, newlink_bridge(name, mtu), f"create bridge {name}", NLM_F_CREATE | NLM_F_EXCL)

    def add_veth(self, name: str, peer: str, peer_netns_fd: int | None, mtu: int) -> None:
        self.request(RTM_NEWLINK, newlink_veth(name, peer, peer_netns_fd, mtu), f"create veth {name}",
                     NLM_F_CREATE | NLM_F_EXCL)

    def set_link(self, index: int, *, up: bool | None = None, master: int | None = None, mtu: int | None = None,
                 name: str | None = None) -> None:
        """Change a link: up/down, master (0 = none), MTU, name — in one request."""
        body = ifinfo(index, IFF_UP if up else 0, IFF_UP if up is not None else 0)
        if master is not None:
            body += attr_u32(IFLA_MASTER, master)
        if mtu is not None:
            body += attr_u32(IFLA_MTU, mtu)
        if name is not None:
            body += attr_str(IFLA_IFNAME, name)
        self.request(RTM_NEWLINK, body, f"set link {index}")

    def delete_link(self, index: int) -> None:
        self.request(RTM_DELLINK, ifinfo(index), f"delete link {index}")

    # addresses
    def addrs(self, index: int | None = None) -> list[Addr]:
        """IPv4 addresses (of link ``index`` only, if given)."""
        body = IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0)
        found = [parse_addr(p) for k, p in self.request(RTM_GETADDR, body, "list addresses", NLM_F_DUMP)
                 if k == RTM_NEWADDR]
        return [a for a in found if index is None or a.index == index]

    def add_addr(self, index: int, address: str, prefixlen: int) -> None:
        self.request(RTM_NEWADDR, newaddr_v4(index, address, prefixlen), f"add address {address}/{prefixlen}",
                     NLM_F_CREATE | NLM_F_EXCL)

    # routes
    def routes(self, table: int = RT_TABLE_MAIN) -> list[Route]:
        """IPv4 routes of ``table``."""
        body = RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        found = [parse_route(p) for k, p in self.request(RTM_GETROUTE, body, "list routes", NLM_F_DUMP)
                 if k == RTM_NEWROUTE]
        return [r for r in found if r.table == table]

    def default_routes(self) -> list[Route]:
        return [r for r in self.routes() if r.dst_len == 0]

    def add_default_route(self, gateway: str, oif: int) -> None:
        self.request(RTM_NEWROUTE, newroute_default_v4(gateway, oif), f"add default route via {gateway}",
                     NLM_F_CREATE | NLM_F_EXCL)

    def default_route_link(self) -> Link | None:
        """The link of the first IPv4 default route (the host's uplink), None if none."""
        for r in self.default_routes():
            if r.oif:
                return self.link(index=r.oif)
        return None
