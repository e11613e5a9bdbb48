"""Network errors: each a one-line message a user can act on (the CLI prints str(err))."""

from __future__ import annotations

from ..errors import DockyardError


class NetworkError(DockyardError):
    """A network operation was refused or failed (bad spec, overlap, port in use, netlink)."""

    code = "network"


class PortInUse(NetworkError):
    code = "port-in-use"


class AddressInUse(NetworkError):
    code = "address-in-use"
