"""Content-addressed blob store: every blob is a file named by its digest.

Layout, the ``blobs/`` shape of an OCI image layout, so the tree can be exported as one::

    <root>/blobs/sha256/<encoded>     complete, verified blobs (0644, directories 0755)
    <root>/ingest/.tmp-<random>       an anonymous write in progress
    <root>/ingest/<ref>               a resumable write, kept across runs until it commits

The invariant: a file under ``blobs/`` always holds exactly the content its name says. A write
goes, in this order, to a temp file in ``ingest/`` (same filesystem, so the rename is atomic),
hashed as it streams; then digest and size are checked, the file is fsynced (so the renamed
name can never point at unwritten data after a crash), renamed into ``blobs/``, and the
directory is fsynced (so the name itself survives). A crash at any step leaves at most a stray
file in ``ingest/``, which ``cleanup_ingest`` removes later.

Concurrency: a writer holds an flock on its ingest file from open to commit or abort.
``cleanup_ingest`` only removes files it can lock, so it never pulls a file from under a live
writer, however old; a second writer of the same ``ref`` gets a "busy" StoreError instead of
interleaving appends. Two writers of the same content each write their own temp file; the
loser finds the blob present and drops its temp (or, in a tie, renames identical verified bytes
over it), so both succeed and one file results.
"""

from __future__ import annotations

import fcntl
import os
import time

from dockyard.errors import DigestMismatch, StoreError
from dockyard.oci.digest import ALGORITHMS, Digest, Hasher

_CHUNK = 1 << 20
_FILE_MODE = 0o644
_DIR_MODE = 0o755
_TMP_PREFIX = ".tmp-"  # refs may not start with ".", so temp names and refs never collide
_REF_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+-")
_REF_MAX = 200


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs(path: str) -> None:
    """``mkdir -p`` giving 0755 whatever the umask (other tools read the tree, e.g. as an OCI
    layout), and fsyncing each new entry's parent: a blob committed into a directory whose own
    entry is lost in a crash would be lost with it."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        _makedirs(parent)
    try:
        os.mkdir(path, _DIR_MODE)
    except FileExistsError:
        return  # a concurrent writer made it
    os.chmod(path, _DIR_MODE)
    _fsync_dir(parent or ".")


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _still_at(fd: int, path: str) -> bool:
    """Whether ``path`` still names the file open as ``fd``. Between our open and our lock, the
    previous holder may have committed (renamed it into blobs/) or cleanup may have unlinked it;
    appending to that inode would corrupt a blob or write into a file nobody can find."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _check_ref(ref: str) -> None:
    if not (isinstance(ref, str) and 0 < len(ref) <= _REF_MAX and ref[0] != "."
            and _REF_CHARS.issuperset(ref)):
        raise StoreError(f"invalid ingest ref {ref!r}: use 1-{_REF_MAX} characters of "
                         "A-Z a-z 0-9 . _ : @ + -, not starting with '.'")


class BlobWriter:
    """One blob being written: ``write`` chunks, then ``commit`` (or leave the ``with`` block).

    ``offset`` is the number of bytes already in the file, which for a resumed ``ref`` is where
    the caller should continue from (e.g. an HTTP Range request). A failed check removes the
    partial file and raises DigestMismatch; nothing reaches ``blobs/``.
    """

    def __init__(self, store: BlobStore, path: str, file, expected: Digest | None,
                 expected_size: int | None, resumable: bool) -> None:
        self._store = store
        self._path = path
        self._expected = expected
        self._expected_size = expected_size
        self._resumable = resumable
        self._file = file  # open, locked, positioned at 0
        self._hasher = Hasher(expected.algorithm if expected else "sha256")
        self._closed = False
        self.digest: Digest | None = None
        if resumable:
            # The hash state did not survive the previous run; rebuild it from the bytes on disk.
            while chunk := self._file.read(_CHUNK):
                self._hasher.update(chunk)
            if expected_size is not None and self.offset > expected_size:
                self.reset()  # cannot be a prefix of the expected blob: start over

    @property
    def offset(self) -> int:
        return self._hasher.size

    @property
    def path(self) -> str:
        return self._path

    def _name(self) -> str:
        return f"blob {self._expected}" if self._expected else "blob"

    def write(self, chunk: bytes) -> int:
        self._check_open()
        size = memoryview(chunk).nbytes
        if self._expected_size is not None and self.offset + size > self._expected_size:
            # Refuse early: a source that sends more than announced must not fill the disk.
            self.abort()
            raise DigestMismatch(f"{self._name()}: more than the expected {self._expected_size} bytes")
        self._file.write(chunk)
        self._hasher.update(chunk)
        return size

    def reset(self) -> None:
        """Drop what was written (e.g. the source cannot resume) and start again at offset 0."""
        self._check_open()
        self._file.seek(0)
        self._file.truncate()
        self._hasher = Hasher(self._hasher.algorithm)

    def commit(self) -> Digest:
        """Verify, make durable, and publish under ``blobs/``; returns the blob's digest."""
        if self.digest is not None:
            return self.digest
        self._check_open()
        actual = self._hasher.digest()
        if self._expected_size is not None and self.offset != self._expected_size:
            self.abort()
            raise DigestMismatch(f"{self._name()}: expected {self._expected_size} bytes, got {self.offset}")
        if self._expected is not None and actual != self._expected:
            self.abort()
            raise DigestMismatch(f"{self._name()}: content hashes to {actual} ({self.offset} bytes)")
        target = self._store.path(actual)
        try:
            self._file.flush()
            os.fsync(self._file.fileno())  # data on disk before any name points at it
            directory = os.path.dirname(target)
            _makedirs(directory)
            if os.path.exists(target):
                os.unlink(self._path)  # already stored (by us earlier or a concurrent writer)
            else:
                os.rename(self._path, target)
                _fsync_dir(directory)
        except BaseException:
            if not self._resumable:
                self._unlink()
            raise
        finally:
            self._close()
        self.digest = actual
        return actual

    def close(self) -> Digest | None:
        """Commit if still open (file-object habit); the digest, or None after an abort."""
        if not self._closed:
            return self.commit()
        return self.digest

    def abort(self) -> None:
        """Discard the partial file, resumable or not."""
        if not self._closed:
            self._unlink()
            self._close()

    def _unlink(self) -> None:
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass

    def _close(self) -> None:
        self._closed = True
        self._file.close()  # releases the flock

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self._name()}: writer is already closed")

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        elif self._resumable:
            # An interrupted download keeps its bytes so a retry (or the next run) resumes.
            if not self._closed:
                self._close()
        else:
            self.abort()


