"""Container verbs after `run`: ps, logs, stop, kill, wait, exec, top, rename, start, restart,
rm, container prune (and conmon's exit command)."""

from __future__ import annotations

import sys

from .common import _stores, _with


def cmd_ps(argv: list[str]) -> int:
    from ..engine.lifecycle import refresh

    images, containers = _stores()
    try:
        for r in containers.list(all_=False):
            refresh(containers, r)
        rows = containers.list(all_="-a" in argv or "--all" in argv)
        if "-q" in argv or "--quiet" in argv:
            for r in rows:
                print(r.id[:12])
            return 0
        print(f"{'CONTAINER ID':<14} {'IMAGE':<14} {'COMMAND':<24} {'CREATED':<22} {'STATUS':<14} NAMES")
        for r in rows:
            status = f"Exited ({r.exit_code})" if r.state == "exited" else r.state.capitalize()
            print(f"{r.id[:12]:<14} {r.image.removeprefix('sha256:')[:12]:<14} {r.command[:22]:<24} "
                  f"{r.created:<22} {status:<14} {r.name}")
    finally:
        images.close()
        containers.close()
    return 0


def cmd_rm(argv: list[str]) -> int:
    from ..engine.lifecycle import remove

    force = "-f" in argv or "--force" in argv
    images, containers = _stores()
    try:
        for ref in [x for x in argv if not x.startswith("-")]:
            remove(containers, containers.get(ref), force=force)
            print(ref)
    finally:
        images.close()
        containers.close()
    return 0


def cmd_stop(argv: list[str]) -> int:
    from ..engine.lifecycle import stop

    timeout, refs, i = None, [], 0
    while i < len(argv):
        if argv[i] in ("-t", "--time", "--timeout"):
            i += 1
            timeout = float(argv[i])
        else:
            refs.append(argv[i])
        i += 1
    images, containers = _stores()
    try:
        for ref in refs:
            stop(containers, containers.get(ref), timeout)
            print(ref)
    finally:
        images.close()
        containers.close()
    return 0


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
    images, containers = _stores()
    try:
        logs(containers, containers.get(refs[0]), follow=follow, tail=tail, timestamps=timestamps)
    finally:
        images.close()
        containers.close()
    return 0


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

    sig, refs, i = "KILL", [], 0
    while i < len(argv):
        if argv[i] in ("-s", "--signal"):
            i += 1
            sig = argv[i]
        else:
            refs.append(argv[i])
        i += 1

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

    timeout, refs, i = None, [], 0
    while i < len(argv):
        if argv[i] in ("-t", "--time"):
            i += 1
            timeout = float(argv[i])
        else:
            refs.append(argv[i])
        i += 1

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
    """conmon's exit command for `run -d --rm` (not for people)."""
    from ..engine.lifecycle import cleanup_after_exit

    images, containers = _stores()
    try:
        cleanup_after_exit(images, containers, argv[0])
    finally:
        images.close()
        containers.close()
    return 0
