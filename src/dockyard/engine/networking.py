"""A container's network as the engine sees it: `--network` and friends turned into a plan
(kept in meta.json), the spec's network namespace, and the calls into dockyard.network
around the runtime's create, start and delete.

Modes, as Docker's:

    bridge (default), NAME   a netns of its own, made by the runtime; attached (veth, address,
                             routes, -p rules, DNS name) after `create` and before `start`, so
                             the workload never runs before its eth0 is up
    none                     a netns with only lo; nothing of dockyard.network is imported
    host                     no netns: the host's interfaces, /etc/hosts and resolv.conf
    container:NAME           NAME's netns, joined by path (/proc/PID/ns/net), and its files

A VM (--isolation=vm, vm_run.py) on a bridge or user network gets a tap on that bridge
instead of a veth (attach_vm, network.service.attach_tap): same IPAM, -p rules and DNS names;
the guest configures eth0 itself. `host` and `container:` cannot apply to a VM's own kernel.

Releasing: the endpoint goes when the container is removed, and also as soon as it is seen
stopped (conmon's exit command, `refresh`, the end of a foreground run), so a stopped
container holds no address or published port, as Docker's; `start` attaches it again in
its new netns.
"""

from __future__ import annotations

import os

from ..errors import ConfigError, InvalidState

DEFAULT = "bridge"
ATTACHED = "attached"  # plan["mode"] for bridge and user networks


def plan(o, image_cfg: dict, name: str | None) -> dict:
    """The network part of a container's meta, checked before anything exists: a bad -p, a
    missing network or a flag that does not fit the mode is one line, and nothing is made."""
    network = o.network or DEFAULT
    publish = list(o.publish)
    if o.publish_all:  # -P: every EXPOSEd port on a random host port
        publish += sorted((image_cfg.get("ExposedPorts") or {}).keys())
    if network in ("none", "host") or network.startswith("container:"):
        mode = network.split(":", 1)[0]
        if mode == "container" and not network[len("container:"):]:
            raise ConfigError("--network container: needs a container name or id")
        if publish and mode != "host":
            raise ConfigError(f"conflicting options: port publishing and the network mode {network!r}")
        if publish:
            import sys

            sys.stderr.write("dockyard: WARNING: published ports are discarded when using host network mode\n")
        if o.network_aliases or o.ip:
            raise ConfigError(f"--network-alias and --ip need a bridge or user network, not {network!r}")
        if mode == "container" and (o.hostname or o.dns or o.dns_search or o.dns_option or o.add_host):
            raise ConfigError("conflicting options: --hostname, --dns and --add-host cannot be used with "
                              "--network container:NAME (its files are the other container's)")
        out = {"mode": mode}
        if mode == "container":
            out["container"] = network[len("container:"):]
    else:
        from ..network import ports

        for spec in publish:
            ports.parse(spec)  # pure: -p errors before any record or netns
        if network != DEFAULT:
            from .. import config
            from ..network.store import NetworkStore

            with NetworkStore(config.storage_root()) as store:
                network = store.get(network).name  # NotFound: "network X not found"
        elif o.network_aliases or o.ip:
            # Docker: "network-scoped alias/user specified IP is supported only for user defined networks"
            raise ConfigError("--network-alias and --ip are supported on user-defined networks only")
        if o.ip:
            import ipaddress

            try:
                ipaddress.IPv4Address(o.ip)
            except ValueError:
                raise ConfigError(f"--ip {o.ip!r} is not an IPv4 address") from None
        names = [n for n in (name, o.hostname, *o.network_aliases) if n]
        out = {"mode": ATTACHED, "network": network, "names": names, "ip": o.ip, "publish": publish}
    for h in o.add_host:
        host, sep, ip = h.rpartition(":")  # host:ip; rpartition keeps "host:ip" with an IPv6 ip odd but safe
        if not sep or not host or not ip:
            raise ConfigError(f"--add-host {h!r}: expected HOST:IP")
    return {**out, "dns": list(o.dns), "dns_search": list(o.dns_search), "dns_option": list(o.dns_option),
            "add_host": list(o.add_host)}


def init_pid(containers, rec) -> int:
    """The pid of a running container's init: conmon's pid file, else the runtime's state."""
    try:
        with open(os.path.join(containers.path(rec.id), "pid")) as f:
            pid = int(f.read().strip() or 0)
        if pid > 0 and os.path.exists(f"/proc/{pid}"):
            return pid
    except (OSError, ValueError):
        pass
    import json
    import subprocess

    from .. import config
    from .run import runtime_binary

    p = subprocess.run([runtime_binary(), "--root", config.runtime_root(), "state", rec.id],
                       capture_output=True, text=True, check=False)
    try:
        state = json.loads(p.stdout) if p.returncode == 0 else {}
    except ValueError:
        state = {}
    if state.get("status") not in ("running", "created") or not state.get("pid"):
        raise InvalidState(f"container {rec.name} is not running")
    return int(state["pid"])


