"""`push`: an image from the local store to a repository — blobs, then the manifest, then
(by the manifest PUT) the tag.

Per blob (layers in parallel, then the config): HEAD first (present: skip); known in another
repository of the same registry (registry-sources.db): ask for a cross-repository mount; else
upload — one PUT for a blob up to ``chunk_size``, PATCH chunks of ``chunk_size`` then a closing
PUT for larger ones. The manifest goes last, byte for byte as stored, so its digest is the one
`dockyard images --digests`, skopeo and the registry all agree on.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from ..oci import reference
from . import credentials
from .client import Session
from .config import RegistriesConfig, api_host
from .errors import RegistryError
from .progress import Progress
from .sources import BlobSources

JOBS = 3
CHUNK = 64 << 20


def _chunk_size() -> int:
    env = os.environ.get("DOCKYARD_PUSH_CHUNK_SIZE")  # tests push small blobs in chunks
    return int(env) if env and env.isdigit() and int(env) > 0 else CHUNK


def push_blob(repo, blobs, digest, size: int, mounts: list[str], progress: Progress, chunk_size: int) -> str:
    key = digest.encoded
    if repo.has_blob(digest):
        progress.status(key, "Layer already exists")
        return "exists"
    location = None
    for source in mounts:
        if source == repo.name:
            continue
        location = repo.mount_blob(digest, source)
        if location is None:
            progress.status(key, f"Mounted from {source}")
            return "mounted"
        break  # the registry opened a plain upload instead: use it
    progress.status(key, "Pushing", size)
    location = location or repo.start_upload()
    if size > chunk_size:
        offset = 0
        with blobs.open(digest) as f:
            while offset < size:
                data = f.read(chunk_size)
                location = repo.patch_chunk(location, data, offset)
                offset += len(data)
                progress.advance(key, len(data))
        repo.finish_upload(location, digest)
    else:
        repo.finish_upload(location, digest, lambda: blobs.open(digest), size)
    progress.status(key, "Pushed")
    return "pushed"


def push(store, local: str, target: str | None = None, *, insecure: bool = False,
         config: RegistriesConfig | None = None, progress: Progress | None = None,
         chunk_size: int | None = None):
    """Push the local image ``local`` as ``target`` (default: ``local``); returns the
    manifest digest and its size."""
    img = store.resolve(local)
    ref = reference.parse(target or local)
    if ref.digest:
        raise RegistryError(f"cannot push to a digest reference ({ref.familiar()}): name a tag")
    config = config or RegistriesConfig.load()
    progress = progress or Progress("quiet")
    chunk_size = chunk_size or _chunk_size()
    session = Session(api_host(ref.registry), config, insecure=insecure, credentials=credentials.get(ref.registry))
    repo = session.repository(ref.path, "pull,push")
    progress.line(f"The push refers to repository [{ref.name}]")
    sources = BlobSources(store.root)
    try:
        layers = [(x.digest, x.size) for x in img.manifest.layers]
        known = {str(d): sources.repos(d, ref.registry) for d, _ in [*layers, (img.id, 0)]}
        with ThreadPoolExecutor(max_workers=JOBS, thread_name_prefix="push") as pool:
            futures = [pool.submit(push_blob, repo, store.blobs, d, s, known[str(d)], progress, chunk_size)
                       for d, s in layers]
            errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]
        push_blob(repo, store.blobs, img.id, store.blobs.size(img.id), known[str(img.id)], Progress("quiet"),
                  chunk_size)
        with store.blobs.open(img.manifest_digest) as f:
            data = f.read()
        digest = repo.put_manifest(ref.tag, data, img.manifest.media_type)
        store.add_repo_digest(img.id, ref.name, str(digest))
        sources.add([*(d for d, _ in layers), img.id], ref.registry, ref.path)
    finally:
        sources.close()
    progress.line(f"{ref.tag}: digest: {digest} size: {len(data)}")
    return digest, len(data)
