"""Registry client logic without a server: WWW-Authenticate parsing, platform selection,
registries.json, credentials in config.json, registry error messages."""

from __future__ import annotations

import base64
import json

import pytest

from dockyard.errors import ConfigError, ImageError
from dockyard.oci.image_spec import Descriptor
from dockyard.registry import credentials, platform
from dockyard.registry.auth import parse_challenges
from dockyard.registry.config import RegistriesConfig, api_host, is_loopback
from dockyard.registry.errors import AuthError, from_response
from dockyard.registry.login import server_name


# -- WWW-Authenticate --------------------------------------------------------------------------
def test_bearer_challenge_as_docker_hub_sends_it():
    [c] = parse_challenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                           'scope="repository:library/busybox:pull"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                        "scope": "repository:library/busybox:pull"}


def test_basic_challenge_and_several_challenges_in_one_header():
    cs = parse_challenges('Basic realm="dockyard test", Bearer realm="https://t/x", error="insufficient_scope"')
    assert [c.scheme for c in cs] == ["basic", "bearer"]
    assert cs[0].params == {"realm": "dockyard test"}
    assert cs[1].params == {"realm": "https://t/x", "error": "insufficient_scope"}


def test_challenge_quoting_tokens_and_junk():
    [c] = parse_challenges('BEARER realm = "a \\"quoted\\" realm" , service=tok.en,scope="a:b:pull,push"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": 'a "quoted" realm', "service": "tok.en", "scope": "a:b:pull,push"}
    assert parse_challenges("") == []
    assert [c.scheme for c in parse_challenges("Basic")] == ["basic"]
    assert parse_challenges('Bearer realm="unterminated')[0].params == {"realm": "unterminated"}


# -- platforms ----------------------------------------------------------------------------------
def _index(*platforms):
    return [Descriptor({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + f"{i:064x}",
                        "size": 1, "platform": p}, "entry") for i, p in enumerate(platforms)]


INDEX = _index({"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm", "variant": "v6"},
               {"os": "linux", "architecture": "arm", "variant": "v7"},
               {"os": "linux", "architecture": "arm64", "variant": "v8"}, {"os": "windows", "architecture": "amd64"})


@pytest.mark.parametrize("text, want", [
    ("linux/amd64", 0), ("linux/x86_64", 0), ("amd64", 0), ("linux/arm/v7", 2), ("linux/arm/v6", 1),
    ("linux/arm64", 3), ("linux/aarch64", 3), ("linux/arm64/v8", 3), ("windows/amd64", 4),
])
def test_platform_selection(text, want):
    assert platform.select(INDEX, platform.parse(text)) is INDEX[want]


def test_arm_variant_falls_back_to_an_older_one_and_misses_are_explained():
    only_v6 = _index({"os": "linux", "architecture": "arm", "variant": "v6"})
    assert platform.select(only_v6, platform.parse("linux/arm/v7")) is only_v6[0]
    with pytest.raises(ImageError, match=r"no image for platform linux/s390x \(the index has: linux/arm/v6\)"):
        platform.select(only_v6, platform.parse("linux/s390x"))


@pytest.mark.parametrize("bad", ["", "linux/", "a/b/c/d", "/amd64"])
def test_bad_platform(bad):
    with pytest.raises(ConfigError, match="invalid platform"):
        platform.parse(bad)


# -- registries.json ----------------------------------------------------------------------------
def test_insecure_registries_and_loopback(tmp_path):
    path = tmp_path / "registries.json"
    path.write_text(json.dumps({"insecure": ["reg.lan:5000", "10.1.0.0/16"],
                                "mirrors": {"docker.io": ["https://mirror.example"]}}))
    cfg = RegistriesConfig.load(str(path))
    assert cfg.is_insecure("reg.lan:5000") and cfg.is_insecure("10.1.2.3:443")
    assert not cfg.is_insecure("reg.lan") and not cfg.is_insecure("reg.lan:5001")  # host:port covers that port only
    assert not cfg.is_insecure("reg.lan.example:5000") and not cfg.is_insecure("10.2.0.1")
    assert all(cfg.is_insecure(h) for h in ("localhost:5000", "127.0.0.1:1234", "127.9.9.9", "[::1]:5000"))
    assert cfg.endpoints("docker.io") == ["https://mirror.example", "registry-1.docker.io"]
    assert cfg.endpoints("ghcr.io") == ["ghcr.io"]
    assert is_loopback("localhost") and not is_loopback("example.com:5000")
    assert api_host("docker.io") == "registry-1.docker.io" and api_host("quay.io") == "quay.io"


def test_registries_config_missing_is_empty_and_malformed_is_an_error(tmp_path):
    assert RegistriesConfig.load(str(tmp_path / "absent.json")).insecure == []
    for text in ("{not json", '{"insecure": "reg:5000"}', '{"mirrors": {"docker.io": "x"}}', '{"insecure": ["1.2/99"]}'):
        (tmp_path / "r.json").write_text(text)
        with pytest.raises(ConfigError, match="registries config"):
            RegistriesConfig.load(str(tmp_path / "r.json"))


# -- credentials --------------------------------------------------------------------------------
def test_credentials_round_trip_and_docker_hub_key(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert credentials.get("reg:5000") is None
    credentials.store("reg:5000", "u", "p:with:colons")
    credentials.store("docker.io", "hub", "pw")
    doc = json.loads((tmp_path / "config.json").read_text())
    assert set(doc["auths"]) == {"reg:5000", "https://index.docker.io/v1/"}
    assert base64.b64decode(doc["auths"]["reg:5000"]["auth"]) == b"u:p:with:colons"
    assert credentials.get("reg:5000") == ("u", "p:with:colons")
    assert credentials.get("docker.io") == ("hub", "pw")
    assert credentials.erase("reg:5000") and not credentials.erase("reg:5000")
    assert credentials.get("reg:5000") is None


def test_credentials_written_by_docker_as_urls_are_found(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    auth = base64.b64encode(b"a:b").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"https://reg.example:5000/v2/": {"auth": auth}}}))
    assert credentials.get("reg.example:5000") == ("a", "b")
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        credentials.get("x")


