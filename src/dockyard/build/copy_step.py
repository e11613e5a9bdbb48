"""COPY and ADD: files from the context, a stage, an image, a heredoc or a URL into the
step's workspace, with Docker's path rules.

- A directory source copies its *contents* into the destination (created if missing).
- A file goes *into* the destination when that ends in ``/``, is an existing directory, or
  several sources (or a glob with several matches) are copied; else it *is* the
  destination path. Several sources into a path without a trailing ``/`` is an error.
- A relative destination is relative to WORKDIR.
- Owner 0:0 unless ``--chown`` (names looked up in the image's /etc/passwd and /etc/group);
  ``--chmod`` (octal) replaces every copied entry's mode; mtimes are kept.
- ADD: a local tar (plain, gzip, bzip2, xz, zstd; recognised by content) is extracted into
  the destination by the layer unpacker (hostile archives refused as for image layers); a
  URL is downloaded (urllib) to a file of mode 0600 and checked against ``--checksum``.
- ``--link`` is accepted and gives the same files (the layer is not rebased independently
  of the layers below: a cache hit still needs the same parent).

Writing into the image goes through ``engine/copy_tree.Extractor``: fd-relative inside the
rootfs, the last component never followed, so a symlink in the image cannot redirect a copy
onto the host.
"""

from __future__ import annotations

import io
import os
import posixpath

from .._sys import paths
from ..engine.copy_tree import Entry, Extractor, Owner, probe
from .errors import BuildError


class Source:
    """One thing to copy: a context-like root + a relative path, a heredoc, or a download."""

    def __init__(self, name: str, *, root=None, rel: str = "", data: bytes | None = None,
                 file: str | None = None, mode: int = 0o644, mtime: int = 0, archive_ok: bool = False) -> None:
        self.name, self.root, self.rel, self.data, self.file = name, root, rel, data, file
        self.mode, self.mtime, self.archive_ok = mode, mtime, archive_ok

    def is_dir(self) -> bool:
        return self.root is not None and self.root.is_dir(self.rel)

    def entries(self, parts_base: list[str]):
        if self.root is not None:
            yield from self.root.entries(self.rel, parts_base)
        elif self.data is not None:
            data = self.data
            yield Entry(parts_base, "file", self.mode, 0, 0, self.mtime, len(data), open=lambda: io.BytesIO(data))
        else:
            size = os.path.getsize(self.file)
            yield Entry(parts_base, "file", self.mode, 0, 0, self.mtime, size, open=lambda: open(self.file, "rb"))  # noqa: SIM115 - the consumer closes it


def parse_chmod(value: str | None, where: str) -> int | None:
    if value is None:
        return None
    try:
        mode = int(value, 8)
    except ValueError:
        raise BuildError(f"--chmod={value}: expected an octal mode ({where})") from None
    if not 0 <= mode <= 0o7777:
        raise BuildError(f"--chmod={value}: mode out of range ({where})")
    return mode


def owner_ids(chown: str | None, merged: str, where: str) -> tuple[int, int]:
    if not chown:
        return 0, 0
    from ..engine.spec import resolve_user

    user, sep, _group = chown.partition(":")
    try:
        uid, gid, _extra, _home = resolve_user(chown if sep else user, merged)
    except Exception as e:  # noqa: BLE001 - ConfigError: an unknown name, one line
        raise BuildError(f"--chown={chown}: {e} ({where})") from None
    if not sep and user.isdigit():
        gid = uid  # --chown=1000 means 1000:1000, as Docker
    return uid, gid


def _is_tar(path: str) -> bool:
    from .archives import decompressed

    try:
        with open(path, "rb") as f:
            s = decompressed(f)
            if s.peek(4)[:2] == b"\x1f\x8b":
                import gzip

                s = gzip.GzipFile(fileobj=s)
            head = s.read(512)
    except (OSError, EOFError, ValueError):
        return False
    except Exception:  # noqa: BLE001 - a corrupt bz2/xz stream: not an archive, copied as a file
        return False
    return len(head) >= 262 and head[257:262] == b"ustar"


