"""pull/push/manifest inspect against a real `docker-registry` over plain HTTP (127.0.0.1 is
insecure-by-default, as in Docker): push -> rmi -> pull -> run, digests as skopeo sees them,
images pushed by skopeo pulled by dockyard and the reverse, by digest, and a missing tag."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest_plugins = ["registry_fixtures"]  # the registry fixtures
from support import need, need_binary

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")
pytestmark = pytest.mark.root


@pytest.fixture
def env(tmp_path):
    need(os.geteuid() == 0, "needs root (run unpacks layers and makes namespaces)")
    e = {**os.environ, "DOCKYARD_ROOT": str(tmp_path / "lib"), "DOCKYARD_RUN_ROOT": str(tmp_path / "run"),
         "DOCKYARD_SECCOMP_CACHE": str(tmp_path / "seccomp-cache"), "DOCKER_CONFIG": str(tmp_path / "docker"),
         "DOCKYARD_CONFIG": str(tmp_path / "registries.json")}
    p = dy(e, "bootstrap", "busybox")
    assert p.returncode == 0, p.stderr
    yield e
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()


def dy(env, *args, input=None, timeout=120):
    return subprocess.run([DOCKYARD, *args], check=False, env=env, capture_output=True, text=True, input=input, timeout=timeout)


def ok(p):
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def skopeo_digest(ref: str) -> str:
    out = subprocess.run([need_binary("skopeo"), "inspect", "--tls-verify=false", f"docker://{ref}"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["Digest"]


def local_image(env, ref: str) -> dict:
    return json.loads(ok(dy(env, "inspect", ref)))[0]


def test_push_rmi_pull_run(env, registry):
    name = f"{registry.host}/team/busybox:1.0"
    ok(dy(env, "tag", "busybox", name))
    image_id = local_image(env, name)["Id"]
    out = ok(dy(env, "push", name))
    pushed_digest = out.strip().splitlines()[-1].split()[2]
    assert out.strip().splitlines()[-1] == f"1.0: digest: {pushed_digest} size: {out.split('size: ')[1].strip()}"
    assert registry.catalog_tags("team/busybox") == ["1.0"]
    assert skopeo_digest(name) == pushed_digest
    ok(dy(env, "rmi", name, "busybox"))
    assert "team/busybox" not in ok(dy(env, "images"))
    out = ok(dy(env, "pull", name))
    assert f"Digest: {pushed_digest}" in out and out.strip().splitlines()[-1] == name
    assert local_image(env, name)["Id"] == image_id  # the same config, so the same image ID
    p = dy(env, "run", "--rm", name, "sh", "-c", "echo pulled and running")
    assert p.returncode == 0 and p.stdout == "pulled and running\n", p.stderr
    # pulling again: everything already there, same digest
    out = ok(dy(env, "pull", name))
    assert "Already exists" in out and f"Digest: {pushed_digest}" in out


def test_pull_by_digest_and_quiet(env, registry):
    name = f"{registry.host}/bydigest/bb"
    ok(dy(env, "tag", "busybox", name))
    ok(dy(env, "push", "-q", name))
    digest = skopeo_digest(name)
    ok(dy(env, "rmi", name, "busybox"))
    out = ok(dy(env, "pull", "-q", f"{name}@{digest}"))
    assert out == f"{name}@{digest}\n"
    p = dy(env, "run", "--rm", f"{name}@{digest}", "echo", "by digest")
    assert p.stdout == "by digest\n", p.stderr
    bad = "sha256:" + "0" * 64
    p = dy(env, "pull", f"{name}@{bad}")
    assert p.returncode == 1 and p.stderr == f"dockyard: pull {name}@{bad}: manifest unknown (404)\n"


def test_missing_tag_and_repository_are_one_line_404(env, registry):
    ok(dy(env, "tag", "busybox", f"{registry.host}/here/bb:1"))
    ok(dy(env, "push", "-q", f"{registry.host}/here/bb:1"))
    p = dy(env, "pull", f"{registry.host}/here/bb:nope")
    assert p.returncode == 1 and p.stderr == f"dockyard: pull {registry.host}/here/bb:nope: manifest unknown (404)\n"
    p = dy(env, "pull", f"{registry.host}/nowhere/x")
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "(404)" in p.stderr
    p = dy(env, "manifest", "inspect", f"{registry.host}/here/bb:nope")
    assert p.returncode == 1 and "manifest unknown (404)" in p.stderr
    assert "here/bb" in ok(dy(env, "images"))  # failed pulls left the store as it was


def test_manifest_inspect_matches_skopeo_raw(env, registry):
    name = f"{registry.host}/inspect/bb:2"
    ok(dy(env, "tag", "busybox", name))
    ok(dy(env, "push", "-q", name))
    raw = subprocess.run([need_binary("skopeo"), "inspect", "--raw", "--tls-verify=false", f"docker://{name}"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(ok(dy(env, "manifest", "inspect", name))) == json.loads(raw)


def test_skopeo_pushes_dockyard_pulls_and_the_reverse(env, registry, tmp_path):
    skopeo = need_binary("skopeo")
    archive = tmp_path / "bb.tar"
    ok(dy(env, "save", "-o", str(archive), "busybox"))
    image_id = local_image(env, "busybox")["Id"]
    # skopeo -> registry -> dockyard, once from a docker-archive, once from an oci-archive
    for transport, repo in (("docker-archive", "sk/docker"), ("oci-archive", "sk/oci")):
        subprocess.run([skopeo, "copy", "-q", "--dest-tls-verify=false", f"{transport}:{archive}",
                        f"docker://{registry.host}/{repo}:v1"], check=True)
        out = ok(dy(env, "pull", f"{registry.host}/{repo}:v1"))
        assert f"Digest: {skopeo_digest(f'{registry.host}/{repo}:v1')}" in out
        assert local_image(env, f"{registry.host}/{repo}:v1")["Id"] == image_id
        p = dy(env, "run", "--rm", f"{registry.host}/{repo}:v1", "echo", "from skopeo")
        assert p.stdout == "from skopeo\n", p.stderr
    # dockyard -> registry -> skopeo: an OCI layout skopeo reads back with the same config
    ok(dy(env, "tag", "busybox", f"{registry.host}/dy/bb:v2"))
    ok(dy(env, "push", f"{registry.host}/dy/bb:v2"))
    subprocess.run([skopeo, "copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/dy/bb:v2",
                    f"oci:{tmp_path}/layout:v2"], check=True)
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    manifest = json.loads((tmp_path / "layout" / "blobs" / "sha256" /
                           index["manifests"][0]["digest"].split(":")[1]).read_text())
    assert manifest["config"]["digest"] == image_id
