"""`search`: repositories on a registry whose name matches a term, where the registry offers it.

The distribution spec has no search. Two things exist in the wild, tried in this order (as
podman does; Docker only knows the first):

    GET /v1/search?q=TERM&n=N    Docker Hub's API (index.docker.io), some other registries:
                                 {"results": [{"name", "description", "star_count",
                                               "is_official", "is_automated"}, ...]}
    GET /v2/_catalog?n=100       every repository name, paginated (``Link: <...?last=X&n=100>;
                                 rel="next"``), needs scope ``registry:catalog:*``; filtered
                                 here by substring, as podman filters it

A registry that answers 404 (or 405/501: not implemented) to the first falls back to the
second (docker-registry 2.8 has only the catalog); one that has neither is "REGISTRY does not
offer search". The catalog only knows names: description empty, no stars, not official.
"""

from __future__ import annotations

import json
import urllib.parse

from .client import Session
from .config import DOCKER_HUB, RegistriesConfig
from .errors import RegistryError, from_response

DOCKER_HUB_INDEX = "index.docker.io"  # where Docker Hub's /v1/search lives (not registry-1)
CATALOG_SCOPE = "registry:catalog:*"
CATALOG_PAGE = 100
_ABSENT = frozenset({404, 405, 501})  # "this endpoint does not exist here"


class SearchResult:
    __slots__ = ("description", "is_automated", "is_official", "name", "star_count")

    def __init__(self, name: str, description: str = "", star_count: int = 0, is_official: bool = False,
                 is_automated: bool = False) -> None:
        self.name, self.description, self.star_count = name, description, star_count
        self.is_official, self.is_automated = is_official, is_automated


def split_term(text: str) -> tuple[str, str]:
    """(registry, term) as Docker splits a search term: ``REGISTRY/term`` when the part before
    the first slash looks like a host (has a dot or a colon, or is localhost), else Docker Hub."""
    first, slash, rest = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return DOCKER_HUB, text


def search(text: str, *, limit: int = 25, config: RegistriesConfig | None = None, insecure: bool = False,
           credentials: tuple[str, str] | None = None) -> tuple[str, list[SearchResult]]:
    """(registry, up to ``limit`` results) for a term, from the registry's own endpoint (search
    never goes through mirrors, as in Docker)."""
    registry, term = split_term(text)
    endpoint = DOCKER_HUB_INDEX if registry == DOCKER_HUB else registry
    session = Session(endpoint, config or RegistriesConfig.load(), insecure=insecure, credentials=credentials)
    if term:  # an empty term lists the catalog (podman's `search REGISTRY/`)
        results = _v1_search(session, term, limit)
        if results is not None:
            return registry, results
    results = _catalog_search(session, registry, term, limit)
    if results is None:
        raise RegistryError(f"{registry} does not offer search")
    return registry, results


def _v1_search(session: Session, term: str, limit: int) -> list[SearchResult] | None:
    """Docker's search API, or None when the registry does not have it."""
    path = "/v1/search?" + urllib.parse.urlencode({"q": term, "n": str(limit)})
    r = session.transport.request("GET", path)  # anonymous first: Docker Hub's is public
    if r.status == 401:
        r.read()
        r = session.request("GET", path, ())
    body = r.read()
    if r.status in _ABSENT:
        return None
    if r.status != 200:
        raise from_response(r.status, body, "search failed")
    try:
        doc = json.loads(body)
        return [SearchResult(str(x.get("name") or ""), str(x.get("description") or ""),
                             int(x.get("star_count") or 0), bool(x.get("is_official")),
                             bool(x.get("is_automated")))
                for x in doc.get("results") or []][:limit]
    except (ValueError, AttributeError, TypeError):
        raise RegistryError(f"{session.host}: /v1/search answered something that is not search results") from None


def _catalog_search(session: Session, registry: str, term: str, limit: int) -> list[SearchResult] | None:
    """Catalog names containing ``term``, as ``REGISTRY/NAME`` (pullable as shown), or None
    when the registry has no catalog."""
    needle = term.lower()
    out: list[SearchResult] = []
    path: str | None = f"/v2/_catalog?n={CATALOG_PAGE}"
    seen_pages: set[str] = set()
    while path and len(out) < limit:
        seen_pages.add(path)
        r = session.request("GET", path, (CATALOG_SCOPE,))
        body = r.read()
        if r.status in _ABSENT and len(seen_pages) == 1:
            return None  # the first page is missing: no catalog at all
        if r.status != 200:
            raise from_response(r.status, body, "catalog failed")
        try:
            names = json.loads(body).get("repositories") or []
        except (ValueError, AttributeError):
            raise RegistryError(f"{session.host}: /v2/_catalog answered something that is not a catalog") from None
        out += [SearchResult(f"{registry}/{n}") for n in names if isinstance(n, str) and needle in n.lower()]
        path = _next_page(r.header("Link"))
        if path in seen_pages:
            break  # a registry that links a page to itself must not loop us forever
    return out[:limit]


def _next_page(link: str | None) -> str | None:
    """The path and query of ``Link: </v2/_catalog?last=x&n=100>; rel="next"`` (relative or
    absolute), or None on the last page."""
    if not link:
        return None
    target, _, params = link.partition(";")
    if "next" not in params:
        return None
    u = urllib.parse.urlsplit(target.strip().strip("<>"))
    return u.path + (f"?{u.query}" if u.query else "") if u.path else None
