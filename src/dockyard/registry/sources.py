"""Which repositories of which registry a blob is known to be in, so a push can ask for a
cross-repository mount (``POST ...?mount=D&from=R``) instead of uploading bytes the registry
already has. Recorded on every pull and push, in ``<storage root>/registry-sources.db``."""

from __future__ import annotations

import os
import sqlite3


class BlobSources:
    def __init__(self, root: str) -> None:
        self.db = sqlite3.connect(os.path.join(root, "registry-sources.db"), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS sources (digest TEXT, registry TEXT, repo TEXT, "
                        "PRIMARY KEY (digest, registry, repo))")

    def add(self, digests, registry: str, repo: str) -> None:
        self.db.executemany("INSERT OR IGNORE INTO sources VALUES (?, ?, ?)",
                            [(str(d), registry, repo) for d in digests])

    def repos(self, digest: str, registry: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT repo FROM sources WHERE digest = ? AND registry = ? "
                                              "ORDER BY repo", (str(digest), registry))]

    def close(self) -> None:
        self.db.close()
