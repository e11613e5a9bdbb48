"""Image references as Docker parses them (distribution/reference's normalized names).

    busybox                 -> docker.io/library/busybox:latest
    user/app:1.0            -> docker.io/user/app:1.0
    localhost:5000/x        -> localhost:5000/x:latest
    ghcr.io/o/r@sha256:...  -> by digest (a tag may be given too; the digest wins)

The first component is a registry when it has a '.' or ':' or is "localhost"; the path is
lowercase alphanumerics with separators ('.', '_', '__', '-'), components split by '/'.
Written without ``re`` (it costs ~1 ms per CLI start).
"""

from __future__ import annotations

from ..errors import ConfigError
from .digest import Digest

DEFAULT_REGISTRY = "docker.io"
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class Reference:
    __slots__ = ("registry", "path", "tag", "digest")

    def __init__(self, registry: str, path: str, tag: str | None, digest: Digest | None) -> None:
        self.registry, self.path, self.tag, self.digest = registry, path, tag, digest

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.path}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    def familiar(self) -> str:
        """How Docker shows it: no docker.io/library/ prefix."""
        name = self.name
        if self.registry == DEFAULT_REGISTRY:
            name = self.path[len("library/"):] if self.path.startswith("library/") else self.path
        return name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def _component_ok(c: str) -> bool:
    if not c or c[0] not in _ALNUM or c[-1] not in _ALNUM:
        return False
    i = 0
    while i < len(c):
        ch = c[i]
        if ch in _ALNUM:
            i += 1
            continue
        # a separator: '.', '_', '__' or one or more '-', always between alphanumerics
        if ch == "_" and c[i:i + 2] == "__":
            i += 2
        elif ch == "-":
            while i < len(c) and c[i] == "-":
                i += 1
        elif ch in "._":
            i += 1
        else:
            return False
        if i >= len(c) or c[i] not in _ALNUM:
            return False
    return True


def parse(text: str, default_tag: str = "latest") -> Reference:
    """Parse and normalize; a bad reference is a ConfigError quoting it."""
    if not text or len(text) > 4096 or any(ch.isspace() for ch in text):
        raise ConfigError(f"invalid reference format: {text!r}")
    rest, digest = text, None
    if "@" in rest:
        rest, _, d = rest.partition("@")
        try:
            digest = Digest(d)
        except Exception:  # noqa: BLE001 - StoreError from Digest: report as a reference error
            raise ConfigError(f"invalid reference format: {text!r} (bad digest)") from None
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:  # a ':' after the last '/' is a tag, not a registry port
        rest, tag = rest[:colon], rest[colon + 1:]
        if not tag or len(tag) > 128 or set(tag) - _TAG_CHARS or tag[0] in ".-":
            raise ConfigError(f"invalid reference format: {text!r} (bad tag)")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DEFAULT_REGISTRY, rest
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = "library/" + path
    if path != path.lower():
        raise ConfigError(f"invalid reference format: {text!r} (repository names must be lowercase)")
    if not path or not all(_component_ok(c) for c in path.split("/")):
        raise ConfigError(f"invalid reference format: {text!r}")
    if tag is None and digest is None:
        tag = default_tag
    return Reference(registry, path, tag, digest)
