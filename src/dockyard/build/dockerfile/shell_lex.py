"""Variable expansion and word splitting as BuildKit's shell lexer (frontend/dockerfile/shell).

Not a shell: there is no command substitution, globbing or arithmetic. What it does, in
BuildKit's order and with its quirks (the BuildKit fixtures ``envVarTest`` and ``wordsTest``
pin them down):

- quotes: ``'...'`` is literal (no escapes at all); ``"..."`` expands ``$`` and lets the
  escape character escape only ``"``, ``$`` and itself (any other escape stays as typed);
- outside quotes the escape character escapes anything; a trailing one is dropped;
- ``$NAME``, ``${NAME}``, positional/special parameters (``$1``, ``$@``, ...) are never set
  in a Dockerfile and expand to nothing; a lone ``$`` stays;
- ``${N:-w}`` ``${N-w}`` ``${N:+w}`` ``${N+w}`` ``${N:?msg}`` ``${N?msg}`` (``:`` = empty counts
  as unset), ``${N#pat}`` ``${N##pat}`` ``${N%pat}`` ``${N%%pat}`` (``*`` and ``?`` wildcards),
  ``${N/pat/repl}`` ``${N//pat/repl}``; anything else (``${N:=w}``) is an error;
- ``process_words`` splits on whitespace *after* expansion, but only whitespace that came
  from unquoted text or from a ``$`` expansion, so ``"a b"`` stays one word.

Flags mirror BuildKit's ``Lex`` fields: ``raw_quotes`` keeps the quote characters,
``raw_escapes`` keeps escape characters, ``skip_unset_env`` leaves references to unset
variables as written (used to find heredoc names without expanding anything).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dockyard.build.dockerfile.errors import ExpansionError

_EOF = ""  # the scanner's end marker (a real character is never empty)


def is_space(ch: str) -> bool:
    """Go's unicode.IsSpace (Python's str.isspace also counts \\x1c-\\x1f)."""
    if ch in "\t\n\v\f\r \x85\xa0":
        return True
    return ord(ch) > 0xFF and ch.isspace()


def env_getter(env: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """A mapping from either a mapping or ``KEY=VALUE`` strings (the last one wins, as
    BuildKit's EnvsFromSlice; a bare ``KEY`` means set and empty)."""
    if env is None:
        return {}
    if isinstance(env, Mapping):
        return dict(env)
    out: dict[str, str] = {}
    for item in env:
        k, _, v = item.partition("=")
        out[k] = v
    return out


@dataclass
class ExpansionResult:
    result: str
    words: list[str]
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


class ShellLex:
    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset_env: bool = False,
        skip_process_quotes: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset_env = skip_unset_env
        self.skip_process_quotes = skip_process_quotes

    def process_word(self, word: str, env=None) -> str:
        """Expand ``word`` into one string (spaces between words kept)."""
        return self.process(word, env).result

    def process_words(self, word: str, env=None) -> list[str]:
        """Expand ``word`` and split it into words as the shell would."""
        return self.process(word, env).words

    def process(self, word: str, env=None) -> ExpansionResult:
        sw = _ShellWord(self, word, env_getter(env))
        try:
            result, words = sw.process_stop_on(_EOF, self.raw_escapes)
        except ExpansionError as e:
            raise ExpansionError(f"failed to process {go_quote(word)}: {e}") from None
        return ExpansionResult(result, words, sw.matches, sw.unmatched)


class _Words:
    """Collects words: unquoted whitespace ends a word, quoted text never does."""

    def __init__(self) -> None:
        self.buf = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.buf:
                self.words.append(self.buf)
                self.buf = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.buf += s
        self.in_word = True

    def get_words(self) -> list[str]:
        if self.buf:
            self.words.append(self.buf)
            self.buf = ""
            self.in_word = False
        return self.words


class _ShellWord:
    def __init__(self, lex: ShellLex, text: str, env: dict[str, str]) -> None:
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matches: set[str] = set()
        self.unmatched: set[str] = set()

    # -- scanner ----------------------------------------------------------------------
    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos >= len(self.text):
            return _EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    # -- grammar ----------------------------------------------------------------------
    def process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Process up to ``stop`` (consumed) or the end; returns (joined, words)."""
        result: list[str] = []
        words = _Words()
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            while self.peek() != _EOF:
                ch = self.peek()
                if stop != _EOF and ch == stop:
                    self.next()
                    return "".join(result), words.get_words()
                if ch == "$":
                    tmp = self.process_dollar()
                    result.append(tmp)
                    words.add_string(tmp)  # an expansion's whitespace splits words
                    continue
                if ch in "'\"" and not self.lex.skip_process_quotes:
                    tmp = self.single_quote() if ch == "'" else self.double_quote()
                    result.append(tmp)
                    words.add_raw_string(tmp)
                    continue
                ch = self.next()
                if ch == self.lex.escape:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self.next()  # escapes anything, except the end of the text
                    if ch == _EOF:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
            if stop != _EOF:
                raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.get_words()
        finally:
            self.raw_escapes = saved

    def single_quote(self) -> str:
        # Everything up to the next ' is literal: a ' cannot be escaped inside.
        out = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ExpansionError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        # Literal except $, and the escape char before " $ or itself (sh's rule, minus `).
        out = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            p = self.peek()
            if p == _EOF:
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            if p == '"':
                ch = self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if p == "$":
                out.append(self.process_dollar())
                continue
            ch = self.next()
            if ch == self.lex.escape:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if nxt == _EOF:
                    continue  # a trailing escape is dropped
                if nxt in ('"', "$", self.lex.escape):
                    ch = self.next()
            out.append(ch)

    def process_dollar(self) -> str:
        self.next()  # the $
        if self.peek() != "{":
            name = self.process_name()
            if name == "":
                return "$"
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value

        self.next()  # the {
        p = self.peek()
        if p == _EOF:
            raise ExpansionError("syntax error: missing '}'")
        if p in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.process_name()
        ch = self.next()
        chs = ch
        null_is_unset = False
        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch
        if null_is_unset or (ch != "" and ch in "+-?#%"):
            raw = ch in "#%"  # patterns keep their escapes: \* is a literal star
            if null_is_unset and raw:
                raise ExpansionError(f"unsupported modifier ({chs}) in substitution")
            try:
                word, _ = self.process_stop_on("}", raw)
            except ExpansionError:
                if self.peek() == _EOF:
                    raise ExpansionError("syntax error: missing '}'") from None
                raise
            value, found = self.get_env(name)
            if self.lex.skip_unset_env and not found:
                return "${" + name + chs + word + "}"
            unset = not found or (null_is_unset and value == "")
            if ch == "-":
                return word if unset else value
            if ch == "+":
                return "" if unset else word
            if ch == "?":
                if not found:
                    raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            if ch == "" or ch not in "#%":
                raise ExpansionError(f"unsupported modifier ({chs}) in substitution")
            greedy = word[:1] == ch  # ## and %% match the longest
            if greedy:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        if ch == "/":
            replace_all = self.peek() == "/"
            if replace_all:
                self.next()
            try:
                pattern, _ = self.process_stop_on("/", True)
            except ExpansionError:
                if self.peek() == _EOF:
                    raise ExpansionError("syntax error: missing '/' in ${}") from None
                raise
            try:
                repl, _ = self.process_stop_on("}", True)
            except ExpansionError:
                if self.peek() == _EOF:
                    raise ExpansionError("syntax error: missing '}'") from None
                raise
            value, found = self.get_env(name)
            if self.lex.skip_unset_env and not found:
                return "${" + name + "/" + pattern + "/" + repl + "}"
            rx = _pattern_regex(pattern, greedy=True, anchored=False)
            if replace_all:
                return rx.sub(lambda _m: repl, value)
            return rx.sub(lambda _m: repl, value, count=1)
        raise ExpansionError(f"unsupported modifier ({chs or 'EOF'}) in substitution")

    def process_name(self) -> str:
        # Letters, digits and _; a leading digit reads all digits ($10 is one
        # positional parameter); a special parameter ($@ $* $# $? $- $$ $! $0) is one char.
        name: list[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not name and ch.isdecimal():
                while self.peek() != _EOF and self.peek().isdecimal():
                    name.append(self.next())
                return "".join(name)
            if not name and ch in "@*#?-$!0":
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            name.append(self.next())
        return "".join(name)

    def get_env(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matches.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (``*``, ``?``, ``\\`` escapes; no brackets) as a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue  # the escape only protected ${}'s own delimiters
            if nxt not in ("*", "?", "\\"):
                raise ExpansionError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            out.append(re.escape(nxt))
            i += 1
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[m.end():] if m else value


def _reverse_pattern(pattern: str) -> str:
    # Reverse, keeping each escape in front of the character it escapes.
    tokens, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i : i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex finds the leftmost match, so the shortest/longest *suffix* is found by
    # matching the reversed pattern against the reversed value.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def go_quote(s: str) -> str:
    """Go's strconv.Quote: what BuildKit's messages and parse-tree dumps print."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x7F or ch.isprintable():
            out.append(ch)
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
