"""Instructions that change only the image config: ENV, LABEL, WORKDIR, USER, CMD,
ENTRYPOINT, EXPOSE, VOLUME, SHELL, HEALTHCHECK, STOPSIGNAL, ONBUILD, MAINTAINER.

Each is applied to a BuildState (expanded already) and returns the history line BuildKit
writes for it (``created_by``); none makes a layer (``empty_layer``). Docker's rules:
CMD/ENTRYPOINT in shell form run through the stage's SHELL; an ENTRYPOINT clears an
inherited CMD; a relative WORKDIR is relative to the previous one; EXPOSE without a
protocol means tcp.
"""

from __future__ import annotations

import posixpath

from .. import _json as json
from .dockerfile import instructions as i


def _cmd(state, ins: i.ShellCommand) -> list[str] | None:
    if ins.args is None:
        return None
    return state.shell + list(ins.args) if ins.prepend_shell else list(ins.args)


def _shown(ins: i.ShellCommand, argv) -> str:
    return f"{ins.keyword} {json.dumps(argv)}"


def apply(state, ins: i.Instruction) -> str:
    """Change ``state.config`` for ``ins``; return its history ``created_by``."""
    cfg = state.config
    if isinstance(ins, i.Label):  # before Env: Label subclasses it
        labels = dict(cfg.get("Labels") or {})
        for p in ins.pairs:
            labels[p.key] = p.value
        cfg["Labels"] = labels
        return "LABEL " + " ".join(f"{p.key}={p.value}" for p in ins.pairs)
    if isinstance(ins, i.Env):
        for p in ins.pairs:
            state.set_env(p.key, p.value)
        return "ENV " + " ".join(f"{p.key}={p.value}" for p in ins.pairs)
    if isinstance(ins, i.Workdir):
        path = posixpath.normpath(posixpath.join(state.workdir, ins.path))
        cfg["WorkingDir"] = path
        return f"WORKDIR {path}"
    if isinstance(ins, i.User):
        cfg["User"] = ins.user
        return f"USER {ins.user}"
    if isinstance(ins, i.Cmd):
        cfg["Cmd"] = _cmd(state, ins)
        state.cmd_set_in_stage = True
        return _shown(ins, cfg["Cmd"])
    if isinstance(ins, i.Entrypoint):
        cfg["Entrypoint"] = _cmd(state, ins)
        cfg["Cmd"] = None if not state.cmd_set_in_stage else cfg.get("Cmd")
        return _shown(ins, cfg["Entrypoint"])
    if isinstance(ins, i.Expose):
        ports = dict(cfg.get("ExposedPorts") or {})
        for p in ins.ports:
            ports[p if "/" in p else p + "/tcp"] = {}
        cfg["ExposedPorts"] = ports
        return "EXPOSE map[" + " ".join(f"{p}:{{}}" for p in sorted(ports)) + "]"
    if isinstance(ins, i.Volume):
        vols = dict(cfg.get("Volumes") or {})
        for v in ins.volumes:
            vols[v] = {}
        cfg["Volumes"] = vols
        return "VOLUME " + json.dumps(ins.volumes)
    if isinstance(ins, i.Shell):
        cfg["Shell"] = list(ins.shell)
        return "SHELL " + json.dumps(ins.shell)
    if isinstance(ins, i.Healthcheck):
        hc: dict = {"Test": list(ins.test)}
        for key, val in (("Interval", ins.interval), ("Timeout", ins.timeout), ("StartPeriod", ins.start_period),
                         ("StartInterval", ins.start_interval), ("Retries", ins.retries)):
            if val:
                hc[key] = val
        cfg["Healthcheck"] = hc
        return "HEALTHCHECK " + json.dumps(hc, sort_keys=True)
    if isinstance(ins, i.StopSignal):
        cfg["StopSignal"] = ins.signal
        return f"STOPSIGNAL {ins.signal}"
    if isinstance(ins, i.Onbuild):
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), ins.expression]
        return f"ONBUILD {ins.expression}"
    if isinstance(ins, i.Maintainer):
        state.raw_author = ins.maintainer
        return f"MAINTAINER {ins.maintainer}"
    raise TypeError(f"not a metadata instruction: {ins.keyword}")
