"""The files Docker gives every container: /etc/hostname, /etc/hosts, /etc/resolv.conf.

They are written in the container's own directory (not in its rootfs: an image may ship
them as symlinks, or read-only) and bind-mounted over the image's, as Docker does, so they
are right whatever the image holds and survive a read-only root filesystem.

resolv.conf is the host's, minus loopback nameservers (127.0.0.0/8, ::1): a container in
its own network namespace cannot reach the host's local resolver, so Docker drops them and
falls back to public resolvers when none is left; we do the same, and say so in a comment
in the file. (Networking itself is issue 6: until then containers have only a loopback.)
"""

from __future__ import annotations

import os

FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


def resolv_conf(host_text: str) -> str:
    out, servers = [], 0
    for line in host_text.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            addr = words[1]
            if addr.startswith("127.") or addr == "::1":
                continue
            servers += 1
        out.append(line)
    if not servers:
        out.append("# dockyard: the host's resolvers are loopback-only, unreachable from the container")
        out += [f"nameserver {a}" for a in FALLBACK_NAMESERVERS]
    return "\n".join(out).strip() + "\n"


def hosts(hostname: str) -> str:
    return ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            f"127.0.1.1\t{hostname}\n")


def write(d: str, hostname: str, host_resolv: str = "/etc/resolv.conf") -> list[dict]:
    """Write the three files into ``d`` and return the spec mounts that put them in place."""
    try:
        with open(host_resolv) as f:
            host_text = f.read()
    except OSError:
        host_text = ""
    files = {"hostname": hostname + "\n", "hosts": hosts(hostname), "resolv.conf": resolv_conf(host_text)}
    mounts = []
    for name, text in files.items():
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        mounts.append({"destination": f"/etc/{name}", "type": "bind", "source": path,
                       "options": ["rbind", "rprivate", "rw"]})
    return mounts
