"""RUN: the command in a container on the step's workspace, through dockyard's own runtime.

The container is what `dockyard run` makes (``engine/spec.container_spec``: Docker's 14
capabilities, the default seccomp profile, masked paths), with the stage's ENV, WORKDIR, USER
and SHELL, the build args in effect as environment, and hostname ``buildkitsandbox``.

Network: the host's network namespace unless ``RUN --network=none`` (or ``build
--network=none``). Docker's builder does the same by default (BuildKit's RUN runs in the host
network unless told otherwise); `docker run`'s default bridge is not used for builds, so
``apt-get`` reaches the host's mirror and DNS as it would on the host.

``RUN --mount``:
    cache   <root>/build-cache-mounts/<sha256 of the id>: a directory that outlives the
            build (same id = same directory; ``uid``/``gid``/``mode`` applied when created);
            ``sharing=locked`` (and ``private``) hold an flock on it for the step
    bind    a context path (or a path in a stage/image with ``from``), read-only by default;
            ``rw`` gives a scratch overlay whose writes are thrown away, as BuildKit's
    tmpfs   a fresh tmpfs (``size``)
    secret  a file from ``build --secret id=ID,src=PATH`` at /run/secrets/ID (or ``target``),
            mode 0400; ``env=NAME`` puts it in the environment instead; a ``required`` one
            that was not given is an error
The mount points the runtime had to create in the image (a missing /run/secrets, ...) are
removed from the step's change afterwards, so they do not end up in the layer.

The runtime runs as `dockyard run` runs it: its own ``main()`` in a forked child
(``engine/run._runtime_run_in_child``), here with its output on the progress pipe.
"""

from __future__ import annotations

import os
import posixpath

from .. import _json as json
from .. import config
from ..errors import DockyardError
from .errors import BuildError
from .workspace import existing_parents, missing_top

