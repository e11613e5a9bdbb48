"""`login` and `logout`: check credentials against the registry, then keep or forget them.

login verifies before it stores, as Docker does: GET /v2/ with Basic credentials for a Basic
registry, or a token request with them for a token-auth registry; a refusal is
``unauthorized: incorrect username or password`` and nothing is written."""

from __future__ import annotations

from . import credentials
from .auth import basic_header
from .client import Session
from .config import DOCKER_HUB, RegistriesConfig, api_host
from .errors import AuthError, from_response


def server_name(text: str | None) -> str:
    """`login [SERVER]`: a bare host[:port] or a URL; none means Docker Hub."""
    if not text:
        return DOCKER_HUB
    name = text.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if name in ("index.docker.io", "registry-1.docker.io") else name


def verify(registry: str, user: str, secret: str, *, insecure: bool = False,
           config: RegistriesConfig | None = None) -> None:
    session = Session(api_host(registry), config or RegistriesConfig.load(), insecure=insecure,
                      credentials=(user, secret))
    auth = session.auth
    auth.ping()
    c = auth.challenge
    if c is None:
        return  # the registry asks for no credentials: Docker reports success too
    if c.scheme == "bearer":
        auth.fetch_token(())
        return
    r = session.transport.request("GET", "/v2/", {"Authorization": basic_header(user, secret)})
    body = r.read()
    if r.status == 401:
        raise AuthError("unauthorized: incorrect username or password (401)", 401)
    if r.status != 200:
        raise from_response(r.status, body, "login failed")


def login(server: str | None, user: str, secret: str, *, insecure: bool = False) -> str:
    registry = server_name(server)
    verify(registry, user, secret, insecure=insecure)
    credentials.store(registry, user, secret)
    return registry


def logout(server: str | None) -> tuple[str, bool]:
    registry = server_name(server)
    return registry, credentials.erase(registry)
