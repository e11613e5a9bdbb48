"""The build's own error (a step that cannot be done), apart from Dockerfile errors."""

from __future__ import annotations

from ..errors import DockyardError


class BuildError(DockyardError):
    code = "build"
