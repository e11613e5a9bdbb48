"""`docker cp`'s path rules, as pure functions (no file system access).

Docker decides where a copy lands from four facts: whether the source is a directory, its
base name, whether the destination exists (and is a directory), and how the destination
was spelled. Its table (moby ``pkg/archive/copy.go``, ``PrepareArchiveCopy``):

    source      destination                       result
    file        missing, no trailing "/"          written as DEST (renamed)
    file        missing, ends in "/"              error: the directory must exist
    file        an existing file                  DEST overwritten (renamed)
    file        an existing directory             DEST/basename(SRC)
    directory   missing                           DEST created, holding SRC's contents
    directory   an existing file                  error: cannot copy a directory to a file
    directory   an existing directory             DEST/basename(SRC) ...
    dir/.       an existing directory             ... or, with a trailing "/.", SRC's
                                                  contents merged into DEST

Everything travels as a stream of entries named ``BASE/...`` where BASE is the source's
base name ("." for ``dir/.``); a plan says which directory to extract the stream into and
whether BASE is renamed on the way (only the first name component, as Docker rebases).
"""

from __future__ import annotations

import posixpath

from ..errors import DockyardError


class CopyError(DockyardError):
    """A copy Docker would refuse, or one that failed; exit status 1 as `docker cp`."""

    code = "copy"


def split_arg(arg: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` -> (container, path); a local path -> (None, path). A path with a
    colon is local when written explicitly: absolute (``/a:b``) or relative (``./a:b``)."""
    if arg.startswith("/"):
        return None, arg
    container, colon, path = arg.partition(":")
    if not colon or container.startswith("."):
        return None, arg
    return container, path


def asserts_directory(path: str) -> bool:
    """A trailing "/" (or "/.") says the path must be a directory."""
    return path.endswith(("/", "/.")) or path in (".", "/")


def wants_contents(path: str) -> bool:
    """``dir/.``: the directory's contents, not the directory itself."""
    return path == "." or path.endswith("/.")


def container_path(path: str) -> str:
    """A container path is relative to the container's /; ``..`` cannot climb above it (the
    path is cleaned as Docker does); a trailing "/" or "/." is kept, as it changes meaning."""
    clean = posixpath.normpath("/" + path)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    if wants_contents(path):
        return clean.rstrip("/") + "/."
    if path.endswith("/") and clean != "/":
        return clean + "/"
    return clean


def local_path(path: str, cwd: str) -> str:
    """A local path, absolute (relative ones are from ``cwd``), trailing "/" or "/." kept."""
    clean = posixpath.normpath(posixpath.join(cwd, path))
    if wants_contents(path):
        return clean.rstrip("/") + "/."
    if path.endswith("/") and clean != "/":
        return clean + "/"
    return clean


def split_dir_entry(path: str) -> tuple[str, str]:
    """(directory, base) of an absolute path: ``/a/b`` -> (/a, b); ``/a/b/`` -> (/a, b);
    ``/a/b/.`` -> (/a/b, .); ``/`` -> (/, .)."""
    if wants_contents(path):
        return path[:-2] or "/", "."
    stripped = path.rstrip("/")
    if not stripped:
        return "/", "."
    head, base = posixpath.split(stripped)
    return head or "/", base


class Plan:
    """Where a stream of entries named ``src_base/...`` goes: extract into ``into`` (a path
    on the destination side); if ``rename`` is set, entries' first component ``src_base``
    becomes ``rename``."""

    __slots__ = ("into", "rename")

    def __init__(self, into: str, rename: str | None) -> None:
        self.into, self.rename = into, rename

    def __repr__(self) -> str:
        return f"Plan(into={self.into!r}, rename={self.rename!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Plan) and (self.into, self.rename) == (other.into, other.rename)


def plan(src_is_dir: bool, src_base: str, dst: str, dst_exists: bool, dst_is_dir: bool) -> Plan:
    """Docker's table above. ``src_base`` is the name the source's entries carry (its base
    name, the link's name under -L, "." for ``dir/.``); ``dst`` as the user spelled it
    (made absolute). Raises CopyError for the refused cases."""
    dst_dir, dst_base = split_dir_entry(dst)
    if dst_exists and dst_is_dir:
        return Plan(dst_dir if wants_contents(dst) else dst.rstrip("/") or "/", None)
    if dst_exists and src_is_dir:
        raise CopyError(f"cannot copy a directory to the existing file {dst.rstrip('/')}")
    if dst_exists:
        return Plan(dst_dir, _rename(src_base, dst_base))
    if src_is_dir:
        return Plan(dst_dir, _rename(src_base, dst_base))
    if asserts_directory(dst):
        raise CopyError(f"no such directory: {dst}")
    return Plan(dst_dir, _rename(src_base, dst_base))


def _rename(src_base: str, dst_base: str) -> str | None:
    return None if src_base == dst_base else dst_base


def rebase(parts: list[str], rename: str | None) -> list[str]:
    """An entry's name components after a plan's rename of its first component."""
    if rename is None or not parts:
        return parts
    return [rename, *parts[1:]]
