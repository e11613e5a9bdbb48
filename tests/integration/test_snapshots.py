"""Snapshots on a real overlayfs: layers shared between containers, whiteouts hiding lower
files, writes landing in the container's upper dir only, atomic commits."""

from __future__ import annotations

import io
import os

import pytest

from dockyard.image.layer import LayerError, apply_layer
from dockyard.image.snapshots import SnapshotError, Snapshots
from layer_tars import make_tar

pytestmark = pytest.mark.root


def layer(entries):
    data = make_tar(entries)
    return lambda fs: apply_layer(io.BytesIO(data), fs)


@pytest.fixture
def snaps(tmp_path, need_root):
    s = Snapshots(str(tmp_path / "store"))
    yield s
    for c in tmp_path.glob("ctr*"):
        Snapshots.unmount(str(c))
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()


def test_two_containers_share_layers_and_keep_their_writes(snaps, tmp_path):
    base = snaps.commit("sha256-base", None, layer([("etc", "dir", None), ("etc/os", "file", "base\n"),
                                                    ("old", "dir", None), ("old/x", "file", "x"),
                                                    ("gone", "file", "bye")]))
    snaps.commit("sha256-top", "sha256-base", layer([("etc/app", "file", "app\n"), (".wh.gone", "file", ""),
                                                     ("old/.wh..wh..opq", "file", ""), ("old/y", "file", "y")]))
    assert snaps.chain("sha256-top") == [os.path.join(snaps.path("sha256-top"), "fs"), base]
    m1 = snaps.mount("sha256-top", str(tmp_path / "ctr1"))
    m2 = snaps.mount("sha256-top", str(tmp_path / "ctr2"))
    assert sorted(os.listdir(m1)) == ["etc", "old"]  # "gone" whited out
    assert sorted(os.listdir(os.path.join(m1, "old"))) == ["y"]  # opaque: lower x hidden
    assert open(os.path.join(m1, "etc/os")).read() == "base\n" and open(os.path.join(m1, "etc/app")).read() == "app\n"
    with open(os.path.join(m1, "etc/os"), "w") as f:
        f.write("changed in ctr1\n")
    assert open(os.path.join(m2, "etc/os")).read() == "base\n"  # the other container is untouched
    assert open(os.path.join(base, "etc/os")).read() == "base\n"  # and so is the shared layer
    assert open(tmp_path / "ctr1/upper/etc/os").read() == "changed in ctr1\n"


def test_commit_is_atomic_and_reused(snaps):
    def bad(fs):
        layer([("a", "file", "partial")])(fs)
        raise LayerError("boom half-way")

    with pytest.raises(LayerError):
        snaps.commit("sha256-k", None, bad)
    assert not snaps.has("sha256-k") and not [n for n in os.listdir(snaps.dir) if n.startswith(".tmp-")]
    p = snaps.commit("sha256-k", None, layer([("a", "file", "whole")]))
    calls = []
    assert snaps.commit("sha256-k", None, lambda fs: calls.append(fs)) == p and calls == []  # reused
    with pytest.raises(SnapshotError):
        snaps.commit("sha256-child", "sha256-missing", layer([]))
    os.mkdir(os.path.join(snaps.dir, ".tmp-crashed"))
    assert snaps.gc_temp() == 1


@pytest.mark.parametrize("key", ["../x", ".tmp-x", "a/b", "", "x" * 200])
def test_bad_keys(snaps, key):
    with pytest.raises(SnapshotError):
        snaps.path(key)
