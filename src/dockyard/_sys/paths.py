"""Resolve paths inside a root directory (a container rootfs, a layer being unpacked)
without ever leaving it.

A rootfs comes from image layers, which are hostile input: a component may be a symlink
pointing at ``/etc`` of the host or at ``../../..``. We never build ``rootfs + "/" + path``
and hand it to the kernel. Instead we walk the path one component at a time with
``O_PATH|O_NOFOLLOW`` fds, reading each symlink ourselves:

* an absolute symlink restarts the walk at the rootfs (as a ``chroot`` would see it);
* a ``..`` that would climb above the rootfs is refused with ``EXDEV`` — a target that
  tries that is an attack or a broken image, and a clear error beats silently clamping;
* missing components are created (directories, and optionally the last one as a file)
  relative to their parent fd, never by path.

The result is an ``O_PATH`` fd; callers mount onto ``/proc/self/fd/N`` so the kernel
acts on exactly the inode we checked (runc's approach since CVE-2021-30465).
"""

from __future__ import annotations

import errno
import os
import stat

from ..errors import PathError

_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_SYMLINKS = 40


def _fail(path: str, err: int, detail: str) -> PathError:
    return PathError("resolve", err, path, detail)


def open_in_root(root_fd: int, path: str, *, create: str | None = None, mode: int = 0o755) -> int:
    """Return an O_PATH fd for ``path`` resolved inside the directory ``root_fd``.

    ``create`` is None (the path must exist), "dir" or "file" (what to create as the
    last component when it is missing; parents are always created as directories).
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    stack = [os.dup(root_fd)]  # fds of the directories walked so far; stack[0] is the root
    links = 0
    try:
        while parts:
            name = parts.pop(0)
            if name == "..":
                if len(stack) == 1:
                    raise _fail(path, errno.EXDEV, "escapes the rootfs")
                os.close(stack.pop())
                continue
            cur = stack[-1]
            try:
                fd = os.open(name, _O_PATH, dir_fd=cur)
            except FileNotFoundError:
                if create is None:
                    raise _fail(path, errno.ENOENT, f"{name!r} does not exist")
                try:
                    if parts or create == "dir":
                        os.mkdir(name, mode, dir_fd=cur)
                    else:
                        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                         0o644, dir_fd=cur))
                    fd = os.open(name, _O_PATH, dir_fd=cur)
                except OSError as e:
                    raise _fail(path, e.errno, f"cannot create {name!r}") from None
            except OSError as e:
                raise _fail(path, e.errno, f"cannot open {name!r}") from None
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    os.close(fd)
                    raise _fail(path, errno.ELOOP, "too many symlinks")
                target = os.readlink(name, dir_fd=cur)
                os.close(fd)
                if target.startswith("/"):
                    # Absolute link: relative to the rootfs, as the container will see it.
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts[0:0] = [p for p in target.split("/") if p not in ("", ".")]
                continue
            if parts and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise _fail(path, errno.ENOTDIR, f"{name!r} is not a directory")
            stack.append(fd)
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


def fd_path(fd: int) -> str:
    """The magic-link path that names an fd, for mount(2) targets and sources."""
    return f"/proc/self/fd/{fd}"
