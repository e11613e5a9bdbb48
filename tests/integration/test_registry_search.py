"""`search` against a real `docker-registry` 2.8, which has no /v1/search (404) but a catalog:
the catalog filtered by the term, paginated, --limit, --format, and the search endpoint of a
registry that has one (a tiny HTTP server answering Docker Hub's shape)."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from typing import ClassVar

import pytest

pytest_plugins = ["registry_fixtures"]  # registry, dy

pytestmark = pytest.mark.root


def test_catalog_search_finds_a_repository_by_term(dy, registry):
    for repo in ("team/webapp", "team/database"):
        dy.ok("tag", "busybox", f"{registry.host}/{repo}:1")
        dy.ok("push", "-q", f"{registry.host}/{repo}:1")
    out = dy.ok("search", f"{registry.host}/web")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert [line.split() for line in lines[1:]] == [[f"{registry.host}/team/webapp", "0"]]
    # the name as shown is pullable
    dy.ok("rmi", f"{registry.host}/team/webapp:1")
    dy.ok("pull", "-q", f"{registry.host}/team/webapp:1")
    out = dy.ok("search", "--format", "{{.Name}}", f"{registry.host}/team")
    assert out == f"{registry.host}/team/database\n{registry.host}/team/webapp\n"
    assert dy.ok("search", "--format={{.Name}}", f"{registry.host}/nothing-like-this") == ""
    # every repository ("REGISTRY/" with no term), limited
    assert dy.ok("search", "--limit", "1", "--format", "{{.Name}}", f"{registry.host}/") == \
        f"{registry.host}/team/database\n"


def test_catalog_search_follows_pages(dy, registry):
    """More repositories than one catalog page (the registry is asked for 100 at a time): the
    matches on later pages are found through the Link header."""
    blob = registry.put_blob("p/x000", b"{}")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob}, "layers": []}
    for i in range(105):
        repo = f"p/x{i:03d}"
        if i:
            registry.put_blob(repo, b"{}")
        registry.put_manifest(repo, "1", manifest)
    out = dy.ok("search", "--limit", "200", "--format", "{{.Name}}", f"{registry.host}/p/x10")
    assert out.split() == [f"{registry.host}/p/x{i:03d}" for i in range(100, 105)]


def test_bad_limit_is_one_line(dy, registry):
    p = dy("search", "--limit", "0", f"{registry.host}/x")
    assert p.returncode == 125 and p.stderr == "dockyard: search: --limit must be a positive number, not '0'\n"
    p = dy("search")
    assert p.returncode == 125 and len(p.stderr.splitlines()) == 1


class _SearchAPI(http.server.ThreadingHTTPServer):
    """A registry with Docker Hub's /v1/search (and an anonymous /v2/), recording queries."""

    daemon_threads = True
    results: ClassVar[list[dict]] = [{"name": "acme/webapp", "description": "A web application with a very long description "
                "that docker truncates\nat 45 characters", "star_count": 42, "is_official": True,
                "is_automated": False},
               {"name": "other/webapp", "description": "", "star_count": 0, "is_official": False,
                "is_automated": True}]

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SearchHandler)
        self.queries: list[dict] = []


class _SearchHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a) -> None:
        return

    def do_GET(self) -> None:
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/v1/search":
            q = dict(urllib.parse.parse_qsl(u.query))
            self.server.queries.append(q)
            body = json.dumps({"num_results": 2, "query": q["q"], "results": self.server.results[:int(q["n"])]})
        elif u.path == "/v2/":
            body = "{}"
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def search_api():
    s = _SearchAPI()
    t = threading.Thread(target=s.serve_forever, daemon=True)
    t.start()
    yield s
    s.shutdown()
    s.server_close()
    t.join()


def test_v1_search_api_as_docker_shows_it(dy, search_api):
    host = f"127.0.0.1:{search_api.server_address[1]}"
    out = dy.ok("search", f"{host}/webapp")
    assert search_api.queries == [{"q": "webapp", "n": "25"}]
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert lines[1].startswith("acme/webapp ")
    assert "A web application with a very long descripti\u2026" in lines[1]  # 44 + the ellipsis
    assert lines[1].split()[-2:] == ["42", "[OK]"] and lines[2].split() == ["other/webapp", "0"]
    # columns line up: each header starts where its cells start
    assert lines[0].index("STARS") == lines[1].index("42") and lines[0].index("DESCRIPTION") == lines[1].index("A web")
    out = dy.ok("search", "--no-trunc", "--limit", "1", "--format",
                "{{.Name}}|{{.StarCount}}|{{.IsOfficial}}|{{.IsAutomated}}|{{.Description}}", f"{host}/webapp")
    assert out == ("acme/webapp|42|[OK]||A web application with a very long description that docker "
                   "truncates at 45 characters\n")
    assert search_api.queries[-1] == {"q": "webapp", "n": "1"}
