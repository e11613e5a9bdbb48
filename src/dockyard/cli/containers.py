"""Container verbs after `run`: ps, logs, stop, kill, wait, exec, top, rename, start, restart,
rm, container prune (and conmon's exit command)."""

from __future__ import annotations

import sys

from .common import _with, option


def _ps_fields(r, containers) -> dict:
    """The fields `docker ps --format` templates and --filter know, for one container."""
    status = f"Exited ({r.exit_code})" if r.state == "exited" else r.state.capitalize()
    meta = containers.meta(r.id)
    return {"ID": r.id[:12], "Image": r.image.removeprefix("sha256:")[:12], "Command": r.command,
            "CreatedAt": r.created, "Status": status, "State": r.state, "Names": r.name,
            "Labels": ",".join(f"{k}={v}" for k, v in (meta.get("labels") or {}).items()),
            "_labels": meta.get("labels") or {}, "_exit": r.exit_code, "_id": r.id}


def _matches(f: dict, filters: list[tuple[str, str]]) -> bool:
    """Docker's ps filters: name, id, status, label (key or key=value), exited; the same key
    given twice means either, different keys all must match."""
    by_key: dict[str, list[str]] = {}
    for k, v in filters:
        by_key.setdefault(k, []).append(v)
    for k, values in by_key.items():
        if k == "name":
            ok = any(v in f["Names"] for v in values)
        elif k == "id":
            ok = any(f["_id"].startswith(v) for v in values)
        elif k == "status":
            ok = any(v == f["State"] for v in values)
        elif k == "exited":
            ok = any(f["_exit"] is not None and str(f["_exit"]) == v for v in values)
        elif k == "label":
            ok = any((v.partition("=")[0] in f["_labels"]) if "=" not in v
                     else f["_labels"].get(v.partition("=")[0]) == v.partition("=")[2] for v in values)
        else:  # the parser accepts only the keys above
            ok = False
        if not ok:
            return False
    return True


def _render(template: str, f: dict) -> str:
    """The `{{.Field}}` subset of Go templates `docker ps --format` users write, plus
    `table` (a header line) and `\\t`."""
    out = template.replace("\\t", "\t")
    for key, value in f.items():
        if not key.startswith("_"):
            out = out.replace("{{.%s}}" % key, str(value)).replace("{{ .%s }}" % key, str(value))
    return out


def cmd_ps(argv: list[str]) -> int:
    from ..engine.lifecycle import refresh
    from ..errors import ConfigError

    all_ = quiet = False
    filters: list[tuple[str, str]] = []
    fmt = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-a", "--all"):
            all_ = True
        elif a in ("-q", "--quiet"):
            quiet = True
        elif a in ("-f", "--filter") or a.startswith("--filter="):
            v = a.split("=", 1)[1] if "=" in a and a.startswith("--filter=") else argv[(i := i + 1)]
            k, eq, val = v.partition("=")
            if not eq:
                raise ConfigError(f"ps --filter {v!r}: expected KEY=VALUE")
            if k not in ("name", "id", "status", "exited", "label"):
                raise ConfigError(f"ps: unknown filter {k!r} (name, id, status, exited, label)")
            filters.append((k, val))
            if k in ("status", "exited"):
                all_ = True  # asking for exited containers implies -a, as docker does
        elif a == "--format" or a.startswith("--format="):
            fmt = a.split("=", 1)[1] if a.startswith("--format=") else argv[(i := i + 1)]
        else:
            raise ConfigError(f"ps: unknown option {a}")
        i += 1

    def go(im, containers):
        for r in containers.list(all_=False):
            refresh(containers, r)
        rows = [f for f in (_ps_fields(r, containers) for r in containers.list(all_=all_)) if _matches(f, filters)]
        if quiet:
            for f in rows:
                print(f["ID"])
        elif fmt:
            template = fmt[len("table"):].strip() if fmt.startswith("table") else fmt
            if fmt.startswith("table"):
                print(_render(template, {k: k.upper() if k != "ID" else "CONTAINER ID" for k in rows[0]} if rows
                              else {k: k.upper() for k in ("ID", "Image", "Command", "Status", "Names")}))
            for f in rows:
                print(_render(template, f))
        else:
            print(f"{'CONTAINER ID':<14} {'IMAGE':<14} {'COMMAND':<24} {'CREATED':<22} {'STATUS':<14} NAMES")
            for f in rows:
                print(f"{f['ID']:<14} {f['Image']:<14} {f['Command'][:22]:<24} {f['CreatedAt']:<22} "
                      f"{f['Status']:<14} {f['Names']}")
        return 0
    return _with(go)


