"""Crafted tar layers for the layer and snapshot tests."""

from __future__ import annotations

import io
import tarfile


def make_tar(entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    """entries: (name, kind, extra) with kind file/dir/sym/link/fifo/chr; extra: content or
    link target or (major, minor); optional 4th item: dict of TarInfo attributes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            name, kind, extra = e[:3]
            attrs = e[3] if len(e) > 3 else {}
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_600_000_000
            data = None
            if kind == "file":
                data = extra if isinstance(extra, bytes) else extra.encode()
                ti.size = len(data)
                ti.mode = 0o644
            elif kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, extra
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, extra
            elif kind == "fifo":
                ti.type, ti.mode = tarfile.FIFOTYPE, 0o600
            elif kind == "chr":
                ti.type, (ti.devmajor, ti.devminor), ti.mode = tarfile.CHRTYPE, extra, 0o666
            for k, v in attrs.items():
                setattr(ti, k, v)
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()
