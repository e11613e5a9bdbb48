"""The image store end to end on this machine: a reproducible busybox image from Debian's
busybox-static, tags and ID prefixes, rmi, gc, unpack into shared snapshots, and the image
actually running through dockyard-runtime on an overlay rootfs."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from dockyard.errors import ImageError, NotFound
from dockyard.image.base import make_busybox
from dockyard.image.snapshots import Snapshots
from dockyard.image.store import ImageStore
from runtime_fixtures import RUNTIME, cid

pytestmark = pytest.mark.root


@pytest.fixture
def store(tmp_path, need_root):
    s = ImageStore(str(tmp_path / "store"))
    yield s
    s.close()


def test_busybox_image_is_reproducible_and_tagged(store, tmp_path):
    img = make_busybox(store)
    assert img.tags == ["docker.io/library/busybox:latest"]
    assert img.config.config["Cmd"] == ["sh"] and len(img.manifest.layers) == 1
    other = ImageStore(str(tmp_path / "other"))
    try:
        assert make_busybox(other).id == img.id  # same package -> same image ID
    finally:
        other.close()
    assert store.resolve("busybox").id == img.id
    assert store.resolve("docker.io/library/busybox:latest").id == img.id
    assert store.resolve(img.id.encoded[:8]).id == img.id
    assert store.resolve(f"busybox@{img.manifest_digest}").id == img.id
    with pytest.raises(NotFound):
        store.resolve("debian:bookworm")


def test_tag_rmi_and_gc(store):
    img = make_busybox(store)
    store.tag(img.id, "localhost/mybox:1")
    assert sorted(store.get(img.id).tags) == ["docker.io/library/busybox:latest", "localhost/mybox:1"]
    with pytest.raises(ImageError, match="several places"):
        store.remove(img.id.encoded[:12])
    assert store.remove("localhost/mybox:1") == ["Untagged: localhost/mybox:1"]
    store.unpack(img)
    done = store.remove("busybox")
    assert done[0] == "Untagged: busybox:latest" and done[1].startswith("Deleted: sha256:")
    removed = store.gc()
    assert len(removed["blobs"]) == 3 and len(removed["snapshots"]) == 1  # manifest, config, layer
    assert store.blobs.list() == [] and store.list() == []


def test_unpacked_image_runs_on_overlay_with_the_runtime(store, tmp_path, rt):
    img = make_busybox(store)
    top = store.unpack(img)
    assert store.unpack(img) == top  # the second time, nothing to do
    ctr = tmp_path / "ctr"
    merged = store.snapshots.mount(top, str(ctr))
    try:
        bundle = tmp_path / "bundle"
        bundle.mkdir()
        from dockyard.engine.spec import RunOptions, container_spec

        # as `docker run busybox sh -c ...` would: Docker's capabilities, our seccomp profile
        spec = container_spec(img.config.config, RunOptions(
            args=["sh", "-c", "cat /etc/hostname; echo hi > /tmp/written; busybox | head -1; "
                  "grep -E '^(Seccomp|CapEff):' /proc/self/status; echo $HOSTNAME $HOME"]),
            rootfs=merged, cid="feedfacecafe0123")
        (bundle / "config.json").write_text(json.dumps(spec))
        p = subprocess.run([RUNTIME, "--root", rt.root, "run", "--bundle", str(bundle), cid(rt)],
                           capture_output=True, text=True, timeout=60, env=rt.env)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("busybox\nBusyBox")
        assert "Seccomp:\t2" in p.stdout and "CapEff:\t00000000a80425fb" in p.stdout  # Docker's 14
        assert p.stdout.rstrip().endswith("feedfacecafe /root")
        assert (ctr / "upper/tmp/written").read_text() == "hi\n"  # the write went to the container
        assert not os.path.exists(os.path.join(store.snapshots.path(top), "fs/tmp/written"))
    finally:
        Snapshots.unmount(str(ctr))
