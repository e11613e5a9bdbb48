"""What every `dockyard` command module shares: the stores, opened and closed around a call."""

from __future__ import annotations


def _size(v: str) -> int:
    from ..runtime.commands import _size as size

    return size(v)


def _stores():
    from .. import config
    from ..engine.containers import ContainerStore
    from ..image.store import ImageStore

    root = config.storage_root()
    return ImageStore(root), ContainerStore(root)


def _with(fn):
    """Run fn(images, containers) with both stores open."""
    images, containers = _stores()
    try:
        return fn(images, containers)
    finally:
        images.close()
        containers.close()
