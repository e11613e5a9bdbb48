"""Kernel modules for the initramfs, in the order `insmod` needs them.

Debian builds virtio, virtio_mmio, virtio_console, fuse/virtiofs and virtio_balloon as
modules (=m), and the package we unpack carries no modules.dep (depmod runs at install time,
which we never do): dependencies come from each module's own `.modinfo` section
(`depends=a,b`), read from the ELF, then sorted so every module follows what it needs."""

from __future__ import annotations

import os
import struct

# What the guest needs, each with why (the rest comes in as dependencies):
WANTED = {
    "virtio_mmio": "microvm's devices sit on virtio-mmio transports",
    "virtio_console": "virtio-serial ports: config in, stdout/stderr/exit code/agent out",
    "virtiofs": "the container's rootfs and volumes, shared from the host by virtiofsd",
    "virtio_balloon": "memory given back to the host on `update --memory` (QMP balloon)",
}
# Loaded only by a VM that has a network device (the init reads them from order-net), so a
# `--network none` VM does not pay for them at boot:
NET_WANTED = {
    "virtio_net": "the VM's NIC: virtio-net on a tap in the containers' bridge (net_failover, failover come as deps)",
}
ALL_WANTED = {**WANTED, **NET_WANTED}


def _section(elf: bytes, wanted: bytes) -> bytes:
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def header(i):
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size
        return struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)

    strtab = header(shstrndx)
    names = elf[strtab[4]:strtab[4] + strtab[5]]
    for i in range(shnum):
        h = header(i)
        if names[h[0]:names.index(b"\0", h[0])] == wanted:
            return elf[h[4]:h[4] + h[5]]
    return b""


def _read(path: str) -> bytes:
    if path.endswith(".xz"):
        import lzma

        with lzma.open(path) as f:
            return f.read()
    if path.endswith(".zst"):
        import subprocess

        return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    with open(path, "rb") as f:
        return f.read()


def depends(ko: bytes) -> list[str]:
    for field in _section(ko, b".modinfo").split(b"\0"):
        if field.startswith(b"depends="):
            return [d.decode() for d in field[8:].split(b",") if d]
    return []


def index(modules_dir: str) -> dict[str, str]:
    """Module name -> path, for every .ko(.xz|.zst) under the kernel's modules directory.
    Names use '_' as modinfo does (a file may be named with '-')."""
    found = {}
    for d, _, files in os.walk(modules_dir):
        for f in files:
            for ext in (".ko", ".ko.xz", ".ko.zst"):
                if f.endswith(ext):
                    found[f[:-len(ext)].replace("-", "_")] = os.path.join(d, f)
    return found


def split_order(base: list[str], full: list[str]) -> list[str]:
    """The modules of ``full`` (a dependency order) that ``base`` does not load, in order:
    what a VM with a NIC loads after the base list."""
    have = set(base)
    return [n for n in full if n not in have]


def resolve(modules_dir: str, wanted=WANTED) -> list[tuple[str, bytes]]:
    """[(name, uncompressed .ko)] for ``wanted`` and everything they depend on, dependencies
    first. A wanted module that is missing is an error naming it (a kernel built with it =y
    would not need it, but Debian's builds it as a module)."""
    from .errors import VmSetupError

    paths = index(modules_dir)
    order, data, visiting = [], {}, set()

    def visit(name: str) -> None:
        if name in data:
            return
        if name in visiting:
            raise VmSetupError(f"kernel modules depend on each other in a loop at {name}")
        if name not in paths:
            raise VmSetupError(f"kernel module {name} not found under {modules_dir}")
        visiting.add(name)
        ko = _read(paths[name])
        for dep in depends(ko):
            visit(dep)
        visiting.discard(name)
        data[name] = ko
        order.append(name)

    for name in wanted:
        visit(name)
    return [(n, data[n]) for n in order]
