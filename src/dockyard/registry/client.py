"""One repository on one registry endpoint: the distribution-spec calls pull and push make.

    GET  /v2/<name>/manifests/<tag|digest>          Accept: OCI + Docker v2.2 manifests and indexes
    PUT  /v2/<name>/manifests/<tag|digest>
    HEAD /v2/<name>/blobs/<digest>                  present? (push skips it)
    GET  /v2/<name>/blobs/<digest>                  Range: bytes=N- to resume
    POST /v2/<name>/blobs/uploads/[?mount=D&from=R] 201 mounted, 202 + Location: an upload
    PATCH <location>                                Content-Range: start-end, a chunk
    PUT  <location>&digest=D                        the (last part of the) blob; 201 = stored

Every call carries the Authorization the Authenticator gives for this repository's scope; a
401 fetches a token once more with the scope the registry asked for.
"""

from __future__ import annotations

from ..oci import image_spec
from ..oci.digest import Digest, digest_bytes
from .auth import Authenticator, scope
from .errors import RegistryError, from_response
from .transport import Transport

MANIFEST_TYPES = (image_spec.OCI_MANIFEST, image_spec.OCI_INDEX, image_spec.DOCKER_MANIFEST, image_spec.DOCKER_LIST)
ACCEPT = ", ".join(MANIFEST_TYPES)


class Session:
    """A registry endpoint with one identity: transport + authenticator, shared by repositories
    (and threads) so tokens and connections are reused."""

    def __init__(self, endpoint: str, config=None, *, insecure: bool = False,
                 credentials: tuple[str, str] | None = None) -> None:
        self.transport = Transport(endpoint, config, insecure=insecure)
        self.auth = Authenticator(self.transport, credentials)

    @property
    def host(self) -> str:
        return self.transport.hostport

    def repository(self, name: str, actions: str = "pull") -> Repository:
        return Repository(self, name, actions)

    def request(self, method: str, path: str, scopes: tuple[str, ...], headers: dict | None = None, body=None):
        """A request authorised for ``scopes`` (``repository:NAME:pull``, ``registry:catalog:*``);
        a 401 fetches a token once more with the scope the registry asked for."""
        hdrs = {**self.auth.headers(scopes), **(headers or {})}
        r = self.transport.request(method, path, hdrs, body)
        if r.status == 401 and (body is None or isinstance(body, bytes) or callable(body)):
            wider = self.auth.retry_after_401(r, scopes)
            if wider is not None:
                r.read()
                hdrs = {**self.auth.headers(wider), **(headers or {})}
                r = self.transport.request(method, path, hdrs, body)
        return r


def _with_query(location: str, **params: str) -> str:
    import urllib.parse

    sep = "&" if "?" in location else "?"
    return location + sep + urllib.parse.urlencode(params)


