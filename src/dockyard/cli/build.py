"""`dockyard build [OPTIONS] CONTEXT|-`: flags -> build/executor.py -> the image ID.

Progress goes to stderr (BuildKit's plain format); with ``-q`` only the image ID is printed,
on stdout. Every failure is one line, ``dockyard: build: ...``, exit status 1, and nothing
is tagged.
"""

from __future__ import annotations

import os
import sys

from .flags import BOOL, LIST, VALUE, parse

_FLAGS = {
    "-f": ("file", VALUE, None), "--file": ("file", VALUE, None),
    "-t": ("tags", LIST, None), "--tag": ("tags", LIST, None),
    "--target": ("target", VALUE, None),
    "--build-arg": ("build_args", LIST, None),
    "--label": ("labels", LIST, None),
    "--no-cache": ("no_cache", BOOL, False),
    "--pull": ("pull", BOOL, False),
    "--progress": ("progress", VALUE, "auto"),
    "-q": ("quiet", BOOL, False), "--quiet": ("quiet", BOOL, False),
    "--iidfile": ("iidfile", VALUE, None),
    "--secret": ("secrets", LIST, None),
    "--network": ("network", VALUE, "host"),
}


def _pairs(values: list[str], flag: str, env_fallback: bool = False) -> dict[str, str]:
    from ..errors import ConfigError

    out = {}
    for v in values:
        k, eq, val = v.partition("=")
        if not k:
            raise ConfigError(f"build: {flag} {v!r}: expected KEY=VALUE")
        if not eq:
            if not env_fallback:
                raise ConfigError(f"build: {flag} {v!r}: expected KEY=VALUE")
            if k not in os.environ:
                continue  # --build-arg NAME takes the caller's value, and is dropped without one
            val = os.environ[k]
        out[k] = val
    return out


def _secrets(values: list[str]) -> dict[str, str]:
    from ..errors import ConfigError

    out = {}
    for v in values:
        fields = dict(f.partition("=")[::2] for f in v.split(","))
        sid, src = fields.get("id"), fields.get("src") or fields.get("source")
        if not sid or not src:
            raise ConfigError(f"build: --secret {v!r}: expected id=ID,src=FILE")
        out[sid] = src
    return out


def cmd_build(argv: list[str]) -> int:
    from ..errors import DockyardError

    try:
        return _build(argv)
    except DockyardError as e:
        sys.stderr.write(f"dockyard: build: {str(e).removeprefix('build: ')}\n")
        return 1


def _build(argv: list[str]) -> int:
    from .. import config
    from ..errors import ConfigError, DockyardError

    f = parse("build", _FLAGS, argv, positionals=1)
    if f.rest:
        raise ConfigError(f"build: exactly one context expected, got {len(f.rest) + 1}")
    if f.progress not in ("auto", "plain", "tty", "quiet"):
        raise ConfigError(f"build: --progress={f.progress}: expected auto, plain, tty or quiet")
    if f.network not in ("host", "none", "default"):
        raise ConfigError(f"build: --network={f.network}: expected host or none (no bridge for builds yet)")
    from ..build.context import open_context
    from ..build.executor import BuildOptions, build
    from ..build.output import Progress
    from ..image.store import ImageStore
    from ..oci import reference

    for t in f.tags:
        try:
            reference.parse(t)
        except DockyardError as e:
            raise ConfigError(f"build: -t {t}: {e}") from None
    context_arg = f.positionals[0]
    store = ImageStore(config.storage_root())
    ctx = None
    try:
        scratch = os.path.join(store.root, "build-tmp")
        dockerfile_path = f.file
        from_stdin = None
        if dockerfile_path == "-":
            if context_arg == "-":
                raise ConfigError("build: the Dockerfile and the context cannot both come from stdin")
            from_stdin = sys.stdin.buffer.read()
        ctx, lone = open_context(context_arg, None if dockerfile_path in (None, "-") else dockerfile_path, scratch)
        name = "Dockerfile"
        if lone is not None:
            text = lone
        elif from_stdin is not None:
            text = from_stdin
        elif dockerfile_path and ctx.scratch is None:
            name = os.path.basename(dockerfile_path)
            text = _read(dockerfile_path)
        else:
            rel = dockerfile_path or "Dockerfile"
            name = os.path.basename(rel)
            text = _read(os.path.join(ctx.root, rel))
        opts = BuildOptions(dockerfile_name=name, target=f.target, build_args=_pairs(f.build_args, "--build-arg", True),
                            labels=_pairs(f.labels, "--label"), no_cache=f.no_cache, pull=f.pull,
                            secrets=_secrets(f.secrets), network="host" if f.network == "default" else f.network,
                            tags=f.tags)
        progress = Progress("quiet" if f.quiet or f.progress == "quiet" else "plain")
        img = build(store, ctx, text, opts, progress)
        progress.step("exporting to image")
        progress.line(f"writing image {img.id} done")
        for t in f.tags:
            progress.line(f"naming to {reference.parse(t)} done")
        progress.done()
        if f.iidfile:
            with open(f.iidfile, "w") as out:
                out.write(str(img.id))
        if f.quiet:
            print(img.id)
        return 0
    finally:
        if ctx is not None:
            ctx.close()
        store.close()


def _read(path: str) -> bytes:
    from ..errors import ConfigError

    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as e:
        raise ConfigError(f"build: cannot read the Dockerfile: {e.strerror}: {path}") from None
