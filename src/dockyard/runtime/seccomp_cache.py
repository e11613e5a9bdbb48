"""Compiled seccomp filters, cached across container starts.

libseccomp needs ~4 ms to build Docker's default profile and ~11 ms more to generate its
BPF, on every start — more than a third of a whole `run` here. The BPF depends only on the
profile, the libseccomp version and the machine's architecture, so it is kept in a cache
keyed by their hash, and a hit is installed with seccomp(2) directly: no libseccomp at all.

    <cache>/<sha256>   8-byte header (seccomp(2) flags, has-notify) + the BPF program

The cache directory is <run root>/seccomp-cache, /run/dockyard/seccomp-cache by default
(tmpfs: emptied at boot, which is also when a new libseccomp or kernel arrives);
$DOCKYARD_SECCOMP_CACHE overrides it, and
"off" compiles every time. Anyone who can write there could weaken
every container's filter, so it is used only if it is owned by us and writable by no one
else; otherwise filters are compiled every time, as without a cache.
"""

from __future__ import annotations

import os
import struct

from .._sys import seccomp as _sc
from . import seccomp

_HEADER = struct.Struct("<II")


class CachedFilter:
    """A ready BPF program; the same interface the runtime uses on seccomp.Filter."""

    def __init__(self, bpf: bytes, flags: int, has_notify: bool, spec: dict) -> None:
        self.bpf, self.flags, self.has_notify = bpf, flags, has_notify
        self.listener_path = spec.get("listenerPath") or ""
        self.listener_metadata = spec.get("listenerMetadata") or ""

    def load(self) -> int | None:
        flags = self.flags | (_sc.SECCOMP_FILTER_FLAG_NEW_LISTENER if self.has_notify else 0)
        fd = _sc.install_bpf(self.bpf, flags)
        return fd if self.has_notify else None


def _key(spec: dict) -> str:
    from .. import _json

    try:
        from _sha256 import sha256  # the C module: hashlib's import costs ~1 ms
    except ImportError:  # pragma: no cover - other builds
        from hashlib import sha256
    text = "\0".join((_json.dumps(spec, sort_keys=True), ".".join(map(str, _sc.version())), os.uname().machine))
    return sha256(text.encode()).hexdigest()


def _usable_dir(path: str) -> bool:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError:
        return False
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _flags_of(flt: seccomp.Filter) -> int:
    ctx = flt._live()
    flags = 0
    for attr, bit in ((_sc.SCMP_FLTATR_CTL_TSYNC, _sc.SECCOMP_FILTER_FLAG_TSYNC),
                      (_sc.SCMP_FLTATR_CTL_LOG, _sc.SECCOMP_FILTER_FLAG_LOG),
                      (_sc.SCMP_FLTATR_CTL_SSB, _sc.SECCOMP_FILTER_FLAG_SPEC_ALLOW)):
        try:
            if _sc.attr_get(ctx, attr):
                flags |= bit
        except Exception:  # noqa: BLE001 - an attribute this libseccomp lacks is simply off
            pass
    return flags


def compile_cached(spec: dict, cache_dir: str | None = None):
    """A loadable filter for ``spec``: from the cache, or compiled (and then cached).
    Validation errors are those of seccomp.compile (a spec is cached only once valid)."""
    if not cache_dir:
        from ..config import run_root

        cache_dir = os.environ.get("DOCKYARD_SECCOMP_CACHE") or os.path.join(run_root(), "seccomp-cache")
    use_cache = cache_dir != "off" and _usable_dir(cache_dir)
    if use_cache:
        key = _key(spec)
        path = os.path.join(cache_dir, key)
        try:
            with open(path, "rb") as f:
                data = f.read()
            flags, notify = _HEADER.unpack_from(data)
            bpf = data[_HEADER.size:]
            if bpf and len(bpf) % 8 == 0:
                return CachedFilter(bpf, flags, bool(notify), spec)
        except (OSError, struct.error):
            pass
    flt = seccomp.compile(spec)
    try:
        cached = CachedFilter(flt.export_bpf(), _flags_of(flt), flt.has_notify, spec)
    finally:
        flt.release()
    if use_cache:
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(_HEADER.pack(cached.flags, int(cached.has_notify)) + cached.bpf)
            os.rename(tmp, path)  # atomic: a reader sees a whole entry or none
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return cached