class BlobStore:
    """Blobs under ``<root>/blobs/<algorithm>/<encoded>``; see the module docstring."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = os.fspath(root)
        self._blobs = os.path.join(self.root, "blobs")
        self._ingest = os.path.join(self.root, "ingest")

    def path(self, digest: str) -> str:
        d = Digest(digest)  # validation is what keeps "sha256:../../x" inside the store
        return os.path.join(self._blobs, d.algorithm, d.encoded)

    def has(self, digest: str) -> bool:
        return os.path.isfile(self.path(digest))

    def open(self, digest: str):
        """The blob as a binary file object, to read."""
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise StoreError(f"blob {digest} not found", code="not-found") from None

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise StoreError(f"blob {digest} not found", code="not-found") from None

    def write(self, data: bytes, expected: str | None = None) -> Digest:
        with self.ingest(expected, memoryview(data).nbytes) as writer:
            writer.write(data)
        return writer.digest

    def ingest(self, expected: str | None = None, expected_size: int | None = None, *,
               ref: str | None = None) -> BlobWriter:
        """A writer for one blob. With ``ref``, the partial file ``ingest/<ref>`` outlives this
        writer (and this process) until it commits or is aborted, and a later ``ingest`` with
        the same ref continues from its ``offset``."""
        expected = Digest(expected) if expected is not None else None
        if expected_size is not None and expected_size < 0:
            raise StoreError(f"invalid expected size {expected_size} for {expected or 'blob'}")
        if ref is not None:
            _check_ref(ref)
        _makedirs(self._ingest)
        if ref is None:
            path, fd = self._open_temp()
        else:
            path, fd = self._open_ref(os.path.join(self._ingest, ref), ref)
        file = os.fdopen(fd, "r+b")  # owns fd (and with it the lock) from here on
        try:
            return BlobWriter(self, path, file, expected, expected_size, resumable=ref is not None)
        except BaseException:
            file.close()
            raise

    def _open_temp(self) -> tuple[str, int]:
        while True:
            path = os.path.join(self._ingest, _TMP_PREFIX + os.urandom(8).hex())
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
            # A cleanup_ingest(0) may grab a brand-new file before we lock it: take another name.
            if _try_lock(fd) and _still_at(fd, path):
                os.fchmod(fd, _FILE_MODE)  # the umask may have narrowed the open() mode
                return path, fd
            os.close(fd)

    def _open_ref(self, path: str, ref: str) -> tuple[str, int]:
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
            if not _try_lock(fd):
                os.close(fd)
                raise StoreError(f"ingest {ref!r} is being written by another process", code="ingest-busy")
            if _still_at(fd, path):
                os.fchmod(fd, _FILE_MODE)
                return path, fd
            os.close(fd)  # committed or cleaned up between open and lock: open the new one

    def delete(self, digest: str) -> bool:
        """Remove a blob; False if it was not there (a concurrent GC got it first)."""
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            return False
        return True

    def list(self) -> list[Digest]:
        """Every blob present, sorted. Files whose names are not digests are not blobs: skipped."""
        found = []
        for algorithm in ALGORITHMS:
            try:
                names = os.listdir(os.path.join(self._blobs, algorithm))
            except FileNotFoundError:
                continue
            for name in names:
                try:
                    found.append(Digest.from_parts(algorithm, name))
                except StoreError:
                    continue
        return sorted(found)

    def cleanup_ingest(self, older_than_seconds: float) -> list[str]:
        """Remove partial writes untouched for longer than ``older_than_seconds`` and not held
        by a live writer; returns the names removed from ``ingest/``."""
        cutoff = time.time() - older_than_seconds
        removed = []
        try:
            entries = list(os.scandir(self._ingest))
        except FileNotFoundError:
            return removed
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_mtime > cutoff:
                    continue
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                if _try_lock(fd) and _still_at(fd, entry.path):
                    os.unlink(entry.path)
                    removed.append(entry.name)
            finally:
                os.close(fd)
        return removed

    def verify(self, digest: str) -> None:
        """Re-hash a stored blob (fsck); DigestMismatch if the bytes on disk changed."""
        d = Digest(digest)
        hasher = Hasher(d.algorithm)
        with self.open(d) as f:
            while chunk := f.read(_CHUNK):
                hasher.update(chunk)
        actual = hasher.digest()
        if actual != d:
            raise DigestMismatch(f"blob {d} is corrupt: its content hashes to {actual} ({hasher.size} bytes)")
