"""``.dockerignore`` as Docker reads and matches it (moby/patternmatcher + ignorefile).

Reading: lines starting with ``#`` are comments; lines are trimmed; a leading ``!`` makes
an exception; each pattern is cleaned like a path (``./a//b/`` -> ``a/b``) and a leading
``/`` dropped, since every pattern is relative to the context root.

Matching a context-relative path (slash separated): patterns apply in order, the last one
that matches decides, and a pattern also matches everything under a directory it matches
(``build`` excludes ``build/x/y``). ``*`` and ``?`` never cross ``/``; ``**`` matches any
number of directories, including none (``**/*.go``, ``a/**/b``, ``logs/**``); ``[...]``
ranges and ``\\`` escapes as Go's filepath.Match. An exception (``!keep.txt``) re-includes
what an earlier pattern excluded; a directory that is excluded must still be walked when a
later exception could match inside it (``dirs_with_exceptions`` lets a walker know).
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass

from dockyard.errors import DockyardError


class DockerignoreError(DockyardError):
    code = "dockerignore"


def clean(path: str) -> str:
    """Go's path.Clean: '' -> '.', duplicate and trailing slashes, '.' and '..' resolved."""
    if not path:
        return "."
    out = posixpath.normpath(path)
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def read_patterns(text: str | bytes) -> list[str]:
    """The patterns of a .dockerignore file, normalised as Docker's ignorefile.ReadAll."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="surrogateescape")
    text = text.removeprefix("\ufeff")
    patterns = []
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


_ESCAPE = set(".+()|{}$")


@dataclass
class Pattern:
    text: str  # cleaned, without the '!'
    exclusion: bool
    kind: str  # exact | prefix | suffix | regexp
    regex: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":  # "dir/**"
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":  # "**/name"
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix[:1] == "/" and path == suffix[1:]  # **/foo matches foo itself
        return self.regex.match(path) is not None  # type: ignore[union-attr]


def compile_pattern(raw: str) -> Pattern:
    exclusion = raw.startswith("!")
    text = raw[1:] if exclusion else raw
    if exclusion and not text:
        raise DockerignoreError('illegal exclusion pattern: "!"')
    text = clean(text)
    # Go turns the pattern into a regex, but keeps simpler forms for the common cases.
    rx, kind, i, n = ["^"], "exact", 0, len(text)
    pos = 0
    while pos < n:
        ch = text[pos]
        pos += 1
        if ch == "*":
            if pos < n and text[pos] == "*":
                pos += 1
                if pos < n and text[pos] == "/":
                    pos += 1  # "**/" is "**"
                if pos >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        rx.append(".*")
                        kind = "regexp"
                else:
                    rx.append("(.*/)?")
                    kind = "regexp"
                if i == 0:
                    kind = "suffix"
            else:
                rx.append("[^/]*")
                kind = "regexp"
        elif ch == "?":
            rx.append("[^/]")
            kind = "regexp"
        elif ch in _ESCAPE:
            rx.append("\\" + ch)
        elif ch == "\\":
            if pos < n:
                rx.append(re.escape(text[pos]))
                pos += 1
                kind = "regexp"
            else:
                rx.append("\\\\")
        elif ch in "[]":
            rx.append(ch)
            kind = "regexp"
        else:
            rx.append(ch)  # as Go: other characters go into the regex as they are
        i += 1
    regex = None
    if kind == "regexp":
        try:
            regex = re.compile("".join(rx) + r"\Z", re.DOTALL)
        except re.error as e:
            raise DockerignoreError(f"syntax error in pattern {raw!r}: {e}") from None
    return Pattern(text=text, exclusion=exclusion, kind=kind, regex=regex)


class PatternMatcher:
    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [compile_pattern(p.strip()) for p in patterns if p.strip()]

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def matches(self, path: str) -> bool:
        """True when ``path`` (context-relative) is ignored, as Docker's
        MatchesOrParentMatches: a pattern matching a parent directory matches it too."""
        path = clean(path.replace(os.sep, "/")).lstrip("/")
        parent = posixpath.dirname(path) or "."
        parent_dirs = parent.split("/")
        matched = False
        for p in self.patterns:
            # an include that already matched, or an exception with nothing to undo: skip
            if p.exclusion != matched:
                continue
            hit = p.match(path)
            if not hit and parent != ".":
                hit = any(p.match("/".join(parent_dirs[: k + 1])) for k in range(len(parent_dirs)))
            if hit:
                matched = not p.exclusion
        return matched

    def dirs_with_exceptions(self, directory: str) -> bool:
        """Whether an exception pattern could re-include something under ``directory``, so an
        excluded directory must still be walked (Docker does the same check)."""
        d = clean(directory).lstrip("/")
        for p in self.patterns:
            if not p.exclusion:
                continue
            # a pattern under the directory, or any wildcard one (it may reach inside)
            if p.text.startswith(d + "/") or p.kind != "exact":
                return True
        return False


def load(context_dir: str, dockerfile: str | None = None) -> PatternMatcher:
    """The context's ignore rules: ``<Dockerfile>.dockerignore`` beside the Dockerfile wins
    over ``.dockerignore`` at the context root (as BuildKit); none means nothing ignored."""
    candidates = []
    if dockerfile:
        candidates.append(dockerfile + ".dockerignore")
    candidates.append(os.path.join(context_dir, ".dockerignore"))
    for path in candidates:
        try:
            with open(path, "rb") as f:
                return PatternMatcher(read_patterns(f.read()))
        except FileNotFoundError:
            continue
    return PatternMatcher([])
