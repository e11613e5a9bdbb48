"""JSON through the C accelerator ``_json`` alone.

``import json`` pulls in ``json.decoder``, which imports ``re`` (and with it ``enum``,
``functools``...): about 7 ms on every `dockyard-runtime` start, more than the rest of the
hot path's imports together. The C scanner and encoder that ``json`` itself uses need none
of that. Same results as ``json.loads``/``json.dumps`` (compact, ASCII-escaped), and
errors are ValueError like json's. Pretty printing for people stays with ``json``.
"""

from __future__ import annotations

import _json

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
_WS = " \t\n\r"


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan = _json.make_scanner(_Context())


def _default(o):
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


_encode = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ":", ",", False, False, True)
_encode_sorted = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ":", ",", True, False, True)


def loads(s: str | bytes):
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("utf-8")
    start = len(s) - len(s.lstrip(_WS))
    try:
        obj, end = _scan(s, start)
    except StopIteration as e:
        raise ValueError(f"expecting a value at {_where(s, e.value)}") from None
    except SystemError:
        # The C scanner reports errors with json.decoder.JSONDecodeError, which it only
        # finds once json.decoder is imported: import it now (errors only) for the message.
        import json

        json.loads(s)
        raise
    if s[end:].strip(_WS):
        raise ValueError(f"extra data at {_where(s, end)}")
    return obj


def _where(s: str, i: int) -> str:
    line = s.count("\n", 0, i) + 1
    return f"line {line} column {i - s.rfind(chr(10), 0, i)}"


def dumps(obj, sort_keys: bool = False) -> str:
    """Compact JSON; ``sort_keys`` gives one canonical text per value (for hashing)."""
    return "".join((_encode_sorted if sort_keys else _encode)(obj, 0))
