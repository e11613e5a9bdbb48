"""The blob store: verified, atomic, concurrent-safe, resumable, and never a wrong blob on disk."""

import multiprocessing
import os
import stat
import time

import pytest

from dockyard.errors import DigestMismatch, StoreError
from dockyard.image.blobs import BlobStore
from dockyard.oci.digest import Digest, digest_bytes


@pytest.fixture
def store(tmp_path):
    return BlobStore(tmp_path / "store")


def files_under(path):
    """Every regular file below path, relative; a missing directory is empty."""
    out = []
    for dirpath, _dirs, names in os.walk(path):
        out += [os.path.relpath(os.path.join(dirpath, n), path) for n in names]
    return sorted(out)


def blob_files(store):
    return files_under(os.path.join(store.root, "blobs"))


def ingest_files(store):
    return files_under(os.path.join(store.root, "ingest"))


def test_write_read_round_trip(store):
    data = b"hello, layer\n" * 100
    d = store.write(data)
    assert d == digest_bytes(data) and isinstance(d, Digest)
    assert store.has(d)
    assert store.path(d) == os.path.join(store.root, "blobs", "sha256", d.encoded)
    with store.open(d) as f:
        assert f.read() == data
    assert store.size(d) == len(data)
    assert ingest_files(store) == []
    store.verify(d)


def test_write_with_expected_digest(store):
    data = b"config"
    assert store.write(data, expected=str(digest_bytes(data))) == digest_bytes(data)


def test_write_sha512(store):
    data = b"512"
    d = store.write(data, digest_bytes(data, "sha512"))
    assert store.path(d).endswith(os.path.join("blobs", "sha512", d.encoded))
    store.verify(d)


def test_writing_the_same_blob_twice_keeps_one_file(store):
    d1 = store.write(b"same")
    d2 = store.write(b"same")
    assert d1 == d2
    assert blob_files(store) == [f"sha256/{d1.encoded}"]
    assert ingest_files(store) == []


def test_modes_are_0644_and_0755_whatever_the_umask(store):
    old = os.umask(0o077)
    try:
        d = store.write(b"mode")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(store.path(d)).st_mode) == 0o644
    for directory in (store.root, os.path.join(store.root, "blobs"), os.path.dirname(store.path(d)),
                      os.path.join(store.root, "ingest")):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755


def test_streaming_ingest(store):
    chunks = [os.urandom(1000) for _ in range(50)]
    data = b"".join(chunks)
    with store.ingest(digest_bytes(data), len(data)) as w:
        for c in chunks:
            w.write(c)
        assert w.offset == len(data)
    assert w.digest == digest_bytes(data)
    with store.open(w.digest) as f:
        assert f.read() == data


def test_close_commits_like_leaving_the_with_block(store):
    w = store.ingest()
    w.write(b"closed")
    assert w.close() == digest_bytes(b"closed")
    assert store.has(digest_bytes(b"closed"))
    assert w.close() == digest_bytes(b"closed")  # idempotent
    with pytest.raises(StoreError):
        w.write(b"more")


def test_digest_mismatch_stores_nothing(store):
    wrong = digest_bytes(b"something else")
    with pytest.raises(DigestMismatch) as info:
        store.write(b"actual content", expected=wrong)
    assert wrong in str(info.value)
    assert info.value.code == "digest-mismatch"
    assert isinstance(info.value, StoreError)
    assert blob_files(store) == [] and ingest_files(store) == []
    assert not store.has(wrong) and not store.has(digest_bytes(b"actual content"))


def test_size_mismatch_short_stores_nothing(store):
    data = b"short"
    with pytest.raises(DigestMismatch):
        with store.ingest(digest_bytes(data), expected_size=len(data) + 1) as w:
            w.write(data)
    assert blob_files(store) == [] and ingest_files(store) == []


def test_size_mismatch_long_is_refused_while_writing(store):
    with pytest.raises(DigestMismatch):
        with store.ingest(expected_size=4) as w:
            w.write(b"abc")
            w.write(b"de")  # one byte too many: refused before it reaches the disk
    assert blob_files(store) == [] and ingest_files(store) == []


