"""`dockyard attach`: the terminal to a detached container's stdio (engine/attach.py)."""

from __future__ import annotations

import sys

from .common import _with

USAGE = "attach [--no-stdin] [--sig-proxy=true|false] [--detach-keys KEYS] CONTAINER"


def _bool(option: str, value: str) -> bool:
    from ..errors import ConfigError

    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ConfigError(f"attach {option}: expected true or false, not {value!r}")


def cmd_attach(argv: list[str]) -> int:
    from ..engine.attach import DEFAULT_DETACH_KEYS, attach
    from ..errors import ConfigError

    stdin, sig_proxy, keys, refs, i = True, True, DEFAULT_DETACH_KEYS, [], 0
    while i < len(argv):
        a = argv[i]
        name, eq, value = a.partition("=")
        if a == "--no-stdin":
            stdin = False
        elif name == "--sig-proxy":
            sig_proxy = _bool(name, value) if eq else True
        elif name == "--detach-keys":
            if not eq:
                if i + 1 >= len(argv):
                    raise ConfigError("attach: --detach-keys needs a value")
                value, i = argv[i + 1], i + 1
            keys = value
        elif a.startswith("-"):
            raise ConfigError(f"attach: unknown option {a} (usage: dockyard {USAGE})")
        else:
            refs.append(a)
        i += 1
    if len(refs) != 1:
        raise ConfigError(f"attach: exactly one container (usage: dockyard {USAGE})")

    def go(im, c):
        code = attach(c, c.get(refs[0]), stdin=stdin, sig_proxy=sig_proxy, detach_keys=keys)
        if code is None:  # detached, the container runs on: what docker says and returns
            sys.stderr.write("read escape sequence\n")
            return 1
        return code
    return _with(go)