def shared_with(containers, ref: str):
    """`--network container:REF`: (record, netns path) of the running container to join."""
    from .lifecycle import refresh

    other = refresh(containers, containers.get(ref))
    if other.state != "running":
        raise InvalidState(f"cannot join the network of container {other.name}: it is not running")
    return other, f"/proc/{init_pid(containers, other)}/ns/net"


def _rewrite(path: str, text: str) -> None:
    """In place (same inode): the file is already bind-mounted into the container."""
    with open(path, "w") as f:
        f.write(text)


def attach(containers, cid: str, pid: int) -> list[dict]:
    """Connect a created, not yet started container (its init is ``pid``) to its network,
    then write its /etc/hosts (its own address) and, on a user network, /etc/resolv.conf
    (the network's DNS unless --dns). On failure nothing of it is left attached."""
    p = containers.meta(cid).get("network") or {}
    if p.get("mode") != ATTACHED:
        return []
    from ..network import service as net

    d = containers.path(cid)
    ep = net.attach(cid, pid, p["network"], names=p.get("names") or [], ip=p.get("ip"), publish=p.get("publish") or [])
    try:
        for extra in p.get("connected") or ():  # `network connect`ed earlier: eth1, eth2... again
            net.attach(cid, pid, extra["network"], names=extra.get("names") or [], ip=extra.get("ip"))
        from . import etc_files

        hostname = _hostname(d)
        _rewrite(os.path.join(d, "hosts"), etc_files.hosts(hostname, ip=ep["ip"], extra=p.get("add_host") or ()))
        if ep.get("dns") and not p.get("dns"):
            text = net.resolv_conf(p["network"])
            _rewrite(os.path.join(d, "resolv.conf"), etc_files.resolv_conf(
                text, keep_loopback=True, search=p.get("dns_search") or (), options=p.get("dns_option") or ()))
    except BaseException:
        net.detach(cid)
        raise
    return [ep]


def attach_vm(containers, cid: str):
    """A VM container's network before QEMU starts: a tap on its network's bridge (address,
    -p rules, DNS names as a container's), and its hosts/resolv.conf rewritten as attach()
    does. Returns (GuestNic or None, the guest's /etc files). The caller closes nic.fd once
    QEMU holds it (or on failure) and detaches on failure."""
    from ..vm import GuestNic
    from . import etc_files

    p = containers.meta(cid).get("network") or {}
    d = containers.path(cid)
    nic = None
    if p.get("mode") == ATTACHED:
        from ..network import service as net

        ep = net.attach_tap(cid, p["network"], names=p.get("names") or [], ip=p.get("ip"),
                            publish=p.get("publish") or [])
        nic = GuestNic(ep["fd"], ep["tap"], ep["mac"], ep["ip"], ep["prefixlen"], ep["gateway"], ep["mtu"])
        try:
            _rewrite(os.path.join(d, "hosts"), etc_files.hosts(_hostname(d), ip=ep["ip"],
                                                               extra=p.get("add_host") or ()))
            if ep.get("dns") and not p.get("dns"):
                _rewrite(os.path.join(d, "resolv.conf"), etc_files.resolv_conf(
                    net.resolv_conf(p["network"]), keep_loopback=True, search=p.get("dns_search") or (),
                    options=p.get("dns_option") or ()))
        except BaseException:
            os.close(nic.fd)
            net.detach(cid)
            raise
    files = {}
    for name in ("hostname", "hosts", "resolv.conf"):
        try:
            with open(os.path.join(d, name)) as f:
                files[name] = f.read()
        except FileNotFoundError:
            continue
    return nic, files


def _hostname(d: str) -> str:
    try:
        with open(os.path.join(d, "hostname")) as f:
            return f.read().strip()
    except OSError:
        return ""


def attached(containers, cid: str) -> bool:
    return (containers.meta(cid).get("network") or {}).get("mode") == ATTACHED


def release(containers, cid: str) -> None:
    """Detach the container from every network. Called once its processes are gone: the
    kernel removes the veth with the netns; the rules, DNS name, ports and address go here.
    Only bridge/user containers import the library."""
    if not attached(containers, cid):
        return
    from ..network import service as net

    net.detach(cid, netns_gone=True)


def recover(containers) -> list[str]:
    """Crash recovery: endpoints of containers that no longer exist or no longer run."""
    from .. import config

    if not os.path.exists(os.path.join(config.storage_root(), "network", "network.db")):
        return []
    from ..errors import NotFound
    from ..network import service as net

    def alive(cid: str) -> bool:
        # the record only (no refresh here: that would detach from inside recover); a
        # "running" record whose process died has lost its netns, which recover checks too
        try:
            return containers.get(cid).state in ("running", "created")
        except NotFound:
            return False

    return net.recover(alive=alive)


def warm() -> None:
    """Import the network library (the slow part of an attach) while the runtime creates."""
    from ..network import service  # noqa: F401


