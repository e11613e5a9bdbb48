"""`dockyard`: the Docker-style front end. Parses, calls the engine, prints — no behaviour
lives here. Verbs not built yet say so and which issue tracks them."""

from __future__ import annotations

import os
import sys

NOT_YET = {
    "volume": 3, "attach": 3, "cp": 3,
    "stats": 6, "update": 6, "pull": 4, "push": 4, "login": 4, "build": 5, "network": 6, "compare": 8, "vm": 7,
}

USAGE = """usage: dockyard COMMAND [ARGS...]

commands:
  run [OPTIONS] IMAGE [COMMAND...]   run a container (-d: detached, held by conmon)
        -d  --rm  --name N  -e K=V  -w DIR  -u USER  --entrypoint CMD  --hostname H  -t
        --read-only  --privileged  --cap-add C  --cap-drop C  --security-opt no-new-privileges
        --security-opt seccomp=unconfined  --memory N  --cpus N  --pids-limit N  --tmpfs PATH
        -v HOST:CONTAINER[:ro]  --env-file F  --ulimit N=S[:H]  --label K=V  --stop-signal S  --stop-timeout N
  images                             list images
  ps [-a] [-q]                       list containers
  logs [-f] [--tail N] [-t] CONTAINER
  stop [-t SECONDS] CONTAINER...     SIGTERM, then SIGKILL after the timeout (default 10)
  exec [-i] [-t] [-e K=V] [-u USER] [-w DIR] CONTAINER COMMAND...
  kill [-s SIGNAL] CONTAINER...      default SIGKILL
  wait CONTAINER...                  print exit codes
  top CONTAINER                      its processes
  inspect CONTAINER|IMAGE...         JSON
  rename CONTAINER NEW_NAME
  create [run options] IMAGE [COMMAND...]   prepare a container under conmon, not started
  start CONTAINER...                 start a created or exited container (its files kept)
  restart [-t SECONDS] CONTAINER...
  rm [-f] CONTAINER...               remove containers (-f: running ones too)
  rmi IMAGE...                       remove images
  save -o FILE IMAGE...              an archive docker/podman/skopeo load (OCI layout + manifest.json)
  load -i FILE                       a `docker save`/`podman save` archive or an OCI layout tar
  import FILE|- [REPOSITORY[:TAG]]   a root filesystem tarball as a one-layer image
  tag SOURCE TARGET                  another name for an image
  history IMAGE                      how the image was made
  image prune [-a]                   remove untagged images (-a: also unused tagged ones)
  container prune                    remove all stopped containers
  system df                          disk use of images, containers, layers
  bootstrap busybox                  make the busybox base image on this machine, from Debian's
                                     busybox-static (no registry needed); debian: not built yet
  runtime ...                        the OCI runtime (same as dockyard-runtime)
  version

storage: $DOCKYARD_ROOT (default /var/lib/dockyard), $DOCKYARD_RUN_ROOT (default /run/dockyard)
not built yet: {}
""".format(", ".join(sorted(NOT_YET)))


def _size(v: str) -> int:
    from ..runtime.commands import _size as size

    return size(v)


