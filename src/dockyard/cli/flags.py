"""Docker's flag grammar (pflag, interspersed off) for verbs with many flags, like `run`.

Not argparse: argparse imports `re` and builds a parser per call (~5 ms of every
`dockyard run`), and its grammar differs from Docker's — it accepts abbreviations
(`--priv`) and stops at nothing. Docker's rules, which this follows:

- flags come before the first positional argument; everything from there on belongs to the
  command (`run IMAGE -it` passes `-it` to the container); `--` ends the flags;
- long flags take their value as `--name value` or `--name=value`; booleans may be written
  `--rm=true|false`;
- short flags combine (`-dit`); a short flag that takes a value takes the rest of its word
  (`-eA=1`) or the next word (`-e A=1`).
"""

from __future__ import annotations

from ..errors import ConfigError

BOOL, VALUE, LIST = "bool", "value", "list"


class Flags:
    """Parsed flags as attributes (dest names), plus ``positionals`` and ``rest``."""

    def __init__(self, table: dict[str, tuple[str, str, object]]) -> None:
        for dest, kind, default in {v for v in table.values()}:
            setattr(self, dest, [] if kind == LIST else default)
        self.positionals: list[str] = []
        self.rest: list[str] = []


def parse(prog: str, table: dict[str, tuple[str, str, object]], argv: list[str], positionals: int = 1) -> Flags:
    """``table`` maps each spelling ("--name", "-n") to (dest, kind, default); ``positionals``
    words are taken after the flags, the remaining words go to ``rest`` untouched."""
    out = Flags(table)
    i = 0

    def take_value(flag: str, attached: str | None) -> str:
        nonlocal i
        if attached is not None:
            return attached
        if i + 1 >= len(argv):
            raise ConfigError(f"{prog}: flag needs an argument: {flag}")
        i += 1
        return argv[i]

    def store(flag: str, attached: str | None) -> None:
        dest, kind, _ = table[flag]
        if kind == BOOL:
            if attached is None or attached in ("true", "1"):
                setattr(out, dest, True)
            elif attached in ("false", "0"):
                setattr(out, dest, False)
            else:
                raise ConfigError(f"{prog}: invalid argument {attached!r} for {flag}: expected true or false")
        elif kind == LIST:
            getattr(out, dest).append(take_value(flag, attached))
        else:
            setattr(out, dest, take_value(flag, attached))

    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            if name not in table:
                raise ConfigError(f"{prog}: unknown flag: {name}")
            store(name, value if eq else None)
        elif word.startswith("-") and len(word) > 1:
            j = 1
            while j < len(word):
                flag = "-" + word[j]
                if flag not in table:
                    raise ConfigError(f"{prog}: unknown shorthand flag: {word[j]!r} in {word}")
                if table[flag][1] == BOOL:
                    store(flag, None)
                    j += 1
                    continue
                rest = word[j + 1:]
                store(flag, rest.removeprefix("=") if rest else None)
                break
        else:
            break
        i += 1
    words = argv[i:]
    if len(words) < positionals:
        raise ConfigError(f"{prog}: requires at least {positionals} argument{'s' if positionals > 1 else ''}")
    out.positionals, out.rest = words[:positionals], words[positionals:]
    return out
