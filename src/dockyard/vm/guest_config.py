"""What the guest init is told: /dockyard/config.sh, in a small cpio appended to the cached
initramfs (the kernel unpacks concatenated archives in order), so each VM gets its own
without rebuilding the 3 MB base or needing a config device. Every value is shell-quoted:
the script is sourced by the init (guest_init.py) and calls its functions in order."""

from __future__ import annotations

import io
import shlex


def workload_argv(args: list[str], env: list[str], cwd: str, uid: int, gid: int) -> list[str]:
    """The command line that runs ``args`` inside /newroot as the container's process: `env -i`
    sets exactly the container's environment (PATH from it then finds the command),
    busybox's nsenter chroots, changes directory (a path under /newroot), sets gid then uid
    (supplementary groups cleared) and execs — 127/126 when the command is missing or not
    executable, as Docker."""
    for e in env:
        if "=" not in e or e.startswith("="):
            from .errors import VmError

            raise VmError(f"environment entry {e!r} is not KEY=VALUE")
    cwd = "/" + cwd.strip("/") if cwd else "/"
    return ["env", "-i", *env, "/bin/busybox", "nsenter", "-F", "-S", str(uid), "-G", str(gid),
            "-r/newroot", f"-w/newroot{cwd}", "--", *args]


def quote(words) -> str:
    return " ".join(shlex.quote(str(w)) for w in words)


def config_script(*, rootfs_tag: str, volumes: list[tuple[str, str, bool]], hostname: str, cwd: str,
                  argv: list[str]) -> str:
    lines = []
    if hostname:
        lines.append(quote(["hostname_is", hostname]))
    lines.append(quote(["rootfs", rootfs_tag]))
    for tag, destination, readonly in volumes:
        lines.append(quote(["volume", tag, "/" + destination.strip("/"), "ro" if readonly else "rw"]))
    lines.append(quote(["workdir", "/" + cwd.strip("/") if cwd else "/"]))
    lines.append(quote(["main", *argv]))
    return "\n".join(lines) + "\n"


def config_cpio(script: str) -> bytes:
    from .cpio import CpioWriter

    buf = io.BytesIO()
    w = CpioWriter(buf)
    w.directory("dockyard")
    w.file("dockyard/config.sh", script.encode(), 0o600)
    w.close()
    return buf.getvalue()


def start_cpio(*, address: str | None = None, gateway: str | None = None, mtu: int | None = None,
               etc: dict[str, str] | None = None) -> bytes:
    """What is known only when the VM starts, as a second small cpio after config.sh's:
    /dockyard/net.sh (`network IP/PREFIX GW MTU`, when the VM has a NIC: the address comes
    from the network's IPAM at start, as a container's) and /dockyard/etc/NAME for
    hostname, hosts and resolv.conf (the engine's files, bound over the image's)."""
    from .cpio import CpioWriter

    buf = io.BytesIO()
    w = CpioWriter(buf)
    w.directory("dockyard")
    if address:
        w.file("dockyard/net.sh", (quote(["network", address, gateway, mtu or 1500]) + "\n").encode(), 0o600)
    if etc:
        w.directory("dockyard/etc")
        for name, text in sorted(etc.items()):
            if "/" in name or name.startswith("."):
                from .errors import VmError

                raise VmError(f"guest /etc file name {name!r}")
            w.file(f"dockyard/etc/{name}", text.encode(), 0o644)
    w.close()
    return buf.getvalue()
