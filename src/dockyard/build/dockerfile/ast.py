"""The parse tree, shaped as BuildKit's ``parser.Node`` so its fixtures' dumps compare 1:1.

A Dockerfile parses to a root node whose ``children`` are the instructions. An instruction
node holds the keyword (``value``, as written), its ``--flags`` and a chain of argument
nodes through ``next`` (``FROM a AS b`` -> from -> "a" -> "AS" -> "b"). ONBUILD's argument is
a node whose single child is the triggered instruction. ENV and LABEL chain
key, value, separator triples (separator ``=`` or ``""`` for the legacy ``ENV k v`` form).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.build.dockerfile.shell_lex import go_quote


@dataclass
class Heredoc:
    """A here-document attached to RUN/COPY/ADD: ``<<EOF`` ... ``EOF``.

    ``expand`` is False when any part of the name was quoted (``<<"EOF"``): its content is
    then taken literally. ``chomp`` (``<<-EOF``) strips leading tabs from the content lines.
    ``content`` is kept raw, with newlines; ``chomped_content()`` applies ``chomp``."""

    name: str
    file_descriptor: int = 0
    expand: bool = True
    chomp: bool = False
    content: str = ""

    def chomped_content(self) -> str:
        if not self.chomp:
            return self.content
        # BuildKit's (?m)^\t+ : leading tabs of every line, split on \n only
        return "\n".join(line.lstrip("\t") for line in self.content.split("\n"))


@dataclass
class Node:
    value: str = ""
    next: Node | None = None
    children: list[Node] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)
    attributes: dict[str, bool] = field(default_factory=dict)
    original: str = ""  # the instruction's text as written (all its lines, heredocs too)
    line: str = ""  # the logical line: continuations joined, comments dropped
    flags: list[str] = field(default_factory=list)
    start_line: int = 0
    end_line: int = 0
    prev_comment: list[str] = field(default_factory=list)

    @property
    def keyword(self) -> str:
        """The instruction, lower case (``run``)."""
        return self.value.lower()

    @property
    def is_json(self) -> bool:
        return bool(self.attributes.get("json"))

    def args(self) -> list[str]:
        """The values of the argument chain (``next``), in order."""
        out, n = [], self.next
        while n is not None:
            out.append(n.value)
            n = n.next
        return out

    def dump(self) -> str:
        """BuildKit's ``Node.Dump()`` (the testfiles' ``result`` format)."""
        s = self.value.lower()
        if self.flags:
            s += " [" + " ".join(go_quote(f) for f in self.flags) + "]"
        for child in self.children:
            s += "(" + child.dump() + ")\n"
        n = self.next
        while n is not None:
            s += " " + (n.dump() if n.children else go_quote(n.value))
            n = n.next
        return s.strip(" \t\n\r\v\f")


def chain(values: list[str]) -> Node | None:
    """Argument nodes linked through ``next``."""
    head: Node | None = None
    for v in reversed(values):
        head = Node(value=v, next=head)
    return head
