"""TLS with a generated CA, and htpasswd Basic auth through `dockyard login`/`logout`
(config.json and a credential helper), against a real `docker-registry` on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess

import pytest

pytest_plugins = ["registry_fixtures"]  # registry, tls_registry, auth_registry, dy
pytestmark = pytest.mark.root


def test_tls_with_the_generated_ca(dy, tls_registry, tmp_path):
    ca = {"DOCKYARD_CERTS_D": str(tls_registry.certs_d)}
    name = f"{tls_registry.host}/secure/bb:1"
    dy.ok("tag", "busybox", name)
    dy.ok("push", "-q", name, env=ca)
    dy.ok("rmi", name)
    out = dy.ok("pull", name, env=ca)
    assert out.strip().splitlines()[-1] == name
    assert dy.ok("run", "--rm", name, "echo", "over tls") == "over tls\n"
    # the same registry with another CA installed for it: verified, refused, one line
    other = tmp_path / "other-certs"
    (other / tls_registry.host).mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
                    "-keyout", str(tmp_path / "o.key"), "-out", str(other / tls_registry.host / "ca.crt")],
                   capture_output=True, check=True)
    p = dy("pull", name, env={"DOCKYARD_CERTS_D": str(other)})
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1
    assert "TLS certificate not trusted (unable to get local issuer certificate)" in p.stderr
    # no CA installed: a loopback registry is insecure-by-default (as in Docker): HTTPS unverified
    p = dy("manifest", "inspect", name, env={"DOCKYARD_CERTS_D": str(tmp_path / "empty")})
    assert p.returncode == 0 and json.loads(p.stdout)["schemaVersion"] == 2


def test_basic_auth_login_push_pull_logout(dy, auth_registry):
    host, user, password = auth_registry.host, auth_registry.user, auth_registry.password
    name = f"{host}/private/bb:1"
    dy.ok("tag", "busybox", name)
    p = dy("push", name)
    assert p.returncode == 1 and p.stderr == f"dockyard: push {name}: authentication required (401)\n"
    p = dy("login", "-u", user, "-p", "wrong", host)
    assert p.returncode == 1
    assert p.stderr == f"dockyard: login {host}: unauthorized: incorrect username or password (401)\n"
    config = os.path.join(dy.env["DOCKER_CONFIG"], "config.json")
    assert not os.path.exists(config)  # nothing stored for a refused login
    p = dy("login", "-u", user, "--password-stdin", host, input=password + "\n")
    assert p.returncode == 0 and p.stdout == "Login Succeeded\n", p.stderr
    with open(config) as f:
        doc = json.load(f)
    assert base64.b64decode(doc["auths"][host]["auth"]).decode() == f"{user}:{password}"
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    dy.ok("push", "-q", name)
    dy.ok("rmi", name)
    dy.ok("pull", "-q", name)
    assert dy.ok("logout", host) == f"Removing login credentials for {host}\n"
    with open(config) as f:
        assert host not in json.load(f).get("auths", {})
    p = dy("pull", name)
    assert p.returncode == 1 and p.stderr == f"dockyard: pull {name}: authentication required (401)\n"
    assert dy.ok("logout", host) == f"Not logged in to {host}\n"


HELPER = """#!/bin/sh
# docker-credential-helpers' protocol, one server kept in a file (a stand-in for `pass`)
store="$(dirname "$0")/store"
read -r input
case "$1" in
  store) echo "$input" > "$store" ;;
  get) if [ -s "$store" ]; then cat "$store"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) rm -f "$store" ;;
esac
"""


def test_credential_helper(dy, auth_registry, tmp_path):
    host, user, password = auth_registry.host, auth_registry.user, auth_registry.password
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-dytest"
    helper.write_text(HELPER)
    helper.chmod(0o755)
    config = os.path.join(dy.env["DOCKER_CONFIG"], "config.json")
    os.makedirs(dy.env["DOCKER_CONFIG"])
    with open(config, "w") as f:
        json.dump({"credsStore": "dytest"}, f)
    path = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    dy.ok("login", "-u", user, "-p", password, host, env=path)
    assert json.loads((bindir / "store").read_text()) == {"ServerURL": host, "Username": user, "Secret": password}
    with open(config) as f:
        assert json.load(f)["auths"][host] == {}  # listed; the secret lives in the helper
    name = f"{host}/helped/bb:1"
    dy.ok("tag", "busybox", name)
    dy.ok("push", "-q", name, env=path)
    dy.ok("logout", host, env=path)
    assert not (bindir / "store").exists()
    p = dy("pull", name, env=path)
    assert p.returncode == 1 and "authentication required (401)" in p.stderr
