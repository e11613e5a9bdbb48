"""`-p/--publish` specs in Docker's grammar, parsed into one PortMapping per port (pure).

    [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]
    80               container 80/tcp on a random host port, all host addresses
    8080:80          host 8080 -> container 80
    127.0.0.1:8080:80, 127.0.0.1::80 (random host port on 127.0.0.1 only)
    8080:80/udp      udp (tcp, udp and sctp are Docker's protocols; we publish tcp and udp)
    8000-8002:80-82  ranges of the same length; `8000-8010:80` picks one free host port in the range

IPv6 host addresses (`[::1]:8080:80`) are refused: dockyard's networks are IPv4 only.
"""

from __future__ import annotations

from .errors import NetworkError

PROTOCOLS = ("tcp", "udp")


class PortMapping:
    __slots__ = ("container_port", "host_ip", "host_port", "host_port_end", "proto")

    def __init__(self, host_ip: str, host_port: int, container_port: int, proto: str, host_port_end: int = 0) -> None:
        # host_port 0 = pick one; host_port_end > host_port = pick one in [host_port, host_port_end]
        self.host_ip, self.host_port, self.container_port, self.proto = host_ip, host_port, container_port, proto
        self.host_port_end = host_port_end

    def as_dict(self) -> dict:
        return {"host_ip": self.host_ip, "host_port": self.host_port, "container_port": self.container_port,
                "proto": self.proto}

    def __eq__(self, other) -> bool:
        return isinstance(other, PortMapping) and all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self) -> str:
        ip = self.host_ip or "0.0.0.0"
        return f"{ip}:{self.host_port}->{self.container_port}/{self.proto}"


def _bad(spec: str, why: str) -> NetworkError:
    return NetworkError(f"invalid publish spec {spec!r}: {why}")


def _port(spec: str, text: str, what: str) -> int:
    if not text.isdigit():
        raise _bad(spec, f"{what} {text!r} is not a number")
    n = int(text)
    if not 1 <= n <= 65535:
        raise _bad(spec, f"{what} {n} is outside 1-65535")
    return n


def _range(spec: str, text: str, what: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    first = _port(spec, lo, what)
    last = _port(spec, hi, what) if sep else first
    if last < first:
        raise _bad(spec, f"{what} range {text!r} ends before it starts")
    return first, last


def _ipv4(spec: str, text: str) -> str:
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 and str(int(p)) == p for p in parts):
        raise _bad(spec, f"host address {text!r} is not an IPv4 address")
    return "" if text == "0.0.0.0" else text


def parse(spec: str) -> list[PortMapping]:
    """One -p value -> its mappings. Raises NetworkError with a one-line message."""
    if not spec or spec != spec.strip():
        raise _bad(spec, "empty or padded with spaces")
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOCOLS:
        raise _bad(spec, f"protocol {proto!r} is not one of {', '.join(PROTOCOLS)}")
    if body.startswith("["):
        raise _bad(spec, "IPv6 host addresses are not supported (dockyard networks are IPv4)")
    fields = body.split(":")
    if len(fields) > 3:
        raise _bad(spec, "expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]")
    host_ip = _ipv4(spec, fields[0]) if len(fields) == 3 else ""
    host_text = fields[-2] if len(fields) >= 2 else ""
    c_first, c_last = _range(spec, fields[-1], "container port")
    if not host_text:
        return [PortMapping(host_ip, 0, c, proto) for c in range(c_first, c_last + 1)]
    h_first, h_last = _range(spec, host_text, "host port")
    n_c, n_h = c_last - c_first + 1, h_last - h_first + 1
    if n_c == 1 and n_h > 1:  # Docker: one container port, a host range to pick a free port from
        return [PortMapping(host_ip, h_first, c_first, proto, host_port_end=h_last)]
    if n_c != n_h:
        raise _bad(spec, "host and container port ranges differ in length")
    return [PortMapping(host_ip, h_first + i, c_first + i, proto) for i in range(n_c)]


def parse_all(specs) -> list[PortMapping]:
    out: list[PortMapping] = []
    for s in specs:
        out += parse(s)
    return out
