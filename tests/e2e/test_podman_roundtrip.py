"""Image interchange with a real podman (4.3): what `dockyard save` writes, podman loads and
runs, under the same image ID; what `podman save` writes in either format, `dockyard load`
reads, keeping tags and image IDs, and `dockyard run` runs. Each test has its own podman
storage (tests/podman_support.py says how podman is made to work here) and dockyard roots,
and leaves no mount behind.

podman's own containers run under runc: crun refuses this cgroup v1 hybrid host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest
from image_schemas import Schemas, check_image
from podman_support import Podman, mounts_under
from support import need, need_binary

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")
pytestmark = pytest.mark.root


def dy(env, *args, check=True):
    p = subprocess.run([DOCKYARD, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert p.returncode == 0, f"dockyard {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}"
    return p


@pytest.fixture
def work(tmp_path):
    need(os.geteuid() == 0, "needs root")
    podman = Podman(need_binary("podman"), need_binary("runc"))
    env = {**os.environ, "DOCKYARD_ROOT": str(tmp_path / "dy"), "DOCKYARD_RUN_ROOT": str(tmp_path / "dyrun"),
           "DOCKYARD_SECCOMP_CACHE": str(tmp_path / "seccomp")}
    dy(env, "bootstrap", "busybox")
    yield podman, env, tmp_path
    left = dy(env, "ps", "-a", "-q", check=False).stdout.split()
    for cid in left:
        dy(env, "rm", "-f", cid, check=False)
    leaked = podman.close()
    assert not leaked, f"podman system reset left these behind (mounts now unmounted): {leaked}"
    assert not mounts_under(str(tmp_path)) and not mounts_under(podman.base), "mounts left behind"
    assert not os.path.exists(podman.base)
    assert not left, f"dockyard containers left by the test (now removed): {left}"


def _inspect(env, ref):
    return json.loads(dy(env, "inspect", ref).stdout)[0]


def test_podman_loads_and_runs_what_dockyard_saves(work):
    podman, env, tmp = work
    archive = tmp / "busybox.tar"
    dy(env, "save", "-o", str(archive), "busybox")
    out = podman.run("load", "-i", str(archive)).stdout
    assert "Loaded image: docker.io/library/busybox:latest" in out
    assert podman.image_id("busybox") == _inspect(env, "busybox")["Id"]  # the config digest, on both sides
    run = podman.run("run", "--rm", "--network", "none", "--pull", "never", "busybox", "echo", "hi")
    assert run.stdout == "hi\n"
    assert podman.run("ps", "-a", "-q").stdout == ""  # --rm removed it


@pytest.fixture
def podman_images(work):
    """Two images podman holds: dockyard's busybox loaded and retagged by podman, and a
    `podman import` of its layer (a config and manifest podman wrote itself, with a CMD)."""
    podman, env, tmp = work
    archive = tmp / "busybox.tar"
    dy(env, "save", "-o", str(archive), "busybox")
    podman.run("load", "-i", str(archive))
    podman.run("tag", "busybox", "localhost/pm/bb:v1")
    with tarfile.open(archive) as t:  # the layer, as a rootfs tarball
        manifest = json.loads(t.extractfile("manifest.json").read())[0]
        (tmp / "rootfs.tar").write_bytes(t.extractfile(manifest["Layers"][0]).read())
    podman.run("import", "-q", "--change", 'CMD ["echo", "from-import"]', str(tmp / "rootfs.tar"),
               "localhost/pm/imp:v2")
    return {"localhost/pm/bb:v1": podman.image_id("localhost/pm/bb:v1"),
            "localhost/pm/imp:v2": podman.image_id("localhost/pm/imp:v2")}


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_dockyard_loads_and_runs_what_podman_saves(work, podman_images, fmt):
    podman, env, tmp = work
    archive = tmp / f"podman-{fmt}.tar"
    if fmt == "docker-archive":
        refs = list(podman_images)  # one archive, several images (-m)
        podman.run("save", "-q", "-m", "--format", fmt, "-o", str(archive), *refs)
    else:
        refs = ["localhost/pm/imp:v2"]  # podman 4.3 saves one image per oci-archive
        podman.run("save", "-q", "--format", fmt, "-o", str(archive), *refs)
    into = {**env, "DOCKYARD_ROOT": str(tmp / f"loaded-{fmt}")}
    loaded = dy(into, "load", "-i", str(archive)).stdout.splitlines()
    assert sorted(loaded) == sorted(f"Loaded image: {r}" for r in refs)
    listed = {tuple(line.split()[:3]) for line in dy(into, "images").stdout.splitlines()[1:]}
    for ref in refs:
        repo, tag = ref.rsplit(":", 1)
        assert (repo, tag, podman_images[ref].removeprefix("sha256:")[:12]) in listed  # tag kept, same ID
        assert _inspect(into, ref)["Id"] == podman_images[ref]
    run = dy(into, "run", "--rm", "localhost/pm/imp:v2")  # podman's CMD, kept in its config
    assert run.stdout == "from-import\n"
    if "localhost/pm/bb:v1" in refs:
        assert dy(into, "run", "--rm", "localhost/pm/bb:v1", "echo", "hi").stdout == "hi\n"
    _stored_documents_validate(into["DOCKYARD_ROOT"], len(refs))


def _stored_documents_validate(root: str, images: int) -> None:
    """What dockyard stored from podman's archive validates against the image-spec schemas
    (from a docker-archive, the manifest is one dockyard wrote)."""
    from dockyard.image.store import ImageStore

    schemas, store = Schemas(), ImageStore(root)
    try:
        assert len(store.list()) == images
        for img in store.list():
            with store.blobs.open(img.manifest_digest) as f:
                manifest = f.read()

            def blob(d):
                with store.blobs.open(d) as f:
                    return f.read()
            assert check_image(schemas, manifest, img.manifest.media_type, blob, f"image {img.short_id}") == 2
    finally:
        store.close()


def test_skopeo_sees_the_digests_dockyard_reports(work):
    """`skopeo inspect` of a dockyard save, read as either format, names the image ID and the
    layers `dockyard inspect` shows (test_archive.py checks the manifest digest)."""
    skopeo = need_binary("skopeo")
    _, env, tmp = work
    dy(env, "tag", "busybox", "localhost/other:2")
    archive = tmp / "two.tar"
    dy(env, "save", "-o", str(archive), "busybox", "localhost/other:2")
    info = _inspect(env, "busybox")

    def skopeo_json(*args):
        p = subprocess.run([skopeo, "inspect", *args], capture_output=True, text=True, timeout=60, check=False)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    for src in (f"docker-archive:{archive}:busybox:latest", f"docker-archive:{archive}:localhost/other:2",
                f"oci-archive:{archive}:latest", f"oci-archive:{archive}:2"):
        cfg = skopeo_json("--config", "--raw", src)
        assert cfg["rootfs"]["diff_ids"] == info["RootFS"]["Layers"], src
        raw = skopeo_json("--raw", src)
        assert raw["config"]["digest"] == info["Id"], src
        assert skopeo_json(src)["Layers"] == [x["digest"] for x in raw["layers"]], src
