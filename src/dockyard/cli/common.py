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


def option(argv: list[str], names: tuple[str, ...], default=None, convert=str):
    """One option that takes a value (``-t 5``), and the other arguments: (value, rest).
    The simple verbs take at most one such option; `run`'s many go through argparse."""
    from ..errors import ConfigError

    value, rest, i = default, [], 0
    while i < len(argv):
        if argv[i] in names:
            if i + 1 >= len(argv):
                raise ConfigError(f"option {argv[i]} needs a value")
            try:
                value = convert(argv[i + 1])
            except ValueError:
                raise ConfigError(f"option {argv[i]}: invalid value {argv[i + 1]!r}") from None
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    return value, rest
