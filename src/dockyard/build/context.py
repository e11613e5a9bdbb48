"""The build context: the files COPY and ADD may read, as Docker sends them to the builder.

A context is a directory on the host, a tarball (plain or compressed), or stdin (``-``:
a tarball, or a lone Dockerfile with no files at all, as `docker build -` reads it). A
tarball is unpacked once into a scratch directory under the storage root with the layer
unpacker (hostile-tar safe, ``image/layer.py``), so every context is a directory here.

``.dockerignore`` (``build/dockerignore.py``) hides files: an ignored path is neither
matched by a COPY source nor copied when its directory is, nor part of the cache hash.

Sources are resolved inside the context only. A source that climbs out (``../x``) or
reaches a symlink leading out of the context is refused with one line naming the
instruction's Dockerfile line; symlinks *inside* a copied directory are copied as links
(their targets mean something in the image, not here), as Docker does.

Globs follow Go's ``filepath.Match`` (what BuildKit uses): ``*`` and ``?`` never cross a
``/``, ``[...]`` classes with ``^`` negation, ``\\`` escapes.
"""

from __future__ import annotations

import os
import posixpath
import re

from ..errors import DockyardError
from .dockerignore import PatternMatcher, load


class ContextError(DockyardError):
    code = "build-context"


_GLOB_CHARS = frozenset("*?[\\")


def has_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


def _segment_regex(seg: str) -> re.Pattern[str]:
    """One path component of a Go filepath.Match pattern as a regex."""
    out, i = [], 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(seg):
            i += 1
            out.append(re.escape(seg[i]))
        elif c == "[":
            j = seg.find("]", i + 2 if seg[i + 1:i + 2] in ("^", "!") else i + 1)
            if j < 0:
                raise ContextError(f"syntax error in pattern {seg!r}")
            body = seg[i + 1:j]
            neg = body[:1] in ("^", "!")
            body = body[1:] if neg else body
            out.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


class BuildContext:
    """A directory of files to build from, with its ignore rules. ``close()`` removes a
    context that was unpacked from a tarball (a directory context is the user's: untouched)."""

    def __init__(self, root: str, ignore: PatternMatcher, scratch: str | None = None) -> None:
        self.root = os.path.realpath(root)
        self.ignore = ignore
        self.scratch = scratch

    # -- making one -------------------------------------------------------------------
    @classmethod
    def from_dir(cls, path: str, dockerfile: str | None = None) -> BuildContext:
        if not os.path.isdir(path):
            raise ContextError(f"context {path!r} is not a directory")
        return cls(path, load(path, dockerfile))

    @classmethod
    def from_tar(cls, stream, scratch_parent: str) -> BuildContext:
        """Unpack a context tarball (from a file or stdin) into a fresh scratch directory."""
        import tempfile

        from ..image.layer import LayerError, apply_layer
        from .archives import decompressed

        os.makedirs(scratch_parent, mode=0o700, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=f"context-{os.getpid()}-", dir=scratch_parent)
        root = os.path.join(scratch, "ctx")
        os.mkdir(root, 0o755)
        try:
            apply_layer(decompressed(stream), root, whiteouts="apply", same_owner=False)
        except LayerError as e:
            _rmtree(scratch)
            raise ContextError(f"context tarball: {e}") from None
        return cls(root, load(root), scratch)

    @classmethod
    def empty(cls, scratch_parent: str) -> BuildContext:
        import tempfile

        os.makedirs(scratch_parent, mode=0o700, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=f"context-{os.getpid()}-", dir=scratch_parent)
        os.mkdir(os.path.join(scratch, "ctx"), 0o755)
        return cls(os.path.join(scratch, "ctx"), PatternMatcher([]), scratch)

    def close(self) -> None:
        if self.scratch:
            _rmtree(self.scratch)
            self.scratch = None

    # -- resolving sources ---------------------------------------------------------------
    def ignored(self, rel: str) -> bool:
        return bool(rel) and rel != "." and self.ignore.matches(rel)

    def check_inside(self, rel: str, where: str) -> str:
        """The context-relative path ``rel`` normalised; refused when it (or a symlink on
        the way, or the file itself being a symlink) leads outside the context."""
        clean = posixpath.normpath(rel).lstrip("/")
        if clean == ".." or clean.startswith("../"):
            raise ContextError(f"{where}: {rel!r} is outside the build context (forbidden)")
        real = os.path.realpath(os.path.join(self.root, clean))
        if real != self.root and not real.startswith(self.root + "/"):
            raise ContextError(f"{where}: {rel!r} leads outside the build context through a symlink (forbidden)")
        return "" if clean == "." else clean

    def match(self, pattern: str, where: str) -> list[str]:
        """Context-relative paths a COPY/ADD source names: itself, or every non-ignored
        path its glob matches (sorted). An empty list when nothing matches."""
        rel = self.check_inside(pattern, where) if not has_glob(pattern) else posixpath.normpath(pattern).lstrip("/")
        if not has_glob(pattern):
            if self.ignored(rel) or not os.path.lexists(os.path.join(self.root, rel)):
                return []
            return [rel]
        if rel == ".." or rel.startswith("../"):
            raise ContextError(f"{where}: {pattern!r} is outside the build context (forbidden)")
        found = [""]
        for seg in rel.split("/"):
            rx = _segment_regex(seg) if has_glob(seg) else None
            nxt = []
            for base in found:
                d = os.path.join(self.root, base)
                if rx is None:
                    if os.path.lexists(os.path.join(d, seg)):
                        nxt.append(posixpath.join(base, seg))
                    continue
                try:
                    names = sorted(os.listdir(d))
                except (NotADirectoryError, FileNotFoundError):
                    continue
                nxt += [posixpath.join(base, n) for n in names if rx.match(n)]
            found = nxt
        out = [p for p in found if not self.ignored(p)]
        for p in out:
            self.check_inside(p, where)
        return out

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(os.path.join(self.root, rel))

    # -- reading --------------------------------------------------------------------------
    def entries(self, rel: str, parts_base: list[str]):
        """copy_tree Entries of the source ``rel`` (a file, or a directory and everything
        not ignored below it), named ``parts_base + path below rel``."""
        from ..engine.copy_tree import Entry, open_source, walk

        rfd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            # the source itself is followed (inside the context), as BuildKit resolves it
            src = open_source(rfd, "/" + rel if rel else "/", follow=True, name="x")
        finally:
            os.close(rfd)
        try:
            for e in walk(src):
                below = e.parts[1:]
                if below and self.ignored(posixpath.join(rel, *below)):
                    continue
                link = e.link
                if e.kind == "hardlink":
                    link = parts_base + list(link[1:])
                yield Entry(parts_base + below, e.kind, e.mode, e.uid, e.gid, e.mtime, e.size, link, e.dev, e.open)
        finally:
            src.close()

    def content_hash(self, rels: list[str], hasher, known=None) -> None:
        """Feed what COPY reads from ``rels`` into ``hasher``: names, types, modes, link
        targets and each file's content digest (mtimes and owners left out, as BuildKit's
        content cache). ``known`` (a FileDigests) remembers a file's digest by its stat
        signature, so an unchanged file is not read again on the next build."""
        from ..oci.digest import Hasher

        for rel in rels:
            hasher.update(f"\0src {rel}\0".encode())
            for e in self.entries(rel, []):
                hasher.update(f"{'/'.join(e.parts)}\0{e.kind}\0{e.mode:o}\0{e.link or ''}\0".encode())
                if e.kind != "file":
                    continue
                path = os.path.join(self.root, rel, *e.parts)
                sig = digest = None
                if known is not None:
                    sig = _signature(path)
                    digest = known.get(path, sig)
                if digest is None:
                    h = Hasher()
                    with e.open() as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
                    digest = str(h.digest())
                    if known is not None and sig is not None:
                        known.put(path, sig, digest)
                hasher.update(digest.encode())