def copy_sources(sources: list[Source], dest: str, *, merged: str, workdir: str, chown: str | None,
                 chmod: str | None, is_add: bool, where: str, several: bool) -> None:
    """Copy ``sources`` to ``dest`` inside the mounted image at ``merged``."""
    wants_dir = dest.endswith("/") or posixpath.basename(dest) in (".", "..")
    if not dest.startswith("/"):
        dest = posixpath.join(workdir, dest)
    dest = posixpath.normpath(dest) + ("/" if wants_dir else "")
    dest = "/" if dest == "//" else dest
    ids = owner_ids(chown, merged, where)
    mode = parse_chmod(chmod, where)
    from ..engine.copy_rules import CopyError

    rfd = os.open(merged, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _copy_all(rfd, sources, dest, ids, mode, is_add, where, several)
    except CopyError as e:
        raise BuildError(f"{e} ({where})") from None
    except OSError as e:
        raise BuildError(f"{e.strerror or e}: {dest} ({where})") from None
    finally:
        os.close(rfd)


def _copy_all(rfd, sources, dest, ids, mode, is_add, where, several) -> None:
    exists, is_dir = probe(rfd, dest)
    into_dir = dest.endswith("/") or several or (exists and is_dir)
    if several and not dest.endswith("/") and not (exists and is_dir):
        raise BuildError(f"when copying several sources the destination must be a directory and end "
                         f"with a / ({where})")
    for src in sources:
        if src.root is not None and src.is_dir():
            _extract(rfd, dest, src.entries([]), ids, mode, skip_root=True)
            continue
        if is_add and src.archive_ok and src.root is not None and _is_tar(os.path.join(src.root.root, src.rel)):
            _unpack(rfd, dest, os.path.join(src.root.root, src.rel), where)
            continue
        if into_dir:
            into, name = dest, src.name
        else:
            into, name = posixpath.dirname(dest.rstrip("/")) or "/", posixpath.basename(dest.rstrip("/"))
        _extract(rfd, into, src.entries([name]), ids, mode, skip_root=False)


def _extract(rfd: int, into: str, entries, ids, mode, skip_root: bool) -> None:
    def adjusted():
        for e in entries:
            if skip_root and not e.parts:
                continue  # a directory's own entry: its contents go into the destination
            if mode is not None and e.kind != "symlink":
                e.mode = mode
            yield e
    os.close(paths.open_in_root(rfd, into, create="dir"))
    Extractor(rfd, into, None, Owner(ids=ids)).run(adjusted())


def _unpack(rfd: int, dest: str, archive: str, where: str) -> None:
    from ..image.layer import LayerError, apply_layer
    from .archives import decompressed

    fd = paths.open_in_root(rfd, dest, create="dir")
    try:
        with open(archive, "rb") as f:
            apply_layer(decompressed(f), paths.fd_path(fd), whiteouts="apply")
    except LayerError as e:
        raise BuildError(f"ADD {os.path.basename(archive)}: {e} ({where})") from None
    finally:
        os.close(fd)


def download(url: str, into_dir: str, checksum: str | None, where: str) -> tuple[str, str, int]:
    """(local file, file name, mtime) of ``url``; the name is the URL path's last part."""
    import urllib.error
    import urllib.request
    from email.utils import parsedate_to_datetime

    from ..oci.digest import Digest, Hasher

    want = None
    if checksum:
        try:
            want = Digest(checksum)
        except Exception:  # noqa: BLE001 - StoreError: a malformed digest
            raise BuildError(f"--checksum={checksum}: not a digest (sha256:...) ({where})") from None
    name = posixpath.basename(urllib.request.urlparse(url).path.rstrip("/")) or "download"
    path = os.path.join(into_dir, "download-" + os.urandom(4).hex())
    h = Hasher(want.algorithm if want else "sha256")
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(path, "wb") as out:
            while chunk := r.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
            modified = r.headers.get("Last-Modified")
    except (urllib.error.URLError, OSError) as e:
        raise BuildError(f"ADD {url}: {getattr(e, 'reason', None) or e} ({where})") from None
    if want is not None and h.digest() != want:
        raise BuildError(f"ADD {url}: content is {h.digest()}, not the --checksum {want} ({where})")
    mtime = 0
    if modified:
        try:
            mtime = int(parsedate_to_datetime(modified).timestamp())
        except (TypeError, ValueError):
            mtime = 0
    return path, name, mtime