def connect(containers, ref: str, network: str, aliases=(), ip: str | None = None) -> None:
    """`network connect`: a running (or created) container joins ``network`` now as its next
    ethN; a stopped one when it starts. Kept in meta.json, so a restart joins it again."""
    from ..network import service as net
    from .lifecycle import refresh

    rec = refresh(containers, containers.get(ref))
    if containers.meta(rec.id).get("isolation") == "vm":
        raise ConfigError(f"container {rec.name} is a VM (--isolation=vm): it has one network device, "
                          "joining more networks is not built")
    p = containers.meta(rec.id).get("network") or {"mode": ATTACHED, "network": DEFAULT}
    if p.get("mode") != ATTACHED:
        raise ConfigError(f"container {rec.name} uses network mode {p.get('mode')!r}: it cannot join other networks")
    name = net.inspect_network(network)["Name"]  # NotFound: "network X not found", nothing changed
    joined = [p["network"], *(e["network"] for e in p.get("connected") or ())]
    if name in joined:
        raise ConfigError(f"container {rec.name} is already connected to network {name}")
    names = [rec.name, *aliases]
    if rec.state in ("running", "created"):
        net.attach(rec.id, init_pid(containers, rec), name, names=names, ip=ip)
    containers.update_meta(rec.id, network={**p, "connected": [*(p.get("connected") or []),
                                                               {"network": name, "names": names, "ip": ip}]})


def disconnect(containers, ref: str, network: str) -> None:
    """`network disconnect`: leave a network joined with `connect` (or the first one)."""
    from ..network import service as net

    rec = containers.get(ref)
    if containers.meta(rec.id).get("isolation") == "vm":
        raise ConfigError(f"container {rec.name} is a VM (--isolation=vm): its network device stays until it stops")
    p = containers.meta(rec.id).get("network") or {}
    name = net.inspect_network(network)["Name"]
    connected = p.get("connected") or []
    if p.get("network") == name and p.get("mode") == ATTACHED:
        rest = connected[1:]
        p = {**p, **(connected[0] if connected else {"mode": "none"}), "connected": rest}
        if not connected:
            p["mode"] = "none"  # Docker: a container left with no network has only lo
    elif any(e["network"] == name for e in connected):
        p = {**p, "connected": [e for e in connected if e["network"] != name]}
    else:
        raise ConfigError(f"container {rec.name} is not connected to network {name}")
    from ..network.errors import NetworkError

    try:
        net.detach(rec.id, name)
    except NetworkError:  # not attached now (a stopped container): only the record changes
        if rec.state == "running":
            raise
    containers.update_meta(rec.id, network=p)


def settings(containers, cid: str) -> dict:
    """inspect's NetworkSettings, Docker-shaped: the first network's address, every network
    joined, and published ports ("80/tcp": [{"HostIp", "HostPort"}])."""
    p = containers.meta(cid).get("network") or {}
    out: dict = {"IPAddress": "", "Gateway": "", "Networks": {}, "Ports": {}}
    if p.get("mode") != ATTACHED:
        if p.get("mode") in ("none", "host"):
            out["Networks"][p["mode"]] = {}
        return out
    from ..network import service as net

    for ep in net.endpoints(cid):
        out["Networks"][ep["network"]] = {"IPAddress": ep["ip"], "Gateway": ep["gateway"], "Aliases": ep["names"]}
        if not out["IPAddress"]:
            out["IPAddress"], out["Gateway"] = ep["ip"], ep["gateway"]
        for port in ep["ports"]:
            out["Ports"].setdefault(f"{port['container_port']}/{port['proto']}", []).append(
                {"HostIp": port["host_ip"] or "0.0.0.0", "HostPort": str(port["host_port"])})
    return out


SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up(pid: int) -> None:
    """`--network none`: lo up in the container's new netns, as Docker's none has a working
    127.0.0.1 (the runtime leaves lo down, like runc). Two ioctls from a short-lived thread
    that setns()es into the netns (netns is per-thread: this process never changes its own);
    no dockyard.network import, no subprocess: well under a millisecond."""
    import _socket
    import _thread  # not threading: ~1.3 ms of imports for one join
    import fcntl
    import struct

    from .._sys import libc

    failed: list[BaseException] = []
    done = _thread.allocate_lock()
    done.acquire()

    def inside() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                libc.setns(fd, libc.CLONE_NEWNET, f"/proc/{pid}/ns/net")
            finally:
                os.close(fd)
            s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
            try:
                req = struct.pack("16sH22x", b"lo", 0)
                flags = struct.unpack("16sH22x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
                fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
            finally:
                s.close()
        except BaseException as e:  # noqa: BLE001 - raised in the caller's thread below
            failed.append(e)
        finally:
            done.release()

    _thread.start_new_thread(inside, ())
    done.acquire()  # the thread ends right after; it never runs Python code in our netns again
    if failed:
        raise failed[0]
