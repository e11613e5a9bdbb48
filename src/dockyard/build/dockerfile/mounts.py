"""``RUN --mount=type=cache,target=/root/.cache`` -> a mount dict, as BuildKit's runmount.

Fields are comma-separated ``key=value`` (CSV: a field may be quoted to hold a comma).
The result is a plain dict with every key present, so the executor reads it without
guessing defaults:

    type      bind | cache | tmpfs | secret | ssh (default bind)
    target    where it appears in the container (secret/ssh have defaults)
    source    path in the context / the ``from`` stage or image (bind, cache)
    from      a stage name, index or image for bind/cache sources
    readonly  bind defaults to read-only, the others to read-write
    id        cache/secret/ssh identity (cache defaults to target, secret to target's name)
    sharing   shared | private | locked (cache)
    mode uid gid   file mode (octal) and owner (cache, secret, ssh)
    required  secret/ssh must be provided
    size      tmpfs size in bytes
    env       secret exposed as an environment variable
"""

from __future__ import annotations

import csv
import posixpath

from dockyard.build.dockerfile.line_parsers import LineError

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_BOOL = {"true": True, "1": True, "false": False, "0": False}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


def _bool(key: str, value: str | None) -> bool:
    if value is None:
        return True
    try:
        return _BOOL[value.lower()]
    except KeyError:
        raise LineError(f"invalid value for {key}: {value}") from None


def _size(value: str) -> int:
    v = value.strip().lower()
    num = v.rstrip("bkmg")
    unit = v[len(num):]
    if not num.isdigit() or unit not in _SIZE_UNITS:
        raise LineError(f"invalid value for size: {value}")
    return int(num) * _SIZE_UNITS[unit]


def _int(key: str, value: str, base: int = 10) -> int:
    try:
        return int(value, base)
    except ValueError:
        raise LineError(f"invalid value for {key}: {value}") from None


def parse_mount(spec: str, expand=None) -> dict:
    """One ``--mount`` value -> dict; ``expand`` (word -> word) expands each value."""
    fields = next(csv.reader([spec]), [])
    m: dict = {"type": "bind", "target": "", "source": "", "from": "", "readonly": None, "id": "",
               "sharing": "", "mode": None, "uid": None, "gid": None, "required": False, "size": 0, "env": ""}
    # type first: defaults and which keys are allowed depend on it
    for field in fields:
        key, eq, value = field.partition("=")
        if key.strip().lower() == "type":
            if value.lower() not in MOUNT_TYPES:
                raise LineError(f"unsupported mount type {value!r}")
            m["type"] = value.lower()
    for field in fields:
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        val: str | None = value if eq else None
        if val is not None and expand is not None and key != "type":
            val = expand(val)
        if key == "type":
            continue
        if key in ("readonly", "ro"):
            m["readonly"] = _bool(key, val)
        elif key in ("readwrite", "rw"):
            m["readonly"] = not _bool(key, val)
        elif key == "required":
            m["required"] = _bool(key, val)
        elif val is None:
            raise LineError(f"invalid field '{field}' must be a key=value pair")
        elif key in ("target", "dst", "destination"):
            m["target"] = val
        elif key in ("source", "src"):
            m["source"] = val
        elif key == "from":
            m["from"] = val
        elif key == "id":
            m["id"] = val
        elif key == "sharing":
            if val.lower() not in SHARING_MODES:
                raise LineError(f"unsupported sharing value {val!r}")
            m["sharing"] = val.lower()
        elif key == "mode":
            m["mode"] = _int(key, val, 8)
        elif key == "uid":
            m["uid"] = _int(key, val)
        elif key == "gid":
            m["gid"] = _int(key, val)
        elif key == "size" and m["type"] == "tmpfs":
            m["size"] = _size(val)
        elif key == "env" and m["type"] == "secret":
            m["env"] = val
        else:
            raise LineError(f"unexpected key '{key}' in '{field}'")
    kind = m["type"]
    if kind == "secret":
        if not m["target"] and not m["env"]:
            if not m["id"]:
                raise LineError("secret mount requires an id or a target")
            m["target"] = "/run/secrets/" + m["id"]
        if not m["id"] and m["target"]:
            m["id"] = posixpath.basename(m["target"])
    elif kind == "ssh":
        m["id"] = m["id"] or "default"
        m["target"] = m["target"] or "/run/buildkit/ssh_agent.0"
    elif not m["target"]:
        raise LineError(f"mount type {kind} requires a target")
    if kind == "cache":
        m["sharing"] = m["sharing"] or "shared"
        m["id"] = m["id"] or m["target"]
    if m["readonly"] is None:
        m["readonly"] = kind in ("bind", "secret", "ssh")
    if kind in ("tmpfs", "secret", "ssh") and m["from"]:
        raise LineError(f"'from' is not allowed for {kind} mounts")
    if kind in ("secret", "ssh") and m["mode"] is None:
        m["mode"] = 0o400 if kind == "secret" else 0o600
    return m
