"""network/rtnetlink.py's wire format: requests compared byte for byte with what the kernel
expects (written out by hand from the struct layouts in <linux/netlink.h>, <linux/rtnetlink.h>
and <linux/if_link.h>, little-endian x86_64), attribute padding, and reply parsing (dumps,
ACKs, errors with the kernel's extended-ACK text)."""

from __future__ import annotations

import errno
import struct

import pytest

from dockyard.network import rtnetlink as rt


def h(text: str) -> bytes:
    """Hex with spaces and comments (# to end of line) ignored."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()))


IFINFOMSG_EMPTY = "00 00 0000 00000000 00000000 00000000"  # family, pad, type, index, flags, change

# RTM_NEWLINK: veth dyv1 <-> eth0, the peer in the netns open as fd 7, MTU 1400, seq 1
VETH_REQUEST = h(f"""
78000000 1000 0506 01000000 00000000   # nlmsghdr: len 120, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 1, pid 0
{IFINFOMSG_EMPTY}
0900 0300 64797631 00 000000           # IFLA_IFNAME "dyv1\\0" (len 9) + 3 bytes pad
0800 0400 78050000                     # IFLA_MTU 1400
4400 1200                              # IFLA_LINKINFO, len 68
  0900 0100 76657468 00 000000         #   IFLA_INFO_KIND "veth\\0" + pad
  3400 0200                            #   IFLA_INFO_DATA, len 52
    3000 0100                          #     VETH_INFO_PEER, len 48: ifinfomsg + attributes
      {IFINFOMSG_EMPTY}
      0900 0300 65746830 00 000000     #       IFLA_IFNAME "eth0\\0" + pad
      0800 0400 78050000               #       IFLA_MTU 1400
      0800 1c00 07000000               #       IFLA_NET_NS_FD 7
