"""Container records (SQLite, WAL) beside the images: what exists, from which image, in
which state, with which exit code. One transaction per user-visible change; a record is
written *before* anything is created for it, so a crash leaves a record that names what to
clean up, never an unnamed mount or runtime container."""

from __future__ import annotations

import os
import time

from .. import _json as json  # not `json`: it imports `re` (~3 ms on every run)
from ..errors import AlreadyExists, ConfigError, NotFound

_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    image TEXT NOT NULL,
    command TEXT NOT NULL,
    created TEXT NOT NULL,
    state TEXT NOT NULL,          -- created | running | exited
    exit_code INTEGER,
    auto_remove INTEGER NOT NULL DEFAULT 0
);
"""
_ADJ = ("brave", "calm", "eager", "fond", "keen", "lucid", "merry", "noble", "quiet", "swift", "tidy", "witty")
_NOUN = ("anchor", "buoy", "crane", "dock", "ferry", "harbor", "keel", "mast", "pier", "quay", "rudder", "sail")


def _pick(words: tuple[str, ...]) -> str:
    return words[os.urandom(1)[0] % len(words)]  # 256 % 12 skews a little: names, not keys


class Record:
    __slots__ = ("id", "name", "image", "command", "created", "state", "exit_code", "auto_remove")

    def __init__(self, row) -> None:
        (self.id, self.name, self.image, self.command, self.created, self.state, self.exit_code,
         self.auto_remove) = row


class ContainerStore:
    def __init__(self, root: str) -> None:
        import sqlite3

        os.makedirs(root, mode=0o700, exist_ok=True)
        self.dir = os.path.join(root, "containers")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.db = sqlite3.connect(os.path.join(root, "containers.db"), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def path(self, cid: str) -> str:
        return os.path.join(self.dir, cid)

    pending_meta: dict | None = None  # what the CLI asks to keep with the next new container

    def meta(self, cid: str) -> dict:
        """Labels, stop signal and timeout kept beside the container (meta.json)."""
        try:
            with open(os.path.join(self.path(cid), "meta.json")) as f:
                return json.loads(f.read())
        except (OSError, ValueError):
            return {}

    def lock(self, cid: str):
        """An exclusive flock for lifecycle changes of one container (rm against a restart
        that conmon's exit command is about to make). Released when the returned fd closes."""
        import fcntl

        fd = os.open(os.path.join(self.dir, f".{cid}.lock"), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def unlock(self, cid: str, fd: int, remove: bool = False) -> None:
        if remove:
            try:
                os.unlink(os.path.join(self.dir, f".{cid}.lock"))
            except FileNotFoundError:
                pass
        os.close(fd)

    def update_meta(self, cid: str, **changes) -> dict:
        meta = {**self.meta(cid), **changes}
        path = os.path.join(self.path(cid), "meta.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(meta))
        os.replace(tmp, path)  # a reader sees the old meta or the new, never half
        return meta

    def new(self, image: str, command: list[str], name: str | None, auto_remove: bool) -> Record:
        cid = os.urandom(32).hex()  # as secrets.token_hex, without importing it (~1.5 ms per run)
        if name is not None and (not name or name[0] in "._-" or not all(c.isalnum() or c in "_.-" for c in name)):
            raise ConfigError(f"invalid container name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        for attempt in range(20):
            n = name or f"{_pick(_ADJ)}_{_pick(_NOUN)}{'' if attempt < 5 else attempt}"
            try:
                self.db.execute("INSERT INTO containers VALUES (?, ?, ?, ?, ?, 'created', NULL, ?)",
                                (cid, n, image, " ".join(command),
                                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), int(auto_remove)))
                if self.pending_meta:
                    os.makedirs(self.path(cid), mode=0o700, exist_ok=True)
                    with open(os.path.join(self.path(cid), "meta.json"), "w") as f:
                        f.write(json.dumps(self.pending_meta))
                return self.get(cid)
            except Exception as e:  # noqa: BLE001 - sqlite3.IntegrityError: the name is taken
                if name is not None:
                    raise AlreadyExists(f"the container name {name!r} is already in use") from e
        raise AlreadyExists("could not pick a free container name")

    def rename(self, cid: str, new: str) -> None:
        if not new or new[0] in "._-" or not all(c.isalnum() or c in "_.-" for c in new):
            raise ConfigError(f"invalid container name {new!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        try:
            self.db.execute("UPDATE containers SET name = ? WHERE id = ?", (new, cid))
        except Exception as e:  # noqa: BLE001 - sqlite3.IntegrityError
            raise AlreadyExists(f"the container name {new!r} is already in use") from e

    def set_state(self, cid: str, state: str, exit_code: int | None = None) -> None:
        self.db.execute("UPDATE containers SET state = ?, exit_code = ? WHERE id = ?", (state, exit_code, cid))

    def get(self, ref: str) -> Record:
        """By full ID, name, or unique ID prefix."""
        rows = self.db.execute("SELECT * FROM containers WHERE id = ? OR name = ?", (ref, ref)).fetchall()
        if not rows and ref and all(c in "0123456789abcdef" for c in ref):
            rows = self.db.execute("SELECT * FROM containers WHERE id LIKE ?", (ref + "%",)).fetchall()
            if len(rows) > 1:
                raise ConfigError(f"container ID prefix {ref!r} is ambiguous")
        if not rows:
            raise NotFound(f"no such container: {ref}")
        return Record(rows[0])

    def list(self, all_: bool = True) -> list[Record]:
        q = "SELECT * FROM containers" + ("" if all_ else " WHERE state = 'running'") + " ORDER BY created DESC"
        return [Record(r) for r in self.db.execute(q)]

    def delete(self, cid: str) -> None:
        self.db.execute("DELETE FROM containers WHERE id = ?", (cid,))
