"""A token server for the registry tests: distribution's token auth spec, as Docker Hub runs it.

    dockyard --GET /v2/...------------------------> docker-registry (auth: token)
             <-401 WWW-Authenticate: Bearer realm=http://127.0.0.1:P/token,service=...,scope=...
             --GET /token?service=S&scope=repository:x:pull,push[&scope=...]  (Basic user:pass or none)
             -> here: {"token": JWT, "expires_in": 300}
             --GET /v2/... Authorization: Bearer JWT --> registry verifies the JWT

The registry (distribution 2.8, registry/auth/token/token.go) trusts a JWT whose header carries
an ``x5c`` chain that verifies against its ``rootcertbundle``; the simplest chain is one
self-signed certificate that is both the bundle and the leaf. The JWT is RS256, signed with
``openssl dgst -sha256 -sign`` (PKCS#1 v1.5 over SHA-256 is exactly RS256), so the tests need
no crypto package.

Policy: anonymous callers get ``pull`` on any repository and nothing else; callers with the
right Basic credentials get what they ask for; wrong credentials are a 401. Every request is
recorded (account, scopes) so a test can see which scopes a client asked for and how often.
"""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import threading
import time
import urllib.parse

SERVICE = "dockyard-test-registry"
ISSUER = "dockyard-test-token-server"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, base, openssl: str, user: str, password: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.openssl, self.user, self.password = openssl, user, password
        self.key, self.cert = base / "token.key", base / "token.crt"
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=dockyard test token issuer", "-keyout", str(self.key), "-out", str(self.cert)],
                       capture_output=True, check=True)
        der = subprocess.run([openssl, "x509", "-in", str(self.cert), "-outform", "DER"], capture_output=True,
                             check=True).stdout
        self.x5c = base64.b64encode(der).decode()  # standard base64, as x5c wants (RFC 7515 4.1.6)
        self.requests: list[tuple[str | None, list[str]]] = []  # (account or None, scopes asked)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/token"

    def registry_auth(self) -> dict:
        """The ``auth:`` section of the registry's config that trusts this server."""
        return {"token": {"realm": self.realm, "service": SERVICE, "issuer": ISSUER,
                          "rootcertbundle": str(self.cert)}}

    def start(self) -> TokenServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join()

    def scopes_asked(self) -> list[list[str]]:
        with self.lock:
            return [s for _, s in self.requests]

    def sign(self, account: str | None, access: list[dict]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": ISSUER, "sub": account or "", "aud": SERVICE, "exp": now + 300, "nbf": now - 5,
                  "iat": now, "jti": _b64url(now.to_bytes(8, "big") + bytes(8)) + str(len(self.requests)),
                  "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = subprocess.run([self.openssl, "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode(),
                             capture_output=True, check=True).stdout
        return f"{signing_input}.{_b64url(sig)}"

    def grant(self, account: str | None, scopes: list[str]) -> list[dict]:
        """``repository:NAME:a,b`` -> the access claim; anonymous callers keep only pull.
        ``registry:catalog:*`` (the catalog, for search) only for a logged-in account."""
        access = []
        for s in scopes:
            kind, _, rest = s.partition(":")
            name, _, actions = rest.rpartition(":")
            if s == "registry:catalog:*" and account:
                access.append({"type": "registry", "name": "catalog", "actions": ["*"]})
            if kind != "repository" or not name:
                continue
            wanted = [a for a in actions.split(",") if a]
            allowed = wanted if account else [a for a in wanted if a == "pull"]
            if allowed:
                access.append({"type": "repository", "name": name, "actions": allowed})
        return access


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a) -> None:  # quiet
        return

    def _answer(self, status: int, doc: dict, extra=()) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        server: TokenServer = self.server
        u = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(u.query)
        scopes = query.get("scope", [])
        account = None
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, password) != (server.user, server.password):
                with server.lock:
                    server.requests.append(("!" + user, scopes))
                return self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                                    [("WWW-Authenticate", 'Basic realm="dockyard-test-token"')])
            account = user
        with server.lock:
            server.requests.append((account, scopes))
        if u.path != "/token" or query.get("service") != [SERVICE]:
            return self._answer(400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]})
        token = server.sign(account, server.grant(account, scopes))
        self._answer(200, {"token": token, "access_token": token, "expires_in": 300,
                           "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
