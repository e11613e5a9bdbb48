"""Finding here-documents on an instruction line, as BuildKit's parser does.

Only RUN, COPY and ADD in shell form (and those as an ONBUILD trigger) take heredocs. The
line is split into words with quotes and escapes kept and no variables expanded; every word
shaped ``[n]<<[-]NAME`` opens one heredoc, read in order from the following lines."""

from __future__ import annotations

import re

from dockyard.build.dockerfile.ast import Heredoc, Node
from dockyard.build.dockerfile.errors import ExpansionError
from dockyard.build.dockerfile.shell_lex import ShellLex

_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$", re.DOTALL)

HEREDOC_INSTRUCTIONS = frozenset({"add", "copy", "run"})
HEREDOC_COMPOUND = frozenset({"onbuild"})


def can_contain_heredoc(node: Node) -> bool:
    if node.keyword in HEREDOC_COMPOUND and node.next is not None and node.next.children:
        node = node.next.children[0]
    return node.keyword in HEREDOC_INSTRUCTIONS and not node.is_json


def parse_heredoc(word: str) -> Heredoc | None:
    """``<<EOF`` -> Heredoc("EOF"); ``<<-"EOF"`` -> chomp, no expansion; else None."""
    m = _HEREDOC.match(word)
    if not m or not m.group(3):
        return None
    fd = int(m.group(1)) if m.group(1) else 0
    rest = m.group(3)
    lex = ShellLex("\\", skip_unset_env=True)
    words = lex.process_words(rest)
    if len(words) != 1:
        return None
    lex.raw_quotes = True
    raw = lex.process_words(rest)
    if len(raw) != len(words):
        raise ExpansionError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    # Any quoted part of the name (<<"EOF", <<E'O'F) means "do not expand the content":
    # with quotes kept, the word has more quote characters than without.
    quotes = lambda w: w.count("'") + w.count('"')
    return Heredoc(name=words[0], file_descriptor=fd, expand=quotes(words[0]) == quotes(raw[0]),
                   chomp=m.group(2) == "-")


def heredocs_from_line(line: str) -> list[Heredoc]:
    lex = ShellLex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process_words(line)
    except ExpansionError:
        words = []  # BuildKit ignores the error here: such a line simply has no heredoc
    docs = []
    for word in words:
        doc = parse_heredoc(word)
        if doc is not None:
            docs.append(doc)
    return docs
