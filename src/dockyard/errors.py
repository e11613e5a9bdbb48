"""One root error with a stable code and a message a user can act on.

Every error dockyard raises on purpose derives from DockyardError. Front ends print
``str(err)`` as one line and exit non-zero; ``--debug`` shows the chain. Errors are
classified by type and ``code``, never by matching message text.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every expected failure. ``code`` is stable; the message is for people."""

    code = "error"
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigError(DockyardError):
    """config.json (or a process.json) is missing, malformed or asks for something invalid."""

    code = "invalid-config"


class NotFound(DockyardError):
    code = "not-found"


class AlreadyExists(DockyardError):
    code = "already-exists"


class InvalidState(DockyardError):
    """The operation is not allowed in the container's current status."""

    code = "invalid-state"


class SysError(DockyardError):
    """A system call failed during a named step, with the path it acted on."""

    code = "syscall"

    def __init__(self, step: str, errno_: int, path: str | None = None, detail: str = "") -> None:
        import os

        self.step, self.errno, self.path = step, errno_, path
        where = f" {path}" if path else ""
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{step}{where}: {os.strerror(errno_)}{extra}")


class MountError(SysError):
    code = "mount"


class PathError(SysError):
    """A path inside a rootfs could not be resolved safely (escape, loop, missing)."""

    code = "path"


class CgroupError(DockyardError):
    code = "cgroup"


class SeccompError(DockyardError):
    code = "seccomp"


class HookError(DockyardError):
    code = "hook"


class Unsupported(DockyardError):
    """A feature the spec allows that this build does not implement; says so plainly."""

    code = "unsupported"


class StoreError(DockyardError):
    """The content store refused or could not do something: a malformed digest, a missing blob."""

    code = "store"


class DigestMismatch(StoreError):
    """Content did not hash (or measure) to what it was claimed to be; nothing was stored."""

    code = "digest-mismatch"


class ImageError(DockyardError):
    """A manifest, index or image config that is malformed or not something we can run."""

    code = "image"
