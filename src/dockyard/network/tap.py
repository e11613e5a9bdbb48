"""A tap device for a VM's virtio-net, held by an fd that QEMU inherits (`-netdev tap,fd=N`).

Why an fd and not a persistent tap opened by name: a tap made without TUNSETPERSIST lives
exactly as long as some process holds its fd. We make it (TUNSETIFF on /dev/net/tun), put it
on the bridge and bring it up *before* QEMU starts (so the guest's first packet already has
a bridge to go to), hand the fd to QEMU and close ours: from then on the tap goes with QEMU,
so a `kill -9` of QEMU, or a crash of ours before QEMU started, leaves no tap behind — the
kernel removes it. (A persistent tap would outlive both and need a sweeper.)

IFF_VNET_HDR: QEMU sees it on the fd (TUNGETIFF) and then passes the guest's checksum/TSO
offloads through instead of computing checksums in userspace. IFF_NO_PI: no 4-byte packet
info header, which QEMU's tap backend does not expect. No vhost: /dev/vhost-net is absent
here and QEMU's userspace virtio-net needs none.
"""

from __future__ import annotations

import os
import struct

TUN_DEVICE = "/dev/net/tun"
TUNSETIFF = 0x400454CA  # _IOW('T', 202, int)
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
IFNAMSIZ = 16


def ifreq(name: str, flags: int) -> bytes:
    """struct ifreq with ifr_name and ifr_flags (40 bytes on 64-bit Linux)."""
    return struct.pack("16sH22x", name.encode(), flags)


def open_tap(name: str) -> int:
    """A new tap named ``name``; returns its fd (close-on-exec: pass it on explicitly).
    EBUSY/EEXIST-like errors come back as OSError naming the device."""
    import fcntl

    if not name or len(name.encode()) >= IFNAMSIZ:
        raise ValueError(f"tap name {name!r}: 1 to {IFNAMSIZ - 1} bytes")
    fd = os.open(TUN_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, ifreq(name, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
    except BaseException:
        os.close(fd)
        raise
    return fd
