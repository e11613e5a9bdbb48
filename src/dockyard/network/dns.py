"""Name resolution on user-defined networks: one dnsmasq (Debian's dnsmasq-base) per network.

    <run_root>/network/dns/<netid12>/hosts        "IP name alias..." per container
    <run_root>/network/dns/<netid12>/dnsmasq.pid

dnsmasq listens on the network's gateway address only (--bind-interfaces), answers the names
in `hosts` (re-read on SIGHUP, which also flushes its cache) and forwards anything else to
the host's resolvers. It runs in the host's netns, so the host's loopback resolvers (e.g.
systemd-resolved's 127.0.0.53) work as upstreams; containers never see them, their
resolv.conf names the gateway. Plain names that are not containers are not forwarded
(--domain-needed). Started with a network's first endpoint, stopped with its last.

Why dnsmasq and not an embedded Python responder: dockyard has no daemon to host one, and a
Python process per network costs ~8 MiB; dnsmasq costs well under 1 MiB PSS (docs/network.md).
dnsmasq drops root to `nobody` after binding; it must still read `hosts` on SIGHUP, so the
directories on the way are made traversable (0711) — where an ancestor we do not own is not,
it keeps root (--user=root) rather than lose the names.
"""

from __future__ import annotations

import os
import _signal as signal  # the C module: `signal` imports enum (~1.5 ms per run)
import time

from .errors import NetworkError

DNSMASQ = "dnsmasq"


def _dir(run_root: str, net_id: str) -> str:
    return os.path.join(run_root, "network", "dns", net_id[:12])


def _pid(run_root: str, net_id: str) -> int | None:
    try:
        with open(os.path.join(_dir(run_root, net_id), "dnsmasq.pid")) as f:
            pid = int(f.read().strip() or 0)
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        # "PID (comm) STATE ...": a zombie has already stopped serving
        comm, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
        return pid if comm == "dnsmasq" and state != "Z" else None
    except (OSError, ValueError):
        return None


def upstreams(host_resolv: str = "/etc/resolv.conf") -> list[str]:
    out = []
    try:
        with open(host_resolv) as f:
            for line in f:
                words = line.split()
                if words[:1] == ["nameserver"] and len(words) > 1:
                    out.append(words[1])
    except OSError:
        pass
    return out


def hosts_text(entries: list[tuple[str, list[str]]]) -> str:
    return "".join(f"{ip} {' '.join(names)}\n" for ip, names in entries if names)


def _traversable(path: str) -> bool:
    """Every directory above ``path`` lets others search it (o+x)."""
    p = os.path.dirname(os.path.abspath(path))
    while True:
        try:
            if not os.stat(p).st_mode & 0o001:
                return False
        except OSError:
            return False
        if p == "/":
            return True
        p = os.path.dirname(p)


def write_hosts(run_root: str, net_id: str, entries: list[tuple[str, list[str]]]) -> None:
    d = _dir(run_root, net_id)
    for p in (os.path.join(run_root, "network"), os.path.join(run_root, "network", "dns"), d):
        os.makedirs(p, exist_ok=True)
        os.chmod(p, 0o711)
    tmp = os.path.join(d, "hosts.tmp")
    with open(tmp, "w") as f:
        f.write(hosts_text(entries))
    os.chmod(tmp, 0o644)
    os.rename(tmp, os.path.join(d, "hosts"))  # dnsmasq never reads half a file


def running(run_root: str, net_id: str) -> int | None:
    return _pid(run_root, net_id)


def start(run_root: str, net_id: str, gateway: str) -> int:
    """dnsmasq for the network (if not running). ``write_hosts`` first. Returns its pid."""
    pid = _pid(run_root, net_id)
    if pid:
        return pid
    d = _dir(run_root, net_id)
    hosts = os.path.join(d, "hosts")
    argv = [DNSMASQ, "--conf-file=/dev/null", f"--pid-file={d}/dnsmasq.pid", f"--listen-address={gateway}",
            "--bind-interfaces", "--except-interface=lo", "--no-hosts", f"--addn-hosts={hosts}", "--no-resolv",
            "--domain-needed", "--no-negcache", "--cache-size=150", "--port=53", f"--log-facility={d}/dnsmasq.log"]
    argv += [f"--server={s}" for s in upstreams()]
    if not _traversable(hosts):
        argv.append("--user=root")
    try:
        # dnsmasq forks into the background once it listens: returncode 0 means it is serving.
        # Its log goes to a file: a daemon logging to our stderr pipe would keep it open.
        import subprocess  # only to start dnsmasq: ~10 ms of imports (re, locale) otherwise

        p = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=10, check=False)
    except FileNotFoundError:
        raise NetworkError("DNS for user networks needs dnsmasq (apt-get install dnsmasq-base)") from None
    if p.returncode != 0:
        msg = (p.stderr.strip().splitlines() or ["failed"])[-1]
        raise NetworkError(f"dnsmasq on {gateway}: {msg}")
    for _ in range(100):  # the pid file appears just after the parent exits
        pid = _pid(run_root, net_id)
        if pid:
            return pid
        time.sleep(0.01)
    raise NetworkError(f"dnsmasq on {gateway} did not write its pid file")


def reload(run_root: str, net_id: str) -> None:
    pid = _pid(run_root, net_id)
    if pid:
        os.kill(pid, signal.SIGHUP)


def stop(run_root: str, net_id: str) -> None:
    """Stop the network's dnsmasq (waiting until it is gone) and remove its directory."""
    pid = _pid(run_root, net_id)
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(300):
            if _pid(run_root, net_id) != pid:
                break
            time.sleep(0.01)
        else:
            os.kill(pid, signal.SIGKILL)
    d = _dir(run_root, net_id)
    for name in ("hosts", "hosts.tmp", "dnsmasq.pid", "dnsmasq.log"):
        try:
            os.unlink(os.path.join(d, name))
        except FileNotFoundError:
            continue
    try:
        os.rmdir(d)
    except OSError:
        return


def resolv_conf(gateway: str, host_resolv: str = "/etc/resolv.conf") -> str:
    """resolv.conf for a container on a user network: the network's dnsmasq, plus the host's
    search and options lines (as Docker keeps them)."""
    keep = []
    try:
        with open(host_resolv) as f:
            keep = [line.rstrip("\n") for line in f if line.split()[:1] in (["search"], ["options"])]
    except OSError:
        pass
    return "\n".join([f"nameserver {gateway}", *keep]) + "\n"
