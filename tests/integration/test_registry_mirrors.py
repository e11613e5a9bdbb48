"""Mirrors from registries.json, per registry as podman's registries.conf has them (Docker's
``registry-mirrors`` only apply to docker.io): two real `docker-registry` servers, one the
"upstream" the image is named after, the other its mirror. A mirror that has the image serves
it even with the upstream down; a mirror that lacks it or is down falls back to the upstream;
pushes never go to a mirror."""

from __future__ import annotations

import json
import socket

import pytest

pytest_plugins = ["registry_fixtures"]  # registry, second_registry, dy

pytestmark = pytest.mark.root


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def _mirrors(dy, upstream: str, *mirrors: str) -> None:
    with open(dy.env["DOCKYARD_CONFIG"], "w") as f:
        json.dump({"mirrors": {upstream: list(mirrors)}}, f)


def _put(dy, host: str, repo: str) -> str:
    """busybox pushed as HOST/REPO:1 (not through any mirror config); its manifest digest."""
    dy.ok("tag", "busybox", f"{host}/{repo}:1")
    dy.ok("push", "-q", f"{host}/{repo}:1")
    digest = json.loads(dy.ok("inspect", f"{host}/{repo}:1"))[0]["RepoDigests"][0].split("@")[1]
    dy.ok("rmi", f"{host}/{repo}:1")
    return digest


def test_pull_through_a_mirror_with_the_upstream_down(dy, registry, second_registry):
    upstream, mirror = registry, second_registry
    digest = _put(dy, mirror.host, "lib/bb")
    upstream.stop()  # only the mirror can answer
    _mirrors(dy, upstream.host, f"http://{mirror.host}")  # a mirror given as a URL
    dy.ok("rmi", "busybox")
    name = f"{upstream.host}/lib/bb:1"
    out = dy.ok("pull", name)
    assert f"Digest: {digest}" in out and out.strip().splitlines()[-1] == name
    assert dy.image(name)["RepoDigests"] == [f"{upstream.host}/lib/bb@{digest}"]  # named after the upstream
    assert dy.ok("run", "--rm", name, "echo", "from the mirror") == "from the mirror\n"


def test_a_mirror_without_the_image_or_down_falls_back_to_the_upstream(dy, registry, second_registry):
    upstream, mirror = registry, second_registry
    digest = _put(dy, upstream.host, "lib/bb")
    dead = f"127.0.0.1:{_dead_port()}"
    _mirrors(dy, upstream.host, dead, mirror.host)  # down, then without the image (404)
    dy.ok("rmi", "busybox")
    name = f"{upstream.host}/lib/bb:1"
    out = dy.ok("pull", name)
    assert f"Digest: {digest}" in out
    assert dy.ok("run", "--rm", name, "echo", "from upstream") == "from upstream\n"
    # the upstream's own answer is final: a tag nobody has is the upstream's 404
    p = dy("pull", f"{upstream.host}/lib/bb:nope")
    assert p.returncode == 1 and p.stderr == f"dockyard: pull {upstream.host}/lib/bb:nope: manifest unknown (404)\n"


def test_push_goes_to_the_registry_not_its_mirror(dy, registry, second_registry):
    upstream, mirror = registry, second_registry
    _mirrors(dy, upstream.host, mirror.host)
    dy.ok("tag", "busybox", f"{upstream.host}/pushed/bb:1")
    dy.ok("push", "-q", f"{upstream.host}/pushed/bb:1")
    assert upstream.catalog_tags("pushed/bb") == ["1"]
    with pytest.raises(Exception, match="404"):
        mirror.catalog_tags("pushed/bb")