def test_mirrors_get_their_own_credentials_never_the_registrys(tmp_path, monkeypatch):
    from dockyard.oci import reference
    from dockyard.registry.pull import _sessions

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    credentials.store("reg.example", "upstream-user", "upstream-secret")
    credentials.store("mirror-b.example:5000", "mirror-user", "mirror-secret")
    config = RegistriesConfig({"reg.example": ["https://mirror-a.example/base", "mirror-b.example:5000"]})
    sessions = list(_sessions(reference.parse("reg.example/team/app:1"), config, False))
    assert [(s.host, s.auth.credentials) for s in sessions] == [
        ("mirror-a.example", None), ("mirror-b.example:5000", ("mirror-user", "mirror-secret")),
        ("reg.example", ("upstream-user", "upstream-secret"))]


@pytest.mark.parametrize("text, want", [
    ("busybox", ("docker.io", "busybox")), ("bitnami/nginx", ("docker.io", "bitnami/nginx")),
    ("localhost/x", ("localhost", "x")), ("reg:5000/team/app", ("reg:5000", "team/app")),
    ("quay.io/", ("quay.io", "")), ("ghcr.io/org", ("ghcr.io", "org")),
])
def test_search_term_split_as_docker(text, want):
    from dockyard.registry.search import split_term

    assert split_term(text) == want


def test_catalog_link_header_next_page():
    from dockyard.registry.search import _next_page

    assert _next_page('</v2/_catalog?last=b&n=100>; rel="next"') == "/v2/_catalog?last=b&n=100"
    assert _next_page('<https://reg:5000/v2/_catalog?last=b&n=2>; rel="next"') == "/v2/_catalog?last=b&n=2"
    assert _next_page('</v2/_catalog?last=b>; rel="prev"') is None and _next_page(None) is None


