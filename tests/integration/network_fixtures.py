"""Fixtures for the network tests: private stores, network namespaces standing in for
containers (`ip netns add`), and a leak check after every test and at session end.

A leak is anything of ours left in the kernel or the store: a `dyv*` veth, a `dyt*` tap (a
VM's, tests/e2e/test_cli_vm_network.py), a `dy-*` or
`dockyard0` bridge, a rule in `table ip dockyard`, a `dyt-*` netns, a dnsmasq serving one of
our run roots, an endpoint or published-port row. The check runs *before* the fixture cleans
up by force (so one failed test does not fail every later one) and fails the test if it found
anything.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest
from support import need, need_binary

NETNS_PREFIX = "dyt-"


def sh(*argv: str, check: bool = True, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def in_ns(ns: str, *argv: str, **kw) -> subprocess.CompletedProcess:
    return sh("ip", "netns", "exec", ns, *argv, **kw)


def host_ip() -> str:
    """The host's own address on its default route (not loopback)."""
    out = sh("ip", "-4", "route", "get", "192.0.2.254").stdout.split()
    addr = out[out.index("src") + 1] if "src" in out else None
    if addr is None or addr.startswith("192.0.2.254"):
        out = sh("ip", "-4", "-o", "addr", "show", "scope", "global").stdout.split()
        addr = out[3].split("/")[0]
    return addr


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def leaks(run_root: str, root: str) -> list[str]:
    found = []
    links = sh("ip", "-o", "link", "show").stdout
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(("dyv", "dyt", "dy-")) or name == "dockyard0":  # dyt: a VM's tap
            found.append(f"link {name}")
    if sh("nft", "list", "table", "ip", "dockyard", check=False).returncode == 0:
        found.append("nft table ip dockyard:\n" + sh("nft", "list", "table", "ip", "dockyard").stdout)
    found += [f"netns {n}" for n in _our_netns()]
    found += [f"dnsmasq pid {pid}" for pid in _dnsmasqs(run_root)]
    db = os.path.join(root, "network", "network.db")
    if os.path.exists(db):
        import sqlite3

        c = sqlite3.connect(db)
        found += [f"endpoint {r}" for r in c.execute("SELECT container, ip FROM endpoints")]
        found += [f"port {r}" for r in c.execute("SELECT proto, host_port FROM ports")]
        c.close()
    if os.path.isdir("/etc/netns"):
        found += [f"/etc/netns entry {n}" for n in os.listdir("/etc/netns") if n.startswith(NETNS_PREFIX)]
    return found


def _our_netns() -> list[str]:
    return [n for n in (sh("ip", "netns", "list").stdout.split()) if n.startswith(NETNS_PREFIX)]


def _dnsmasqs(run_root: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"dnsmasq") and any(run_root.encode() in a for a in argv):
            out.append(int(pid))
    return out


def _force_clean(run_root: str, root: str) -> None:
    from dockyard.network import service as net
    from dockyard.network.store import NetworkStore

    with NetworkStore(root) as store:
        for ep in store.endpoints():
            net.detach(ep.container, root=root, run_root=run_root)
        names = [n.name for n in store.list()]
    for n in names:
        if n != "bridge":
            net.remove_network(n, root=root, run_root=run_root)
    net.down_default(root=root, run_root=run_root)
    for pid in _dnsmasqs(run_root):
        os.kill(pid, 9)
    for ns in _our_netns():
        sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
    sh("nft", "delete", "table", "ip", "dockyard", check=False)


@pytest.fixture(scope="session", autouse=True)
def _restore_ip_forward():
    """The library turns ip_forward on (NAT needs it); the test session puts it back."""
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        before = f.read().strip()
    yield
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write(before)


class Net:
    """One test's view: private roots, netns factory, the library bound to the roots."""

    def __init__(self, tmp: str) -> None:
        from dockyard.network import service

        self.root, self.run_root = os.path.join(tmp, "root"), os.path.join(tmp, "run")
        self.service = service
        self.namespaces: list[str] = []
        self.servers: list[subprocess.Popen] = []

    def netns(self, resolv: str | None = None) -> str:
        """A fresh netns (a stand-in container). ``resolv``: its /etc/resolv.conf under
        `ip netns exec` (via /etc/netns/NAME/resolv.conf, which ip bind-mounts)."""
        name = NETNS_PREFIX + uuid.uuid4().hex[:8]
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        if resolv is not None:
            os.makedirs(f"/etc/netns/{name}", exist_ok=True)
            with open(f"/etc/netns/{name}/resolv.conf", "w") as f:
                f.write(resolv)
        return name

    def drop_netns(self, name: str) -> None:
        sh("ip", "netns", "del", name)
        shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)
        if os.path.isdir("/etc/netns") and not os.listdir("/etc/netns"):
            os.rmdir("/etc/netns")  # made for this test's resolv.conf; kept if others use it
        self.namespaces.remove(name)

    def attach(self, cid: str, ns: str, network: str = "bridge", **kw) -> dict:
        return self.service.attach(cid, f"/run/netns/{ns}", network, root=self.root, run_root=self.run_root, **kw)

    def detach(self, cid: str, network: str | None = None) -> list[str]:
        return self.service.detach(cid, network, root=self.root, run_root=self.run_root)

    def create(self, name: str, **kw):
        return self.service.create_network(name, root=self.root, **kw)

    def remove(self, name: str) -> str:
        return self.service.remove_network(name, root=self.root, run_root=self.run_root)

    def down_default(self) -> bool:
        return self.service.down_default(root=self.root, run_root=self.run_root)

    def serve(self, ns: str, argv: list[str]) -> subprocess.Popen:
        p = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        self.servers.append(p)
        return p


@pytest.fixture
def netw(tmp_path, need_root):
    need_binary("nft")
    need_binary("ip")
    need_binary("dnsmasq")
    need(not os.path.exists("/sys/class/net/dockyard0"), "a dockyard0 bridge already exists on this host")
    n = Net(str(tmp_path))
    yield n
    for p in n.servers:
        if p.poll() is None:  # its own session: `ip netns exec` and the server under it
            os.killpg(p.pid, 9)
        p.wait()
    # checked while the test's netns still exist: deleting one would take a leaked veth with it
    found = [f for f in leaks(n.run_root, n.root) if f.split()[-1] not in n.namespaces]
    for ns in list(n.namespaces):
        n.drop_netns(ns)
    if found:
        _force_clean(n.run_root, n.root)
        pytest.fail("left behind:\n" + "\n".join(found))


@pytest.fixture(scope="session", autouse=True)
def _no_network_leaks_at_session_end():
    yield
    found = [f for f in leaks("/nonexistent-run-root", "/nonexistent-root")]
    if found:
        for ns in _our_netns():
            sh("ip", "netns", "del", ns, check=False)
        sh("nft", "delete", "table", "ip", "dockyard", check=False)
        pytest.fail("network state left at session end:\n" + "\n".join(found))


# tiny peers run inside a netns with `sys.executable -c`: arguments through argv
ACCEPT_ONCE = ("import socket,sys; s=socket.socket(); s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(); "
               "c,a=s.accept(); c.sendall(sys.argv[2].encode()+a[0].encode())")
CONNECT = ("import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 5); "
           "s.sendall(b'hi'); print(s.recv(100).decode())")


def wait_port(ns: str, port: int, proto: str = "tcp") -> None:
    flag = "-Hlnt" if proto == "tcp" else "-Hlnu"
    for _ in range(200):
        if f":{port} " in in_ns(ns, "ss", flag).stdout:
            return
        time.sleep(0.025)
    raise AssertionError(f"nothing listening on {port}/{proto} in {ns}")
