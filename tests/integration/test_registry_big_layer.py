"""A 1 GiB layer through a real `docker-registry`: pulled with bounded memory.

The layer is an uncompressed tar (media type ...layer.v1.tar) holding one 1 GiB file of
/dev/urandom bytes, so the blob is 1 GiB on the wire too (gzip of zeros would be tiny). It is
made once per module and uploaded with the registry's HTTP API in one streamed PUT (skopeo
would gzip it on the way: containers/image compresses layers for docker:// destinations),
with a config and an OCI manifest; then `dockyard pull` runs under a small Python parent
that reports its children's peak RSS (getrusage RUSAGE_CHILDREN: the pull is its only
child). Downloading, hashing, writing and unpacking all stream in 1 MiB pieces, so the peak
must stay far below the layer's size: asserted < 150 MB.

Cost here (2 cores, virtio disk): ~17 s for the whole test (making 1 GiB of random bytes and
its tar included; the pull itself 4-7 s) and 4 GiB of disk for the test's life (source tar,
registry copy, dockyard's blob and snapshot), removed after. Measured peak RSS of the pull:
33 MB (the test prints it with `-s`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytest_plugins = ["registry_fixtures"]  # registry, dy
pytestmark = pytest.mark.root

SIZE = 1 << 30
RSS_LIMIT_KB = 150 * 1000
PEAK_RSS = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)")


def _sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


@pytest.fixture(scope="module")
def big_tar(tmp_path_factory):
    """A 1 GiB uncompressed layer tar and its digest, made once per module; removed after."""
    base = tmp_path_factory.mktemp("big-layer")
    try:
        with open(base / "big.bin", "wb") as out, open("/dev/urandom", "rb") as rnd:
            left = SIZE
            while left:
                left -= out.write(rnd.read(min(left, 8 << 20)))
        tar = base / "layer.tar"
        subprocess.run(["tar", "-C", str(base), "-cf", str(tar), "big.bin"], check=True)
        (base / "big.bin").unlink()
        yield tar, _sha256_file(tar)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_one_gib_layer_pulls_with_bounded_memory(dy, registry, big_tar):
    tar, layer_digest = big_tar
    repo = "big/layer"
    name = f"{registry.host}/{repo}:1"
    t0 = time.monotonic()
    layer = registry.put_blob_file(repo, tar, layer_digest)
    config = registry.put_blob(repo, json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/big.bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode())
    registry.put_manifest(repo, "1", {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}]})
    root = dy.env["DOCKYARD_ROOT"]
    chain = layer_digest.replace(":", "-")
    try:
        t1 = time.monotonic()
        p = subprocess.run([sys.executable, "-c", PEAK_RSS, dy.DOCKYARD, "pull", "-q", name], check=False, env=dy.env,
                           capture_output=True, text=True, timeout=600)
        t2 = time.monotonic()
        assert p.returncode == 0, p.stderr
        peak_kb = int(p.stderr.strip().splitlines()[-1])
        print(f"\n1 GiB layer ({layer['size']} bytes, uncompressed tar): upload {t1 - t0:.1f} s, "
              f"dockyard pull+unpack {t2 - t1:.1f} s, pull peak RSS {peak_kb / 1000:.1f} MB")
        assert peak_kb < RSS_LIMIT_KB, f"pull peak RSS {peak_kb} kB: memory grows with the layer"
        # the blob and the unpacked file are complete and right
        assert os.path.getsize(os.path.join(root, "blobs", "sha256", layer_digest.split(":")[1])) == layer["size"]
        assert dy.image(name)["RootFS"]["Layers"] == [layer_digest]
        assert os.path.getsize(os.path.join(root, "snapshots", chain, "fs", "big.bin")) == SIZE
        dy.ok("rmi", name)
    finally:  # 2 GiB of blob and snapshot must not wait for pytest's tmp rotation
        for big in ("ingest", os.path.join("snapshots", chain), os.path.join("blobs", "sha256", chain[7:])):
            path = os.path.join(root, big)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.isfile(path):
                os.unlink(path)
