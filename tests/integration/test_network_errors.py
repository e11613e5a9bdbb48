"""Bad input gives one line and leaves nothing half-configured: overlapping subnets, a host
port in use (by a host socket or another container), a bad -p spec, a missing network, an
address already taken, publishing from an internal network."""

from __future__ import annotations

import os
import socket

import pytest
from network_fixtures import free_port, in_ns, sh

pytest_plugins = ["network_fixtures"]  # netw and the leak checks

from dockyard.errors import NotFound
from dockyard.network.errors import AddressInUse, NetworkError, PortInUse
from dockyard.network.store import NetworkStore

A, B = "a" * 64, "b" * 64


def _one_line(err: BaseException) -> str:
    msg = str(err)
    assert msg and "\n" not in msg and "Traceback" not in msg
    return msg


def _nothing_of(netw, cid: str, ns: str) -> None:
    assert "eth0" not in in_ns(ns, "ip", "link").stdout
    assert netw.service.endpoints(cid, root=netw.root) == []
    if sh("nft", "list", "table", "ip", "dockyard", check=False).returncode == 0:
        assert cid not in sh("nft", "list", "table", "ip", "dockyard").stdout
    with NetworkStore(netw.root) as store:  # the only veths are those of connected endpoints
        connected = {e.veth for e in store.endpoints()}
    assert {n for n in os.listdir("/sys/class/net") if n.startswith("dyv")} == connected


def test_overlapping_subnets_refused(netw):
    netw.create("dyt-a", subnet="10.95.0.0/24")
    with pytest.raises(NetworkError) as e:
        netw.create("dyt-b", subnet="10.95.0.128/25")
    assert _one_line(e.value) == "subnet 10.95.0.128/25 overlaps with network 'dyt-a' (10.95.0.0/24)"
    with pytest.raises(NetworkError, match="overlaps with the host's route"):
        netw.create("dyt-c", subnet="192.0.2.0/25" if _routed("192.0.2.0/24") else _a_host_route())
    with pytest.raises(NetworkError, match="host bits set"):
        netw.create("dyt-d", subnet="10.96.0.1/24")
    assert [n.name for n in netw.service.list_networks(root=netw.root)] == ["bridge", "dyt-a"]
    netw.remove("dyt-a")


def _routed(cidr: str) -> bool:
    return cidr in sh("ip", "-4", "route").stdout


def _a_host_route() -> str:
    return next(w for w in sh("ip", "-4", "route").stdout.split() if "/" in w)


def test_port_in_use_refused(netw):
    a, b = netw.netns(), netw.netns()
    port = free_port()
    with socket.socket() as held:  # a host process listens on it
        held.bind(("0.0.0.0", port))
        held.listen()
        with pytest.raises(PortInUse) as e:
            netw.attach(A, a, publish=[f"{port}:80"])
        assert _one_line(e.value) == f"host port {port}/tcp is already in use on the host"
    _nothing_of(netw, A, a)
    netw.attach(A, a, publish=[f"{port}:80"])
    with pytest.raises(PortInUse, match="already published by another container"):
        netw.attach(B, b, publish=[f"127.0.0.1:{port}:80"])
    _nothing_of(netw, B, b)
    netw.attach(B, b, publish=[f"{port}:80/udp"])  # the same number over udp is another port
    netw.detach(A)
    netw.detach(B)
    netw.down_default()


def test_bad_publish_spec_refused(netw):
    a = netw.netns()
    for spec, why in (("80:http", "container port 'http' is not a number"), ("70000:80", "outside 1-65535"),
                      ("8080:80/icmp", "protocol 'icmp'"), ("1.2.3:80:80", "not an IPv4 address"),
                      ("8000-8001:80-82", "differ in length"), ("", "empty")):
        with pytest.raises(NetworkError, match=why) as e:
            netw.attach(A, a, publish=[spec])
        assert _one_line(e.value).startswith("invalid publish spec")
    _nothing_of(netw, A, a)
    assert not os.path.exists("/sys/class/net/dockyard0")  # refused before anything was made


def test_missing_network_and_taken_ip_refused(netw):
    a, b = netw.netns(), netw.netns()
    with pytest.raises(NotFound) as e:
        netw.attach(A, a, "dyt-nowhere")
    assert _one_line(e.value) == "network dyt-nowhere not found"
    netw.create("dyt-net", subnet="10.97.0.0/24")
    assert netw.attach(A, a, "dyt-net", ip="10.97.0.50")["ip"] == "10.97.0.50"
    with pytest.raises(AddressInUse):
        netw.attach(B, b, "dyt-net", ip="10.97.0.50")
    _nothing_of(netw, B, b)
    with pytest.raises(NetworkError, match="has active endpoints"):
        netw.remove("dyt-net")
    with pytest.raises(NetworkError, match="pre-defined network"):
        netw.remove("bridge")
    with pytest.raises(NetworkError, match="does not exist"):
        netw.attach(B, "dyt-gone", "dyt-net")
    netw.detach(A)
    with pytest.raises(NetworkError, match="not connected"):
        netw.detach(A, "dyt-net")
    netw.remove("dyt-net")


def test_internal_network_refuses_publishing(netw):
    a = netw.netns()
    netw.create("dyt-int", internal=True)
    with pytest.raises(NetworkError, match="internal"):
        netw.attach(A, a, "dyt-int", publish=["80"])
    _nothing_of(netw, A, a)
    netw.remove("dyt-int")
