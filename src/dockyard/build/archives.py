"""Recognising and opening the archives ADD auto-extracts (and context tarballs).

gzip and zstd are opened by the layer unpacker itself (``image/layer.open_stream``); bzip2
and xz are wrapped here with the stdlib, so every format reaches the same safe extractor.
"""

from __future__ import annotations

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


def compression(head: bytes) -> str | None:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def decompressed(stream):
    """``stream`` with bzip2/xz undone (gzip/zstd/plain pass through to open_stream)."""
    import io

    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream)
    kind = compression(stream.peek(8)[:8])
    if kind == "bzip2":
        import bz2

        return bz2.BZ2File(stream)
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(stream)
    return stream
