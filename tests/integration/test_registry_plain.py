"""pull/push/manifest inspect against a real `docker-registry` over plain HTTP (127.0.0.1 is
insecure-by-default, as in Docker): push -> rmi -> pull -> run, digests as skopeo sees them,
images pushed by skopeo pulled by dockyard and the reverse, by digest, and a missing tag."""

from __future__ import annotations

import json
import subprocess

import pytest
from support import need_binary

pytest_plugins = ["registry_fixtures"]  # registry, dy

pytestmark = pytest.mark.root


def test_push_rmi_pull_run(dy, registry):
    name = f"{registry.host}/team/busybox:1.0"
    dy.ok("tag", "busybox", name)
    image_id = dy.image(name)["Id"]
    out = dy.ok("push", name)
    pushed_digest = out.strip().splitlines()[-1].split()[2]
    assert out.strip().splitlines()[-1] == f"1.0: digest: {pushed_digest} size: {out.split('size: ')[1].strip()}"
    assert registry.catalog_tags("team/busybox") == ["1.0"]
    assert registry.digest(name) == pushed_digest
    assert dy.image(name)["RepoDigests"] == [f"{registry.host}/team/busybox@{pushed_digest}"]
    dy.ok("rmi", name, "busybox")
    assert "team/busybox" not in dy.ok("images")
    out = dy.ok("pull", name)
    assert f"Digest: {pushed_digest}" in out and out.strip().splitlines()[-1] == name
    assert dy.image(name)["RepoDigests"] == [f"{registry.host}/team/busybox@{pushed_digest}"]
    assert dy.image(name)["Id"] == image_id  # the same config, so the same image ID
    p = dy("run", "--rm", name, "sh", "-c", "echo pulled and running")
    assert p.returncode == 0 and p.stdout == "pulled and running\n", p.stderr
    # pulling again: everything already there, same digest
    out = dy.ok("pull", name)
    assert "Already exists" in out and f"Digest: {pushed_digest}" in out


def test_pull_by_digest_and_quiet(dy, registry):
    name = f"{registry.host}/bydigest/bb"
    dy.ok("tag", "busybox", name)
    dy.ok("push", "-q", name)
    digest = registry.digest(name)
    dy.ok("rmi", name, "busybox")
    out = dy.ok("pull", "-q", f"{name}@{digest}")
    assert out == f"{name}@{digest}\n"
    p = dy("run", "--rm", f"{name}@{digest}", "echo", "by digest")
    assert p.stdout == "by digest\n", p.stderr
    bad = "sha256:" + "0" * 64
    p = dy("pull", f"{name}@{bad}")
    assert p.returncode == 1 and p.stderr == f"dockyard: pull {name}@{bad}: manifest unknown (404)\n"


def test_missing_tag_and_repository_are_one_line_404(dy, registry):
    dy.ok("tag", "busybox", f"{registry.host}/here/bb:1")
    dy.ok("push", "-q", f"{registry.host}/here/bb:1")
    p = dy("pull", f"{registry.host}/here/bb:nope")
    assert p.returncode == 1 and p.stderr == f"dockyard: pull {registry.host}/here/bb:nope: manifest unknown (404)\n"
    p = dy("pull", f"{registry.host}/nowhere/x")
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "(404)" in p.stderr
    p = dy("manifest", "inspect", f"{registry.host}/here/bb:nope")
    assert p.returncode == 1 and "manifest unknown (404)" in p.stderr
    assert "here/bb" in dy.ok("images")  # failed pulls left the store as it was


def test_manifest_inspect_matches_skopeo_raw(dy, registry):
    name = f"{registry.host}/inspect/bb:2"
    dy.ok("tag", "busybox", name)
    dy.ok("push", "-q", name)
    raw = subprocess.run([need_binary("skopeo"), "inspect", "--raw", "--tls-verify=false", f"docker://{name}"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(dy.ok("manifest", "inspect", name)) == json.loads(raw)


def test_skopeo_pushes_dockyard_pulls_and_the_reverse(dy, registry, tmp_path):
    skopeo = need_binary("skopeo")
    archive = tmp_path / "bb.tar"
    dy.ok("save", "-o", str(archive), "busybox")
    image_id = dy.image("busybox")["Id"]
    # skopeo -> registry -> dockyard, once from a docker-archive, once from an oci-archive
    for transport, repo in (("docker-archive", "sk/docker"), ("oci-archive", "sk/oci")):
        subprocess.run([skopeo, "copy", "-q", "--dest-tls-verify=false", f"{transport}:{archive}",
                        f"docker://{registry.host}/{repo}:v1"], check=True)
        out = dy.ok("pull", f"{registry.host}/{repo}:v1")
        assert f"Digest: {registry.digest(f'{registry.host}/{repo}:v1')}" in out
        assert dy.image(f"{registry.host}/{repo}:v1")["Id"] == image_id
        p = dy("run", "--rm", f"{registry.host}/{repo}:v1", "echo", "from skopeo")
        assert p.stdout == "from skopeo\n", p.stderr
    # dockyard -> registry -> skopeo: an OCI layout skopeo reads back with the same config
    dy.ok("tag", "busybox", f"{registry.host}/dy/bb:v2")
    dy.ok("push", f"{registry.host}/dy/bb:v2")
    subprocess.run([skopeo, "copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/dy/bb:v2",
                    f"oci:{tmp_path}/layout:v2"], check=True)
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    manifest = json.loads((tmp_path / "layout" / "blobs" / "sha256" /
                           index["manifests"][0]["digest"].split(":")[1]).read_text())
    assert manifest["config"]["digest"] == image_id


def test_progress_redraws_lines_on_a_terminal(dy, registry):
    from support import run_on_pty

    name = f"{registry.host}/tty/bb:1"
    dy.ok("tag", "busybox", name)
    dy.ok("push", "-q", name)
    dy.ok("rmi", name, "busybox")
    code, out = run_on_pty([dy.DOCKYARD, "pull", name], wait_for=b"\x00never", answer=b"", env=dy.env)
    assert code == 0, out
    assert b"\x1b[2K" in out and b"\x1b[1A" in out and b"Pull complete" in out  # redrawn in place
    assert out.rstrip().endswith(name.encode())
