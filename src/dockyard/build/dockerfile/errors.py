"""Dockerfile errors: one line a user can act on, with the file, line and offending text."""

from __future__ import annotations

from dockyard.errors import DockyardError


class DockerfileError(DockyardError):
    """Base of every Dockerfile problem (syntax, expansion, validation, missing stage)."""

    code = "dockerfile"


class ExpansionError(DockerfileError):
    """A ``$`` expansion BuildKit rejects: bad substitution, ``${X:?msg}``, an unclosed quote."""

    code = "dockerfile-expansion"


class DockerfileSyntaxError(DockerfileError):
    """The Dockerfile (or one instruction in it) is malformed.

    ``str()`` is ``Dockerfile:7: unknown instruction: FOO (line: "FOO bar")``: the file,
    the instruction's first line, the reason, then the instruction's text as written."""

    code = "dockerfile-syntax"

    def __init__(self, reason: str, *, filename: str = "Dockerfile", line: int | None = None,
                 end_line: int | None = None, text: str | None = None) -> None:
        self.reason, self.filename, self.line, self.end_line, self.text = reason, filename, line, end_line, text
        where = f"{filename}:{line}" if line else filename
        shown = f" (line: {_quote(text)})" if text else ""
        super().__init__(f"{where}: {reason}{shown}")

    def located(self, *, filename: str | None = None, line: int | None = None,
                end_line: int | None = None, text: str | None = None) -> DockerfileSyntaxError:
        """The same error with location filled in where it was still unknown."""
        return type(self)(
            self.reason,
            filename=filename if filename is not None else self.filename,
            line=self.line if self.line else line,
            end_line=self.end_line if self.end_line else end_line,
            text=self.text if self.text else text,
        )


class StageNotFound(DockerfileError):
    """``--target`` (or ``COPY --from``) names a stage the Dockerfile does not have."""

    code = "dockerfile-stage"


def _quote(text: str) -> str:
    text = text.strip()
    if len(text) > 120:  # one line stays one line
        text = text[:117] + "..."
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
