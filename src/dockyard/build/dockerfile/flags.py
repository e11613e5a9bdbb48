"""Instruction flags (``--from=x``, ``--link``, ``--mount=...``), as BuildKit's BFlags.

Each instruction declares the flags it knows; anything else, a missing value, a repeated
single-valued flag or a non-boolean value for a boolean flag is an error naming the flag."""

from __future__ import annotations

from dockyard.build.dockerfile.line_parsers import LineError

_TRUE = ("true", "1", "t", "T", "TRUE", "True")
_FALSE = ("false", "0", "f", "F", "FALSE", "False")


class Flags:
    def __init__(self, raw: list[str], *, strings=(), bools=(), lists=()) -> None:
        self.values: dict[str, str | bool | list[str] | None] = {}
        self.used: set[str] = set()
        kinds = {**{n: "string" for n in strings}, **{n: "bool" for n in bools}, **{n: "list" for n in lists}}
        for name, kind in kinds.items():
            self.values[name] = [] if kind == "list" else (False if kind == "bool" else None)
        for arg in raw:
            if not arg.startswith("--"):
                raise LineError(f"Arg should start with -- : {arg}")
            name, eq, value = arg[2:].partition("=")
            kind = kinds.get(name)
            if kind is None:
                raise LineError(f"unknown flag: {name}")
            if kind != "list" and name in self.used:
                raise LineError(f"Duplicate flag specified: {name}")
            self.used.add(name)
            if kind == "bool":
                if not eq or value in _TRUE:
                    self.values[name] = True
                elif value in _FALSE:
                    self.values[name] = False
                else:
                    raise LineError(f"expecting boolean value for flag {name}, not: {value}")
                continue
            if not eq:
                raise LineError(f"Missing a value on flag: {name}")
            if kind == "list":
                self.values[name].append(value)  # type: ignore[union-attr]
            else:
                self.values[name] = value

    def string(self, name: str) -> str | None:
        return self.values[name]  # type: ignore[return-value]

    def bool(self, name: str) -> bool:
        return bool(self.values[name])

    def list(self, name: str) -> list[str]:
        return list(self.values[name])  # type: ignore[arg-type]
