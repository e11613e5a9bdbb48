"""`dockyard run --isolation=vm` on the containers' networks (issue 7): the VM's virtio-net
on a tap in the same bridge, so `-p` and names work across isolation modes. QEMU runs under
TCG here (~2 s per boot): two boots in all, each checking many things.

Private run root; the storage root (guest kernel, initramfs, busybox) is shared with the
other VM tests for the session. The module ends by checking that nothing of ours is left in
the kernel or the store (network_fixtures.leaks: no tap, veth, bridge, nft rule, dnsmasq,
endpoint or port row) beyond what was there before, and no QEMU/virtiofsd of our run root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from network_fixtures import free_port, host_ip, leaks
from support import need, need_binary, processes_naming

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")
pytestmark = pytest.mark.root


def dy(env, *args, timeout=120):
    return subprocess.run([DOCKYARD, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def ok(env, *args, timeout=120) -> str:
    p = dy(env, *args, timeout=timeout)
    assert p.returncode == 0, f"dockyard {' '.join(args)} -> {p.returncode}: {p.stderr}"
    return p.stdout


def _ours(env) -> set[str]:
    out = set()
    for item in leaks(env["DOCKYARD_RUN_ROOT"], env["DOCKYARD_ROOT"]):
        if item.startswith("nft table"):  # rule by rule: another root's table may be there
            out |= {"nft rule " + line.strip() for line in item.splitlines() if "comment" in line}
        else:
            out.add(item)
    out |= {f"process {p}" for p in processes_naming(env["DOCKYARD_RUN_ROOT"])}  # QEMU, virtiofsd, conmon
    return out


def _taps() -> list[str]:
    return [n for n in os.listdir("/sys/class/net") if n.startswith("dyt")]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    need(os.geteuid() == 0, "needs root")
    for b in ("qemu-system-x86_64", "nft", "ip", "dnsmasq", "conmon", "curl"):
        need_binary(b)
    need(os.path.exists("/bin/busybox"), "needs busybox-static")
    need(os.path.exists("/dev/net/tun"), "needs /dev/net/tun")
    shared = tmp_path_factory.getbasetemp() / "vm-shared"  # as test_cli_isolation.py, test_vm_run.py
    shared.mkdir(exist_ok=True)
    run = tmp_path_factory.mktemp("vmnet")
    e = {**os.environ, "DOCKYARD_ROOT": str(shared / "lib"), "DOCKYARD_RUN_ROOT": str(run),
         "DOCKYARD_SECCOMP_CACHE": str(run / "seccomp-cache"), "DOCKYARD_CONFIG": str(run / "no-config.json")}
    for argv in (["vm", "setup"], ["bootstrap", "busybox"]):
        p = subprocess.run([DOCKYARD, *argv], env=e, capture_output=True, text=True, timeout=300, check=False)
        assert p.returncode == 0, p.stderr
    bridge_before = os.path.exists("/sys/class/net/dockyard0")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forward = f.read().strip()
    before = _ours(e)
    yield e
    left = dy(e, "ps", "-a", "-q").stdout.split()
    for cid in left:
        dy(e, "rm", "-f", cid)
    nets = [n for n in dy(e, "network", "ls", "--format", "{{.Name}}").stdout.split() if n != "bridge"]
    for n in nets:
        dy(e, "network", "rm", n)
    if not bridge_before:  # the default bridge stays up, as docker0; the module made it: down
        subprocess.run([sys.executable, "-c", "from dockyard.network import service; service.down_default()"],
                       env=e, check=False)
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write(forward)
    found = sorted(_ours(e) - before)
    assert not left and not nets, f"left by the tests (now removed): containers {left}, networks {nets}"
    assert not found, "left behind:\n" + "\n".join(found)


def _wait_for(pred, timeout=60.0, what=""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _curl(url: str) -> str:
    return subprocess.run(["curl", "-s", "-m", "5", url], capture_output=True, text=True, check=False).stdout


def _endpoint_rows(env) -> list:
    import sqlite3

    db = os.path.join(env["DOCKYARD_ROOT"], "network", "network.db")
    c = sqlite3.connect(db)
    try:
        return c.execute("SELECT container, ip FROM endpoints").fetchall() + \
            c.execute("SELECT container, host_port FROM ports").fetchall()
    finally:
        c.close()


def _rules_of(cid: str) -> str:
    p = subprocess.run(["nft", "list", "table", "ip", "dockyard"], capture_output=True, text=True, check=False)
    return "\n".join(line for line in p.stdout.splitlines() if cid in line)


def test_vm_publish_on_default_bridge_and_kill_9(env):
    """-p HOSTPORT:80 to busybox httpd in a VM on the default bridge: curl from the host via
    127.0.0.1 and the host's IP; inspect shows the address and port; the guest has eth0 with
    the bridge's MTU, lo and the engine's /etc files. kill -9 of QEMU takes the tap with it,
    the exit releases address, rule and port; rm leaves nothing."""
    port = free_port()
    cid = ok(env, "run", "-d", "--isolation=vm", "--name", "vmweb", "--hostname", "webhost", "-p", f"{port}:80",
             "busybox", "sh", "-c",
             "mkdir -p /www && echo hello-from-vm >/www/index.html && ip -o -4 addr show eth0 && "
             "cat /sys/class/net/eth0/mtu /etc/hostname && grep webhost /etc/hosts && ip route && "
             "echo serving && exec httpd -f -p 80 -h /www").strip()
    _wait_for(lambda: "serving" in dy(env, "logs", "vmweb").stdout, what="serving in the VM's logs")
    info = json.loads(ok(env, "inspect", "vmweb"))[0]
    ip = info["NetworkSettings"]["IPAddress"]
    assert ip.startswith("10.88.") and info["NetworkSettings"]["Gateway"] == "10.88.0.1"
    assert info["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
    logs = dy(env, "logs", "vmweb").stdout
    with open("/sys/class/net/dockyard0/mtu") as f:
        mtu = f.read().strip()
    assert f"inet {ip}/16" in logs and f"\n{mtu}\nwebhost\n" in logs, logs
    assert f"{ip}\twebhost" in logs and "default via 10.88.0.1 dev eth0" in logs, logs
    assert _curl(f"http://127.0.0.1:{port}/") == "hello-from-vm\n"
    assert _curl(f"http://{host_ip()}:{port}/") == "hello-from-vm\n"
    assert _curl(f"http://{ip}:80/") == "hello-from-vm\n"  # the host reaches it on the bridge too
    taps = _taps()
    assert any(_rules_of(cid)) and len(taps) >= 1

    qemu = info["State"]["Pid"]
    with open(f"/proc/{qemu}/cmdline", "rb") as f:
        cmd = f.read().split(b"\0")
    assert b"virtio-net-device,netdev=n0,mac=02:42:" + bytes.hex(bytes(int(b) for b in ip.split(".")), ":").encode() \
        in cmd
    os.kill(qemu, signal.SIGKILL)
    _wait_for(lambda: "vmweb Exited (137)" in dy(env, "ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout,
              timeout=20, what="Exited (137)")
    assert not [t for t in _taps() if t in taps]  # gone with QEMU's fd
    assert not _rules_of(cid) and not [r for r in _endpoint_rows(env) if r[0] == cid]  # released on the exit
    assert _curl(f"http://127.0.0.1:{port}/") == ""
    ok(env, "rm", "vmweb")


def test_vm_and_container_by_name_on_a_user_network(env):
    """A container and a VM on one user network find and reach each other by name (both
    ways, HTTP and ping), through the network's DNS; after rm of both: no tap, no rule, no
    address reserved, and the network can be removed."""
    ok(env, "network", "create", "mixnet")
    try:
        ok(env, "run", "-d", "--network", "mixnet", "--name", "ctsrv", "busybox", "sh", "-c",
           "mkdir -p /www && echo hello-from-container >/www/index.html && exec httpd -f -p 80 -h /www")
        vm = ok(env, "run", "-d", "--isolation=vm", "--network", "mixnet", "--name", "vmsrv",
                "--network-alias", "vmalias", "busybox", "sh", "-c",
                "mkdir -p /www && echo hello-from-vm >/www/index.html && httpd -p 80 -h /www; "
                "cat /etc/resolv.conf; ping -c1 -W3 ctsrv >/dev/null && echo ping-ctsrv-ok; "
                "wget -qO- http://ctsrv/; echo vm-done; exec sleep 1000").strip()
        _wait_for(lambda: "vm-done" in dy(env, "logs", "vmsrv").stdout, what="vm-done in the VM's logs")
        logs = dy(env, "logs", "vmsrv").stdout
        gateway = json.loads(ok(env, "network", "inspect", "mixnet"))[0]["IPAM"]["Config"][0]["Gateway"]
        assert f"nameserver {gateway}" in logs and "ping-ctsrv-ok" in logs and "hello-from-container" in logs, logs
        out = ok(env, "run", "--rm", "--network", "mixnet", "busybox", "sh", "-c",
                 "for n in vmsrv vmalias; do ping -c1 -W3 $n >/dev/null && echo ping-$n-ok; done;"
                 " wget -qO- http://vmsrv/")
        assert "ping-vmsrv-ok" in out and "ping-vmalias-ok" in out and "hello-from-vm" in out, out
        bridge = "dy-" + json.loads(ok(env, "network", "inspect", "mixnet"))[0]["Id"][:12]
        on_bridge = sorted(os.listdir(f"/sys/class/net/{bridge}/brif"))
        assert [n[:3] for n in on_bridge] == ["dyt", "dyv"], on_bridge  # the VM's tap beside the veth
        assert _rules_of(vm) == ""  # no -p: no rule of its own
        ok(env, "rm", "-f", "vmsrv", "ctsrv")
        assert not [r for r in _endpoint_rows(env) if r[0] == vm]
        assert not [t for t in on_bridge if os.path.exists(f"/sys/class/net/{t}")]
    finally:
        dy(env, "rm", "-f", "vmsrv", "ctsrv")
        ok(env, "network", "rm", "mixnet")


def test_vm_network_refusals(env):
    """What a VM cannot share is refused in one line, before anything is made (no boot)."""
    for args, words in ((["--network", "host"], "a VM has its own kernel"),
                        (["--network", "container:x"], "a VM has its own kernel"),
                        (["--network", "nosuchnet"], "network nosuchnet not found"),
                        (["-p", "99999:80"], "99999")):
        p = dy(env, "run", "--rm", "--isolation=vm", *args, "busybox", "true")
        assert p.returncode == 125 and p.stderr.count("\n") == 1 and words in p.stderr, (args, p.stderr)
    assert not dy(env, "ps", "-a", "-q").stdout.strip()