def cmd_rm(argv: list[str]) -> int:
    from ..engine.lifecycle import remove

    force = "-f" in argv or "--force" in argv

    def go(im, c):
        for ref in [x for x in argv if not x.startswith("-")]:
            remove(c, c.get(ref), force=force)
            print(ref)
        return 0
    return _with(go)


def cmd_stop(argv: list[str]) -> int:
    from ..engine.lifecycle import stop

    timeout, refs = option(argv, ("-t", "--time", "--timeout"), convert=float)

    def go(im, c):
        for ref in refs:
            stop(c, c.get(ref), timeout)
            print(ref)
        return 0
    return _with(go)


def cmd_logs(argv: list[str]) -> int:
    from ..engine.lifecycle import logs
    from ..errors import ConfigError

    follow = timestamps = False
    tail, refs, i = None, [], 0
    while i < len(argv):
        a = argv[i]
        if a in ("-f", "--follow"):
            follow = True
        elif a in ("-t", "--timestamps"):
            timestamps = True
        elif a in ("-n", "--tail"):
            i += 1
            tail = None if argv[i] == "all" else int(argv[i])
        elif a.startswith("--tail="):
            v = a.split("=", 1)[1]
            tail = None if v == "all" else int(v)
        else:
            refs.append(a)
        i += 1
    if len(refs) != 1:
        raise ConfigError("logs: exactly one container")
    return _with(lambda im, c: logs(c, c.get(refs[0]), follow=follow, tail=tail, timestamps=timestamps) or 0)


def cmd_exec(argv: list[str]) -> int:
    from ..engine.lifecycle import exec_
    from ..errors import ConfigError

    env, user, workdir, tty, i = [], None, None, False, 0
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        if a in ("-e", "--env"):
            i += 1
            env.append(argv[i])
        elif a in ("-u", "--user"):
            i += 1
            user = argv[i]
        elif a in ("-w", "--workdir"):
            i += 1
            workdir = argv[i]
        elif a in ("-t", "--tty", "-it", "-ti"):
            tty = True
        elif a in ("-i", "--interactive", "-d"):
            if a == "-d":
                raise ConfigError("exec -d is not built yet")
        else:
            raise ConfigError(f"exec: unknown option {a}")
        i += 1
    if len(argv) - i < 2:
        raise ConfigError("exec: CONTAINER and a COMMAND are required")
    return _with(lambda im, c: exec_(c, c.get(argv[i]), argv[i + 1:], env=env, user=user, workdir=workdir, tty=tty))


def cmd_kill(argv: list[str]) -> int:
    from ..engine.lifecycle import kill

    sig, refs = option(argv, ("-s", "--signal"), default="KILL")

    def go(im, c):
        for ref in refs:
            kill(c, c.get(ref), sig)
            print(ref)
        return 0
    return _with(go)


def cmd_wait(argv: list[str]) -> int:
    from ..engine.lifecycle import wait

    def go(im, c):
        for ref in argv:
            print(wait(c, c.get(ref)))
        return 0
    return _with(go)


def cmd_top(argv: list[str]) -> int:
    from ..engine.lifecycle import top

    return _with(lambda im, c: sys.stdout.write(top(c, c.get(argv[0]))) and 0)


def cmd_rename(argv: list[str]) -> int:
    from ..errors import ConfigError

    if len(argv) != 2:
        raise ConfigError("rename: CONTAINER NEW_NAME")
    return _with(lambda im, c: c.rename(c.get(argv[0]).id, argv[1]) or 0)


def cmd_start(argv: list[str]) -> int:
    from ..engine.run import start

    def go(im, c):
        for ref in [x for x in argv if not x.startswith("-")]:
            start(im, c, c.get(ref))
            print(ref)
        return 0
    return _with(go)


def cmd_restart(argv: list[str]) -> int:
    from ..engine.lifecycle import stop
    from ..engine.run import start

    timeout, refs = option(argv, ("-t", "--time", "--timeout"), convert=float)

    def go(im, c):
        for ref in refs:
            stop(c, c.get(ref), timeout)
            start(im, c, c.get(ref))
            print(ref)
        return 0
    return _with(go)


def cmd_container_prune(argv: list[str]) -> int:
    from ..engine.lifecycle import refresh, remove

    def go(im, c):
        for r in c.list():
            r = refresh(c, r)
            if r.state != "running":
                remove(c, r)
                print(f"Deleted: {r.id}")
        return 0
    return _with(go)


def cmd_internal_cleanup(argv: list[str]) -> int:
    """conmon's exit command for `run -d --rm` and restart policies (not for people)."""
    from ..engine.lifecycle import cleanup_after_exit

    return _with(lambda im, c: cleanup_after_exit(im, c, argv[0]) or 0)
