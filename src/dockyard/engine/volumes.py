"""Named volumes: directories the engine manages, mounted into containers with -v NAME:/path.

    <root>/volumes/<name>/_data        the volume's contents (Docker's layout)
    <root>/volumes/<name>/meta.json    creation time, labels

A volume outlives its containers; `volume rm` refuses one that a container (running or not)
still names, as Docker does; `volume prune` removes the ones none names.
"""

from __future__ import annotations

import json
import os
import shutil
import time

from ..errors import AlreadyExists, ConfigError, InvalidState, NotFound


def valid_name(name: str) -> bool:
    return bool(name) and len(name) <= 255 and name[0].isalnum() and all(c.isalnum() or c in "_.-" for c in name)


class Volumes:
    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "volumes")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)

    def path(self, name: str) -> str:
        if not valid_name(name):
            raise ConfigError(f"invalid volume name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        return os.path.join(self.dir, name)

    def data(self, name: str) -> str:
        return os.path.join(self.path(name), "_data")

    def create(self, name: str | None = None, labels: dict | None = None, exist_ok: bool = True) -> str:
        import secrets

        name = name or secrets.token_hex(32)
        p = self.path(name)
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            if exist_ok:
                return name
            raise AlreadyExists(f"volume {name!r} already exists") from None
        os.mkdir(os.path.join(p, "_data"), 0o755)
        with open(os.path.join(p, "meta.json"), "w") as f:
            json.dump({"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "labels": labels or {}}, f)
        return name

    def list(self) -> list[str]:
        return sorted(n for n in os.listdir(self.dir) if valid_name(n) and os.path.isdir(os.path.join(self.dir, n, "_data")))

    def inspect(self, name: str) -> dict:
        p = self.path(name)
        try:
            with open(os.path.join(p, "meta.json")) as f:
                meta = json.load(f)
        except FileNotFoundError:
            raise NotFound(f"no such volume: {name}") from None
        return {"Name": name, "Driver": "local", "Mountpoint": os.path.join(p, "_data"), "CreatedAt": meta.get("created"),
                "Labels": meta.get("labels") or {}, "Scope": "local"}

    def remove(self, name: str, users: list[str], force: bool = False) -> None:
        p = self.path(name)
        if not os.path.isdir(p):
            if force:
                return
            raise NotFound(f"no such volume: {name}")
        if users:
            raise InvalidState(f"volume {name} is in use by container(s) {', '.join(users)}")
        doomed = os.path.join(self.dir, f".rm-{name}-{os.getpid()}")
        os.rename(p, doomed)  # the name goes at once; the data after
        shutil.rmtree(doomed, ignore_errors=True)
