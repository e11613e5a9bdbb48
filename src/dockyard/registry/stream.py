"""A layer read while it downloads: the download thread writes the blob's ingest file, the
unpacker reads the same file behind it, so a layer is applied as its bytes arrive and memory
stays bounded whatever the layer's size (the bytes wait on disk, not in a queue).

    download thread                          unpacker (the layer's thread in layer_jobs,
    ---------------                          which copies into its helper's stdin)
                                             ------------------------------
    attach(ingest path, offset)  -- fd -->   LayerReader.readinto: pread(fd, pos) up to
    wrote(offset) ... notify                 ``written``; waits for more, EOF when finished
    rewind() before a reset (truncate)       (its position stays; the same bytes come again)
    finish(None | error)                     wait() -> the download's error, checked before
                                             the layer's snapshot is committed

The reader never decides whether the bytes are right: the blob's digest (checked by the blob
writer at commit) and the layer's DiffID (checked by apply_layer at the end of the tar) do, and
the snapshot is committed only when both passed. A download that fails ends the reader's
stream early; the unpacker then raises the download's error, not the tar's complaint.
A blob found already stored (or finished by another process) is read from the blob store.
"""

from __future__ import annotations

import io
import os
import threading


class LayerFeed:
    """The shared state of one blob's download, for the reader that follows it."""

    def __init__(self, blobs, digest) -> None:
        self.blobs, self.digest = blobs, digest
        self.fd: int | None = None
        self.written = 0
        self.finished = False
        self.error: BaseException | None = None
        self._cond = threading.Condition()

    # -- the download side --------------------------------------------------------------
    def attach(self, path: str, offset: int) -> None:
        """The ingest file is open for writing at ``offset`` (bytes already there count)."""
        with self._cond:
            if self.fd is None:
                self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            self.written = offset
            self._cond.notify_all()

    def wrote(self, offset: int) -> None:
        with self._cond:
            self.written = offset
            self._cond.notify_all()

    def rewind(self) -> None:
        """Call before truncating the ingest file: the reader must not read the hole."""
        with self._cond:
            self.written = 0

    def finish(self, error: BaseException | None) -> None:
        with self._cond:
            self.finished, self.error = True, error
            self._cond.notify_all()

    # -- the reading side -------------------------------------------------------------------
    def wait(self) -> BaseException | None:
        """Block until the download ended; its error, or None when the blob is stored."""
        with self._cond:
            while not self.finished:
                self._cond.wait()
            return self.error

    def read_at(self, pos: int, n: int) -> bytes | None:
        """Up to ``n`` bytes at ``pos`` once written; b"" at the end (or after a failed
        download); None when the blob never went through our ingest file (read the store)."""
        with self._cond:
            while True:
                if self.fd is not None and self.written > pos:
                    # under the lock: a rewind + truncate cannot slip in between
                    return os.pread(self.fd, min(n, self.written - pos), pos)
                if self.finished:
                    if self.error is None and self.fd is None:
                        return None
                    return b""
                self._cond.wait()

    def close(self) -> None:
        with self._cond:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None


class LayerReader(io.RawIOBase):
    """A file object over a LayerFeed, for apply_layer (wrap in io.BufferedReader)."""

    def __init__(self, feed: LayerFeed) -> None:
        super().__init__()
        self.feed, self.pos = feed, 0
        self._stored = None  # the blob store's file, when the download did not go through us

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._stored is None:
            data = self.feed.read_at(self.pos, len(buf))
            if data is None:
                self._stored = self.feed.blobs.open(self.feed.digest)
                self._stored.seek(self.pos)
        if self._stored is not None:
            data = self._stored.read(len(buf))
        buf[:len(data)] = data
        self.pos += len(data)
        return len(data)

    def close(self) -> None:
        if self._stored is not None:
            self._stored.close()
            self._stored = None
        super().close()
