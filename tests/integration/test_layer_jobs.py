"""Layers of one chain applied at once by helper processes (image/layer_jobs.py), committed in
chain order: whiteouts and hardlinks still come out right on overlayfs, a bad layer leaves no
snapshot and no temp dir, helpers are killed by close() and die with the process that started
them."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from layer_tars import make_tar

from dockyard.image.layer import LayerError
from dockyard.image.layer_jobs import LayerJobs
from dockyard.image.snapshots import SnapshotError, Snapshots
from dockyard.oci.digest import Hasher

pytestmark = pytest.mark.root


def diff_id(data: bytes) -> str:
    h = Hasher()
    h.update(data)
    return str(h.digest())


@pytest.fixture
def snaps(tmp_path, need_root):
    s = Snapshots(str(tmp_path / "store"))
    yield s
    Snapshots.unmount(str(tmp_path / "ctr"))
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()


def temp_dirs(snaps) -> list[str]:
    return [n for n in os.listdir(snaps.dir) if n.startswith(".tmp-")]


LAYERS = [
    [("etc", "dir", None), ("etc/os", "file", "base\n"), ("old", "dir", None), ("old/x", "file", "x"),
     ("gone", "file", "bye")],
    [(".wh.gone", "file", ""), ("old/.wh..wh..opq", "file", ""), ("old/y", "file", "y"),
     ("bin", "dir", None), ("bin/a", "file", "tool"), ("bin/b", "link", "bin/a")],
    [("etc/app", "file", "app\n")],
]


@pytest.mark.parametrize("source", ["file", "pipe"])
def test_layers_applied_at_once_stack_right_on_overlay(snaps, tmp_path, source):
    tars = [make_tar(e) for e in LAYERS]
    keys = ["sha256-l0", "sha256-l1", "sha256-l2"]

    def opener(i):
        if source == "pipe":  # no fileno: the layer thread copies it into the helper's pipe
            return lambda: io.BufferedReader(io.BytesIO(tars[i]))
        path = tmp_path / f"l{i}.tar"
        path.write_bytes(tars[i])
        return lambda: open(path, "rb")

    jobs = LayerJobs(snaps)
    try:
        for i, key in enumerate(keys):
            jobs.start(key, diff_id(tars[i]), opener(i))
        parent = None
        for key in keys:
            jobs.commit(key, parent)
            parent = key
    finally:
        jobs.close()
    assert temp_dirs(snaps) == []
    l1 = os.path.join(snaps.path("sha256-l1"), "fs")
    assert os.stat(os.path.join(l1, "bin/a")).st_ino == os.stat(os.path.join(l1, "bin/b")).st_ino
    merged = snaps.mount("sha256-l2", str(tmp_path / "ctr"))
    assert sorted(os.listdir(merged)) == ["bin", "etc", "old"]  # "gone" whited out
    assert os.listdir(os.path.join(merged, "old")) == ["y"]  # opaque: old/x hidden
    assert (Path(merged) / "etc/os").read_text() == "base\n"
    assert (Path(merged) / "etc/app").read_text() == "app\n"


def test_a_bad_layer_leaves_no_snapshot_from_it_up_and_no_temp_dir(snaps):
    tars = [make_tar(e) for e in LAYERS]
    ids = [diff_id(tars[0]), diff_id(b"something else"), diff_id(tars[2])]
    jobs = LayerJobs(snaps)
    try:
        for i in range(3):
            jobs.start(f"sha256-l{i}", ids[i], lambda i=i: io.BytesIO(tars[i]))
        jobs.commit("sha256-l0", None)
        with pytest.raises(LayerError, match="not the DiffID"):
            jobs.commit("sha256-l1", "sha256-l0")
    finally:
        jobs.close()
    assert snaps.has("sha256-l0")
    assert not snaps.has("sha256-l1") and not snaps.has("sha256-l2")
    assert temp_dirs(snaps) == []


def test_garbage_is_one_clear_error(snaps):
    jobs = LayerJobs(snaps)
    try:
        jobs.start("sha256-bad", None, lambda: io.BytesIO(b"\x1f\x8b" + b"not gzip" * 100))
        with pytest.raises(LayerError) as e:
            jobs.commit("sha256-bad", None)
    finally:
        jobs.close()
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)
    assert temp_dirs(snaps) == []


def test_a_layer_is_not_published_before_its_parent(snaps):
    data = make_tar(LAYERS[2])
    jobs = LayerJobs(snaps)
    try:
        jobs.start("sha256-top", diff_id(data), lambda: io.BytesIO(data))
        with pytest.raises(SnapshotError, match="parent sha256-l1 does not exist"):
            jobs.commit("sha256-top", "sha256-l1")
    finally:
        jobs.close()
    assert not snaps.has("sha256-top") and temp_dirs(snaps) == []


def helper_pids(snaps) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"helper_main" in cmdline and snaps.dir.encode() in cmdline:
            out.append(int(pid))
    return out


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_close_kills_a_helper_still_reading(snaps):
    r, w = os.pipe()  # a layer whose bytes never come
    jobs = LayerJobs(snaps)
    try:
        jobs.start("sha256-slow", None, lambda: os.fdopen(r, "rb"))
        assert wait_for(lambda: len(helper_pids(snaps)) == 1)
    finally:
        jobs.close()
        os.close(w)
    assert helper_pids(snaps) == [] and temp_dirs(snaps) == []


def test_helpers_die_with_the_process_that_started_them(snaps):
    code = ("import os, sys, time; from dockyard.image.layer_jobs import LayerJobs; "
            "from dockyard.image.snapshots import Snapshots; r, w = os.pipe(); "
            f"j = LayerJobs(Snapshots({os.path.dirname(snaps.dir)!r})); "
            "j.start('sha256-slow', None, lambda: os.fdopen(r, 'rb')); print('started', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"started\n"
        assert wait_for(lambda: len(helper_pids(snaps)) == 1)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
    assert wait_for(lambda: helper_pids(snaps) == [])
    assert len(temp_dirs(snaps)) == 1  # what gc_temp is for
    assert snaps.gc_temp() == 1
