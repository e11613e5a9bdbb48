"""User-defined networks: containers (netns) resolve each other by name and alias through
the network's dnsmasq, ping and connect over TCP by name; the default bridge has no names;
dnsmasq comes and goes with the network's endpoints."""

from __future__ import annotations

import os
import sys

from network_fixtures import ACCEPT_ONCE, CONNECT, _dnsmasqs, in_ns, wait_port

pytest_plugins = ["network_fixtures"]  # netw and the leak checks

A, B = "a1" * 32, "b2" * 32


def _pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))


def test_two_containers_reach_each_other_by_name(netw):
    net = netw.create("dyt-app")
    resolv = netw.service.resolv_conf("dyt-app", root=netw.root)
    assert resolv.splitlines()[0] == f"nameserver {net.gateway}"
    a, b = netw.netns(resolv), netw.netns(resolv)
    ea = netw.attach(A, a, "dyt-app", names=["alpha", "web-alias"])
    eb = netw.attach(B, b, "dyt-app", names=["beta"])
    assert ea["dns"] == net.gateway and ea["ip"] != eb["ip"]
    [dnsmasq] = _dnsmasqs(netw.run_root)
    print(f"dnsmasq PSS {_pss_kib(dnsmasq)} KiB")
    assert _pss_kib(dnsmasq) < 4096

    # names, aliases and the short container id, from the other side
    assert in_ns(a, "getent", "hosts", "beta").stdout.split()[0] == eb["ip"]
    assert in_ns(b, "getent", "hosts", "web-alias").stdout.split()[0] == ea["ip"]
    assert in_ns(b, "getent", "hosts", A[:12]).stdout.split()[0] == ea["ip"]
    assert in_ns(a, "busybox", "ping", "-c", "1", "-W", "3", "beta").returncode == 0

    port = 9099
    netw.serve(b, [sys.executable, "-c", ACCEPT_ONCE, str(port), "from beta to "])
    wait_port(b, port)
    out = in_ns(a, sys.executable, "-c", CONNECT, "beta", str(port)).stdout.strip()
    assert out == f"from beta to {ea['ip']}"  # same bridge: no NAT between containers

    # a container that leaves is no longer resolvable; the last one stops dnsmasq
    netw.detach(B)
    assert in_ns(a, "getent", "hosts", "beta", check=False).returncode != 0
    assert _dnsmasqs(netw.run_root) == [dnsmasq]
    netw.detach(A)
    assert _dnsmasqs(netw.run_root) == []
    assert netw.remove("dyt-app") == "dyt-app"
    assert not os.path.exists(f"/sys/class/net/{net.bridge}")


def test_default_bridge_has_no_name_resolution(netw):
    assert netw.service.resolv_conf("bridge", root=netw.root) is None
    a = netw.netns()
    ep = netw.attach(A, a, names=["alpha"])
    assert ep["dns"] is None and _dnsmasqs(netw.run_root) == []
    netw.detach(A)
    netw.down_default()


def test_network_store_verbs(netw):
    n1 = netw.create("dyt-one", subnet="10.91.0.0/24", gateway="10.91.0.254", labels={"k": "v"})
    n2 = netw.create("dyt-two", internal=True)
    assert (n1.subnet, n1.gateway, n1.labels) == ("10.91.0.0/24", "10.91.0.254", {"k": "v"})
    assert n2.internal and n2.subnet.endswith("/24") and n2.bridge.startswith("dy-") and len(n2.bridge) <= 15
    names = [n.name for n in netw.service.list_networks(root=netw.root)]
    assert names[0] == "bridge" and {"dyt-one", "dyt-two"} <= set(names)
    ns = netw.netns()
    ep = netw.attach(A, ns, "dyt-one")
    assert ep["ip"] == "10.91.0.1" and ep["gateway"] == "10.91.0.254"
    info = netw.service.inspect_network(n1.id[:8], root=netw.root)
    assert info["Name"] == "dyt-one" and info["Containers"][A]["IPv4Address"] == "10.91.0.1/24"
    assert netw.service.prune_networks(root=netw.root, run_root=netw.run_root) == ["dyt-two"]
    netw.detach(A)
    assert netw.service.prune_networks(root=netw.root, run_root=netw.run_root) == ["dyt-one"]
    assert [n.name for n in netw.service.list_networks(root=netw.root)] == ["bridge"]


def test_a_container_on_two_networks(netw):
    """connect/disconnect: a second network is eth1 in the same netns; the default route stays
    the first network's; disconnecting one leaves the other working."""
    netw.create("dyt-front", subnet="10.98.0.0/24")
    netw.create("dyt-back", subnet="10.99.0.0/24")
    a, b = netw.netns(), netw.netns()
    assert netw.attach(A, a, "dyt-front", names=["alpha"])["ifname"] == "eth0"
    assert netw.attach(A, a, "dyt-back", names=["alpha"])["ifname"] == "eth1"
    netw.attach(B, b, "dyt-back", names=["beta"])
    assert "default via 10.98.0.1 dev eth0" in in_ns(a, "ip", "route").stdout
    assert in_ns(a, "busybox", "ping", "-c", "1", "-W", "3", "10.99.0.3").returncode == 0
    assert netw.detach(A, "dyt-front") == ["dyt-front"]
    assert "eth0" not in in_ns(a, "ip", "link").stdout
    assert in_ns(b, "busybox", "ping", "-c", "1", "-W", "3", "10.99.0.2").returncode == 0
    assert sorted(netw.detach(A) + netw.detach(B)) == ["dyt-back", "dyt-back"]
    netw.remove("dyt-front")
    netw.remove("dyt-back")
