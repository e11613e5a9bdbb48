"""Registry authentication: the ``WWW-Authenticate`` challenge, Basic, and bearer tokens.

The flow (distribution's token auth spec, as Docker runs it)::

    GET /v2/                      -> 200: no auth; 401 + WWW-Authenticate: the challenge
    Basic realm=...               -> every request carries Authorization: Basic user:pass
    Bearer realm=R,service=S      -> GET R?service=S&scope=repository:NAME:pull[,push]...
                                     (with Basic user:pass when logged in, anonymous otherwise)
                                     -> {"token": T, "expires_in": N}; requests carry Bearer T

Tokens are cached per set of scopes until shortly before they expire; a request answered 401
anyway (token expired, scope too narrow) drops the cached token and fetches one once more
with the scope the new challenge names.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse

from .errors import AuthError, RegistryError, from_response

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Challenge:
    __slots__ = ("params", "scheme")

    def __init__(self, scheme: str, params: dict[str, str]) -> None:
        self.scheme, self.params = scheme, params

    def __repr__(self) -> str:
        return f"Challenge({self.scheme!r}, {self.params!r})"


def parse_challenges(header: str) -> list[Challenge]:
    """RFC 7235 challenges: ``scheme k=v, k="quoted \\" value", other-scheme ...``. Scheme names
    are lowercased; a malformed tail ends the parse (what was read stays)."""
    out: list[Challenge] = []
    i, n = 0, len(header)

    def skip_ws(j: int) -> int:
        while j < n and header[j] in " \t,":
            j += 1
        return j

    def token(j: int) -> tuple[str, int]:
        k = j
        while k < n and header[k] in _TOKEN_CHARS:
            k += 1
        return header[j:k], k

    i = skip_ws(i)
    while i < n:
        name, i = token(i)
        if not name:
            break
        ch = Challenge(name.lower(), {})
        out.append(ch)
        while True:
            i = skip_ws(i)
            key, j = token(i)
            k = j
            while k < n and header[k] in " \t":
                k += 1
            if not key or k >= n or header[k] != "=":
                break  # not a parameter: the next challenge's scheme (or the end)
            k += 1
            while k < n and header[k] in " \t":
                k += 1
            if k < n and header[k] == '"':
                k += 1
                value = []
                while k < n and header[k] != '"':
                    if header[k] == "\\" and k + 1 < n:
                        k += 1
                    value.append(header[k])
                    k += 1
                k += 1  # closing quote
                ch.params[key.lower()] = "".join(value)
            else:
                value, k = token(k)
                ch.params[key.lower()] = value
            i = k
    return out


def scope(repo: str, actions: str) -> str:
    return f"repository:{repo}:{actions}"


def basic_header(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


class Authenticator:
    """Authorization headers for one registry endpoint (a Transport) and one identity."""

    def __init__(self, transport, credentials: tuple[str, str] | None = None) -> None:
        self.transport = transport
        self.credentials = credentials
        self.challenge: Challenge | None = None
        self._pinged = False
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._ping_lock = threading.Lock()  # parallel layer threads ping once between them

    def ping(self) -> None:
        """GET /v2/: learn the challenge (and, in the transport, the scheme)."""
        r = self.transport.request("GET", "/v2/")
        body = r.read()
        if r.status == 401:
            self.challenge = self._pick(r.header("WWW-Authenticate") or "")
        elif r.status >= 400:
            raise from_response(r.status, body, f"{self.transport.hostport}: /v2/ answered")
        self._pinged = True

    @staticmethod
    def _pick(header: str) -> Challenge:
        challenges = {c.scheme: c for c in parse_challenges(header)}
        for scheme in ("bearer", "basic"):
            if scheme in challenges:
                return challenges[scheme]
        raise AuthError(f"unsupported authentication challenge {header!r}", 401)

    def headers(self, scopes: tuple[str, ...]) -> dict:
        if not self._pinged:
            with self._ping_lock:
                if not self._pinged:
                    self.ping()
        c = self.challenge
        if c is None:
            return {}
        if c.scheme == "basic":
            return {"Authorization": basic_header(*self.credentials)} if self.credentials else {}
        return {"Authorization": "Bearer " + self._token(scopes)}

    def retry_after_401(self, response, scopes: tuple[str, ...]) -> tuple[str, ...] | None:
        """A request was refused: the scopes to fetch a fresh token for, or None if another try
        cannot help (Basic with the only credentials we have)."""
        header = response.header("WWW-Authenticate") or ""
        if not header or self.challenge is None or self.challenge.scheme != "bearer":
            return None
        try:
            c = self._pick(header)
        except AuthError:
            return None
        if c.scheme != "bearer":
            return None
        with self._lock:
            self._tokens.pop(" ".join(sorted(scopes)), None)
        wanted = set(scopes)
        if c.params.get("scope"):
            wanted |= set(c.params["scope"].split(" "))
        return tuple(sorted(wanted))

    def _token(self, scopes: tuple[str, ...]) -> str:
        key = " ".join(sorted(scopes))
        with self._lock:
            hit = self._tokens.get(key)
            if hit and hit[1] > time.monotonic():
                return hit[0]
            token, ttl = self.fetch_token(scopes)
            # refresh a little early so a token does not expire between use and arrival
            self._tokens[key] = (token, time.monotonic() + max(ttl - 10, 1))
            return token

    def fetch_token(self, scopes: tuple[str, ...]) -> tuple[str, int]:
        from .transport import Transport

        params = self.challenge.params
        realm = params.get("realm")
        if not realm:
            raise AuthError(f"{self.transport.hostport}: bearer challenge without a realm", 401)
        query = [("service", params["service"])] if params.get("service") else []
        query += [("scope", s) for s in scopes]
        if self.credentials:
            query.append(("account", self.credentials[0]))
        u = urllib.parse.urlsplit(realm)
        t = Transport(f"{u.scheme}://{u.netloc}", self.transport.config)
        path = u.path + "?" + "&".join(x for x in [u.query, urllib.parse.urlencode(query)] if x)
        headers = {"Authorization": basic_header(*self.credentials)} if self.credentials else {}
        r = t.request("GET", path, headers)
        body = r.read()
        if r.status != 200:
            if r.status == 401:
                raise AuthError("unauthorized: incorrect username or password (401)", 401)
            raise from_response(r.status, body, f"token server {u.netloc} answered")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
            ttl = int(doc.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token = None
        if not token:
            raise RegistryError(f"token server {u.netloc}: answer holds no token")
        return token, ttl
