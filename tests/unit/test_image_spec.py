"""Image-spec documents: parsing, validation errors, ChainIDs, platform selection."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import ImageError
from dockyard.oci import image_spec as s
from dockyard.oci.digest import digest_bytes

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


def manifest(**kw) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": s.OCI_MANIFEST,
           "config": {"mediaType": s.OCI_CONFIG, "digest": D1, "size": 7},
           "layers": [{"mediaType": s.OCI_LAYER_GZIP, "digest": D2, "size": 32}]}
    doc.update(kw)
    return json.dumps(doc).encode()


def test_manifest_parses_and_knows_its_digest():
    data = manifest()
    m = s.parse(data)
    assert isinstance(m, s.Manifest) and m.digest == digest_bytes(data)
    assert m.config.digest == D1 and [x.digest for x in m.layers] == [D2]


def test_docker_v22_manifest_and_list():
    m = s.parse(manifest(mediaType=s.DOCKER_MANIFEST, config={"mediaType": s.DOCKER_CONFIG, "digest": D1, "size": 1},
                         layers=[{"mediaType": s.DOCKER_LAYER_GZIP, "digest": D2, "size": 2}]))
    assert m.media_type == s.DOCKER_MANIFEST
    idx = s.parse(json.dumps({"schemaVersion": 2, "mediaType": s.DOCKER_LIST, "manifests": [
        {"mediaType": s.DOCKER_MANIFEST, "digest": D1, "size": 1, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": s.DOCKER_MANIFEST, "digest": D2, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
    ]}).encode())
    assert idx.select().digest == D2 and idx.select(arch="arm64", variant="v8").digest == D1
    with pytest.raises(ImageError, match="linux/amd64"):
        idx.select(arch="s390x")


@pytest.mark.parametrize("kw, msg", [
    ({"schemaVersion": 1}, "schemaVersion"),
    ({"mediaType": "application/x-nope"}, "unknown manifest media type"),
    ({"config": {"mediaType": s.OCI_CONFIG, "digest": "sha256:xyz", "size": 1}}, "invalid digest"),
    ({"config": {"mediaType": s.OCI_CONFIG, "digest": D1, "size": -1}}, "invalid size"),
    ({"config": {"mediaType": "application/vnd.example+json", "digest": D1, "size": 1}}, "not an image config"),
    ({"layers": [{"mediaType": "text/plain", "digest": D2, "size": 1}]}, "unknown layer media type"),
    ({"layers": "nope"}, "must be a list"),
])
def test_manifest_errors(kw, msg):
    with pytest.raises(ImageError, match=msg):
        s.parse(manifest(**kw))


def test_not_json():
    with pytest.raises(ImageError, match="not valid JSON"):
        s.parse(b"{nope")


def test_config_and_chain_ids():
    cfg = s.ImageConfig(json.dumps({"os": "linux", "architecture": "amd64", "config": {"Cmd": ["sh"]},
                                    "rootfs": {"type": "layers", "diff_ids": [D1, D2]}}).encode())
    assert cfg.config["Cmd"] == ["sh"]
    chain = s.chain_ids(cfg.diff_ids)
    assert chain[0] == D1 and chain[1] == digest_bytes(f"{D1} {D2}".encode())
    with pytest.raises(ImageError):
        s.ImageConfig(b'{"os": "linux", "architecture": "amd64", "rootfs": {"type": "nope"}}')