class Repository:
    def __init__(self, session: Session, name: str, actions: str) -> None:
        self.session, self.name = session, name
        self.scopes: tuple[str, ...] = (scope(name, actions),)

    def request(self, method: str, path: str, headers: dict | None = None, body=None,
                extra_scopes: tuple[str, ...] = ()):
        return self.session.request(method, path, tuple(sorted({*self.scopes, *extra_scopes})), headers, body)

    def _fail(self, r, what: str) -> RegistryError:
        body = r.read() if r.raw and not r.raw.isclosed() else b""
        if r.status == 401 and not self.session.auth.credentials:
            return from_response(r.status, body, "authentication required")
        return from_response(r.status, body, f"{what} failed")

    # -- manifests ---------------------------------------------------------------------------
    def get_manifest(self, ref: str) -> tuple[bytes, str, Digest]:
        """(bytes, media type, digest) of a manifest or index by tag or digest; the bytes are
        checked against the digest asked for, or the one the registry announces."""
        r = self.request("GET", f"/v2/{self.name}/manifests/{ref}", {"Accept": ACCEPT})
        if r.status != 200:
            raise self._fail(r, "manifest")
        data = r.read(8 << 20)
        media_type = (r.header("Content-Type") or "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            # some registries answer application/json: the document's own mediaType decides
            try:
                import json

                media_type = json.loads(data).get("mediaType") or media_type
            except (ValueError, AttributeError):
                pass
        if media_type not in MANIFEST_TYPES:
            raise RegistryError(f"unsupported manifest media type {media_type or '(none)'!r}")
        want = Digest(ref) if ":" in ref else None
        announced = r.header("Docker-Content-Digest")
        if want is None and announced:
            try:
                want = Digest(announced)
            except Exception:  # noqa: BLE001 - a malformed header is ignored; we hash ourselves
                want = None
        actual = digest_bytes(data, want.algorithm if want else "sha256")
        if want is not None and actual != want:
            raise RegistryError(f"manifest {ref}: content hashes to {actual}, not {want}")
        return data, media_type, digest_bytes(data)

    def put_manifest(self, ref: str, data: bytes, media_type: str) -> Digest:
        r = self.request("PUT", f"/v2/{self.name}/manifests/{ref}", {"Content-Type": media_type}, data)
        if r.status not in (200, 201):
            raise self._fail(r, "manifest upload")
        r.read()
        return digest_bytes(data)

    # -- blobs ------------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        r = self.request("HEAD", f"/v2/{self.name}/blobs/{digest}")
        r.read()
        if r.status == 200:
            return True
        if r.status == 404:
            return False
        raise self._fail(r, "blob check")

    def open_blob(self, digest: str, offset: int = 0):
        """The blob's response, unread: 200 from the start, or 206 from ``offset``."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        r = self.request("GET", f"/v2/{self.name}/blobs/{digest}", headers)
        if r.status not in (200, 206):
            raise self._fail(r, f"blob {digest[:19]}")
        return r

    def read_blob(self, digest: Digest, limit: int = 32 << 20) -> bytes:
        """A small blob (an image config) in memory, verified."""
        data = self.open_blob(digest).read(limit)
        actual = digest_bytes(data, digest.algorithm)
        if actual != digest:
            raise RegistryError(f"blob {digest}: content hashes to {actual}")
        return data

    def mount_blob(self, digest: str, from_repo: str) -> str | None:
        """Ask for a cross-repository mount: None when mounted, else the upload location the
        registry opened instead."""
        r = self.request("POST", _with_query(f"/v2/{self.name}/blobs/uploads/", mount=digest, **{"from": from_repo}),
                         extra_scopes=(scope(from_repo, "pull"),))
        r.read()
        if r.status == 201:
            return None
        if r.status == 202 and r.header("Location"):
            return r.header("Location")
        raise self._fail(r, "blob mount")

    def start_upload(self) -> str:
        r = self.request("POST", f"/v2/{self.name}/blobs/uploads/")
        if r.status != 202 or not r.header("Location"):
            raise self._fail(r, "blob upload")
        r.read()
        return r.header("Location")

    def patch_chunk(self, location: str, data: bytes, start: int) -> str:
        r = self.request("PATCH", location, {"Content-Type": "application/octet-stream",
                                             "Content-Range": f"{start}-{start + len(data) - 1}",
                                             "Content-Length": str(len(data))}, data)
        if r.status != 202:
            raise self._fail(r, "blob chunk upload")
        r.read()
        return r.header("Location") or location

    def finish_upload(self, location: str, digest: str, body=None, size: int = 0) -> None:
        """PUT the rest (``body``: a function returning a fresh file object, so a retry can
        re-send it) and close the upload as ``digest``."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        r = self.request("PUT", _with_query(location, digest=digest), headers, body)
        if r.status != 201:
            raise self._fail(r, "blob upload")
        r.read()
        got = r.header("Docker-Content-Digest")
        if got and got != digest:
            raise RegistryError(f"registry stored blob as {got}, expected {digest}")
