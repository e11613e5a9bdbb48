"""Which registries exist how: mirrors, insecure registries, CA directories, API host names.

The registries file is JSON at ``$DOCKYARD_CONFIG`` or ``/etc/dockyard/registries.json``
(a missing file means "no mirrors, nothing insecure"; a malformed one is an error)::

    {
      "mirrors":  {"docker.io": ["https://mirror.example.com", "10.0.0.5:5000"]},
      "insecure": ["registry.lan:5000", "10.0.0.0/8"]
    }

``mirrors`` are tried in order for pulls from that registry, then the registry itself. Per
registry as podman's registries.conf has them (dockerd's ``registry-mirrors`` only apply to
docker.io); each mirror uses its own host's credentials. ``insecure`` entries are
``host[:port]`` or CIDR ranges (as dockerd's ``insecure-registries``): HTTPS is tried
without certificate verification, then plain HTTP. As in Docker, loopback registries
(``localhost``, ``127.0.0.0/8``, ``::1``) are insecure without being listed.

CA certificates per registry, Docker's layout: ``<certs.d>/<host[:port]>/*.crt`` are added to
the system CAs; ``client.cert`` + ``client.key`` are a client certificate. The roots searched
are ``$DOCKYARD_CERTS_D`` if set (tests), else ``/etc/dockyard/certs.d``, ``/etc/docker/certs.d``
and ``~/.docker/certs.d``.
"""

from __future__ import annotations

import ipaddress
import json
import os

from ..errors import ConfigError

DEFAULT_FILE = "/etc/dockyard/registries.json"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


def api_host(registry: str) -> str:
    """The host that serves /v2/ for a registry name (Docker Hub's is not docker.io)."""
    return DOCKER_HUB_API if registry in (DOCKER_HUB, "index.docker.io") else registry


def _split_host(hostport: str) -> str:
    if hostport.startswith("["):  # [::1]:5000
        return hostport[1:hostport.index("]")]
    return hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport


def is_loopback(hostport: str) -> bool:
    host = _split_host(hostport)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RegistriesConfig:
    def __init__(self, mirrors: dict[str, list[str]] | None = None, insecure: list[str] | None = None) -> None:
        self.mirrors = mirrors or {}
        self.insecure = insecure or []

    @classmethod
    def load(cls, path: str | None = None) -> RegistriesConfig:
        path = path or os.environ.get("DOCKYARD_CONFIG") or DEFAULT_FILE
        try:
            with open(path) as f:
                doc = json.load(f)
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as e:
            raise ConfigError(f"registries config {path}: {e}") from None
        mirrors, insecure = doc.get("mirrors") or {}, doc.get("insecure") or []
        if not isinstance(mirrors, dict) or not all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                                     for v in mirrors.values()):
            raise ConfigError(f"registries config {path}: 'mirrors' must map a registry to a list of URLs")
        if not isinstance(insecure, list) or not all(isinstance(x, str) for x in insecure):
            raise ConfigError(f"registries config {path}: 'insecure' must be a list of host[:port] or CIDR")
        for entry in insecure:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ConfigError(f"registries config {path}: bad CIDR {entry!r} in 'insecure'") from None
        return cls(mirrors, insecure)

    def is_insecure(self, hostport: str) -> bool:
        if is_loopback(hostport):
            return True
        host = _split_host(hostport)
        for entry in self.insecure:
            if "/" in entry:
                try:
                    if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    continue
            elif entry in (hostport, host):
                return True
        return False

    def endpoints(self, registry: str) -> list[str]:
        """Where to pull from, in order: the mirrors as ``host[:port]`` or URLs, then the registry."""
        return [*self.mirrors.get(registry, []), api_host(registry)]


def certs_roots() -> list[str]:
    env = os.environ.get("DOCKYARD_CERTS_D")
    if env:
        return [env]
    return ["/etc/dockyard/certs.d", "/etc/docker/certs.d", os.path.expanduser("~/.docker/certs.d")]


def cert_dir(hostport: str) -> str | None:
    """The first certs.d directory for this registry, or None."""
    for root in certs_roots():
        d = os.path.join(root, hostport)
        if os.path.isdir(d):
            return d
    return None
