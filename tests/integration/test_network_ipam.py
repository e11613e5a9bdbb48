"""IPAM under concurrency: 30 processes allocate on one network at once and get 30 distinct
addresses (none of them reserved); --ip honoured or refused; release on removal."""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest

from dockyard.network.errors import AddressInUse, NetworkError
from dockyard.network.store import NetworkStore

ALLOCATE = """
import sys
from dockyard.network.store import NetworkStore
with NetworkStore(sys.argv[1]) as s:
    net = s.get("dyt-many")
    print(s.allocate(net, sys.argv[2], "dyv" + sys.argv[2][:11], "/proc/1/ns/net", [sys.argv[2]]).ip)
"""


def test_thirty_concurrent_allocations_are_distinct(tmp_path):
    root = str(tmp_path)
    with NetworkStore(root) as s:
        net = s.create("dyt-many", subnet="10.92.0.0/26")
    procs = [subprocess.Popen([sys.executable, "-c", ALLOCATE, root, f"{i:064x}"], stdout=subprocess.PIPE, text=True)
             for i in range(30)]
    ips = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs), ips
    assert len(set(ips)) == 30
    sub = ipaddress.ip_network(net.subnet)
    assert all(ipaddress.ip_address(ip) in sub for ip in ips)
    assert not {net.gateway, "10.92.0.0", "10.92.0.63"} & set(ips)
    with NetworkStore(root) as s:
        assert sorted(e.ip for e in s.endpoints(net.id)) == sorted(ips)
        for i in range(30):
            s.release(f"{i:064x}", net.id)
        assert s.endpoints(net.id) == []


def test_requested_ip_honoured_or_refused(tmp_path):
    with NetworkStore(str(tmp_path)) as s:
        net = s.create("dyt-ip", subnet="10.93.0.0/24")
        assert s.allocate(net, "a", "v1", "/x", [], ip="10.93.0.77").ip == "10.93.0.77"
        with pytest.raises(AddressInUse, match="10.93.0.77 is already in use"):
            s.allocate(net, "b", "v2", "/x", [], ip="10.93.0.77")
        with pytest.raises(AddressInUse):
            s.allocate(net, "b", "v2", "/x", [], ip="10.93.0.1")  # the gateway
        with pytest.raises(NetworkError, match="not in the network's subnet"):
            s.allocate(net, "b", "v2", "/x", [], ip="10.94.0.5")
        assert s.allocate(net, "b", "v2", "/x", []).ip == "10.93.0.2"
        s.release("a", net.id)
        assert s.allocate(net, "c", "v3", "/x", [], ip="10.93.0.77").ip == "10.93.0.77"  # released, reusable