def _signature(path: str) -> str | None:
    """A file's identity for the digest cache: inode, size, mtime and ctime in ns (ctime
    moves on every write or metadata change, and cannot be set back by the user)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def _rmtree(path: str) -> None:
    from ..image.snapshots import _rmtree as rmtree

    rmtree(path)


def open_context(arg: str, dockerfile: str | None, scratch_parent: str, stdin=None) -> tuple[BuildContext, bytes | None]:
    """CONTEXT as `docker build` takes it -> (context, the Dockerfile's bytes when stdin was
    a lone Dockerfile, else None)."""
    if arg == "-":
        import io
        import sys

        data = (stdin or sys.stdin.buffer).read()
        if _looks_like_tar(data):
            return BuildContext.from_tar(io.BytesIO(data), scratch_parent), None
        return BuildContext.empty(scratch_parent), data
    if os.path.isdir(arg):
        return BuildContext.from_dir(arg, dockerfile), None
    if os.path.isfile(arg):
        with open(arg, "rb") as f:
            return BuildContext.from_tar(f, scratch_parent), None
    raise ContextError(f"context {arg!r}: no such file or directory")


def _looks_like_tar(data: bytes) -> bool:
    from .archives import compression

    return compression(data[:8]) is not None or data[257:262] == b"ustar"


class ImageFiles(BuildContext):
    """A stage's or image's filesystem (a mounted overlay) as a COPY --from source: paths
    resolve inside it as the image sees them (absolute symlinks restart at its root), and
    nothing is ignored."""

    def __init__(self, root: str) -> None:
        super().__init__(root, PatternMatcher([]))

    def check_inside(self, rel: str, where: str) -> str:
        clean = posixpath.normpath("/" + rel).lstrip("/")
        return "" if clean == "." else clean

    def _resolve(self, rel: str) -> str | None:
        """The path of ``rel`` with every symlink resolved inside the root, or None."""
        from .._sys import paths

        rfd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = paths.open_in_root(rfd, "/" + rel)
        except OSError:
            return None
        finally:
            os.close(rfd)
        try:
            real = os.readlink(paths.fd_path(fd))
        finally:
            os.close(fd)
        return os.path.relpath(real, self.root) if real.startswith(self.root) else None

    def match(self, pattern: str, where: str) -> list[str]:
        if has_glob(pattern):
            return super().match(pattern, where)
        rel = self.check_inside(pattern, where)
        return [rel] if self._resolve(rel) is not None else []

    def is_dir(self, rel: str) -> bool:
        real = self._resolve(rel)
        return real is not None and os.path.isdir(os.path.join(self.root, real))
