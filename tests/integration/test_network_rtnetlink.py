"""network/rtnetlink.py against the real kernel: a bridge and a veth whose peer is made
directly inside a fresh netns as eth0, configured through a socket opened in that netns,
then read back both through our client and through iproute2 (`ip -j`), and deleted."""

from __future__ import annotations

import errno
import json
import os
import uuid

import pytest
from support import need_binary

from dockyard.network import netlink
from dockyard.network.rtnetlink import NetlinkError, RtNetlink


def ip_json(*argv: str, ns: str | None = None):
    import subprocess

    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["ip", "-j", *argv]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout or "[]")


@pytest.fixture
def temp_netns(need_root):
    import subprocess

    need_binary("ip")
    name = "dyt-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=True)


def test_bridge_and_veth_in_a_netns_read_back(temp_netns):
    tag = uuid.uuid4().hex[:8]
    bridge, host = f"dy-rt{tag}", f"dyv{tag}"
    path = f"/run/netns/{temp_netns}"
    nsfd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with RtNetlink() as rt, RtNetlink(netlink.netns_socket(path)) as ns:
            rt.add_bridge(bridge, 1400)
            try:
                br = rt.link(bridge)
                assert br is not None and br.kind == "bridge" and br.mtu == 1400
                rt.add_addr(br.index, "10.231.0.1", 24)
                rt.set_link(br.index, up=True)
                with pytest.raises(NetlinkError) as dup:
                    rt.add_bridge(bridge, 1400)
                assert dup.value.errno == errno.EEXIST and str(dup.value).startswith(f"create bridge {bridge}: ")

                rt.add_veth(host, "eth0", nsfd, 1400)
                veth = rt.link(host)
                rt.set_link(veth.index, master=br.index, up=True)
                assert rt.link(index=veth.index) == rt.link(host)
                assert rt.link(host).master == br.index and rt.link(host).kind == "veth"
                assert host in [link.name for link in rt.links() if link.master == br.index]

                eth0 = ns.link("eth0")
                assert eth0 is not None and eth0.kind == "veth" and eth0.mtu == 1400
                ns.set_link(ns.link("lo").index, up=True)
                ns.add_addr(eth0.index, "10.231.0.2", 24)
                ns.set_link(eth0.index, up=True, mtu=1300)
                ns.add_default_route("10.231.0.1", eth0.index)
                assert ns.default_routes() == [(None, 0, "10.231.0.1", eth0.index, 254)]
                assert ("10.231.0.0", 24) in [(r.dst, r.dst_len) for r in ns.routes()]
                assert [(a.local, a.prefixlen) for a in ns.addrs(eth0.index)] == [("10.231.0.2", 24)]
                assert ns.default_route_link().name == "eth0"

                # what iproute2 sees, inside and on the host
                (inside,) = ip_json("addr", "show", "dev", "eth0", ns=temp_netns)
                assert inside["mtu"] == 1300 and "UP" in inside["flags"]
                assert [(a["local"], a["prefixlen"], a.get("broadcast")) for a in inside["addr_info"]
                        if a["family"] == "inet"] == [("10.231.0.2", 24, "10.231.0.255")]
                assert ip_json("route", "show", "default", ns=temp_netns)[0]["gateway"] == "10.231.0.1"
                (outside,) = ip_json("link", "show", "dev", host)
                assert outside["master"] == bridge and outside["link_netnsid"] is not None

                ns.set_link(eth0.index, up=False, name="eth5")
                assert ns.link("eth0") is None and not ns.link("eth5").flags & 1
            finally:
                for name in (host, bridge):
                    link = rt.link(name)
                    if link:
                        rt.delete_link(link.index)
            assert rt.link(host) is None and rt.link(bridge) is None
            assert ns.link("eth5") is None  # the peer went with the host end
            with pytest.raises(NetlinkError, match=r"^delete link 2147483000: No such device"):
                rt.delete_link(2147483000)
    finally:
        os.close(nsfd)
