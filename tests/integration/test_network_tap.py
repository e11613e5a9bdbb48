"""A VM's endpoint (service.attach_tap, issue 7) at the library level, no QEMU: the tap on
the network's bridge with the address from the same IPAM, its -p rule and DNS name; the tap
lives as long as its fd; detach, recover() after the fd is gone, and a refused attach each
leave nothing (the netw fixture's leak check runs after every test)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from network_fixtures import free_port, sh

pytest_plugins = ["network_fixtures"]


def _link(name: str) -> dict | None:
    p = subprocess.run(["ip", "-d", "-j", "link", "show", name], capture_output=True, text=True, check=False)
    return json.loads(p.stdout)[0] if p.returncode == 0 else None


def test_tap_endpoint_rules_names_and_fd_lifetime(netw):
    from dockyard.network import netlink

    netw.create("vmnet", subnet="10.98.7.0/24")
    port = free_port()
    cid = "f" * 64
    ep = netw.service.attach_tap(cid, "vmnet", names=["vm1", "vmalias"], publish=[f"{port}:80"],
                                 root=netw.root, run_root=netw.run_root)
    try:
        assert ep["ip"] == "10.98.7.2" and ep["prefixlen"] == 24 and ep["gateway"] == "10.98.7.1"
        assert ep["mac"] == "02:42:0a:62:07:02" and ep["mtu"] == netlink.default_route_mtu()
        link = _link(ep["tap"])
        info = link["linkinfo"]
        assert info["info_kind"] == "tun" and info["info_data"]["type"] == "tap"
        assert info["info_data"]["vnet_hdr"] and not info["info_data"]["persist"] and not info["info_data"]["pi"]
        assert link["master"] == ep["bridge"] and "UP" in link["flags"] and link["mtu"] == ep["mtu"]
        rules = sh("nft", "list", "table", "ip", "dockyard").stdout
        assert "dnat to 10.98.7.2:80" in rules and f"dport {port}" in rules
        from dockyard.network import dns

        with open(os.path.join(dns._dir(netw.run_root, ep["network_id"]), "hosts")) as f:
            assert f.read().startswith("10.98.7.2 vm1 vmalias ffffffffffff\n")  # what dnsmasq answers
        assert netw.service.endpoints(cid, root=netw.root)[0]["ip"] == "10.98.7.2"
        # a second VM gets the next address from the same IPAM
        ep2 = netw.service.attach_tap("e" * 64, "vmnet", root=netw.root, run_root=netw.run_root)
        assert ep2["ip"] == "10.98.7.3"
        os.close(ep2["fd"])
        assert _link(ep2["tap"]) is None  # the kernel removed it with its last fd (QEMU's, in a VM)
        assert netw.service.recover(root=netw.root, run_root=netw.run_root) == ["e" * 64]
        assert [e["ip"] for e in netw.service.endpoints("e" * 64, root=netw.root)] == []
    finally:
        netw.service.detach(cid, root=netw.root, run_root=netw.run_root)  # fd still open: detach deletes the tap
        os.close(ep["fd"])
    assert _link(ep["tap"]) is None and "dnat to 10.98.7.2" not in sh("nft", "list", "ruleset").stdout
    netw.remove("vmnet")


def test_refused_tap_attach_leaves_nothing(netw):
    netw.create("vmnet2", subnet="10.98.8.0/24")
    port = free_port()
    ep = netw.service.attach_tap("a" * 64, "vmnet2", publish=[f"{port}:80"], root=netw.root, run_root=netw.run_root)
    try:
        with pytest.raises(Exception, match=str(port)):  # the port is held by the first VM
            netw.service.attach_tap("b" * 64, "vmnet2", publish=[f"{port}:80"], root=netw.root,
                                    run_root=netw.run_root)
        taps = [n for n in os.listdir("/sys/class/net") if n.startswith("dyt")]
        assert taps == [ep["tap"]]
        assert netw.service.endpoints("b" * 64, root=netw.root) == []
    finally:
        os.close(ep["fd"])
        netw.service.detach("a" * 64, root=netw.root, run_root=netw.run_root)
    netw.remove("vmnet2")