def _run_args(argv: list[str]):
    import argparse

    from ..errors import ConfigError

    class Parser(argparse.ArgumentParser):
        def error(self, message):  # one line, exit 125, like docker's flag errors
            raise ConfigError(f"run: {message}")

    p = Parser(prog="dockyard run", add_help=False)
    p.add_argument("--rm", action="store_true")
    p.add_argument("--name")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-w", "--workdir")
    p.add_argument("-u", "--user")
    p.add_argument("--entrypoint")
    p.add_argument("--hostname", "-h")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--cap-add", action="append", default=[])
    p.add_argument("--cap-drop", action="append", default=[])
    p.add_argument("--security-opt", action="append", default=[])
    p.add_argument("--memory", "-m")
    p.add_argument("--cpus", type=float)
    p.add_argument("--pids-limit", type=int)
    p.add_argument("--tmpfs", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("--ulimit", action="append", default=[])
    p.add_argument("--label", "-l", action="append", default=[])
    p.add_argument("--stop-signal")
    p.add_argument("--stop-timeout", type=float)
    p.add_argument("-v", "--volume", action="append", default=[])
    p.add_argument("image")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return p.parse_args(argv)


def cmd_run(argv: list[str], create_only: bool = False) -> int:
    from ..engine.run import run_foreground
    from ..engine.spec import RunOptions
    from ..errors import ConfigError

    a = _run_args(argv)
    seccomp, nnp = None, False
    for opt in a.security_opt:
        if opt in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
            nnp = True
        elif opt.startswith("seccomp=") or opt.startswith("seccomp:"):
            value = opt[len("seccomp="):]
            if value == "unconfined":
                seccomp = "unconfined"
            else:
                import json

                from ..oci.docker_seccomp import to_oci

                try:
                    with open(value) as f:
                        prof = json.load(f)
                except (OSError, ValueError) as e:
                    raise ConfigError(f"--security-opt {opt}: {e}") from None
                seccomp = to_oci(prof) if "archMap" in prof or "syscalls" in prof and "defaultAction" in prof else prof
        else:
            raise ConfigError(f"--security-opt {opt!r} is not supported")
    env = []
    for path in a.env_file:
        try:
            with open(path) as f:
                env += [line.rstrip("\n") for line in f if line.strip() and not line.lstrip().startswith("#")]
        except OSError as e:
            raise ConfigError(f"--env-file {path}: {e.strerror}") from None
    env += a.env
    ulimits = []
    for u in a.ulimit:
        name, _, limits = u.partition("=")
        soft, _, hard = limits.partition(":")
        try:
            ulimits.append((name, int(soft), int(hard or soft)))
        except ValueError:
            raise ConfigError(f"--ulimit {u!r}: expected NAME=SOFT[:HARD]") from None
    binds = []
    for v in a.volume:
        parts = v.split(":")
        if len(parts) not in (2, 3) or not parts[0].startswith("/"):
            raise ConfigError(f"-v {v!r}: only bind mounts HOST:CONTAINER[:ro] are built yet (named volumes: issue 3)")
        binds.append((parts[0], parts[1], len(parts) == 3 and parts[2] == "ro"))
    opts = RunOptions(args=a.args, entrypoint=a.entrypoint, env=env, ulimits=ulimits, workdir=a.workdir, user=a.user,
                      hostname=a.hostname, tty=a.tty, read_only=a.read_only, privileged=a.privileged,
                      cap_add=a.cap_add, cap_drop=a.cap_drop, seccomp=seccomp, no_new_privileges=nnp,
                      memory=_size(a.memory) if a.memory else None, cpus=a.cpus, pids_limit=a.pids_limit,
                      tmpfs=a.tmpfs, binds=binds)
    meta = {"labels": dict(x.partition("=")[::2] for x in a.label), "stop_signal": a.stop_signal,
            "stop_timeout": a.stop_timeout}
    images, containers = _stores()
    try:
        containers.pending_meta = meta
        if a.detach:
            from ..engine.run import create_detached, run_detached

            make = create_detached if create_only else run_detached
            print(make(images, containers, a.image, opts, name=a.name, rm=a.rm))
            return 0
        return run_foreground(images, containers, a.image, opts, name=a.name, rm=a.rm)
    finally:
        images.close()
        containers.close()


def _stores():
    from .. import config
    from ..engine.containers import ContainerStore
    from ..image.store import ImageStore

    root = config.storage_root()
    return ImageStore(root), ContainerStore(root)


def cmd_images(argv: list[str]) -> int:
    from ..oci import reference

    images, containers = _stores()
    try:
        print(f"{'REPOSITORY':<40} {'TAG':<12} {'IMAGE ID':<14} {'CREATED':<22} SIZE")
        for img in images.list():
            names = [reference.parse(t) for t in img.tags] or [None]
            for r in names:
                repo = r.familiar().rsplit(":", 1)[0] if r else "<none>"
                tag = r.tag if r else "<none>"
                print(f"{repo:<40} {tag:<12} {img.short_id:<14} {img.created:<22} {img.size / 1e6:.1f}MB")
    finally:
        images.close()
        containers.close()
    return 0


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


def _with(fn):
    """Run fn(images, containers) with both stores open."""
    images, containers = _stores()
    try:
        return fn(images, containers)
    finally:
        images.close()
        containers.close()


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


def cmd_inspect(argv: list[str]) -> int:
    import json

    from ..engine.lifecycle import inspect
    from ..errors import NotFound

    def go(im, c):
        out = []
        for ref in argv:
            try:
                out.append(inspect(c, c.get(ref)))
            except NotFound:
                img = im.resolve(ref)
                from ..oci import reference

                out.append({"Id": str(img.id), "RepoTags": [reference.parse(t).familiar() for t in img.tags],
                            "RepoDigests": [], "Created": img.created, "Size": img.size,
                            "Os": img.config.os, "Architecture": img.config.architecture,
                            "Config": img.config.config,
                            "RootFS": {"Type": "layers", "Layers": [str(x) for x in img.config.diff_ids]}})
        print(json.dumps(out, indent=4))
        return 0
    return _with(go)


def cmd_rename(argv: list[str]) -> int:
    from ..errors import ConfigError

    if len(argv) != 2:
        raise ConfigError("rename: CONTAINER NEW_NAME")
    return _with(lambda im, c: c.rename(c.get(argv[0]).id, argv[1]) or 0)


def cmd_create(argv: list[str]) -> int:
    return cmd_run(["--detach", *argv], create_only=True)


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


def cmd_save(argv: list[str]) -> int:
    from ..errors import ConfigError
    from ..image.archive import save

    out, refs, i = None, [], 0
    while i < len(argv):
        if argv[i] in ("-o", "--output"):
            i += 1
            out = argv[i]
        else:
            refs.append(argv[i])
        i += 1
    if not refs:
        raise ConfigError("save: name at least one image")
    if out is None and sys.stdout.isatty():
        raise ConfigError("save: refusing to write an archive to a terminal (use -o FILE or a redirect)")

    def go(im, c):
        if out is None:
            save(im, refs, sys.stdout.buffer)
            return 0
        tmp = out + ".tmp"
        with open(tmp, "wb") as f:  # a half-written archive never takes the final name
            save(im, refs, f)
        os.replace(tmp, out)
        return 0
    return _with(go)


def cmd_load(argv: list[str]) -> int:
    from ..errors import ConfigError
    from ..image.archive import load

    path = None
    for i, a in enumerate(argv):
        if a in ("-i", "--input") and i + 1 < len(argv):
            path = argv[i + 1]
    if path is None:
        raise ConfigError("load: -i FILE is required (reading stdin is not built yet)")

    def go(im, c):
        for line in load(im, path):
            print(line)
        return 0
    return _with(go)


def cmd_import(argv: list[str]) -> int:
    from ..errors import ConfigError
    from ..image.importer import import_tarball

    message, rest, i = "", [], 0
    while i < len(argv):
        if argv[i] in ("-m", "--message"):
            i += 1
            message = argv[i]
        else:
            rest.append(argv[i])
        i += 1
    if not rest or len(rest) > 2:
        raise ConfigError("import: FILE|- [REPOSITORY[:TAG]]")

    def go(im, c):
        if rest[0] == "-":
            img = import_tarball(im, sys.stdin.buffer, rest[1] if len(rest) > 1 else None, message)
        else:
            with open(rest[0], "rb") as f:
                img = import_tarball(im, f, rest[1] if len(rest) > 1 else None, message)
        print(img.id)
        return 0
    return _with(go)


def cmd_tag(argv: list[str]) -> int:
    from ..errors import ConfigError

    if len(argv) != 2:
        raise ConfigError("tag: SOURCE TARGET")
    return _with(lambda im, c: im.tag(im.resolve(argv[0]).id, argv[1]) and 0)


def cmd_history(argv: list[str]) -> int:
    def go(im, c):
        img = im.resolve(argv[0])
        print(f"{'CREATED':<22} {'CREATED BY':<60} COMMENT")
        for h in reversed(img.config.history):
            print(f"{h.get('created', ''):<22} {h.get('created_by', '')[:60]:<60} {h.get('comment', '')}")
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


def cmd_image_prune(argv: list[str]) -> int:
    all_ = "-a" in argv or "--all" in argv

    def go(im, c):
        used = {r.image for r in c.list()}
        for img in im.list():
            if str(img.id) in used or (img.tags and not all_):
                continue
            im.db.execute("DELETE FROM images WHERE id = ?", (str(img.id),))
            print(f"Deleted: {img.id}")
        removed = im.gc()
        print(f"Reclaimed: {len(removed['blobs'])} blobs, {len(removed['snapshots'])} unpacked layers")
        return 0
    return _with(go)


def cmd_system_df(argv: list[str]) -> int:
    def du(path: str) -> int:
        total = 0
        for dirpath, _, files in os.walk(path):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
                except OSError:
                    pass
        return total

    def go(im, c):
        imgs, ctrs = im.list(), c.list()
        rows = [("Images", len(imgs), du(os.path.join(im.root, "blobs"))),
                ("Unpacked layers", len(os.listdir(im.snapshots.dir)), du(im.snapshots.dir)),
                ("Containers", len(ctrs), sum(du(os.path.join(c.path(r.id), "upper")) for r in ctrs))]
        print(f"{'TYPE':<18} {'TOTAL':>6} {'SIZE':>10}")
        for name, n, size in rows:
            print(f"{name:<18} {n:>6} {size / 1e6:>8.1f}MB")
        return 0
    return _with(go)


def cmd_internal_cleanup(argv: list[str]) -> int:
    """conmon's exit command for `run -d --rm` (not for people)."""
    from ..engine.lifecycle import cleanup_after_exit

    images, containers = _stores()
    try:
        cleanup_after_exit(containers, argv[0])
    finally:
        images.close()
        containers.close()
    return 0


def cmd_rmi(argv: list[str]) -> int:
    images, containers = _stores()
    try:
        for ref in [x for x in argv if not x.startswith("-")]:
            for line in images.remove(ref, force="-f" in argv):
                print(line)
        images.gc()
    finally:
        images.close()
        containers.close()
    return 0


def cmd_bootstrap(argv: list[str]) -> int:
    from ..errors import ConfigError
    from ..image.base import make_busybox

    what = argv[0] if argv else ""
    if what != "busybox":
        raise ConfigError("bootstrap: only 'busybox' is built yet (debian via debootstrap: issue 3)")
    images, containers = _stores()
    try:
        img = make_busybox(images)
        print(f"busybox:latest {img.id}")
    finally:
        images.close()
        containers.close()
    return 0


COMMANDS = {"run": cmd_run, "images": cmd_images, "ps": cmd_ps, "rm": cmd_rm, "rmi": cmd_rmi,
            "bootstrap": cmd_bootstrap, "stop": cmd_stop, "logs": cmd_logs, "internal-cleanup": cmd_internal_cleanup,
            "exec": cmd_exec, "kill": cmd_kill, "wait": cmd_wait, "top": cmd_top, "inspect": cmd_inspect,
            "rename": cmd_rename, "create": cmd_create, "start": cmd_start, "restart": cmd_restart,
            "save": cmd_save, "load": cmd_load, "import": cmd_import, "tag": cmd_tag, "history": cmd_history}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    cmd = argv[0]
    if cmd == "runtime":
        from ..runtime.cli import main as runtime_main

        return runtime_main(argv[1:])
    if cmd in ("version", "--version", "-v"):
        from .. import __version__

        print(f"dockyard {__version__}")
        return 0
    # Docker's two-word forms
    two = {("image", "bootstrap"): "bootstrap", ("image", "ls"): "images", ("image", "rm"): "rmi",
           ("image", "prune"): cmd_image_prune, ("container", "prune"): cmd_container_prune,
           ("container", "ls"): "ps", ("system", "df"): cmd_system_df, ("image", "history"): "history",
           ("image", "tag"): "tag", ("image", "inspect"): "inspect", ("container", "inspect"): "inspect"}
    target = two.get((cmd, argv[1] if len(argv) > 1 else ""))
    if callable(target):
        COMMANDS[f"{cmd} {argv[1]}"] = target
        cmd, argv = f"{cmd} {argv[1]}", argv[1:]
    elif target:
        cmd, argv = target, argv[1:]
    if cmd in COMMANDS:
        from ..errors import DockyardError

        try:
            return COMMANDS[cmd](argv[1:])
        except DockyardError as e:
            sys.stderr.write(f"dockyard: {e}\n")
            return getattr(e, "exit_code", 1) if getattr(e, "exit_code", 1) != 1 else 125
        except OSError as e:
            sys.stderr.write(f"dockyard: {e.strerror or e}" + (f": {e.filename}" if e.filename else "") + "\n")
            return 125
        except KeyboardInterrupt:
            return 130
        except Exception as e:  # noqa: BLE001 - a bug of ours: one line, never a traceback
            sys.stderr.write(f"dockyard: internal error: {type(e).__name__}: {e}\n")
            return 125
    if cmd in NOT_YET:
        sys.stderr.write(f"dockyard: {cmd!r} is not built yet (tracked in issue {NOT_YET[cmd]})\n")
        return 125
    sys.stderr.write(f"dockyard: unknown command {cmd!r} (see dockyard --help)\n")
    return 125


if __name__ == "__main__":
    sys.exit(main())