def test_exception_in_with_block_stores_nothing(store):
    with pytest.raises(RuntimeError):
        with store.ingest() as w:
            w.write(b"half a layer")
            raise RuntimeError("connection reset")
    assert blob_files(store) == [] and ingest_files(store) == []


def test_missing_blob(store):
    d = digest_bytes(b"never written")
    assert not store.has(d)
    with pytest.raises(StoreError, match=f"blob {d} not found"):
        store.open(d)
    with pytest.raises(StoreError, match="not found"):
        store.size(d)
    with pytest.raises(StoreError, match="not found"):
        store.verify(d)
    assert store.delete(d) is False


@pytest.mark.parametrize("bad", ["sha256:../../x", "sha256:" + "A" * 64, "../../etc/passwd"])
def test_invalid_digests_never_become_paths(store, bad):
    for call in (store.path, store.has, store.open, store.size, store.delete, store.verify):
        with pytest.raises(StoreError):
            call(bad)
    with pytest.raises(StoreError):
        store.write(b"x", expected=bad)


def test_delete_and_list(store):
    assert store.list() == []
    digests = [store.write(bytes([i]) * 10) for i in range(5)]
    sha512 = store.write(b"x", digest_bytes(b"x", "sha512"))
    # strays that are not blobs are not listed
    open(os.path.join(store.root, "blobs", "sha256", "README"), "w").close()
    assert store.list() == sorted(digests + [sha512])
    assert all(isinstance(d, Digest) for d in store.list())
    assert store.delete(digests[0]) is True
    assert not store.has(digests[0])
    assert store.list() == sorted(digests[1:] + [sha512])


def test_verify_detects_corruption(store):
    d = store.write(b"pristine bytes")
    store.verify(d)
    path = store.path(d)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"P")
    with pytest.raises(DigestMismatch, match=str(d)):
        store.verify(d)


# -- concurrency ---------------------------------------------------------------------------

def _write_same(root, data, barrier, results):
    barrier.wait()  # maximise the overlap
    try:
        results.put(str(BlobStore(root).write(data, expected=digest_bytes(data))))
    except BaseException as e:  # reported to the parent, which fails the test
        results.put(f"error: {e!r}")


