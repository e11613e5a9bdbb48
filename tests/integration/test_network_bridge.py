"""The default bridge with real network namespaces standing in for containers: addresses and
routes inside, outbound NAT, a server on the host, published TCP and UDP ports reached from
the host through its own address and through 127.0.0.1, removal and crash recovery."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from network_fixtures import (
    ACCEPT_ONCE,
    CONNECT,
    free_port,
    host_ip,
    in_ns,
    sh,
    wait_port,
)

pytest_plugins = ["network_fixtures"]  # netw and the leak checks

CID = "c0ffee" * 10 + "0000"


def test_endpoint_inside_the_netns(netw):
    ns = netw.netns()
    ep = netw.attach(CID, ns)
    try:
        assert ep["network"] == "bridge" and ep["bridge"] == "dockyard0"
        assert ep["ip"] == "10.88.0.2" and ep["gateway"] == "10.88.0.1" and ep["dns"] is None
        addr = in_ns(ns, "ip", "-o", "-4", "addr", "show", "eth0").stdout
        assert "10.88.0.2/16" in addr
        assert "default via 10.88.0.1 dev eth0" in in_ns(ns, "ip", "route").stdout
        assert "state UP" in in_ns(ns, "ip", "link", "show", "eth0").stdout
        assert "UP" in in_ns(ns, "ip", "link", "show", "lo").stdout
        with open("/sys/class/net/eth0/mtu") if os.path.exists("/sys/class/net/eth0/mtu") else open(os.devnull) as f:
            host_mtu = f.read().strip()
        if host_mtu:  # the host's default route leaves through eth0 here
            assert f"mtu {host_mtu}" in in_ns(ns, "ip", "link", "show", "eth0").stdout
        with open("/proc/sys/net/ipv4/conf/dockyard0/route_localnet") as f:
            assert f.read().strip() == "1"
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            assert f.read().strip() == "1"
        assert ep["veth"] in sh("ip", "link", "show", "master", "dockyard0").stdout
    finally:
        assert netw.detach(CID) == ["bridge"]
    assert "eth0" not in in_ns(ns, "ip", "link").stdout  # the veth pair is gone, both ends
    assert "dockyard ctr" not in sh("nft", "list", "table", "ip", "dockyard").stdout
    assert netw.down_default()


def test_netns_reaches_a_server_on_the_host(netw):
    ns = netw.netns()
    netw.attach(CID, ns)
    port = free_port()
    with socket.socket() as srv:
        srv.bind(("0.0.0.0", port))
        srv.listen()
        for target in (host_ip(), "10.88.0.1"):
            client = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", CONNECT, target, str(port)],
                                      stdout=subprocess.PIPE, text=True)
            srv.settimeout(5)
            conn, peer = srv.accept()
            with conn:
                assert conn.recv(10) == b"hi"
                conn.sendall(b"back")
            assert client.communicate(timeout=10)[0].strip() == "back"
            assert peer[0] == "10.88.0.2"  # host-local traffic is not masqueraded
    netw.detach(CID)
    netw.down_default()


def test_outbound_traffic_is_masqueraded(netw):
    """An 'outside' netns routed from the host (not through the bridge) sees the host's
    address, not the container's."""
    ns, outside = netw.netns(), netw.netns()
    sh("ip", "link", "add", "dytout0", "type", "veth", "peer", "name", "eth9", "netns", outside)
    try:
        sh("ip", "addr", "add", "198.51.100.1/30", "dev", "dytout0")
        sh("ip", "link", "set", "dytout0", "up")
        in_ns(outside, "ip", "addr", "add", "198.51.100.2/30", "dev", "eth9")
        in_ns(outside, "ip", "link", "set", "eth9", "up")
        netw.attach(CID, ns)
        port = free_port()
        server = netw.serve(outside, [sys.executable, "-c", ACCEPT_ONCE, str(port), ""])
        wait_port(outside, port)
        out = in_ns(ns, sys.executable, "-c", CONNECT, "198.51.100.2", str(port)).stdout.strip()
        assert out == "198.51.100.1"
        server.wait(timeout=5)
    finally:
        sh("ip", "link", "del", "dytout0", check=False)
    netw.detach(CID)
    netw.down_default()


