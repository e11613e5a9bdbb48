"""A real registry for the tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1.

Each server gets a random free port, its own storage directory and config under a temp dir,
and is stopped (and its files removed with the temp dir) when the test ends. Three shapes:

    plain   HTTP, no auth
    tls     HTTPS with a certificate for 127.0.0.1 signed by a CA generated with openssl;
            the CA is installed in a private certs.d root ($DOCKYARD_CERTS_D)
    auth    plain HTTP with htpasswd (bcrypt) Basic auth: user "tester", password "s3cret"
    token   plain HTTP with token auth: bearer tokens from token_server.py (anonymous: pull
            only; "tester"/"s3cret": pull and push)

A server that fails to come up fails the test with its log.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from support import need_binary

USER, PASSWORD = "tester", "s3cret"  # the auth registry's only account


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, base, *, tls: bool = False, htpasswd: bool = False, token=None) -> None:
        self.base = base
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.tls, self.htpasswd, self.token = tls, htpasswd, token
        self.user, self.password = USER, PASSWORD
        self.storage = base / "storage"
        self.storage.mkdir()
        self.certs_d = base / "certs.d"  # what $DOCKYARD_CERTS_D points at for TLS tests
        self.log_path = base / "registry.log"
        self.proc = None

    def _config(self) -> dict:
        http = {"addr": self.host, "headers": {"X-Content-Type-Options": ["nosniff"]}}
        cfg = {"version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
               "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
               "http": http}
        if self.tls:
            cert, key = self._make_certs()
            http["tls"] = {"certificate": cert, "key": key}
        if self.htpasswd:
            htpasswd = need_binary("htpasswd")
            line = subprocess.run([htpasswd, "-Bbn", USER, PASSWORD], capture_output=True, text=True,
                                  check=True).stdout.strip()
            (self.base / "htpasswd").write_text(line + "\n")
            cfg["auth"] = {"htpasswd": {"realm": "dockyard-test", "path": str(self.base / "htpasswd")}}
        if self.token is not None:
            cfg["auth"] = self.token.registry_auth()
        return cfg

    def _make_certs(self) -> tuple[str, str]:
        openssl = need_binary("openssl")
        d = self.base
        run = lambda *a: subprocess.run([openssl, *a], capture_output=True, check=True)
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=dockyard test CA",
            "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
        (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        run("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
            "-CAcreateserial", "-days", "2", "-extfile", str(d / "ext.cnf"), "-out", str(d / "server.crt"))
        hostdir = self.certs_d / self.host
        hostdir.mkdir(parents=True)
        (hostdir / "ca.crt").write_bytes((d / "ca.crt").read_bytes())
        return str(d / "server.crt"), str(d / "server.key")

    @property
    def ca(self) -> str:
        return str(self.base / "ca.crt")

    def start(self) -> Registry:
        binary = need_binary("docker-registry")
        cfg_path = self.base / "config.yml"
        cfg_path.write_text(json.dumps(self._config()))  # JSON is YAML
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - outlives this call: closed in stop()
        self.proc = subprocess.Popen([binary, "serve", str(cfg_path)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"docker-registry did not start:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def digest(self, ref: str) -> str:
        """The manifest digest skopeo sees for ``ref`` (on this registry, TLS unverified)."""
        out = subprocess.run([need_binary("skopeo"), "inspect", "--tls-verify=false", f"docker://{ref}"],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)["Digest"]

    def catalog_tags(self, repo: str) -> list[str]:
        """Tags as the server sees them (plain HTTP, no auth only)."""
        with urllib.request.urlopen(f"http://{self.host}/v2/{repo}/tags/list", timeout=10) as r:
            return json.load(r).get("tags") or []

    def put_blob(self, repo: str, data: bytes) -> dict:
        """Upload ``data`` to ``repo`` over plain HTTP (no auth); its descriptor."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(req) as r:
            location = r.headers["Location"]
        sep = "&" if "?" in location else "?"
        req = urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(req).close()
        return {"digest": digest, "size": len(data)}

    def put_blob_file(self, repo: str, path, digest: str) -> dict:
        """Upload a (large) file as one blob, streamed from disk in one PUT; its descriptor."""
        import http.client

        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(req) as r:
            location = urllib.parse.urlsplit(r.headers["Location"])
        size = os.path.getsize(path)
        conn = http.client.HTTPConnection(self.host, timeout=300, blocksize=1 << 20)
        sep = "&" if location.query else ""
        with open(path, "rb") as f:
            conn.request("PUT", f"{location.path}?{location.query}{sep}digest={digest}", body=f,
                         headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status == 201, f"blob upload answered {r.status}"
        return {"digest": digest, "size": size}

    def put_manifest(self, repo: str, ref: str, doc: dict) -> dict:
        """PUT a manifest or index document as ``repo:ref``; its descriptor."""
        data = json.dumps(doc).encode()
        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/manifests/{ref}", data=data, method="PUT",
                                     headers={"Content-Type": doc["mediaType"]})
        urllib.request.urlopen(req).close()
        return {"mediaType": doc["mediaType"], "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}

    def get_json(self, repo: str, what: str, ref: str) -> dict:
        """A manifest (as the OCI/Docker v2 type it was pushed as) or a blob, parsed."""
        accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/{what}/{ref}", headers={"Accept": accept})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)


def _registry(tmp_path_factory, **kw):
    r = Registry(tmp_path_factory.mktemp("registry"), **kw).start()
    return r


@pytest.fixture
def registry(tmp_path_factory):
    r = _registry(tmp_path_factory)
    yield r
    r.stop()
    shutil.rmtree(r.base, ignore_errors=True)


@pytest.fixture
def second_registry(tmp_path_factory):
    """Another plain registry (a mirror, in the mirror tests)."""
    r = _registry(tmp_path_factory)
    yield r
    r.stop()
    shutil.rmtree(r.base, ignore_errors=True)


@pytest.fixture
def tls_registry(tmp_path_factory):
    r = _registry(tmp_path_factory, tls=True)
    yield r
    r.stop()
    shutil.rmtree(r.base, ignore_errors=True)


@pytest.fixture
def auth_registry(tmp_path_factory):
    r = _registry(tmp_path_factory, htpasswd=True)
    yield r
    r.stop()
    shutil.rmtree(r.base, ignore_errors=True)


@pytest.fixture
def token_registry(tmp_path_factory):
    from token_server import TokenServer

    base = tmp_path_factory.mktemp("registry")
    server = TokenServer(base, need_binary("openssl"), USER, PASSWORD).start()
    r = Registry(base, token=server).start()
    yield r
    r.stop()
    server.stop()
    shutil.rmtree(r.base, ignore_errors=True)


# -- the dockyard CLI with a private store, for the registry tests -----------------------------
DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")


class Dockyard:
    """`dockyard` with its own storage, run root, registries.json and ~/.docker (busybox
    bootstrapped). ``dy(*args)`` runs it; ``dy.ok(*args)`` also checks it succeeded."""

    DOCKYARD = DOCKYARD

    def __init__(self, tmp) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "DOCKYARD_ROOT": str(tmp / "lib"), "DOCKYARD_RUN_ROOT": str(tmp / "run"),
                    "DOCKYARD_SECCOMP_CACHE": str(tmp / "seccomp-cache"), "DOCKER_CONFIG": str(tmp / "docker"),
                    "DOCKYARD_CONFIG": str(tmp / "registries.json"), "DOCKYARD_CERTS_D": str(tmp / "certs.d")}

    def __call__(self, *args, input=None, env=None, timeout=120):
        return subprocess.run([DOCKYARD, *args], check=False, env={**self.env, **(env or {})}, capture_output=True,
                              text=True, input=input, timeout=timeout)

    def ok(self, *args, **kw) -> str:
        p = self(*args, **kw)
        if p.returncode != 0:
            pytest.fail(f"dockyard {' '.join(args)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
        return p.stdout

    def image(self, ref: str) -> dict:
        return json.loads(self.ok("inspect", ref))[0]


@pytest.fixture
def dy(tmp_path):
    from support import need

    need(os.geteuid() == 0, "needs root (run unpacks layers and makes namespaces)")
    d = Dockyard(tmp_path)
    d.ok("bootstrap", "busybox")
    yield d
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read(), "a test left a mount behind"