def test_concurrent_writers_of_the_same_blob(store):
    ctx = multiprocessing.get_context("fork")
    data = os.urandom(3 << 20)  # large enough for the writes to overlap
    n = 6
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_write_same, args=(store.root, data, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    d = digest_bytes(data)
    assert outcomes == [str(d)] * n
    assert blob_files(store) == [f"sha256/{d.encoded}"]
    assert ingest_files(store) == []
    store.verify(d)


# -- resumable ingest ----------------------------------------------------------------------

def test_resumable_ingest_across_store_instances(tmp_path):
    root = tmp_path / "store"
    data = os.urandom(100_000)
    d = digest_bytes(data)

    # First "run": part of the download, then the connection drops.
    with pytest.raises(ConnectionError):
        with BlobStore(root).ingest(d, len(data), ref="pull-layer-1") as w:
            assert w.offset == 0
            w.write(data[:30_000])
            w.write(data[30_000:60_000])
            raise ConnectionError("reset by peer")
    assert ingest_files(BlobStore(root)) == ["pull-layer-1"]
    assert not BlobStore(root).has(d)

    # Second "run", a new store object: continue from the offset.
    store = BlobStore(root)
    with store.ingest(d, len(data), ref="pull-layer-1") as w:
        assert w.offset == 60_000
        w.write(data[w.offset:])
    assert w.digest == d
    with store.open(d) as f:
        assert f.read() == data
    assert ingest_files(store) == []


def test_resumable_ingest_without_exception_keeps_partial_after_process_exit(tmp_path):
    # A killed process never reaches __exit__: the writer is simply dropped.
    root = tmp_path / "store"
    data = b"abcdefghij" * 1000
    pid = os.fork()
    if pid == 0:  # child: write half, die without cleanup
        w = BlobStore(root).ingest(digest_bytes(data), ref="r")
        w.write(data[:5000])
        w._file.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    store = BlobStore(root)
    w = store.ingest(digest_bytes(data), len(data), ref="r")
    assert w.offset == 5000
    w.write(data[5000:])
    assert w.commit() == digest_bytes(data)


def test_resumed_partial_with_wrong_bytes_is_a_mismatch_and_removed(store):
    data = b"the real blob"
    with pytest.raises(OSError):
        with store.ingest(ref="k") as w:
            w.write(b"XXX")  # not a prefix of data
            raise OSError("drop")
    w = store.ingest(digest_bytes(data), len(data) + 3, ref="k")
    w.write(data)
    with pytest.raises(DigestMismatch):
        w.commit()
    assert ingest_files(store) == [] and blob_files(store) == []


def test_resumed_partial_longer_than_expected_starts_over(store):
    with pytest.raises(OSError):
        with store.ingest(ref="k") as w:
            w.write(b"0123456789")
            raise OSError("drop")
    data = b"abc"
    w = store.ingest(digest_bytes(data), len(data), ref="k")
    assert w.offset == 0
    w.write(data)
    assert w.commit() == digest_bytes(data)


def test_reset_starts_a_resumed_ingest_over(store):
    with pytest.raises(OSError):
        with store.ingest(ref="k") as w:
            w.write(b"stale")
            raise OSError("drop")
    w = store.ingest(ref="k")
    assert w.offset == 5
    w.reset()  # e.g. the registry ignored our Range header
    assert w.offset == 0
    w.write(b"fresh")
    assert w.commit() == digest_bytes(b"fresh")
    with store.open(digest_bytes(b"fresh")) as f:
        assert f.read() == b"fresh"


def test_abort_removes_a_resumable_partial(store):
    w = store.ingest(ref="k")
    w.write(b"partial")
    w.abort()
    assert ingest_files(store) == []


def test_second_writer_of_the_same_ref_is_refused(store):
    w = store.ingest(ref="k")
    w.write(b"mine")
    with pytest.raises(StoreError) as info:
        store.ingest(ref="k")
    assert info.value.code == "ingest-busy"
    assert w.commit() == digest_bytes(b"mine")
    # once committed, the ref is free again and starts empty
    w2 = store.ingest(ref="k")
    assert w2.offset == 0
    w2.abort()


@pytest.mark.parametrize("ref", ["", ".hidden", "../escape", "a/b", "x" * 300, "nul\0"])
def test_invalid_refs(store, ref):
    with pytest.raises(StoreError):
        store.ingest(ref=ref)


# -- cleanup -------------------------------------------------------------------------------

def _abandon(store, ref, content, age):
    with pytest.raises(OSError):
        with store.ingest(ref=ref) as w:
            w.write(content)
            raise OSError("abandoned")
    path = os.path.join(store.root, "ingest", ref)
    then = time.time() - age
    os.utime(path, (then, then))


def test_cleanup_ingest_removes_only_old_unlocked_partials(store):
    _abandon(store, "old", b"old", age=3600)
    _abandon(store, "recent", b"recent", age=10)
    # an anonymous temp left by a crashed process
    stray = os.path.join(store.root, "ingest", ".tmp-deadbeef")
    open(stray, "wb").close()
    os.utime(stray, (time.time() - 7200,) * 2)
    # a live writer, however old its file, is never touched
    live = store.ingest(ref="live")
    live.write(b"in progress")
    live_path = os.path.join(store.root, "ingest", "live")
    os.utime(live_path, (time.time() - 7200,) * 2)

    removed = store.cleanup_ingest(older_than_seconds=600)
    assert sorted(removed) == [".tmp-deadbeef", "old"]
    assert ingest_files(store) == ["live", "recent"]
    assert live.commit() == digest_bytes(b"in progress")

    assert store.cleanup_ingest(0) == ["recent"]
    assert ingest_files(store) == []


def test_cleanup_ingest_on_a_fresh_store(store):
    assert store.cleanup_ingest(0) == []
