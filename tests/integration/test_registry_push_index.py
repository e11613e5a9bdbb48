"""Push in PATCH chunks, cross-repository mounts, and pulling through an image index with
platform selection, against a real `docker-registry` on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request

import pytest

pytest_plugins = ["registry_fixtures"]  # registry, dy
pytestmark = pytest.mark.root


def test_chunked_push_then_mount_into_another_repository(dy, registry):
    a, b = f"{registry.host}/team/a:1", f"{registry.host}/team/b:1"
    dy.ok("tag", "busybox", a)
    dy.ok("tag", "busybox", b)
    out = dy.ok("push", a, env={"DOCKYARD_PUSH_CHUNK_SIZE": str(64 << 10)})  # ~2 MB layer: ~32 PATCHes
    digest = out.strip().splitlines()[-1].split()[2]
    assert registry.digest(a) == digest
    out = dy.ok("push", b)
    assert "Mounted from team/a" in out and "Pushed" not in out
    assert registry.digest(b) == digest
    out = dy.ok("push", b)  # everything there already
    assert "Layer already exists" in out
    dy.ok("rmi", a, b, "busybox")
    dy.ok("pull", b)
    assert dy.ok("run", "--rm", b, "echo", "chunked") == "chunked\n"


def test_index_platform_selection(dy, registry):
    """An index with linux/amd64 (our busybox) and linux/arm64/v8 (same layer, another config):
    the host's platform by default, --platform picks the other, a missing one is explained."""
    repo = "multi/bb"
    amd = f"{registry.host}/{repo}:amd64"
    dy.ok("tag", "busybox", amd)
    dy.ok("push", "-q", amd)
    amd_manifest = json.loads(dy.ok("manifest", "inspect", amd))
    with urllib.request.urlopen(f"http://{registry.host}/v2/{repo}/blobs/{amd_manifest['config']['digest']}") as r:
        config = json.load(r)
    config["architecture"], config["variant"] = "arm64", "v8"
    arm_config = registry.put_blob(repo, json.dumps(config).encode())
    arm_manifest = {**amd_manifest, "config": {**amd_manifest["config"], **arm_config}}
    amd_desc = registry.put_manifest(repo, "amd64", amd_manifest)
    arm_desc = registry.put_manifest(repo, "arm64", arm_manifest)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {**amd_desc, "platform": {"os": "linux", "architecture": "amd64"}},
        {**arm_desc, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]}
    index_desc = registry.put_manifest(repo, "multi", index)
    name = f"{registry.host}/{repo}:multi"
    assert json.loads(dy.ok("manifest", "inspect", name))["manifests"][1]["platform"]["architecture"] == "arm64"
    out = dy.ok("pull", name)
    assert f"Digest: {index_desc['digest']}" in out
    assert dy.image(name)["Architecture"] == "amd64"
    # RepoDigests names the index (what the tag points at), as Docker shows it; the image is
    # found by that digest
    repo_digests = dy.image(name)["RepoDigests"]
    assert f"{registry.host}/{repo}@{index_desc['digest']}" in repo_digests
    by_index = f"{registry.host}/{repo}@{index_desc['digest']}"
    assert dy.ok("run", "--rm", by_index, "echo", "by index digest") == "by index digest\n"
    dy.ok("pull", "--platform", "linux/arm64", name)
    assert dy.image(name)["Architecture"] == "arm64" and dy.image(name)["Id"] == arm_config["digest"]
    p = dy("pull", "--platform=linux/s390x", name)
    assert p.returncode == 1 and p.stderr == (f"dockyard: pull {name}: no image for platform linux/s390x "
                                              "(the index has: linux/amd64, linux/arm64/v8)\n")
    p = dy("pull", "--platform", "linux/", name)
    assert p.returncode == 125 and p.stderr == "dockyard: invalid platform 'linux/': want os/arch[/variant]\n"
