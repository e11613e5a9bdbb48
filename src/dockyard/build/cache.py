"""The build cache: which layer a build step made last time, keyed by what the step depends on.

    <root>/build-cache.db   SQLite (WAL): steps(key -> result)

A step's key is a hash chained through the stage: the previous step's key (the first step's
is the base image's ID, or "scratch", or the key of the stage it builds on), the
instruction's text, the build args in effect, and for COPY/ADD a hash of the content of the
sources (paths, types, modes, bytes; mtimes left out, as BuildKit's content cache). Metadata
steps (ENV, WORKDIR, ...) are part of the chain but store nothing: they cost nothing to
redo. So a changed file changes its COPY step's key and every key after it, and nothing before.

A result names a layer blob (or none, for a step that changed no file) and the time the
step first ran, which becomes the history entry's ``created``: an unchanged rebuild gives
byte-identical configs, so the same image ID. A result whose blob was garbage-collected is
a miss.
"""

from __future__ import annotations

import os

from .. import _json as json
from ..oci.digest import digest_bytes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    key TEXT PRIMARY KEY,     -- sha256 of the chained step description
    result TEXT NOT NULL,     -- JSON: {"layer": {...} | null, "created": "..."}
    used TEXT NOT NULL        -- last hit or write (for pruning later)
);
"""


def step_key(parent: str, *parts) -> str:
    """The key of a step after ``parent``: everything that decides its result."""
    return str(digest_bytes(json.dumps([parent, *parts]).encode()))


class BuildCache:
    def __init__(self, root: str) -> None:
        import sqlite3

        self.db = sqlite3.connect(os.path.join(root, "build-cache.db"), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def get(self, key: str, blobs) -> dict | None:
        row = self.db.execute("SELECT result FROM steps WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        result = json.loads(row[0])
        layer = result.get("layer")
        if layer and not blobs.has(layer["digest"]):
            return None
        return result

    def put(self, key: str, result: dict, now: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO steps (key, result, used) VALUES (?, ?, ?)",
                        (key, json.dumps(result), now))
