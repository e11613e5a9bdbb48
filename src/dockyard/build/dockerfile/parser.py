"""Dockerfile text -> parse tree, as BuildKit's frontend/dockerfile/parser.Parse.

Line handling, in BuildKit's order:

1. parser directives (``# escape=``` ``, ``# syntax=...``, ``# check=...``) count only in the
   leading run of lines of that exact shape: the first line that is anything else (an
   instruction, an empty line, another comment) ends the directives; a repeated one is an
   error. ``escape`` switches the escape/continuation character to ````` (Windows style).
2. a line whose last non-blank character is the escape character continues on the next
   line; inside a continuation, comment lines are dropped and empty lines are skipped
   (BuildKit warns about those), and continuation lines keep their leading whitespace;
3. comment lines (``#`` first, after leading whitespace) are dropped; the comments right
   above an instruction are kept with it (``prev_comment``);
4. the joined line is split into keyword, ``--flags`` and arguments, and the arguments are
   parsed by the keyword's own rules (line_parsers.py);
5. RUN/COPY/ADD lines with ``<<NAME`` words then read their heredoc bodies from the
   following lines, up to a line that is exactly NAME (tabs first stripped for ``<<-``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dockyard.build.dockerfile import line_parsers
from dockyard.build.dockerfile.ast import Node
from dockyard.build.dockerfile.errors import DockerfileSyntaxError, ExpansionError
from dockyard.build.dockerfile.heredoc import can_contain_heredoc, heredocs_from_line

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
VALID_DIRECTIVES = ("escape", "syntax", "check")
DEFAULT_ESCAPE = "\\"
_SPACE = " \t\n\r\v\f\x85\xa0"


@dataclass
class ParseResult:
    root: Node
    escape: str = DEFAULT_ESCAPE
    directives: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    filename: str = "Dockerfile"

    @property
    def children(self) -> list[Node]:
        return self.root.children

    def dump(self) -> str:
        return self.root.dump() + "\n"


class _Directives:
    def __init__(self) -> None:
        self.escape = DEFAULT_ESCAPE
        self.continuation = _continuation_regex(DEFAULT_ESCAPE)
        self.done = False
        self.seen: dict[str, str] = {}

    def possible_directive(self, line: str) -> None:
        if self.done:
            return
        m = _DIRECTIVE.match(line)
        if not m or m.group(1).lower() not in VALID_DIRECTIVES:
            self.done = True  # the first non-directive line ends them, comments included
            return
        key, value = m.group(1).lower(), m.group(2)
        if key in self.seen:
            raise line_parsers.LineError(f"only one {key} parser directive can be used")
        self.seen[key] = value
        if key == "escape":
            if value not in ("`", "\\"):
                raise line_parsers.LineError(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self.continuation = _continuation_regex(value)


def _continuation_regex(escape: str) -> re.Pattern[str]:
    # The escape char as the last non-blank character continues the line, unless it is
    # itself escaped (Go's regexp has no look-behind; BuildKit's rule is this one).
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    if d.continuation.search(line):
        return d.continuation.sub(lambda m: m.group(1) or "", line), False
    return line, True


def _is_comment(raw: str) -> bool:
    return raw.rstrip("\r\n").lstrip(_SPACE).startswith("#")


def _process_line(d: _Directives, raw: str, strip_left: bool) -> str:
    token = raw.rstrip("\r\n")
    if strip_left:
        token = token.lstrip(_SPACE)
    d.possible_directive(token)
    return "" if token.startswith("#") else token


def _split_lines(text: str) -> list[str]:
    """Lines with their endings, split on \n only (as Go's scanner; str.splitlines would
    also split on \r, \v, \f and Unicode separators inside an instruction)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def node_from_line(line: str, escape: str, comments: list[str] | None = None) -> Node:
    """One (joined) instruction line -> its node; raises line_parsers.LineError."""
    cmd, flags, args = line_parsers.split_command(line)
    kw = cmd.lower()
    if kw == "onbuild":
        nxt, attrs = line_parsers.parse_sub_command(args, escape, lambda rest: node_from_line(rest, escape))
    else:
        fn = line_parsers.DISPATCH.get(kw, line_parsers.parse_ignore)
        nxt, attrs = fn(args, escape)
    return Node(value=cmd, original=line, line=line, flags=flags, next=nxt, attributes=attrs or {},
                prev_comment=list(comments or []))


def parse(text: str | bytes, filename: str = "Dockerfile") -> ParseResult:
    """Parse a Dockerfile. Raises DockerfileSyntaxError with the file, line and text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="surrogateescape")
    text = text.removeprefix("\ufeff")
    lines = _split_lines(text)
    d = _Directives()
    root = Node(start_line=-1)
    warnings: list[str] = []
    comments: list[str] = []
    i = 0  # index of the next line to read; the current line number is i after reading

    def fail(reason: str, start: int, end: int | None = None, text_: str | None = None):
        return DockerfileSyntaxError(reason, filename=filename, line=start or None, end_line=end, text=text_)

    while i < len(lines):
        raw = lines[i]
        if _is_comment(raw):
            comment = raw.rstrip("\r\n").lstrip(_SPACE)[1:].strip(_SPACE)
            comments = comments + [comment] if comment else []
        try:
            first = _process_line(d, raw, True)
        except line_parsers.LineError as e:
            raise fail(str(e), i + 1, text_=raw) from None
        i += 1
        start = i
        line, end_of_line = _trim_continuation(first, d)
        if end_of_line and line == "":
            continue
        parts = [line]
        empty_continuation = False
        while not end_of_line and i < len(lines):
            raw = lines[i]
            try:
                cont = _process_line(d, raw, False)
            except line_parsers.LineError as e:
                raise fail(str(e), i + 1, text_=raw) from None
            i += 1
            if _is_comment(raw):
                continue  # a comment inside a continuation is dropped, the line goes on
            if cont.lstrip(_SPACE) == "":
                empty_continuation = True
                continue
            cont, end_of_line = _trim_continuation(cont, d)
            parts.append(cont)
        line = "".join(parts)
        if empty_continuation:
            warnings.append(f"line {start}: empty continuation line found in: {line}")
        original = "".join(lines[start - 1 : i]).rstrip("\r\n")
        try:
            child = node_from_line(line, d.escape, comments)
        except line_parsers.LineError as e:
            raise fail(str(e), start, i, original) from None
        child.original = original
        if can_contain_heredoc(child) and "<<" in line:
            try:
                docs = heredocs_from_line(line)
            except ExpansionError as e:
                raise fail(str(e), start, i, original) from None
            for doc in docs:
                terminated = False
                while i < len(lines):
                    body = lines[i]
                    i += 1
                    candidate = body.rstrip("\r\n")
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    doc.content += body
                if not terminated:
                    raise fail("unterminated heredoc", start, i, original)
                child.heredocs.append(doc)
            child.original = "".join(lines[start - 1 : i]).rstrip("\r\n")
        child.start_line, child.end_line = start, i
        if root.start_line < 0:
            root.start_line = start
        root.end_line = i
        root.children.append(child)
        comments = []
    if root.start_line < 0:
        raise DockerfileSyntaxError("file with no instructions", filename=filename)
    return ParseResult(root=root, escape=d.escape, directives=dict(d.seen), warnings=warnings, filename=filename)
