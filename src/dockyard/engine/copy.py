"""`docker cp` between a container (running or stopped) and the host, or a tar stream.

The path rules are Docker's (``copy_rules.py``); the file work is fd-relative on both sides
(``copy_tree.py``); the container's side is its root as its processes see it, volumes and
all (``container_root.py``).

Ownership follows what Docker does, not what its reference page says (moby#45793,
docker/cli#4382; podman's ``--archive`` means the same):

* into a container: files keep the uid/gid they have on the host (or in the tar stream);
  with ``-a`` they are given to the container's user (``run -u``, the image's USER; root
  when neither is set);
* out of a container: files belong to whoever runs `dockyard cp` (Docker extracts without
  chown, ``-a`` or not); a tar stream (``-``) carries the container's own uid/gid.
"""

from __future__ import annotations

import os

from .container_root import open_root
from .copy_rules import CopyError, container_path, local_path, plan, split_dir_entry
from .copy_tree import (
    Extractor,
    Owner,
    SourceMissing,
    open_source,
    probe,
    read_tar,
    walk,
    write_tar,
)

_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
# kernel file systems a running container has mounted: walked through, they are copied as
# empty directories (a copy of / must not read /proc or /sys)
_PSEUDO = ("proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2")


def _host_root() -> int:
    return os.open("/", _DIR)


def copy_from_container(images, containers, ref: str, src: str, dst: str, *, follow: bool = False,
                        out=None) -> None:
    """``cp CONTAINER:SRC DST`` (DST "-": a tar stream on ``out``)."""
    rec = containers.get(ref)
    src = container_path(src)
    with open_root(images, containers, rec) as root:
        try:
            source = open_source(root.fd, src, follow)
        except SourceMissing:
            raise SourceMissing(f"could not find the file {src} in container {rec.name}") from None
        try:
            prune = frozenset(m.get("destination") for m in root.spec.get("mounts") or ()
                              if m.get("type") in _PSEUDO) if root.running else frozenset()
            if dst == "-":
                write_tar(walk(source, prune), out)
                out.flush()
                return
            _extract_local(source, local_path(dst, os.getcwd()), prune)
        finally:
            source.close()


def _extract_local(source, dst: str, prune) -> None:
    host = _host_root()
    try:
        exists, is_dir = probe(host, dst)
        if not exists:
            parent = split_dir_entry(dst)[0]
            if probe(host, parent) != (True, True):
                raise CopyError(f"no such directory: {parent}")
        p = plan(source.is_dir, source.name, dst, exists, is_dir)
        from .._sys import paths

        into = paths.open_in_root(host, p.into)
    finally:
        os.close(host)
    try:
        # the directory extracted into is the root: whatever a copied tree holds (a symlink
        # to /etc, say) can never lead a later entry out of it
        Extractor(into, "/", p.rename, Owner()).run(walk(source, prune))
    finally:
        os.close(into)


def copy_to_container(images, containers, src: str, ref: str, dst: str, *, follow: bool = False,
                      archive: bool = False, stdin=None) -> None:
    """``cp SRC CONTAINER:DST`` (SRC "-": a tar stream read from ``stdin``, extracted into
    the directory DST)."""
    rec = containers.get(ref)
    dst = container_path(dst)
    source = None
    if src != "-":
        host = _host_root()
        try:
            path = local_path(src, os.getcwd())
            source = open_source(host, path, follow)
        except SourceMissing:
            raise SourceMissing(f"no such file or directory: {path}") from None
        finally:
            os.close(host)
    try:
        with open_root(images, containers, rec) as root:
            owner = Owner(ids=root.user) if archive else Owner(keep=True)
            exists, is_dir = probe(root.fd, dst)
            if source is None:
                if not (exists and is_dir):
                    raise CopyError(f'destination "{rec.name}:{dst}" must be a directory')
                Extractor(root.fd, split_dir_entry(dst)[0] if dst.endswith("/.") else dst, None, owner).run(
                    read_tar(stdin))
                return
            if not exists:
                parent = split_dir_entry(dst)[0]
                if probe(root.fd, parent) != (True, True):
                    raise CopyError(f"no such directory: {parent} in container {rec.name}")
            p = plan(source.is_dir, source.name, dst, exists, is_dir)
            Extractor(root.fd, p.into, p.rename, owner).run(walk(source))
    finally:
        if source is not None:
            source.close()
