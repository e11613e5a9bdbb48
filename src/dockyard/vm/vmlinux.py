"""The uncompressed kernel (vmlinux) out of a bzImage, as the kernel's scripts/extract-vmlinux
does: find a compressed payload by its magic, decompress, keep the first result that is an ELF.

Why: QEMU boots an ELF vmlinux through its PVH entry point (the XEN_ELFNOTE_PHYS32_ENTRY
note), skipping the bzImage's real-mode setup and self-decompression — 2.7x faster to /init
under TCG here (docs/vm.md). A kernel without the note still boots, as a bzImage."""

from __future__ import annotations

import struct

# (magic, decompressor) in the order extract-vmlinux tries them; Debian's kernels use xz.
_MAGICS = ((b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b\x08", "gzip"), (b"\x5d\x00\x00\x00", "lzma"))
_PT_NOTE = 4
XEN_ELFNOTE_PHYS32_ENTRY = 18


def _decompress(data: bytes, kind: str) -> bytes | None:
    import lzma
    import zlib

    try:
        if kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
        fmt = lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE
        return lzma.LZMADecompressor(format=fmt).decompress(data)  # stops at the stream's end
    except (lzma.LZMAError, zlib.error, EOFError):
        return None


def extract(bzimage: bytes) -> bytes | None:
    """The ELF inside, or None when no known payload decompresses to one."""
    for magic, kind in _MAGICS:
        at = bzimage.find(magic)
        while at != -1:
            out = _decompress(bzimage[at:], kind)
            if out and out[:4] == b"\x7fELF":
                return out
            at = bzimage.find(magic, at + 1)
    return None


def has_pvh_note(elf: bytes) -> bool:
    """Whether the ELF64 carries a "Xen" note of type XEN_ELFNOTE_PHYS32_ENTRY (the PVH entry
    QEMU looks for), read from its PT_NOTE program headers."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:  # ELFCLASS64 only: x86-64 kernels
        return False
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != _PT_NOTE:
            continue
        at, end = p_offset, p_offset + p_filesz
        while at + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", elf, at)
            name = elf[at + 12:at + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and n_type == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            at += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False