def test_login_server_names():
    assert server_name(None) == "docker.io" and server_name("https://index.docker.io/v1/") == "docker.io"
    assert server_name("https://reg:5000/v2/") == "reg:5000" and server_name("localhost:5000") == "localhost:5000"


# -- errors ---------------------------------------------------------------------------------------
def test_registry_errors_use_the_registry_words():
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}'
    e = from_response(404, body, "manifest failed")
    assert str(e) == "manifest unknown (404)" and e.status == 404 and e.registry_code == "MANIFEST_UNKNOWN"
    assert str(from_response(500, b"<html>oops</html>", "manifest failed")) == "manifest failed (500)"
    assert isinstance(from_response(403, b"", "denied"), AuthError)
    assert str(from_response(429, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}', "x")) == "toomanyrequests (429)"


# -- a layer read while it downloads (stream.py) ------------------------------------------------
def _feed_writer(feed, path, parts, rewind_after=None, error=None):
    import threading

    def run():
        with open(path, "wb") as f:
            feed.attach(str(path), 0)
            for i, part in enumerate(parts):
                f.write(part)
                f.flush()
                feed.wrote(f.tell())
                if i == rewind_after:  # the registry ignored Range: truncated and sent again
                    feed.rewind()
                    f.seek(0)
                    f.truncate()
                    f.writelines(parts[:i + 1])
                    f.flush()
                    feed.wrote(f.tell())
        feed.finish(error)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_layer_reader_follows_the_writer_through_a_rewind(tmp_path):
    import io

    from dockyard.registry.stream import LayerFeed, LayerReader

    parts = [bytes([i]) * (300 << 10) for i in range(1, 8)]
    feed = LayerFeed(None, None)
    t = _feed_writer(feed, tmp_path / "ingest", parts, rewind_after=3)
    data = io.BufferedReader(LayerReader(feed)).read()
    t.join()
    assert data == b"".join(parts) and feed.wait() is None
    feed.close()


def test_layer_reader_ends_early_when_the_download_fails(tmp_path):
    from dockyard.registry.stream import LayerFeed, LayerReader

    feed = LayerFeed(None, None)
    t = _feed_writer(feed, tmp_path / "ingest", [b"x" * 1000], error=OSError("cut"))
    r = LayerReader(feed)
    got = b""
    while chunk := r.read(4096):
        got += chunk
    t.join()
    assert got == b"x" * 1000 and isinstance(feed.wait(), OSError)
    feed.close()


def test_layer_reader_reads_the_store_when_the_blob_was_already_there(tmp_path):
    from dockyard.image.blobs import BlobStore
    from dockyard.registry.stream import LayerFeed, LayerReader

    blobs = BlobStore(str(tmp_path))
    digest = blobs.write(b"stored layer bytes")
    feed = LayerFeed(blobs, digest)
    feed.finish(None)  # "Already exists": no ingest file was written
    assert LayerReader(feed).read() == b"stored layer bytes"


# -- RepoDigests in the image store -----------------------------------------------------------
def test_an_images_db_from_before_repo_digests_opens_and_gains_the_table(tmp_path):
    import sqlite3

    from dockyard.image.store import ImageStore

    db = sqlite3.connect(tmp_path / "images.db")  # the schema as first released
    db.executescript("CREATE TABLE images (id TEXT PRIMARY KEY, manifest TEXT NOT NULL, created TEXT NOT NULL, "
                     "size INTEGER NOT NULL); CREATE TABLE tags (name TEXT PRIMARY KEY, image TEXT NOT NULL "
                     "REFERENCES images(id) ON DELETE CASCADE);")
    db.close()
    store = ImageStore(str(tmp_path))
    try:
        assert store.list() == []
        tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"images", "tags", "repo_digests"} <= tables
    finally:
        store.close()
