"""The build cache: which layer a build step made last time, keyed by what the step depends on.

    <root>/build-cache.db   SQLite (WAL): steps(key -> result)

A step's key is a hash chained through the stage: the previous step's key (the first step's
is the base image's ID, or "scratch", or the key of the stage it builds on), the
instruction's text, the build args in effect, and for COPY/ADD a hash of the content of the
sources (paths, types, modes, bytes; mtimes left out, as BuildKit's content cache). Metadata
steps (ENV, WORKDIR, ...) are part of the chain but store nothing: they cost nothing to
redo. So a changed file changes its COPY step's key and every key after it, and nothing before.

``file_digests`` remembers the content digest of context files by their stat signature
(``FileDigests``), so an unchanged rebuild of a large context stats its files instead of
reading them; any write changes the ctime, so a changed file is always read again.

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
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT PRIMARY KEY,    -- a context file's absolute path on the host
    sig TEXT NOT NULL,        -- dev:ino:size:mtime_ns:ctime_ns when it was hashed
    digest TEXT NOT NULL      -- sha256 of its content
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


class FileDigests:
    """Context file digests by stat signature, loaded at once for one context directory and
    written back in one transaction (``flush``)."""

    def __init__(self, cache: BuildCache, root: str) -> None:
        self.cache = cache
        prefix = root.rstrip("/") + "/"
        rows = cache.db.execute("SELECT path, sig, digest FROM file_digests WHERE path >= ? AND path < ?",
                                (prefix, prefix[:-1] + "0")).fetchall()  # "0" sorts right after "/"
        self.known = {p: (sig, d) for p, sig, d in rows}
        self.new: list[tuple[str, str, str]] = []

    def get(self, path: str, sig: str | None) -> str | None:
        hit = self.known.get(path)
        return hit[1] if hit is not None and sig is not None and hit[0] == sig else None

    def put(self, path: str, sig: str, digest: str) -> None:
        self.known[path] = (sig, digest)
        self.new.append((path, sig, digest))

    def flush(self) -> None:
        if not self.new:
            return
        db = self.cache.db
        db.execute("BEGIN")
        db.executemany("INSERT OR REPLACE INTO file_digests (path, sig, digest) VALUES (?, ?, ?)", self.new)
        db.execute("COMMIT")
        self.new.clear()
