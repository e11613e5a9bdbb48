"""Per-instruction argument parsing, as BuildKit's parser/line_parsers.go and split_command.go.

These run before any expansion: quotes and escapes are mostly kept as written (the shell
lexer removes them later, when the instruction is evaluated). Each parser takes the
argument text and returns (first argument node, attributes)."""

from __future__ import annotations

import json
import re

from dockyard.build.dockerfile.ast import Node, chain
from dockyard.build.dockerfile.shell_lex import is_space

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


class LineError(Exception):
    """A parse failure inside one instruction; the parser adds file and line."""


def split_command(line: str) -> tuple[str, list[str], str]:
    """``RUN --mount=x  echo hi`` -> ("RUN", ["--mount=x"], "echo hi")."""
    parts = _WHITESPACE.split(line.strip(" \t\n\r\v\f"), maxsplit=1)
    cmd, args, flags = parts[0], "", []
    if len(parts) == 2:
        args, flags = extract_builder_flags(parts[1])
    return cmd, flags, args.strip(" \t\n\r\v\f")


def extract_builder_flags(line: str) -> tuple[str, list[str]]:
    """Leading ``--name[=value]`` words (quotes and backslashes processed in them); a ``--``
    word ends them. Returns (rest of the line, flags)."""
    words: list[str] = []
    word, quote, blank_ok, in_quote = "", "", False, False
    pos, n = 0, len(line)
    while pos < n:
        ch = line[pos]
        if not word and not in_quote and not blank_ok:  # looking for the start of a word
            if is_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
        if in_quote:
            if ch == quote:
                in_quote = False
            else:
                if ch == "\\":
                    if pos + 1 == n:
                        in_quote = False
                        pos += 1
                        continue
                    pos += 1
                    ch = line[pos]
                word += ch
            pos += 1
            continue
        if is_space(ch):
            if word == "--":
                return line[pos:], words
            if blank_ok or word:
                words.append(word)
            word, blank_ok = "", False
            pos += 1
            continue
        if ch in "'\"":
            quote, blank_ok, in_quote = ch, True, True
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word += ch
        pos += 1
    if word != "--" and (blank_ok or word):
        words.append(word)
    return "", words


def parse_words(rest: str, escape: str) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes in the words."""
    words: list[str] = []
    buf, quote, blank_ok = "", "", False
    phase = "spaces"
    pos, n = 0, len(rest)
    while True:
        at_end = pos >= n
        ch = "" if at_end else rest[pos]
        if phase == "spaces":
            if at_end:
                break
            if is_space(ch):
                pos += 1
                continue
            phase = "word"
        if at_end:
            if blank_ok or buf:
                words.append(buf)
            break
        if phase == "word":
            if is_space(ch):
                phase = "spaces"
                if blank_ok or buf:
                    words.append(buf)
                buf, blank_ok = "", False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue  # an escape at the very end is dropped
                buf += ch  # kept with what it escapes, even a quote
                pos += 1
                ch = rest[pos]
            buf += ch
            pos += 1
            continue
        # in a quote
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":  # nothing escapes inside '...'
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            buf += ch
            pos += 1
            ch = rest[pos]
        buf += ch
        pos += 1
    return words


def _kv(key: str, value: str, sep: str) -> list[str]:
    return [key, value, sep]


def parse_name_val(rest: str, key: str, escape: str) -> Node | None:
    """ENV/LABEL: ``k=v k2="v 2"`` or the legacy ``k the rest of the line``."""
    words = parse_words(rest, escape)
    if not words:
        return None
    if "=" not in words[0]:  # legacy form: the first space separates key and value
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise LineError(f"{key} must have two arguments")
        return chain(_kv(parts[0], parts[1], ""))
    values: list[str] = []
    for word in words:
        if "=" not in word:
            raise LineError(f"Syntax error - can't find = in {json.dumps(word)}. Must be of the form: name=value")
        k, _, v = word.partition("=")
        values += _kv(k, v, "=")
    return chain(values)


def parse_env(rest: str, escape: str):
    return parse_name_val(rest, "ENV", escape), {}


def parse_label(rest: str, escape: str):
    return parse_name_val(rest, "LABEL", escape), {}


def parse_name_or_name_val(rest: str, escape: str):
    """ARG: words, each ``name`` or ``name=value`` (quotes kept)."""
    return chain(parse_words(rest, escape)), {}


def parse_strings_whitespace_delimited(rest: str, escape: str):
    if rest == "":
        return None, {}
    return chain(_WHITESPACE.split(rest)), {}


def parse_string(rest: str, escape: str):
    if rest == "":
        return None, {}
    return Node(value=rest), {}


def parse_ignore(rest: str, escape: str):
    # BuildKit's parser keeps unknown instructions (with no arguments); the instruction
    # layer rejects them with the line they were on.
    return Node(), {}


class _NotJSON(Exception):
    pass


def _reject_constant(name: str):
    raise _NotJSON(name)  # NaN/Infinity are not JSON to Go


def parse_json(rest: str) -> tuple[Node | None, dict[str, bool]]:
    rest = rest.lstrip(" \t\n\r\v\f")
    if not rest.startswith("["):
        raise _NotJSON("not a JSON array")
    try:
        data = json.loads(rest, parse_constant=_reject_constant)
    except ValueError as e:
        raise _NotJSON(str(e)) from None
    if not isinstance(data, list):
        raise _NotJSON("not a JSON array")
    if not all(isinstance(x, str) for x in data):
        raise LineError("when using JSON array syntax, arrays must be comprised of strings only")
    return chain(data), {"json": True}


def parse_maybe_json(rest: str, escape: str):
    """Exec form if the text is a JSON array of strings, else the whole text (shell form)."""
    if rest == "":
        return None, {}
    try:
        return parse_json(rest)
    except _NotJSON:
        return Node(value=rest), {}


def parse_maybe_json_to_list(rest: str, escape: str):
    """COPY/ADD/VOLUME: a JSON array, else whitespace-separated words."""
    try:
        return parse_json(rest)
    except _NotJSON:
        return parse_strings_whitespace_delimited(rest, escape)


def parse_health_config(rest: str, escape: str):
    """HEALTHCHECK: a type word (CMD, NONE, ...) then, like CMD, JSON or shell form."""
    sep = 0
    while sep < len(rest) and not is_space(rest[sep]):
        sep += 1
    nxt = sep
    while nxt < len(rest) and is_space(rest[nxt]):
        nxt += 1
    if sep == 0:
        return None, {}
    cmd, attrs = parse_maybe_json(rest[nxt:], escape)
    return Node(value=rest[:sep], next=cmd), attrs


def parse_sub_command(rest: str, escape: str, make_node):
    """ONBUILD: the rest is an instruction of its own, as a child."""
    if rest == "":
        return None, {}
    return Node(children=[make_node(rest)]), {}


DISPATCH = {
    "add": parse_maybe_json_to_list,
    "arg": parse_name_or_name_val,
    "cmd": parse_maybe_json,
    "copy": parse_maybe_json_to_list,
    "entrypoint": parse_maybe_json,
    "env": parse_env,
    "expose": parse_strings_whitespace_delimited,
    "from": parse_strings_whitespace_delimited,
    "healthcheck": parse_health_config,
    "label": parse_label,
    "maintainer": parse_string,
    "run": parse_maybe_json,
    "shell": parse_maybe_json,
    "stopsignal": parse_string,
    "user": parse_string,
    "volume": parse_maybe_json_to_list,
    "workdir": parse_string,
}