def test_published_http_reached_through_host_ip_and_localhost(netw, tmp_path):
    ns = netw.netns()
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from the container\n")
    ep = netw.attach(CID, ns, publish=["80", f"{free_port()}:8000"])
    random_port = next(p["host_port"] for p in ep["ports"] if p["container_port"] == 80)
    fixed_port = next(p["host_port"] for p in ep["ports"] if p["container_port"] == 8000)
    assert random_port > 1024
    for cport in (80, 8000):
        netw.serve(ns, [sys.executable, "-m", "http.server", str(cport), "--bind", "0.0.0.0",
                        "--directory", str(tmp_path / "www")])
        wait_port(ns, cport)
    for hport in (random_port, fixed_port):
        for addr in (host_ip(), "127.0.0.1"):
            out = sh("curl", "-sS", "--max-time", "5", f"http://{addr}:{hport}/index.html").stdout
            assert out == "hello from the container\n", (addr, hport)
    netw.detach(CID)
    assert "dnat to" not in sh("nft", "list", "table", "ip", "dockyard").stdout
    assert sh("curl", "-sS", "--max-time", "2", f"http://127.0.0.1:{fixed_port}/", check=False).returncode != 0
    netw.down_default()


def test_publish_on_one_host_address_only(netw, tmp_path):
    ns = netw.netns()
    port = free_port()
    netw.attach(CID, ns, publish=[f"127.0.0.1:{port}:80"])
    netw.serve(ns, [sys.executable, "-m", "http.server", "80", "--directory", str(tmp_path)])
    wait_port(ns, 80)
    assert sh("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
              f"http://127.0.0.1:{port}/").stdout == "200"
    assert sh("curl", "-sS", "--max-time", "2", f"http://{host_ip()}:{port}/", check=False).returncode != 0
    netw.detach(CID)
    netw.down_default()


def test_udp_publishing(netw):
    ns = netw.netns()
    port = free_port(socket.SOCK_DGRAM)
    netw.attach(CID, ns, publish=[f"{port}:5353/udp"])
    echo = ("import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5353))\n"
            "while True:\n d,a=s.recvfrom(100); s.sendto(b'echo:'+d, a)")
    netw.serve(ns, [sys.executable, "-c", echo])
    wait_port(ns, 5353, "udp")
    for addr in (host_ip(), "127.0.0.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(b"ping", (addr, port))
            assert s.recvfrom(100)[0] == b"echo:ping", addr
    netw.detach(CID)
    netw.down_default()


def test_recover_cleans_endpoints_of_dead_containers(netw):
    a, b, c = netw.netns(), netw.netns(), netw.netns()
    ids = [f"{i}" * 64 for i in "abc"]
    for cid, ns in zip(ids, (a, b, c)):
        netw.attach(cid, ns, publish=[str(free_port()) + ":80"])
    netw.drop_netns(a)  # container a crashed: its netns (and veth) went with it
    cleaned = netw.service.recover(alive=lambda cid: cid != ids[1], root=netw.root, run_root=netw.run_root)
    assert cleaned == sorted(ids[:2])
    rules = sh("nft", "list", "table", "ip", "dockyard").stdout
    assert ids[0] not in rules and ids[1] not in rules and ids[2] in rules
    assert netw.service.endpoints(ids[2], root=netw.root)[0]["ip"] == "10.88.0.4"
    assert netw.service.endpoints(ids[1], root=netw.root) == []
    # a rule and a veth that no record names (a crash between steps) are found too
    from dockyard.network import nft

    with nft.lock(netw.run_root):
        nft.publish("d" * 64, netw.service.list_networks(root=netw.root)[0].id, "10.88.0.9",
                    [{"proto": "tcp", "host_ip": "", "host_port": 1, "container_port": 1}])
    sh("ip", "link", "add", "dyvstray", "master", "dockyard0", "type", "veth", "peer", "name", "dyvstray-p")
    assert netw.service.recover(root=netw.root, run_root=netw.run_root) == ["d" * 64]
    assert not os.path.exists("/sys/class/net/dyvstray")
    assert "d" * 64 not in sh("nft", "list", "table", "ip", "dockyard").stdout
    netw.detach(ids[2])
    netw.down_default()
