"""Pure network logic: Docker's -p grammar, address arithmetic, the network store's rules
(overlaps, names, port reservations) on a temp SQLite file. No root."""

from __future__ import annotations

import ipaddress

import pytest

from dockyard.errors import AlreadyExists, NotFound
from dockyard.network import ipam, ports
from dockyard.network.errors import NetworkError, PortInUse
from dockyard.network.ports import PortMapping
from dockyard.network.store import NetworkStore


@pytest.mark.parametrize("spec, want", [
    ("80", [PortMapping("", 0, 80, "tcp")]),
    ("8080:80", [PortMapping("", 8080, 80, "tcp")]),
    ("127.0.0.1:8080:80", [PortMapping("127.0.0.1", 8080, 80, "tcp")]),
    ("127.0.0.1::80", [PortMapping("127.0.0.1", 0, 80, "tcp")]),
    ("0.0.0.0:8080:80", [PortMapping("", 8080, 80, "tcp")]),
    ("8080:80/udp", [PortMapping("", 8080, 80, "udp")]),
    ("8000-8001:80-81", [PortMapping("", 8000, 80, "tcp"), PortMapping("", 8001, 81, "tcp")]),
    ("8000-8010:80", [PortMapping("", 8000, 80, "tcp", host_port_end=8010)]),
    ("53-54/udp", [PortMapping("", 0, 53, "udp"), PortMapping("", 0, 54, "udp")]),
])
def test_publish_specs(spec, want):
    assert ports.parse(spec) == want


@pytest.mark.parametrize("spec, why", [
    ("", "empty"), (" 80", "padded"), ("http", "not a number"), ("0", "outside 1-65535"),
    ("65536:80", "outside 1-65535"), ("80/sctp", "protocol 'sctp'"), ("1:2:3:4", "expected"),
    ("[::1]:80:80", "IPv6"), ("256.0.0.1:80:80", "not an IPv4"), ("81-80:80-81", "ends before"),
    ("8000-8002:80-81", "differ in length"), ("localhost:80:80", "not an IPv4"),
])
def test_bad_publish_specs(spec, why):
    with pytest.raises(NetworkError, match=why) as e:
        ports.parse(spec)
    assert str(e.value).startswith(f"invalid publish spec {spec!r}") and "\n" not in str(e.value)


def test_ipam_pick_skips_reserved_addresses():
    net = ipaddress.ip_network("10.0.0.0/29")  # .0 network, .7 broadcast, .1 gateway
    used: set[str] = set()
    for _ in range(5):
        used.add(ipam.pick(net, "10.0.0.1", used))
    assert used == {f"10.0.0.{i}" for i in range(2, 7)}
    with pytest.raises(NetworkError, match="no free IP address"):
        ipam.pick(net, "10.0.0.1", used)
    assert ipam.pick(net, "10.0.0.6", set()) == "10.0.0.1"  # a custom gateway frees .1


@pytest.mark.parametrize("text, why", [("10.0.0.0/31", "no room"), ("fd00::/64", "IPv4 only"),
                                       ("10.0.0.1/24", "host bits"), ("ten/8", "invalid subnet")])
def test_bad_subnets(text, why):
    with pytest.raises(NetworkError, match=why):
        ipam.subnet(text)


def test_store_networks(tmp_path):
    with NetworkStore(str(tmp_path)) as s:
        assert s.get("bridge").subnet == "10.88.0.0/16"  # the default network, made on first use
        a = s.create("one")
        b = s.create("two", avoid=("10.89.1.0/24",))  # a host route: skipped when picking
        assert (a.subnet, b.subnet) == ("10.89.0.0/24", "10.89.2.0/24")
        assert s.get(a.id[:6]).name == "one"
        with pytest.raises(AlreadyExists):
            s.create("one")
        with pytest.raises(NetworkError, match="overlaps with network 'bridge'"):
            s.create("three", subnet="10.88.5.0/24")
        for bad in ("", "-x", "a b", "x" * 65):
            with pytest.raises(NetworkError, match="invalid network name"):
                s.create(bad)
        with pytest.raises(NetworkError, match="--gateway needs --subnet"):
            s.create("four", gateway="10.1.0.1")
        with pytest.raises(NetworkError, match="not a usable address"):
            s.create("four", subnet="10.1.0.0/24", gateway="10.1.1.1")
        with pytest.raises(NotFound, match="network nope not found"):
            s.get("nope")


def test_store_default_subnet_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKYARD_DEFAULT_SUBNET", "172.30.0.0/16")
    with NetworkStore(str(tmp_path)) as s:
        assert (s.get("bridge").subnet, s.get("bridge").gateway) == ("172.30.0.0/16", "172.30.0.1")


def test_port_reservations(tmp_path):
    free = lambda proto, ip, port: port != 9001
    with NetworkStore(str(tmp_path)) as s:
        net = s.get("bridge")
        s.allocate(net, "a", "v", "/x", [])
        got = s.reserve_ports("a", net.id, ports.parse("127.0.0.1:9000:80") + ports.parse("9000-9002:81"), free)
        assert [p["host_port"] for p in got] == [9000, 9002]  # 9000 taken on 127.0.0.1, 9001 by the host
        with pytest.raises(PortInUse, match="already published"):
            s.reserve_ports("b", net.id, ports.parse("9000:80"), free)  # all addresses clash with 127.0.0.1
        assert s.reserve_ports("b", net.id, ports.parse("10.0.0.1:9000:80"), free)[0]["host_port"] == 9000
        with pytest.raises(PortInUse, match="in use on the host"):
            s.reserve_ports("c", net.id, ports.parse("9001:80"), free)
        rnd = s.reserve_ports("c", net.id, ports.parse("80/udp"), free)[0]["host_port"]
        assert 1024 < rnd <= 65535
        s.release("a", net.id)
        assert {p["container"] for p in s.ports()} == {"b", "c"}


def test_network_path_imports_no_pyroute2():
    """Not even the network path imports pyroute2 (~140 ms): rtnetlink.py is ours, and
    validating -p specs or reading the store does not import the netlink code at all."""
    import subprocess
    import sys

    code = ("import sys, dockyard.network, dockyard.network.ports, dockyard.network.store, dockyard.network.ipam; "
            "light = 'dockyard.network.rtnetlink' not in sys.modules; "
            "import dockyard.network.service; print(light, 'pyroute2' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split() == ["True", "False"]
