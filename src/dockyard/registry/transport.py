"""HTTP(S) to one registry endpoint with http.client: scheme choice, TLS, redirects, retries.

Scheme, as Docker chooses it: an endpoint given as a URL uses its scheme. Otherwise HTTPS with
verification against the system CAs plus the registry's certs.d directory. An insecure
registry (listed in registries.json, ``--insecure``, or loopback) is tried over HTTPS first —
verified if it has a certs.d directory (someone installed its CA: a bad certificate is then
an error, stricter than Docker), unverified otherwise — and over plain HTTP when HTTPS does
not answer. The choice is made once, by the first request (normally the /v2/ ping).

Retries: connection errors and 429/500/502/503/504 answers are retried with doubling backoff
(``Retry-After`` honoured up to 10 s). A request body is re-sent only if it is bytes or a
function returning a fresh file object, so a half-sent stream is never retried blind.

Threads: one connection per thread per endpoint (http.client connections are not
thread-safe); keep-alive reuses it for the next request once a response is fully read.
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
import time
import urllib.parse

from .config import RegistriesConfig, cert_dir
from .errors import RegistryError

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def backoff_base() -> float:
    """Seconds before the first retry (doubling after); $DOCKYARD_REGISTRY_BACKOFF for tests."""
    try:
        return max(float(os.environ.get("DOCKYARD_REGISTRY_BACKOFF", "0.5")), 0.0)
    except ValueError:
        return 0.5
_TIMEOUT = 60
_BLOCK = 1 << 20


class Response:
    """A response whose body has not been read yet: ``read()`` all of it, or ``stream()``."""

    def __init__(self, raw: http.client.HTTPResponse, url: str) -> None:
        self.raw, self.url = raw, url
        self.status = raw.status
        self.headers = raw.headers

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def read(self, limit: int = 32 << 20) -> bytes:
        data = self.raw.read(limit + 1)
        if len(data) > limit:
            self.close()
            raise RegistryError(f"{self.url}: response larger than {limit} bytes")
        return data

    def stream(self, size: int = _BLOCK):
        while chunk := self.raw.read(size):
            yield chunk

    def close(self) -> None:
        self.raw.close()


def _tls_context(hostport: str, verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    d = cert_dir(hostport)
    if d:
        for name in sorted(os.listdir(d)):
            if name.endswith(".crt"):
                ctx.load_verify_locations(cafile=os.path.join(d, name))
        cert, key = os.path.join(d, "client.cert"), os.path.join(d, "client.key")
        if os.path.exists(cert) and os.path.exists(key):
            ctx.load_cert_chain(cert, key)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Transport:
    """Requests to one endpoint (``host[:port]`` or a base URL such as a mirror's)."""

    def __init__(self, endpoint: str, config: RegistriesConfig | None = None, *, insecure: bool = False,
                 retries: int = 4, backoff: float | None = None) -> None:
        self.config = config or RegistriesConfig()
        self.retries = retries
        self.backoff = backoff_base() if backoff is None else backoff
        if "://" in endpoint:
            u = urllib.parse.urlsplit(endpoint)
            self.hostport, self.prefix = u.netloc, u.path.rstrip("/")
        else:
            self.hostport, self.prefix = endpoint, ""
        weak = insecure or self.config.is_insecure(self.hostport)
        if "://" in endpoint:
            self._schemes = [u.scheme]
        else:
            self._schemes = ["https", "http"] if weak else ["https"]
        # An insecure registry whose CA someone installed is still verified.
        self._verify = not weak or cert_dir(self.hostport) is not None
        self._local = threading.local()
        self._lock = threading.Lock()
        self.scheme: str | None = self._schemes[0] if len(self._schemes) == 1 else None

    # -- connections ------------------------------------------------------------------------
    def _conn(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conns = self._local.__dict__.setdefault("conns", {})
        c = conns.get((scheme, netloc))
        if c is None:
            if scheme == "https":
                c = http.client.HTTPSConnection(netloc, timeout=_TIMEOUT, blocksize=_BLOCK,
                                                context=_tls_context(netloc, self._verify))
            else:
                c = http.client.HTTPConnection(netloc, timeout=_TIMEOUT, blocksize=_BLOCK)
            conns[(scheme, netloc)] = c
        return c

    def _drop(self, scheme: str, netloc: str) -> None:
        c = self._local.__dict__.get("conns", {}).pop((scheme, netloc), None)
        if c is not None:
            c.close()

    def url(self, path: str) -> str:
        return f"{self.scheme or self._schemes[0]}://{self.hostport}{self.prefix}{path}"

    def _choose_scheme(self, path: str) -> None:
        """Try each candidate scheme with a GET of ``path`` (the /v2/ ping) and keep the first
        that answers at all."""
        last: Exception | None = None
        for scheme in self._schemes:
            try:
                r = self._send_once("GET", f"{scheme}://{self.hostport}{self.prefix}{path}", {}, None)
                r.read()
                self.scheme = scheme
                return
            except ssl.SSLCertVerificationError as e:
                raise self._tls_error(e) from None
            except (OSError, http.client.HTTPException) as e:
                self._drop(scheme, self.hostport)
                last = e
        raise RegistryError(f"{self.hostport}: cannot connect ({_reason(last)})")

    def _tls_error(self, e: ssl.SSLCertVerificationError) -> RegistryError:
        return RegistryError(f"{self.hostport}: TLS certificate not trusted ({e.verify_message}); put its CA in "
                             f"certs.d/{self.hostport}/ca.crt or list the registry as insecure")

    # -- requests -------------------------------------------------------------------------
    def _send_once(self, method: str, url: str, headers: dict, body) -> Response:
        u = urllib.parse.urlsplit(url)
        conn = self._conn(u.scheme, u.netloc)
        target = u.path + (f"?{u.query}" if u.query else "")
        data = body() if callable(body) else body
        hdrs = dict(headers)
        if data is None and method in ("PUT", "POST", "PATCH"):
            hdrs.setdefault("Content-Length", "0")
        try:
            conn.request(method, target, body=data, headers=hdrs)
            return Response(conn.getresponse(), url)
        except BaseException:
            self._drop(u.scheme, u.netloc)
            raise
        finally:
            if callable(body) and hasattr(data, "close"):
                data.close()

    def request(self, method: str, path_or_url: str, headers: dict | None = None, body=None, *,
                retry: bool = True, redirects: int = 5) -> Response:
        """One request, retried on connection errors and 429/5xx, redirects followed
        (Authorization dropped when leaving the registry's host). The response is returned
        unread, whatever its status; retried answers are drained first."""
        with self._lock:
            if self.scheme is None:
                self._choose_scheme("/v2/")
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        headers = dict(headers or {})
        can_retry = retry and (body is None or isinstance(body, bytes) or callable(body))
        attempt = 0
        while True:
            try:
                r = self._send_once(method, url, headers, body)
            except ssl.SSLCertVerificationError as e:
                raise self._tls_error(e) from None
            except (OSError, http.client.HTTPException) as e:
                if not can_retry or attempt >= self.retries:
                    raise RegistryError(f"{urllib.parse.urlsplit(url).netloc}: {_reason(e)}") from None
                self._sleep(attempt, None)
                attempt += 1
                continue
            if r.status in RETRY_STATUS and can_retry and attempt < self.retries:
                after = r.header("Retry-After")
                r.read()
                self._sleep(attempt, after)
                attempt += 1
                continue
            if r.status in (301, 302, 303, 307, 308) and redirects > 0 and r.header("Location"):
                r.read()
                new = urllib.parse.urljoin(url, r.header("Location"))
                if urllib.parse.urlsplit(new).netloc != urllib.parse.urlsplit(url).netloc:
                    headers.pop("Authorization", None)  # never send our token to a CDN
                url, redirects = new, redirects - 1
                if r.status == 303:
                    method, body = "GET", None
                continue
            return r

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * (2 ** attempt)
        if retry_after and retry_after.isdigit():
            delay = min(float(retry_after), 10.0)
        time.sleep(delay)


def _reason(e: BaseException | None) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
