"""``--platform os/arch[/variant]`` and choosing an index entry, as Docker (containerd's
platforms package) does: architectures normalised (x86_64 -> amd64, aarch64 -> arm64), arm64's
variant v8 optional, an arm variant matching lower ones (v7 runs v6 and v5) best first."""

from __future__ import annotations

import os

from ..errors import ConfigError, ImageError

_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
         "i386": "386", "i686": "386"}
_VARIANT = {("arm", "armhf"): "v7", ("arm", "armel"): "v6"}


class Platform:
    __slots__ = ("arch", "os", "variant")

    def __init__(self, os_: str, arch: str, variant: str | None = None) -> None:
        self.os, self.arch, self.variant = os_, arch, variant

    def __str__(self) -> str:
        return f"{self.os}/{self.arch}" + (f"/{self.variant}" if self.variant else "")

    def __eq__(self, other) -> bool:
        return isinstance(other, Platform) and str(self) == str(other)


def parse(text: str) -> Platform:
    parts = text.lower().split("/")
    if len(parts) == 1 and parts[0]:
        parts = ["linux", parts[0]]  # "arm64" alone means linux/arm64, as containerd reads it
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise ConfigError(f"invalid platform {text!r}: want os/arch[/variant]")
    os_, raw_arch = parts[0], parts[1]
    arch = _ARCH.get(raw_arch, raw_arch)
    variant = parts[2] if len(parts) == 3 else _VARIANT.get((arch, raw_arch))
    if arch == "arm64" and variant == "v8":
        variant = None  # the default variant of arm64: matches entries with or without it
    return Platform(os_, arch, variant)


def host() -> Platform:
    machine = os.uname().machine
    return parse(f"linux/{machine}")


_ANY = object()  # any variant (amd64 asked without one accepts an entry with one)


def _candidates(want: Platform) -> list:
    """Acceptable variants, best first."""
    if want.arch == "arm" and want.variant and want.variant[1:].isdigit():
        return [f"v{n}" for n in range(int(want.variant[1:]), 4, -1)]
    if want.variant or want.arch == "arm64":
        return [want.variant]
    return [None, _ANY]


def select(manifests: list, want: Platform):
    """The index entry (a Descriptor with ``platform``) for ``want``; ImageError listing what
    the index has when none fits."""
    for variant in _candidates(want):
        for m in manifests:
            p = m.platform or {}
            arch = _ARCH.get(p.get("architecture", ""), p.get("architecture"))
            v = p.get("variant") or None
            if arch == "arm64" and v == "v8":
                v = None
            if p.get("os") == want.os and arch == want.arch and (variant is _ANY or v == variant):
                return m
    have = ", ".join(sorted({str(Platform(p.get("os"), p.get("architecture"), p.get("variant")))
                             for p in (m.platform or {} for m in manifests)})) or "none"
    raise ImageError(f"no image for platform {want} (the index has: {have})")
