"""Credentials in Docker's client config, ``$DOCKER_CONFIG/config.json`` (default
``~/.docker/config.json``), read and written so `docker login` and `dockyard login` share them:

    {"auths": {"registry:5000": {"auth": base64("user:password")}},
     "credsStore": "pass",                       # a helper for every registry
     "credHelpers": {"ghcr.io": "gh"}}           # a helper for one registry

A helper NAME is the program ``docker-credential-NAME`` (docker-credential-helpers' protocol):
``get`` reads the server URL on stdin and prints ``{"ServerURL","Username","Secret"}``;
``store`` reads that JSON; ``erase`` reads the server URL. Docker Hub's key is
``https://index.docker.io/v1/``, every other registry's its ``host[:port]``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess

from ..errors import ConfigError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


def config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def server_key(registry: str) -> str:
    return DOCKER_HUB_KEY if registry in ("docker.io", "index.docker.io", "registry-1.docker.io") else registry


def _load() -> dict:
    path = config_path()
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a JSON object")
    return doc


def _save(doc: dict) -> None:
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds passwords
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent="\t")
        f.write("\n")
    os.replace(tmp, path)


def _helper(doc: dict, registry: str) -> str | None:
    return (doc.get("credHelpers") or {}).get(server_key(registry)) or (doc.get("credHelpers") or {}).get(registry) \
        or doc.get("credsStore") or None


def _run_helper(name: str, action: str, data: str) -> subprocess.CompletedProcess:
    prog = f"docker-credential-{name}"
    try:
        return subprocess.run([prog, action], check=False, input=data, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise ConfigError(f"credential helper {prog} is named in {config_path()} but not installed") from None


def _lookup_key(auths: dict, registry: str) -> str | None:
    key = server_key(registry)
    if key in auths:
        return key
    for k in auths:  # entries written as URLs: https://host:port or http://host/v2/
        bare = k.split("://", 1)[-1].split("/", 1)[0]
        if bare == registry:
            return k
    return None


def get(registry: str) -> tuple[str, str] | None:
    """(username, secret) for the registry, or None for anonymous access."""
    doc = _load()
    helper = _helper(doc, registry)
    if helper:
        p = _run_helper(helper, "get", server_key(registry))
        if p.returncode != 0:
            if "credentials not found" in (p.stdout + p.stderr).lower():
                return None
            raise ConfigError(f"docker-credential-{helper} get: {(p.stderr or p.stdout).strip()}")
        try:
            out = json.loads(p.stdout)
            return out["Username"], out["Secret"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"docker-credential-{helper} get: unreadable answer") from None
    auths = doc.get("auths") or {}
    key = _lookup_key(auths, registry)
    if key is None:
        return None
    entry = auths[key] or {}
    if entry.get("auth"):
        try:
            user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"{config_path()}: auths[{key!r}].auth is not base64 of user:password") from None
        return user, secret
    if entry.get("username") and entry.get("password"):
        return entry["username"], entry["password"]
    return None


def store(registry: str, user: str, secret: str) -> str:
    """Save credentials (in the helper when one is configured); returns where they went."""
    doc = _load()
    helper = _helper(doc, registry)
    key = server_key(registry)
    if helper:
        p = _run_helper(helper, "store", json.dumps({"ServerURL": key, "Username": user, "Secret": secret}))
        if p.returncode != 0:
            raise ConfigError(f"docker-credential-{helper} store: {(p.stderr or p.stdout).strip()}")
        doc.setdefault("auths", {})[key] = {}  # as Docker does: the registry is listed, without secrets
        _save(doc)
        return f"docker-credential-{helper}"
    doc.setdefault("auths", {})[key] = {"auth": base64.b64encode(f"{user}:{secret}".encode()).decode()}
    _save(doc)
    return config_path()


def erase(registry: str) -> bool:
    """Forget the registry's credentials; False if there were none."""
    doc = _load()
    helper = _helper(doc, registry)
    found = False
    if helper:
        p = _run_helper(helper, "erase", server_key(registry))
        found = p.returncode == 0
    auths = doc.get("auths") or {}
    key = _lookup_key(auths, registry)
    if key is not None:
        del auths[key]
        _save(doc)
        found = True
    return found