""")


def test_veth_request_bytes():
    body = rt.newlink_veth("dyv1", "eth0", 7, 1400)
    flags = rt.NLM_F_REQUEST | rt.NLM_F_ACK | rt.NLM_F_CREATE | rt.NLM_F_EXCL
    assert rt.message(rt.RTM_NEWLINK, flags, 1, body) == VETH_REQUEST


def test_bridge_request_bytes():
    assert rt.newlink_bridge("dy-x", 1400) == h(f"""
    {IFINFOMSG_EMPTY}
    0900 0300 64792d78 00 000000         # IFLA_IFNAME "dy-x\\0"
    0800 0400 78050000                   # IFLA_MTU 1400
    1000 1200                            # IFLA_LINKINFO, len 16
      0b00 0100 6272696467 65 00 00      #   IFLA_INFO_KIND "bridge\\0" (len 11) + 1 pad
    """)


def test_address_and_route_request_bytes():
    assert rt.newaddr_v4(5, "10.88.0.2", 16) == h("""
    02 10 00 00 05000000                 # ifaddrmsg: AF_INET, /16, flags, scope universe, index 5
    0800 0200 0a580002                   # IFA_LOCAL 10.88.0.2
    0800 0100 0a580002                   # IFA_ADDRESS 10.88.0.2
    0800 0400 0a58ffff                   # IFA_BROADCAST 10.88.255.255
    """)
    assert rt.newaddr_v4(5, "10.0.0.1", 31)[-8:] == h("0800 0100 0a000001")  # no broadcast on /31
    assert rt.newroute_default_v4("10.88.0.1", 5) == h("""
    02 00 00 00 fe 03 00 01 00000000     # rtmsg: AF_INET, dst/src len 0, tos, main, boot, universe, unicast
    0800 0500 0a580001                   # RTA_GATEWAY 10.88.0.1
    0800 0400 05000000                   # RTA_OIF 5
    """)


def _acks(n):
    return [_reply(rt.NLMSG_ERROR, rt.NLM_F_CAPPED, seq, struct.pack("=i", 0) + b"\0" * 16) for seq in range(1, n + 1)]


def test_set_link_up_master_down_name_mtu():
    sock = _FakeSocket(_acks(3))
    nl = rt.RtNetlink(sock)
    nl.set_link(9, up=True, master=3)
    nl.set_link(9, up=False)
    nl.set_link(9, name="eth1", mtu=1280)
    bodies = [m[16:] for m in sock.sent]
    assert bodies[0] == struct.pack("=BxHiII", 0, 0, 9, 1, 1) + h("0800 0a00 03000000")  # IFF_UP in flags+change, IFLA_MASTER 3
    assert bodies[1] == struct.pack("=BxHiII", 0, 0, 9, 0, 1)  # change IFF_UP, flags 0: down
    assert bodies[2] == struct.pack("=BxHiII", 0, 0, 9, 0, 0) + h("0800 0400 00050000 0900 0300 65746831 00 000000")


@pytest.mark.parametrize("n,padded", [(0, 4), (1, 8), (2, 8), (3, 8), (4, 8), (5, 12), (8, 12)])
def test_attribute_alignment(n, padded):
    a = rt.attr(7, b"x" * n)
    assert len(a) == padded
    assert struct.unpack_from("=HH", a) == (4 + n, 7)  # the length excludes the padding
    assert a[4 + n:] == b"\0" * (padded - 4 - n)


def test_attributes_round_trip_nested_and_flags():
    packed = rt.attr_str(3, "abc") + rt.nest(18, rt.attr_str(1, "veth"), rt.attr_u32(2, 9)) + rt.attr(5, b"")
    got = rt.attrs(packed)
    assert got[3] == b"abc\0" and got[5] == b""
    assert rt.attrs(got[18]) == {1: b"veth\0", 2: struct.pack("=I", 9)}
    # NLA_F_NESTED (0x8000) set by newer kernels is not part of the type
    assert rt.attrs(struct.pack("=HH", 8, 0x8000 | 18) + b"abcd") == {18: b"abcd"}
    # a truncated attribute ends the walk instead of reading past the buffer
    assert rt.attrs(rt.attr_u32(4, 1) + struct.pack("=HH", 40, 1) + b"xx") == {4: struct.pack("=I", 1)}


def _reply(kind: int, flags: int, seq: int, payload: bytes) -> bytes:
    return rt.message(kind, flags, seq, payload)


def test_parse_newlink_reply():
    payload = struct.pack("=BxHiII", 0, 1, 12, 0x1003, 0) + rt.attr_str(rt.IFLA_IFNAME, "dyv1") + rt.attr_u32(
        rt.IFLA_MTU, 1400) + rt.attr_u32(rt.IFLA_MASTER, 4) + rt.nest(rt.IFLA_LINKINFO, rt.attr_str(1, "veth"))
    (kind, _flags, seq, body), = rt.messages(_reply(rt.RTM_NEWLINK, 0, 3, payload))
    assert (kind, seq) == (rt.RTM_NEWLINK, 3)
    assert rt.parse_link(body) == rt.Link(12, "dyv1", 0x1003, 1400, 4, "veth")


def test_parse_route_and_addr():
    route = struct.pack("=BBBBBBBBI", 2, 24, 0, 0, 254, 2, 253, 1, 0) + rt.attr_ip(rt.RTA_DST, "192.0.2.0") + \
        rt.attr_u32(rt.RTA_OIF, 4) + rt.attr_u32(rt.RTA_TABLE, 254)
    assert rt.parse_route(route) == rt.Route("192.0.2.0", 24, None, 4, 254)
    default = struct.pack("=BBBBBBBBI", 2, 0, 0, 0, 254, 3, 0, 1, 0) + rt.attr_ip(rt.RTA_GATEWAY, "192.0.2.1")
    assert rt.parse_route(default) == rt.Route(None, 0, "192.0.2.1", None, 254)
    assert rt.parse_addr(rt.newaddr_v4(5, "10.88.0.1", 16)) == rt.Addr(5, 16, "10.88.0.1", "10.88.0.1")


def test_several_messages_in_one_datagram():
    data = _reply(rt.RTM_NEWLINK, rt.NLM_F_MULTI, 1, b"abcde") + _reply(rt.NLMSG_DONE, rt.NLM_F_MULTI, 1, b"\0" * 4)
    assert [(k, p) for k, _f, _s, p in rt.messages(data)] == [(rt.RTM_NEWLINK, b"abcde"), (rt.NLMSG_DONE, b"\0" * 4)]


def test_error_ack_parsing():
    echoed = rt.NLMSGHDR.pack(32, rt.RTM_NEWLINK, 0x605, 1, 0)
    # an ACK: error 0
    assert rt.error_of(0, struct.pack("=i", 0) + echoed) == (0, "")
    # EEXIST with the extended-ACK message, request capped to its header
    tlv = rt.attr_str(rt.NLMSGERR_ATTR_MSG, "Link already exists")
    assert rt.error_of(rt.NLM_F_CAPPED | rt.NLM_F_ACK_TLVS, struct.pack("=i", -17) + echoed + tlv) == (
        17, "Link already exists")
    # not capped: the whole request (header + 16 bytes) is echoed before the TLVs
    assert rt.error_of(rt.NLM_F_ACK_TLVS, struct.pack("=i", -1) + echoed + b"\0" * 16 + tlv) == (1, "Link already exists")
    e = rt.NetlinkError(errno.EEXIST, "create veth dyv1", "Link already exists")
    assert isinstance(e, OSError) and e.errno == errno.EEXIST
    assert str(e) == "create veth dyv1: File exists (Link already exists)"


class _FakeSocket:
    """Replies queued as datagrams; what was sent is kept."""

    def __init__(self, datagrams):
        self.datagrams, self.sent = list(datagrams), []

    def send(self, data):
        self.sent.append(data)

    def recv(self, _n):
        return self.datagrams.pop(0)

    def setsockopt(self, *a):
        return None

    def bind(self, _a):
        return None

    def close(self):
        return None


def test_request_reads_up_to_its_ack_and_skips_stale_replies():
    link = struct.pack("=BxHiII", 0, 1, 2, 0, 0) + rt.attr_str(rt.IFLA_IFNAME, "eth0")
    sock = _FakeSocket([
        _reply(rt.NLMSG_ERROR, 0, 99, struct.pack("=i", -19) + b"\0" * 16),  # an earlier request's, ignored
        _reply(rt.RTM_NEWLINK, 0, 1, link) + _reply(rt.NLMSG_ERROR, rt.NLM_F_CAPPED, 1, struct.pack("=i", 0) + b"\0" * 16),
    ])
    nl = rt.RtNetlink(sock)
    assert nl.link("eth0") == rt.Link(2, "eth0", 0, None, None, None)
    assert struct.unpack_from("=IHHII", sock.sent[0])[1:4] == (rt.RTM_GETLINK, rt.NLM_F_REQUEST | rt.NLM_F_ACK, 1)


def test_request_error_names_the_operation():
    sock = _FakeSocket([_reply(rt.NLMSG_ERROR, 0, 1, struct.pack("=i", -errno.EEXIST) + b"\0" * 16)])
    with pytest.raises(rt.NetlinkError, match="^create bridge dy-x: File exists$") as e:
        rt.RtNetlink(sock).add_bridge("dy-x", 1500)
    assert e.value.errno == errno.EEXIST
    # a missing link is None, not an error
    sock = _FakeSocket([_reply(rt.NLMSG_ERROR, 0, 1, struct.pack("=i", -errno.ENODEV) + b"\0" * 16)])
    assert rt.RtNetlink(sock).link("nope") is None


def test_dump_ends_at_done():
    a = rt.newaddr_v4(3, "10.0.0.2", 24)
    b = rt.newaddr_v4(4, "10.0.1.2", 24)
    sock = _FakeSocket([_reply(rt.RTM_NEWADDR, rt.NLM_F_MULTI, 1, a),
                        _reply(rt.RTM_NEWADDR, rt.NLM_F_MULTI, 1, b) + _reply(rt.NLMSG_DONE, rt.NLM_F_MULTI, 1, b"\0" * 4)])
    assert rt.RtNetlink(sock).addrs(4) == [rt.Addr(4, 24, "10.0.1.2", "10.0.1.2")]
    flags = struct.unpack_from("=IHHII", sock.sent[0])[2]
    assert flags == rt.NLM_F_REQUEST | rt.NLM_F_DUMP  # no ACK asked on a dump
