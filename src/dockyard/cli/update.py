"""`dockyard update`: Docker's flags -> engine/update.py, for each container named."""

from __future__ import annotations

import sys

from .common import _size, _with

_FLAGS = {}
for _names, _spec in ((("-m", "--memory"), ("memory", "value", None)), (("--memory-swap",), ("memory_swap", "value", None)),
                      (("--cpus",), ("cpus", "value", None)), (("-c", "--cpu-shares"), ("cpu_shares", "value", None)),
                      (("--cpuset-cpus",), ("cpuset_cpus", "value", None)),
                      (("--pids-limit",), ("pids_limit", "value", None)), (("--restart",), ("restart", "value", None))):
    for _n in _names:
        _FLAGS[_n] = _spec


def _convert(value, flag: str, convert):
    from ..errors import ConfigError

    if value is None:
        return None
    try:
        return convert(value)
    except (ValueError, ConfigError):
        raise ConfigError(f"update: invalid argument {value!r} for {flag}") from None


def cmd_update(argv: list[str]) -> int:
    from ..engine.update import update
    from ..errors import DockyardError
    from .flags import parse

    a = parse("update", _FLAGS, argv)
    refs = a.positionals + a.rest
    limits = {"memory": _convert(a.memory, "--memory", _size),
              "memory_swap": _convert(a.memory_swap, "--memory-swap", lambda v: -1 if v == "-1" else _size(v)),
              "cpus": _convert(a.cpus, "--cpus", float), "cpu_shares": _convert(a.cpu_shares, "--cpu-shares", int),
              "cpuset_cpus": a.cpuset_cpus, "pids_limit": _convert(a.pids_limit, "--pids-limit", int)}

    def go(im, containers):
        failed = 0
        for ref in refs:
            try:
                update(containers, containers.get(ref), restart=a.restart, **limits)
                print(ref)
            except DockyardError as e:  # as docker: each container reported, exit 1 if any failed
                sys.stderr.write(f"dockyard: {e}\n")
                failed = 1
        return failed
    return _with(go)
