"""`pull`: a manifest (through an index for this platform), its config and layers, into the store.

Layers download in parallel (3 threads, as Docker) and are unpacked while they stream, all at
once: each layer is applied into its snapshot's temp directory by its own helper process
(image/layer_jobs.py), fed as its bytes arrive (stream.py reads the blob's ingest file behind
the writer). A layer in overlay form needs nothing of its parent, so only the commits go in
chain order. So the pull takes about as long as the slower of "download everything" and "apply
the biggest layer", not a sum, and memory stays bounded (the bytes wait on disk).

Order, so the store is consistent at every instant: a layer's snapshot is committed (renamed
from its temp dir) only after its blob passed the digest check (the blob writer renames it
into blobs/ only when it matches) and its tar passed the DiffID check (apply_layer); then
``ImageStore.add`` registers the image in one transaction, then the tag. A failure before
that leaves at most unreferenced blobs and snapshots (``gc`` collects them) or a resumable
partial download in ingest/, never an image row naming a missing blob.

Downloads skip blobs already present, resume from the bytes already received with ``Range``
after a connection is cut (the registry may ignore the range: then it starts over), and retry
connection errors with doubling backoff.
"""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor

from ..errors import StoreError
from ..oci import image_spec, reference
from . import credentials
from .client import Session
from .config import RegistriesConfig
from .errors import RegistryError
from .platform import Platform, host, select
from .progress import Progress
from .sources import BlobSources
from .stream import LayerFeed, LayerReader
from .transport import backoff_base

JOBS = 3
ATTEMPTS = 5


class PullResult:
    __slots__ = ("digest", "image", "reference")

    def __init__(self, image, digest, ref) -> None:
        self.image, self.digest, self.reference = image, digest, ref


class _Cut(Exception):
    """The body ended before the announced size: the connection was cut."""


def _sessions(ref, config, insecure):
    """One session per endpoint, each with that endpoint's own credentials (a mirror's are
    looked up by its host, as podman does): the registry's password never goes to a mirror."""
    import urllib.parse

    *mirrors, own = config.endpoints(ref.registry)
    for mirror in mirrors:
        host = urllib.parse.urlsplit(mirror).netloc if "://" in mirror else mirror
        yield Session(mirror, config, insecure=insecure, credentials=credentials.get(host))
    yield Session(own, config, insecure=insecure, credentials=credentials.get(ref.registry))


def fetch_manifest(ref, config: RegistriesConfig, insecure: bool = False):
    """(repository, bytes, media type, digest) for a reference: mirrors first, then the
    registry. A mirror that fails or lacks the image is skipped; the registry's answer is final."""
    last = None
    sessions = list(_sessions(ref, config, insecure))
    for i, s in enumerate(sessions):
        repo = s.repository(ref.path)
        try:
            data, mt, digest = repo.get_manifest(str(ref.digest) if ref.digest else ref.tag)
            return repo, data, mt, digest
        except RegistryError as e:
            last = e
            if i == len(sessions) - 1:
                raise
    raise last  # unreachable: the registry itself is always the last endpoint


def resolve_manifest(repo, data: bytes, media_type: str, want: Platform):
    """An index is resolved to the manifest for ``want``; returns (manifest bytes, Manifest)."""
    doc = image_spec.parse(data, media_type)
    if isinstance(doc, image_spec.Index):
        entry = select(doc.manifests, want)
        data, media_type, _ = repo.get_manifest(str(entry.digest))
        doc = image_spec.parse(data, media_type)
        if not isinstance(doc, image_spec.Manifest):
            raise RegistryError(f"index entry {entry.digest} is not an image manifest")
    return data, doc


def fetch_blob(repo, blobs, desc, progress: Progress, feed: LayerFeed | None = None) -> None:
    """One layer into the blob store, verified; resumed across cuts and across runs. With a
    ``feed``, a reader follows the bytes as they are written (stream.py)."""
    key = desc.digest.encoded
    done = "Download complete" if feed is not None else "Pull complete"
    if blobs.has(desc.digest):
        progress.status(key, "Already exists")
        return
    progress.status(key, "Downloading", desc.size)
    attempt = 0
    while True:
        try:
            with blobs.ingest(desc.digest, desc.size, ref=f"pull-{desc.digest.algorithm}-{key}") as w:
                r = repo.open_blob(desc.digest, w.offset)
                if r.status == 206 and not (r.header("Content-Range") or "").startswith(f"bytes {w.offset}-"):
                    r.close()  # a range we did not ask for: start over
                    _reset(w, feed)
                    r = repo.open_blob(desc.digest, 0)
                if r.status == 200 and w.offset:
                    _reset(w, feed)  # the registry ignored Range
                if feed is not None:
                    feed.attach(w.path, w.offset)
                progress.set_done(key, w.offset)
                for chunk in r.stream():
                    w.write(chunk)
                    if feed is not None:
                        feed.wrote(w.offset)
                    progress.advance(key, len(chunk))
                if w.offset < desc.size:
                    raise _Cut(f"connection closed after {w.offset} of {desc.size} bytes")
            progress.status(key, done)
            return
        except StoreError as e:
            if e.code != "ingest-busy":
                raise  # DigestMismatch: the writer removed what it had; nothing stored
            if blobs.has(desc.digest):  # another process was pulling it and finished
                progress.status(key, "Already exists")
                return
            time.sleep(0.2)
        except (_Cut, OSError, http.client.HTTPException, RegistryError) as e:
            if isinstance(e, RegistryError) and e.status is not None and e.status < 500 and e.status != 429:
                raise
            attempt += 1
            if attempt >= ATTEMPTS:
                raise RegistryError(f"blob {desc.digest}: download failed after {attempt} attempts ({e})") from None
            progress.status(key, f"Retrying ({e})")
            time.sleep(backoff_base() * 2 ** (attempt - 1))