HOSTNAME = "buildkitsandbox"
# the runtime's own mount points (engine/spec.py): created in the image if it lacks them
_RUNTIME_TARGETS = ("/proc", "/dev", "/sys", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf")


def argv_for(state, ins) -> list[str]:
    """The command RUN executes, heredocs included, as BuildKit forms it."""
    args = list(ins.args or [])
    if not ins.prepend_shell:
        return args
    cmd = args[0] if args else ""
    if ins.files:
        doc = ins.files[0]
        if len(ins.files) == 1 and cmd.strip() in (f"<<{doc.name}", f"<<-{doc.name}", f"<<'{doc.name}'",
                                                   f'<<"{doc.name}"', f"<<-'{doc.name}'", f'<<-"{doc.name}"'):
            # `RUN <<EOF` alone: the heredoc is the script (a shebang picks its interpreter)
            body = doc.chomped_content()
            if body.startswith("#!"):
                return ["/bin/sh", "-c", _shebang_wrapper(body)]
            return state.shell + [body]
        # `RUN cmd <<EOF`: the shell reads the heredocs itself
        text = cmd
        for doc in ins.files:
            text += "\n" + doc.content + doc.name
        return state.shell + [text]
    return state.shell + [cmd]


def _shebang_wrapper(body: str) -> str:
    """Write the script to a temporary file in the container and execute it."""
    quoted = body.replace("'", "'\"'\"'")
    return (f"f=$(mktemp 2>/dev/null || echo /tmp/.dockyard-run-script); printf '%s' '{quoted}' > \"$f\" && "
            'chmod +x "$f" && "$f"; s=$?; rm -f "$f"; exit $s')


def cache_mount_dir(store_root: str, m: dict) -> str:
    from ..oci.digest import digest_bytes

    d = os.path.join(store_root, "build-cache-mounts", digest_bytes(m["id"].encode()).encoded)
    if not os.path.isdir(d):
        os.makedirs(d, mode=0o755)
        os.chown(d, m["uid"] or 0, m["gid"] or 0)
        if m["mode"] is not None:
            os.chmod(d, m["mode"])
    return d


def spec_mounts(b, ws, state, ins, env: dict[str, str]) -> list[dict]:
    """``RUN --mount`` entries as OCI mounts (files they need are made in the workspace)."""
    out = []
    for n, m in enumerate(ins.mounts):
        target = m["target"]
        if target and not target.startswith("/"):
            target = posixpath.join(state.workdir, target)
        kind = m["type"]
        if kind == "cache":
            d = cache_mount_dir(b.store.root, m)
            if m["sharing"] in ("locked", "private"):
                # one step at a time uses it (private: BuildKit would make a second copy; we wait)
                import fcntl

                fd = os.open(d + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                ws.fds.append(fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
            out.append(_bind(d, target, ro=m["readonly"]))
        elif kind == "tmpfs":
            opts = ["nosuid", "nodev", "mode=1777"] + ([f"size={m['size']}"] if m["size"] else [])
            out.append({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": opts})
        elif kind == "bind":
            src = b.bind_source(ws, m, f"mount-{n}", ins)
            if not m["readonly"]:  # writes allowed, and thrown away: never into the context
                if os.path.isdir(src):
                    src = ws.overlay(f"bindrw-{n}", [src])
                else:
                    import shutil

                    src = shutil.copy2(src, ws.path(f"bindrw-{n}"), follow_symlinks=False)
            out.append(_bind(src, target, ro=m["readonly"]))
        elif kind == "secret":
            path = b.opts.secrets.get(m["id"])
            if path is None:
                if m["required"]:
                    raise BuildError(f"RUN: secret {m['id']!r} is required but was not given "
                                     f"(build --secret id={m['id']},src=FILE) ({b.where(ins)})")
                continue
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise BuildError(f"--secret id={m['id']}: {e.strerror}: {path}") from None
            if m["env"]:
                env[m["env"]] = data.decode("utf-8", "replace")
            if target:
                copy = ws.path(f"secret-{n}")
                fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.chown(copy, m["uid"] or 0, m["gid"] or 0)
                os.chmod(copy, m["mode"] if m["mode"] is not None else 0o400)
                out.append(_bind(copy, target, ro=True))
        else:
            raise BuildError(f"RUN --mount=type={kind} is not supported by dockyard build ({b.where(ins)})")
    return out


def _bind(src: str, dest: str, ro: bool) -> dict:
    return {"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate", "ro" if ro else "rw"]}


def run(b, ws, state, ins, merged: str) -> int:
    """Run ``ins`` on the mounted workspace; returns the command's exit code (the stubs the
    runtime created are already gone from the upper dir when this returns)."""
    from .._sys import paths
    from ..engine import etc_files
    from ..engine.run import _runtime_failed, _runtime_run_in_child
    from ..engine.spec import RunOptions, container_spec

    argv = argv_for(state, ins)
    args_env = dict(state.args_in_effect())
    args_env.update({k: v for k, v in b.opts.build_args.items() if k in PROXY_ARGS and k not in args_env})
    extra_env: dict[str, str] = {}
    mounts = spec_mounts(b, ws, state, ins, extra_env)
    # WORKDIR need not exist yet (BuildKit creates it): make it in this step's change
    rfd = os.open(merged, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(paths.open_in_root(rfd, state.workdir, create="dir"))
    finally:
        os.close(rfd)
    image_cfg = {"Env": [f"{k}={v}" for k, v in args_env.items()] + list(state.config.get("Env") or []) +
                 [f"{k}={v}" for k, v in extra_env.items()],
                 "WorkingDir": state.workdir, "User": state.config.get("User") or ""}
    cid = "build-" + os.urandom(8).hex()
    opts = RunOptions(args=argv, entrypoint="", hostname=HOSTNAME)
    try:
        spec = container_spec(image_cfg, opts, rootfs=merged, cid=cid)
    except DockyardError as e:
        raise BuildError(f"RUN: {e} ({b.where(ins)})") from None
    network = ins.network or b.opts.network
    if network != "none":
        spec["linux"]["namespaces"] = [x for x in spec["linux"]["namespaces"] if x["type"] != "network"]
    spec["mounts"] += etc_files.write(ws.dir, HOSTNAME) + mounts
    stubs = [t for t in (missing_top(merged, m["destination"]) for m in spec["mounts"]) if t]
    stubs += [t for t in (missing_top(merged, p) for p in _RUNTIME_TARGETS) if t and t not in stubs]
    parents: dict = {}
    for t in stubs:
        parents.update(existing_parents(merged, t))
    with open(ws.path("config.json"), "w") as f:
        f.write(json.dumps(spec))
    log = ws.path("runtime.log")
    code = b.progress.run_streamed(
        lambda: _runtime_run_in_child(["--root", config.runtime_root(), "--log", log, "--log-format", "json",
                                       "run", "--bundle", ws.dir, cid]), ws.path("output.log"))
    if code == 0 and _runtime_failed(log):
        code = 125
    ws.unmount()
    ws.remove_stubs(sorted(set(stubs), key=len, reverse=True))
    ws.restore_parents(parents)
    return code


PROXY_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                        "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"})
