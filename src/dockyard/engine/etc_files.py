"""The files Docker gives every container: /etc/hostname, /etc/hosts, /etc/resolv.conf.

They are written in the container's own directory (not in its rootfs: an image may ship
them as symlinks, or read-only) and bind-mounted over the image's, as Docker does, so they
are right whatever the image holds and survive a read-only root filesystem.

resolv.conf is the host's, minus loopback nameservers (127.0.0.0/8, ::1): a container in
its own network namespace cannot reach the host's local resolver, so Docker drops them and
falls back to public resolvers when none is left; we do the same, and say so in a comment
in the file. `--network host` keeps them (the host's netns), and gets the host's /etc/hosts.
`--dns`, `--dns-search`, `--dns-option` replace the nameserver, search and options lines;
`--add-host HOST:IP` adds lines to /etc/hosts. On a bridge or user network the engine
rewrites hosts with the container's address, and resolv.conf with the network's DNS
(engine/networking.py), in place once the address is known, before the workload starts.
"""

from __future__ import annotations

import os

FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


def resolv_conf(host_text: str, *, keep_loopback: bool = False, servers=(), search=(), options=()) -> str:
    """The container's resolv.conf from ``host_text``; ``servers``/``search``/``options``
    (--dns, --dns-search, --dns-option) replace the lines of their kind."""
    out, count = [], 0
    for line in host_text.splitlines():
        words = line.split()
        kind = words[0] if words else ""
        if (kind == "nameserver" and servers) or (kind in ("search", "domain") and search) or \
                (kind == "options" and options):
            continue
        if kind == "nameserver" and len(words) > 1:
            addr = words[1]
            if not keep_loopback and (addr.startswith("127.") or addr == "::1"):
                continue
            count += 1
        out.append(line)
    out += [f"nameserver {a}" for a in servers]
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    if not count and not servers:
        out.append("# dockyard: the host's resolvers are loopback-only, unreachable from the container")
        out += [f"nameserver {a}" for a in FALLBACK_NAMESERVERS]
    return "\n".join(out).strip() + "\n"


def hosts(hostname: str, ip: str | None = None, extra=()) -> str:
    """Docker's /etc/hosts: localhost lines, ``--add-host`` entries, then the container's own
    name on its address (127.0.1.1 until it has one)."""
    added = "".join(f"{h.rpartition(':')[2]}\t{h.rpartition(':')[0]}\n" for h in extra)
    return ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            f"{added}{ip or '127.0.1.1'}\t{hostname}\n")


def write(d: str, hostname: str, host_resolv: str = "/etc/resolv.conf", *, host_network: bool = False,
          dns=(), dns_search=(), dns_option=(), add_host=()) -> list[dict]:
    """Write the three files into ``d`` and return the spec mounts that put them in place."""
    try:
        with open(host_resolv) as f:
            host_text = f.read()
    except OSError:
        host_text = ""
    hosts_text = hosts(hostname, extra=add_host)
    if host_network:  # the host's own file, as Docker copies it, plus --add-host lines
        try:
            with open("/etc/hosts") as f:
                hosts_text = f.read().rstrip("\n") + "\n" + hosts(hostname, extra=add_host).split("ff02::2\tip6-allrouters\n")[1]
        except OSError:
            pass
    files = {"hostname": hostname + "\n", "hosts": hosts_text,
             "resolv.conf": resolv_conf(host_text, keep_loopback=host_network, servers=dns, search=dns_search,
                                        options=dns_option)}
    mounts = []
    for name, text in files.items():
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        mounts.append(bind(name, path))
    return mounts


def bind(name: str, path: str) -> dict:
    """The spec mount of one file over /etc/NAME."""
    return {"destination": f"/etc/{name}", "type": "bind", "source": path, "options": ["rbind", "rprivate", "rw"]}
