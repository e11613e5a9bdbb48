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
    _check_verbose_inspect(dy, name, amd, amd_desc, arm_desc)
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


def _check_verbose_inspect(dy, name, amd, amd_desc, arm_desc):
    """`manifest inspect -v`: Docker's shape; an index gives one entry per manifest, each with
    the index's platform, its bytes (base64, hashing to its digest) and its document."""
    import base64
    import hashlib

    entries = json.loads(dy.ok("manifest", "inspect", "-v", name))
    assert [e["Ref"] for e in entries] == [f"{name}@{amd_desc['digest']}", f"{name}@{arm_desc['digest']}"]
    assert [e["Descriptor"]["platform"] for e in entries] == [
        {"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64", "variant": "v8"}]
    for e, desc in zip(entries, (amd_desc, arm_desc), strict=True):
        raw = base64.b64decode(e["Raw"])
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == desc["digest"] == e["Descriptor"]["digest"]
        key = "OCIManifest" if e["Descriptor"]["mediaType"].startswith("application/vnd.oci") else "SchemaV2Manifest"
        assert e[key] == json.loads(raw)
    one = json.loads(dy.ok("manifest", "inspect", "--verbose", amd))
    assert one["Ref"] == amd and one["Descriptor"]["platform"] == {"architecture": "amd64", "os": "linux"}
    assert one["Descriptor"]["digest"] == amd_desc["digest"]
