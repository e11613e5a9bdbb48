"""Registry failures as one line a user can act on: what the registry said, and its HTTP status."""

from __future__ import annotations

from ..errors import DockyardError


class RegistryError(DockyardError):
    """The registry refused or failed a request, or could not be reached. ``status`` is the
    HTTP status (None for a connection failure); ``registry_code`` the distribution-spec error
    code (MANIFEST_UNKNOWN, UNAUTHORIZED, ...) when the registry sent one."""

    code = "registry"

    def __init__(self, message: str, status: int | None = None, registry_code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.registry_code = status, registry_code


class AuthError(RegistryError):
    code = "unauthorized"


def from_response(status: int, body: bytes, fallback: str) -> RegistryError:
    """The registry's own words when it sent the spec's error document, else ``fallback``:
    ``manifest unknown (404)``."""
    from .. import _json

    message, rcode = fallback, None
    try:
        errors = _json.loads(body).get("errors") or []
        if errors and isinstance(errors[0], dict):
            rcode = errors[0].get("code")
            message = errors[0].get("message") or (rcode or fallback).lower().replace("_", " ")
    except (ValueError, AttributeError):
        pass
    cls = AuthError if status in (401, 403) else RegistryError
    return cls(f"{message} ({status})", status, rcode)