def _reset(w, feed: LayerFeed | None) -> None:
    if feed is not None:
        feed.rewind()  # first: the reader must not read the truncated range
    w.reset()


def _download(repo, blobs, desc, progress: Progress, feed: LayerFeed | None) -> None:
    try:
        fetch_blob(repo, blobs, desc, progress, feed)
    except BaseException as e:
        if feed is not None:
            feed.finish(e)
        raise
    if feed is not None:
        feed.finish(None)


def _reader(feed: LayerFeed):
    """The layer's bytes as they arrive, for its unpack helper (layer_jobs copies them in)."""
    import io

    return io.BufferedReader(LayerReader(feed), 1 << 20)


def _download_error(feed: LayerFeed) -> None:
    """Raise the download's error: it wins over the tar's (a cut or a wrong blob makes a
    broken tar: the cause is the download). Returns when the blob is stored, verified."""
    error = feed.wait()
    if error is not None:
        raise error


def fetch_layers(store, repo, manifest, cfg, progress: Progress, unpack: bool) -> None:
    """Download every layer (in parallel) and, with ``unpack``, apply each into its snapshot's
    temp dir while it streams, all layers at once (image/layer_jobs.py); snapshots are
    committed in chain order, each only when its blob's digest and its DiffID checked out."""
    from ..image.layer_jobs import LayerJobs

    chain = [str(c) for c in image_spec.chain_ids(cfg.diff_ids)]
    feeds: dict[str, LayerFeed] = {}
    jobs = LayerJobs(store.snapshots) if unpack else None
    todo = []  # (key, parent, diff_id, feed) of the layers to unpack, in chain order
    parent = None
    for desc, diff_id, key in zip(manifest.layers, cfg.diff_ids, chain, strict=True):
        if unpack and not store.snapshots.has(key):
            feed = feeds.setdefault(str(desc.digest), LayerFeed(store.blobs, desc.digest))
            todo.append((key, parent, diff_id, feed))
        parent = key
    unique = list({str(d.digest): d for d in manifest.layers}.values())
    pool = ThreadPoolExecutor(max_workers=JOBS, thread_name_prefix="pull")
    futures = []
    try:
        futures = [pool.submit(_download, repo, store.blobs, d, progress, feeds.get(str(d.digest))) for d in unique]
        for key, _, diff_id, feed in todo:
            jobs.start(key, diff_id, lambda feed=feed: _reader(feed),
                       on_start=lambda k=feed.digest.encoded: progress.status(k, "Extracting"))
        for key, parent, _, feed in todo:
            jobs.commit(key, parent, check=lambda feed=feed: _download_error(feed))
            progress.status(feed.digest.encoded, "Pull complete")
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]
    finally:
        for f, d in zip(futures, unique):
            if f.cancel() and str(d.digest) in feeds:  # not started: skipped; running ones finish (resumable)
                feeds[str(d.digest)].finish(RegistryError("pull stopped"))
        pool.shutdown(wait=True)  # every feed is finished now: no layer thread waits for bytes
        if jobs is not None:
            jobs.close()
        for feed in feeds.values():
            feed.close()


def pull(store, text: str, *, platform: Platform | None = None, insecure: bool = False,
         config: RegistriesConfig | None = None, progress: Progress | None = None,
         unpack: bool = True) -> PullResult:
    ref = reference.parse(text)
    config = config or RegistriesConfig.load()
    progress = progress or Progress("quiet")
    want = platform or host()
    repo, data, media_type, top_digest = fetch_manifest(ref, config, insecure)
    progress.line(f"{ref.tag or ref.digest}: Pulling from {ref.path if ref.registry != 'docker.io' else ref.path.removeprefix('library/')}")
    manifest_bytes, manifest = resolve_manifest(repo, data, media_type, want)
    config_bytes = repo.read_blob(manifest.config.digest)
    cfg = image_spec.ImageConfig(config_bytes)
    if len(cfg.diff_ids) != len(manifest.layers):
        raise RegistryError(f"image config lists {len(cfg.diff_ids)} layers, the manifest {len(manifest.layers)}")
    fetch_layers(store, repo, manifest, cfg, progress, unpack)
    img = store.add(manifest_bytes, config_bytes)
    if ref.tag and not ref.digest:
        store.tag(img.id, str(ref))
    store.add_repo_digest(img.id, ref.name, str(top_digest))  # the index's, if pulled through one
    sources = BlobSources(store.root)
    try:
        sources.add([*(x.digest for x in manifest.layers), manifest.config.digest], ref.registry, ref.path)
    finally:
        sources.close()
    if unpack:
        store.unpack(img)  # every snapshot is there already: a check, not work
    progress.line(f"Digest: {top_digest}")
    return PullResult(store.get(img.id), top_digest, ref)
