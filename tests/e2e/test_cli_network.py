"""Networking through the `dockyard` CLI (issue 6): user networks with names, the host
reached from a container, -p (tcp and udp, host IP and 127.0.0.1), 30 concurrent `run -d`,
the network modes, `update` on a running container, `stats` NET I/O, bad input in one line.

Private storage and run roots for the module; every test removes what it made, and the
module ends by checking that nothing of ours is left in the kernel or the store (no veth,
bridge, nft rule, dnsmasq, endpoint or port row) beyond what was there before it began."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from network_fixtures import free_port, host_ip, leaks
from support import need, need_binary

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")
pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    need(os.geteuid() == 0, "needs root")
    for b in ("nft", "ip", "dnsmasq", "conmon", "curl"):
        need_binary(b)
    root = tmp_path_factory.mktemp("dynet")
    e = {**os.environ, "DOCKYARD_ROOT": str(root / "lib"), "DOCKYARD_RUN_ROOT": str(root / "run"),
         "DOCKYARD_SECCOMP_CACHE": str(root / "seccomp-cache")}
    before = _ours(e)
    bridge_before = os.path.exists("/sys/class/net/dockyard0")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forward = f.read().strip()
    p = subprocess.run([DOCKYARD, "bootstrap", "busybox"], env=e, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    yield e
    left = dy(e, "ps", "-a", "-q").stdout.split()
    for cid in left:
        dy(e, "rm", "-f", cid)
    nets = [n for n in dy(e, "network", "ls", "--format", "{{.Name}}").stdout.split() if n != "bridge"]
    for n in nets:
        dy(e, "network", "rm", n)
    # the default bridge stays up between runs, as docker0 does; the module takes it down
    # if it made it (another root's containers may be using it otherwise)
    down = subprocess.run([sys.executable, "-c", "from dockyard.network import service; service.down_default()"],
                          env=e, capture_output=True, text=True) if not bridge_before else None
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write(forward)
    found = sorted(_ours(e) - before)
    with open("/proc/self/mountinfo") as f:
        assert str(root) not in f.read()
    assert down is None or down.returncode == 0, down.stderr
    assert not left and not nets, f"left by the tests (now removed): containers {left}, networks {nets}"
    assert not found, "left behind:\n" + "\n".join(found)


def _ours(env) -> set[str]:
    """What of ours is in the kernel and the store (network_fixtures.leaks), one item per
    nft rule, so that a table that was there before (another root's) compares line by line."""
    out = set()
    for item in leaks(env["DOCKYARD_RUN_ROOT"], env["DOCKYARD_ROOT"]):
        if item.startswith("nft table"):
            out |= {"nft rule " + line.strip() for line in item.splitlines() if "comment" in line}
            out.add("nft table ip dockyard")
        else:
            out.add(item)
    return out


def dy(env, *args, timeout=60):
    return subprocess.run([DOCKYARD, *args], env=env, capture_output=True, text=True, timeout=timeout)


def ok(env, *args, timeout=60) -> str:
    p = dy(env, *args, timeout=timeout)
    assert p.returncode == 0, f"dockyard {' '.join(args)} -> {p.returncode}: {p.stderr}"
    return p.stdout


def one_line_error(p, *words) -> None:
    assert p.returncode != 0, p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dockyard: "), p.stderr
    for w in words:
        assert w in lines[0], p.stderr


def settings(env, ref: str) -> dict:
    return json.loads(ok(env, "inspect", ref))[0]["NetworkSettings"]


def endpoints(env) -> list:
    import sqlite3

    db = os.path.join(env["DOCKYARD_ROOT"], "network", "network.db")
    if not os.path.exists(db):
        return []
    c = sqlite3.connect(db)
    try:
        return c.execute("SELECT container, ip FROM endpoints").fetchall() + \
            c.execute("SELECT container, host_port FROM ports").fetchall()
    finally:
        c.close()


def wait_for(check, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > end:
            return got
        time.sleep(0.1)


def test_user_network_names_ping_and_tcp(env):
    ok(env, "network", "create", "--subnet", "10.97.10.0/24", "--label", "t=1", "appnet")
    try:
        ok(env, "run", "-d", "--name", "srv", "--network", "appnet", "--network-alias", "db", "--hostname", "srvhost",
           "busybox", "sh", "-c", "while true; do echo hello-tcp | nc -l -p 7000; done")
        out = ok(env, "run", "--rm", "--network", "appnet", "busybox", "sh", "-c",
                 "cat /etc/resolv.conf; for n in srv db srvhost; do ping -c1 -W2 $n >/dev/null && echo ping-$n; done;"
                 " nc -w 3 srv 7000")
        assert "nameserver 10.97.10.1" in out
        assert "ping-srv" in out and "ping-db" in out and "ping-srvhost" in out
        assert "hello-tcp" in out
        assert settings(env, "srv")["Networks"]["appnet"]["IPAddress"].startswith("10.97.10.")
        ls = ok(env, "network", "ls", "--format", "{{.Name}} {{.Subnet}}")
        assert "appnet 10.97.10.0/24" in ls
        assert json.loads(ok(env, "network", "inspect", "appnet"))[0]["Labels"] == {"t": "1"}
        one_line_error(dy(env, "network", "rm", "appnet"), "appnet")  # in use
    finally:
        dy(env, "rm", "-f", "srv")
    assert ok(env, "network", "rm", "appnet").strip() == "appnet"
    assert endpoints(env) == []


def test_container_reaches_a_server_on_the_host(env):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"from-the-host\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            return

    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = ok(env, "run", "--rm", "busybox", "wget", "-q", "-O", "-", f"http://{host_ip()}:{server.server_port}/")
        assert out == "from-the-host\n"
    finally:
        server.shutdown()
        server.server_close()


def test_publish_http_on_host_ip_and_localhost(env, tmp_path):
    (tmp_path / "index.html").write_text("served-from-container\n")
    os.chmod(tmp_path, 0o755)
    port = free_port()
    ok(env, "run", "-d", "--name", "web", "-p", f"{port}:80", "-v", f"{tmp_path}:/www:ro", "busybox",
       "httpd", "-f", "-p", "80", "-h", "/www")
    try:
        for addr in (host_ip(), "127.0.0.1"):
            got = wait_for(lambda a=addr: subprocess.run(["curl", "-s", "-m", "3", f"http://{a}:{port}/"],
                                                         capture_output=True, text=True).stdout)
            assert got == "served-from-container\n", addr
        assert settings(env, "web")["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
    finally:
        ok(env, "rm", "-f", "web")
    p = subprocess.run(["curl", "-s", "-m", "2", f"http://127.0.0.1:{port}/"], capture_output=True, text=True)
    assert p.returncode != 0  # the rule went with the container
    assert "dport" not in subprocess.run(["nft", "list", "chain", "ip", "dockyard", "published"],
                                         capture_output=True, text=True).stdout


def test_publish_udp(env):
    # busybox's nc has no UDP: the echo server is the host's Python, run in the container's
    # network namespace (nsenter), which is what -p/udp maps to
    need_binary("nsenter")
    port = free_port(socket.SOCK_DGRAM)
    ok(env, "run", "-d", "--name", "udp", "-p", f"{port}:5353/udp", "busybox", "sleep", "60")
    pid = json.loads(ok(env, "inspect", "udp"))[0]["State"]["Pid"]
    echo = ("import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5353))\n"
            "while True:\n d,a=s.recvfrom(100); s.sendto(b'echo:'+d, a)")
    server = subprocess.Popen(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", echo])
    try:
        for addr in (host_ip(), "127.0.0.1"):
            def echoed(a=addr):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(0.5)
                    s.sendto(b"ping", (a, port))
                    try:
                        return s.recvfrom(100)[0] == b"echo:ping"
                    except OSError:
                        return False
            assert wait_for(echoed), addr
    finally:
        server.kill()
        server.wait()
        ok(env, "rm", "-f", "udp")


def test_thirty_concurrent_runs_get_distinct_addresses(env):
    names = [f"many{i}" for i in range(30)]
    with ThreadPoolExecutor(30) as pool:
        results = list(pool.map(lambda n: dy(env, "run", "-d", "--name", n, "busybox", "sleep", "120", timeout=120), names))
    try:
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
        ips = [settings(env, n)["IPAddress"] for n in names]
        assert len(set(ips)) == 30 and all(ip.startswith("10.88.") for ip in ips), ips
        # and each one has that address on its eth0, inside
        assert ips[7] in ok(env, "exec", "many7", "ip", "-4", "addr", "show", "eth0")
    finally:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: dy(env, "rm", "-f", n, timeout=120), names))
    assert endpoints(env) == []


def test_network_modes_none_host_and_container(env):
    out = ok(env, "run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]
    assert ",UP," in out  # lo up, as Docker's none: 127.0.0.1 works
    cid = ok(env, "run", "-d", "--network", "none", "busybox", "sleep", "30").strip()
    try:
        assert ",UP," in ok(env, "exec", cid, "ip", "-o", "link", "show", "lo")
    finally:
        ok(env, "rm", "-f", cid)
    host_links = sorted(os.listdir("/sys/class/net"))
    out = ok(env, "run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
    assert sorted(out.split()) == host_links
    assert ok(env, "run", "--rm", "--network", "host", "busybox", "hostname").strip() == os.uname().nodename
    ok(env, "run", "-d", "--name", "owner", "busybox", "sleep", "60")
    try:
        ip = settings(env, "owner")["IPAddress"]
        out = ok(env, "run", "--rm", "--network", "container:owner", "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
        assert f"inet {ip}/" in out
        one_line_error(dy(env, "run", "--rm", "--network", "container:nosuch", "busybox", "true"), "nosuch")
    finally:
        ok(env, "rm", "-f", "owner")


def test_dns_and_add_host_files(env):
    out = ok(env, "run", "--rm", "--dns", "192.0.2.53", "--dns-search", "example.test", "--dns-option", "ndots:2",
             "--add-host", "db.local:192.0.2.7", "--hostname", "h1", "busybox", "sh", "-c",
             "cat /etc/resolv.conf /etc/hosts")
    assert "nameserver 192.0.2.53" in out and "search example.test" in out and "options ndots:2" in out
    assert "192.0.2.7\tdb.local" in out
    assert any(line.endswith("\th1") and line.startswith("10.88.") for line in out.splitlines())


def test_restart_and_start_attach_again(env):
    ok(env, "network", "create", "rnet")
    try:
        ok(env, "run", "-d", "--name", "again", "--network", "rnet", "busybox", "sleep", "60")
        first = settings(env, "again")["IPAddress"]
        ok(env, "stop", "-t", "0", "again")
        # stopped: nothing held (address, DNS name, veth), as Docker gives them back
        assert wait_for(lambda: endpoints(env) == [])
        ok(env, "start", "again")
        second = settings(env, "again")["IPAddress"]
        assert second.startswith(first.rsplit(".", 1)[0] + ".")
        assert second in ok(env, "exec", "again", "ip", "-4", "addr", "show", "eth0")
        ok(env, "restart", "-t", "0", "again")
        assert settings(env, "again")["IPAddress"] in ok(env, "exec", "again", "ip", "-4", "addr", "show", "eth0")
    finally:
        dy(env, "rm", "-f", "again")
        ok(env, "network", "rm", "rnet")
    assert endpoints(env) == []


def test_crash_recovery_releases_the_endpoint(env):
    ok(env, "run", "-d", "--name", "crash", "busybox", "sleep", "60")
    d = os.path.join(env["DOCKYARD_ROOT"], "containers", json.loads(ok(env, "inspect", "crash"))[0]["Id"])
    with open(os.path.join(d, "conmon.pid")) as f:
        conmon = int(f.read())
    with open(os.path.join(d, "pid")) as f:
        init = int(f.read())
    os.kill(conmon, 9)  # no monitor left to run the exit command: only refresh can notice
    os.kill(init, 9)
    assert wait_for(lambda: not os.path.exists(f"/proc/{init}"))
    assert endpoints(env)
    ok(env, "ps", "-a")  # refresh: the container is seen gone, its endpoint released
    assert endpoints(env) == []
    ok(env, "rm", "crash")


def test_connect_and_disconnect(env):
    ok(env, "network", "create", "second")
    try:
        ok(env, "run", "-d", "--name", "multi", "busybox", "sleep", "60")
        ok(env, "network", "connect", "--alias", "m2", "second", "multi")
        assert "eth1" in ok(env, "exec", "multi", "ip", "-o", "link")
        assert set(settings(env, "multi")["Networks"]) == {"bridge", "second"}
        ok(env, "network", "disconnect", "second", "multi")
        assert "eth1" not in ok(env, "exec", "multi", "ip", "-o", "link")
        one_line_error(dy(env, "network", "connect", "nosuchnet", "multi"), "nosuchnet")
    finally:
        dy(env, "rm", "-f", "multi")
        ok(env, "network", "rm", "second")


def test_update_memory_then_oom_kill(env):
    ok(env, "run", "-d", "--name", "mem", "--memory", "128m", "busybox", "sleep", "60")
    try:
        # 40 MB fits under 128m
        assert dy(env, "exec", "mem", "sh", "-c", "head -c 40000000 /dev/zero | tail > /dev/null").returncode == 0
        ok(env, "update", "--memory", "16m", "--pids-limit", "64", "--cpus", "0.5", "mem")
        limit = ok(env, "exec", "mem", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null "
                   "|| cat /sys/fs/cgroup/memory.max")
        assert int(limit) == 16 << 20
        p = dy(env, "exec", "mem", "sh", "-c", "head -c 40000000 /dev/zero | tail > /dev/null")
        assert p.returncode == 137  # the allocation above the new limit is OOM-killed
        cfg = os.path.join(env["DOCKYARD_ROOT"], "containers", json.loads(ok(env, "inspect", "mem"))[0]["Id"],
                           "config.json")
        with open(cfg) as f:
            res = json.load(f)["linux"]["resources"]
        assert res["memory"]["limit"] == 16 << 20 and res["pids"]["limit"] == 64  # kept for a restart
        one_line_error(dy(env, "update", "--memory", "32m", "--memory-swap", "16m", "mem"), "memoryswap")
        one_line_error(dy(env, "update", "--cpus", "lots", "mem"), "--cpus")
    finally:
        ok(env, "rm", "-f", "mem")


def test_stats_net_io_moves_with_traffic(env):
    payload = b"x" * 2_000_000

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *a):
            return

    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ok(env, "run", "-d", "--name", "st", "busybox", "sleep", "60")
    try:
        def rx() -> float:
            text = ok(env, "stats", "--no-stream", "--format", "{{.NetIO}}", "st").strip()
            received = text.split(" / ")[0]
            units = {"kB": 1e3, "MB": 1e6, "GB": 1e9, "B": 1}
            for u, m in units.items():
                if received.endswith(u):
                    return float(received[: -len(u)]) * m
            raise AssertionError(text)
        before = rx()
        ok(env, "exec", "st", "wget", "-q", "-O", "/dev/null", f"http://{host_ip()}:{server.server_port}/")
        after = rx()
        assert after - before >= 1_900_000, (before, after)
    finally:
        ok(env, "rm", "-f", "st")
        server.shutdown()
        server.server_close()


def test_bad_input_one_line_nothing_half_made(env):
    ok(env, "network", "create", "--subnet", "10.97.20.0/24", "first")
    try:
        one_line_error(dy(env, "network", "create", "--subnet", "10.97.20.128/25", "clash"), "overlaps")
        assert "clash" not in ok(env, "network", "ls")
    finally:
        ok(env, "network", "rm", "first")
    for spec in ("notaport", "70000:80", "1.2.3:80:80", "80/icmp"):
        one_line_error(dy(env, "run", "--rm", "-p", spec, "busybox", "true"), "publish")
    one_line_error(dy(env, "run", "--rm", "--network", "nosuchnet", "busybox", "true"), "nosuchnet")
    one_line_error(dy(env, "run", "--rm", "--network", "none", "-p", "80", "busybox", "true"), "publish")
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        one_line_error(dy(env, "run", "--rm", "-p", f"{port}:80", "busybox", "true"), str(port))
        one_line_error(dy(env, "run", "-d", "--name", "busy", "-p", f"{port}:80", "busybox", "sleep", "5"), str(port))
    assert dy(env, "ps", "-a", "-q").stdout.split() == []  # no record of the refused ones
    assert endpoints(env) == []
    assert "dyv" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
