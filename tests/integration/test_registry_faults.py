"""Faults between dockyard and a real registry, injected by a small HTTP proxy in front of it:
a wrong blob served (rejected, nothing stored), a connection cut in the middle of a layer
(resumed with Range; or, cut every time, a clean failure that a later pull resumes), 429 then
success, 500 and 403 answers, a manifest of an unknown media type, a registry with neither
search nor catalog. Every failure is one line and leaves the store as it was."""

from __future__ import annotations

import glob
import http.client
import http.server
import json
import os
import subprocess
import threading

import pytest

pytest_plugins = ["registry_fixtures"]  # registry, dy
pytestmark = pytest.mark.root


class FaultProxy(http.server.ThreadingHTTPServer):
    """Forwards to the registry; ``faults`` is a list of [method, path part, action, times]
    (times -1: always). ``seen`` records (method, path, Range header) of every request."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.faults: list[list] = []
        self.seen: list[tuple] = []
        self.lock = threading.Lock()
        self.paused = threading.Event()  # "pause": set when half a body is sent
        self.release = threading.Event()  # "pause": the rest is sent once this is set

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a) -> None:  # quiet
        return

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn = http.client.HTTPConnection(self.server.upstream, timeout=30)
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, [(k, v) for k, v in r.getheaders() if k.lower() not in ("connection", "transfer-encoding")], data

    def _send(self, status, headers, data, cut: bool = False, pause: bool = False) -> None:
        self.send_response(status)
        for k, v in headers:
            if k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if pause and self.command != "HEAD":
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.server.paused.set()
            self.server.release.wait(60)
            data = data[len(data) // 2:]
        if self.command != "HEAD":
            self.wfile.write(data[:len(data) // 2] if cut else data)
        if cut:
            self.wfile.flush()
            self.close_connection = True

    def _error(self, status: int, code: str, message: str, extra=()) -> None:
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self._send(status, [("Content-Type", "application/json"), *extra], body)

    def _handle(self) -> None:
        with self.server.lock:
            self.server.seen.append((self.command, self.path, self.headers.get("Range")))
        action = None
        with self.server.lock:
            for f in self.server.faults:
                if f[0] == self.command and f[1] in self.path and f[3] != 0:
                    f[3] -= 1
                    action = f[2]
                    break
        if action == "429":
            return self._error(429, "TOOMANYREQUESTS", "too many requests", [("Retry-After", "0")])
        if action == "500":
            return self._error(500, "UNKNOWN", "unknown error")
        if action == "403":
            return self._error(403, "DENIED", "requested access to the resource is denied")
        if action == "404":  # an endpoint this registry does not have (as a 404 from a router)
            return self._send(404, [("Content-Type", "text/plain")], b"404 page not found\n")
        status, headers, data = self._forward()
        if action == "corrupt" and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        if action == "unknown-type":
            doc = json.loads(data)
            doc["mediaType"] = "application/vnd.example.unknown+json"
            data = json.dumps(doc).encode()
            headers = [(k, v) for k, v in headers if k.lower() not in ("content-type", "docker-content-digest")]
            headers.append(("Content-Type", "application/vnd.example.unknown+json"))
        self._send(status, headers, data, cut=action == "cut", pause=action == "pause")

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _handle


@pytest.fixture
def proxy(registry):
    p = FaultProxy(registry.host)
    t = threading.Thread(target=p.serve_forever, daemon=True)
    t.start()
    yield p
    p.shutdown()
    p.server_close()
    t.join()


@pytest.fixture
def pushed(dy, registry):
    """busybox pushed to the registry (directly) and removed locally: (name via proxy, layer digest)."""
    dy.ok("tag", "busybox", f"{registry.host}/faults/bb:1")
    dy.ok("push", "-q", f"{registry.host}/faults/bb:1")
    manifest = json.loads(dy.ok("manifest", "inspect", f"{registry.host}/faults/bb:1"))
    dy.ok("rmi", f"{registry.host}/faults/bb:1", "busybox")
    dy.env["DOCKYARD_REGISTRY_BACKOFF"] = "0.01"  # retries without the real doubling delays
    return manifest["layers"][0]["digest"]


def blobs_in_store(dy) -> set[str]:
    d = os.path.join(dy.env["DOCKYARD_ROOT"], "blobs", "sha256")
    return {f"sha256:{x}" for x in os.listdir(d)} if os.path.isdir(d) else set()


def ingest_files(dy) -> list[str]:
    d = os.path.join(dy.env["DOCKYARD_ROOT"], "ingest")
    return os.listdir(d) if os.path.isdir(d) else []


def test_wrong_blob_is_rejected_and_nothing_stored(dy, proxy, pushed):
    proxy.faults = [["GET", f"/blobs/{pushed}", "corrupt", -1]]
    name = f"{proxy.host}/faults/bb:1"
    p = dy("pull", name)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr
    assert p.stderr.startswith(f"dockyard: pull {name}: blob {pushed}: content hashes to sha256:")
    assert pushed not in blobs_in_store(dy) and ingest_files(dy) == []
    assert "faults/bb" not in dy.ok("images")


def test_connection_cut_mid_layer_resumes_with_range(dy, proxy, pushed):
    proxy.faults = [["GET", f"/blobs/{pushed}", "cut", 1]]
    name = f"{proxy.host}/faults/bb:1"
    out = dy.ok("pull", name)
    assert "Retrying" in out
    ranges = [r for m, path, r in proxy.seen if m == "GET" and pushed in path]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert dy.ok("run", "--rm", name, "echo", "resumed") == "resumed\n"


def test_connection_cut_every_time_fails_cleanly_and_a_later_pull_resumes(dy, proxy, pushed):
    proxy.faults = [["GET", f"/blobs/{pushed}", "cut", -1]]
    name = f"{proxy.host}/faults/bb:1"
    p = dy("pull", name)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1
    assert "download failed after 5 attempts" in p.stderr
    assert pushed not in blobs_in_store(dy) and "faults/bb" not in dy.ok("images")
    assert len(ingest_files(dy)) == 1  # the partial download, kept to resume (not a blob)
    proxy.faults, proxy.seen = [], []
    dy.ok("pull", name)
    ranges = [r for m, path, r in proxy.seen if m == "GET" and pushed in path]
    assert ranges and ranges[0] is not None  # continued from the bytes kept
    assert ingest_files(dy) == [] and pushed in blobs_in_store(dy)


def test_429_then_success(dy, proxy, pushed):
    proxy.faults = [["GET", "/manifests/1", "429", 1], ["GET", f"/blobs/{pushed}", "429", 2]]
    dy.ok("pull", f"{proxy.host}/faults/bb:1")
    assert all(f[3] == 0 for f in proxy.faults)


@pytest.mark.parametrize("action, expected", [
    ("500", "unknown error (500)"),
    ("403", "requested access to the resource is denied (403)"),
])
def test_error_answers_are_one_line(dy, proxy, pushed, action, expected):
    proxy.faults = [["GET", "/manifests/1", action, -1]]
    name = f"{proxy.host}/faults/bb:1"
    before = blobs_in_store(dy)
    p = dy("pull", name)
    assert p.returncode == 1 and p.stderr == f"dockyard: pull {name}: {expected}\n"
    assert blobs_in_store(dy) == before and "faults/bb" not in dy.ok("images")
    manifest_gets = [x for x in proxy.seen if x[0] == "GET" and "/manifests/1" in x[1]]
    assert len(manifest_gets) == (5 if action == "500" else 1)  # 5xx retried, 403 not


def test_unknown_manifest_media_type(dy, proxy, pushed):
    proxy.faults = [["GET", "/manifests/1", "unknown-type", -1]]
    name = f"{proxy.host}/faults/bb:1"
    p = dy("pull", name)
    assert p.returncode == 1
    assert p.stderr == (f"dockyard: pull {name}: unsupported manifest media type "
                        "'application/vnd.example.unknown+json'\n")
    assert "faults/bb" not in dy.ok("images")


def test_layer_is_unpacked_while_it_downloads(dy, proxy, pushed):
    """The proxy sends half the layer, then holds the rest: files of the layer already exist in
    its snapshot's temp dir, and no snapshot is committed until the whole blob is verified."""
    proxy.faults = [["GET", f"/blobs/{pushed}", "pause", 1]]
    name = f"{proxy.host}/faults/bb:1"
    snaps = os.path.join(dy.env["DOCKYARD_ROOT"], "snapshots")
    committed_before = {x for x in os.listdir(snaps) if not x.startswith(".")}
    p = subprocess.Popen([dy.DOCKYARD, "pull", "-q", name], env=dy.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert proxy.paused.wait(30), "the layer was never requested"
        seen = []
        for _ in range(200):  # up to 10 s for the first half to be applied
            seen = glob.glob(os.path.join(snaps, ".tmp-*", "fs", "bin", "*"))
            if seen:
                break
            threading.Event().wait(0.05)
        assert seen, "nothing of the layer was unpacked while its download was held"
        assert {x for x in os.listdir(snaps) if not x.startswith(".")} == committed_before
        assert pushed not in blobs_in_store(dy)  # the blob is not verified yet either
    finally:
        proxy.release.set()
        _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert dy.ok("run", "--rm", name, "echo", "streamed") == "streamed\n"
    assert not glob.glob(os.path.join(snaps, ".tmp-*"))


def test_wrong_diff_id_leaves_no_snapshot(dy, registry, pushed):
    """A config naming another DiffID: the layer is applied as it streams, found wrong at its
    end, and its snapshot is never committed (the temp dir goes, no image is registered)."""
    manifest = registry.get_json("faults/bb", "manifests", "1")
    config = registry.get_json("faults/bb", "blobs", manifest["config"]["digest"])
    config["rootfs"]["diff_ids"] = ["sha256:" + "1" * 64]
    manifest["config"] = {**manifest["config"], **registry.put_blob("faults/bb", json.dumps(config).encode())}
    registry.put_manifest("faults/bb", "bad", manifest)
    snaps = os.path.join(dy.env["DOCKYARD_ROOT"], "snapshots")
    before = sorted(os.listdir(snaps))
    name = f"{registry.host}/faults/bb:bad"
    p = dy("pull", name)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr
    assert p.stderr.startswith(f"dockyard: pull {name}: layer content is sha256:")
    assert p.stderr.endswith(f"not the DiffID sha256:{'1' * 64} the image config names\n")
    assert sorted(os.listdir(snaps)) == before  # no snapshot, no temp dir
    assert "faults/bb" not in dy.ok("images")


def test_search_on_a_registry_without_search_or_catalog_is_one_line(dy, proxy, registry):
    proxy.faults = [["GET", "/v1/search", "404", -1], ["GET", "/v2/_catalog", "404", -1]]
    p = dy("search", f"{proxy.host}/bb")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr == f"dockyard: search {proxy.host}/bb: {proxy.host} does not offer search\n"
    assert [x[1].split("?")[0] for x in proxy.seen if x[1] != "/v2/"] == ["/v1/search", "/v2/_catalog"]
