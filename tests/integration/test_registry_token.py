"""Bearer-token auth against a real `docker-registry` configured with `auth: token`, whose
tokens come from token_server.py (RS256 JWTs with an x5c chain the registry verifies): the
scopes dockyard asks for (pull anonymously, pull+push after login, the source repository's
pull for a cross-repository mount), one token per scope set per process, and a refused
password."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["registry_fixtures"]  # token_registry, dy
pytestmark = pytest.mark.root


def _login(dy, registry) -> None:
    out = dy.ok("login", "-u", registry.user, "--password-stdin", registry.host, input=registry.password + "\n")
    assert out == "Login Succeeded\n"


def _asked(registry, since: int = 0) -> list[tuple]:
    """(account, scopes) of token requests since index ``since``."""
    with registry.token.lock:
        return [(a, tuple(s)) for a, s in registry.token.requests[since:]]


def test_anonymous_pull_gets_a_pull_token_once(dy, token_registry):
    reg = token_registry
    name = f"{reg.host}/tok/bb:1"
    _login(dy, reg)
    dy.ok("tag", "busybox", name)
    dy.ok("push", "-q", name)
    dy.ok("logout", reg.host)
    dy.ok("rmi", name, "busybox")
    before = len(reg.token.requests)
    out = dy.ok("pull", name)
    assert out.strip().splitlines()[-1] == name
    # manifest, config and layer all went out with one anonymous token for the one scope
    assert _asked(reg, before) == [(None, ("repository:tok/bb:pull",))]
    assert dy.ok("run", "--rm", name, "echo", "bearer") == "bearer\n"


def test_push_without_login_is_refused_then_push_after_login_asks_pull_push(dy, token_registry):
    reg = token_registry
    name = f"{reg.host}/tok/pushed:1"
    dy.ok("tag", "busybox", name)
    p = dy("push", name)
    assert p.returncode == 1 and p.stderr == f"dockyard: push {name}: authentication required (401)\n"
    assert all(a is None for a, _ in _asked(reg))  # anonymous: granted pull only, so refused
    before = len(reg.token.requests)
    _login(dy, reg)
    dy.ok("push", "-q", name)
    asked = _asked(reg, before)
    assert asked[0] == ("tester", ())  # login: a token request with the credentials, no scope
    assert asked[1:] == [("tester", ("repository:tok/pushed:pull,push",))]  # push: once, cached
    assert reg.digest(name).startswith("sha256:")


def test_cross_repository_mount_asks_for_the_source_repository_pull_scope(dy, token_registry):
    reg = token_registry
    a, b = f"{reg.host}/team/a:1", f"{reg.host}/team/b:1"
    _login(dy, reg)
    dy.ok("tag", "busybox", a)
    dy.ok("tag", "busybox", b)
    dy.ok("push", "-q", a)
    before = len(reg.token.requests)
    out = dy.ok("push", b)
    assert "Mounted from team/a" in out and "Pushed" not in out
    scopes = [s for _, s in _asked(reg, before)]
    assert ("repository:team/a:pull", "repository:team/b:pull,push") in scopes
    assert ("repository:team/b:pull,push",) in scopes
    assert reg.digest(b) == reg.digest(a)


def test_wrong_password_is_one_line_401_and_nothing_stored(dy, token_registry):
    reg = token_registry
    p = dy("login", "-u", reg.user, "-p", "wrong", reg.host)
    assert p.returncode == 1
    assert p.stderr == f"dockyard: login {reg.host}: unauthorized: incorrect username or password (401)\n"
    assert not os.path.exists(os.path.join(dy.env["DOCKER_CONFIG"], "config.json"))
    assert _asked(reg) == [("!tester", ())]  # one try, refused


def test_search_asks_for_the_catalog_scope(dy, token_registry):
    """The catalog needs ``registry:catalog:*``, which this token server grants only to a
    logged-in account: anonymous search is refused in one line, logged in it finds the repo."""
    reg = token_registry
    _login(dy, reg)
    dy.ok("tag", "busybox", f"{reg.host}/tok/searchable:1")
    dy.ok("push", "-q", f"{reg.host}/tok/searchable:1")
    before = len(reg.token.requests)
    assert dy.ok("search", "--format", "{{.Name}}", f"{reg.host}/search") == f"{reg.host}/tok/searchable\n"
    assert _asked(reg, before) == [(reg.user, ("registry:catalog:*",))]
    dy.ok("logout", reg.host)
    p = dy("search", f"{reg.host}/search")
    assert p.returncode == 1 and p.stderr == f"dockyard: search {reg.host}/search: authentication required (401)\n"
