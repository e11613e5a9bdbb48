"""`dockyard build`: a parsed Dockerfile -> an image in the store, BuildKit's way.

1. Parse (``build/dockerfile``), expand every FROM against the meta ARGs, pick the target
   stage (``--target``, else the last) and the stages it needs: its FROM when that names an
   earlier stage, ``COPY --from`` and ``RUN --mount=from=``, transitively. Only those are
   built; the others are not even looked at (as BuildKit, unlike Docker's old builder).
2. Each stage starts from an image in the store (pulled when missing, or always with
   ``--pull``), ``scratch``, or an earlier stage's result, and runs its instructions in
   order on a BuildState (``state.py``): metadata instructions change the config
   (``metadata.py``); RUN, COPY and ADD change files in a Workspace (``workspace.py``: an
   overlay of the layers so far + a fresh upper dir), whose upper dir becomes the layer
   (``layer_diff.py``) and, renamed, the new snapshot.
3. Every step has a cache key chained from the one before (``cache.py``); a RUN/COPY/ADD
   whose key is known reuses its layer without mounting anything, so an unchanged rebuild
   reads the Dockerfile, hashes the COPY sources and writes nothing but the same image.
4. The target's state is written as an image (config, manifest) and tagged; nothing is
   tagged when any step fails.
"""

from __future__ import annotations

import posixpath

from ..errors import DockyardError, NotFound
from ..oci.digest import Hasher
from . import metadata
from .cache import BuildCache, FileDigests, step_key
from .context import BuildContext, ContextError, ImageFiles
from .dockerfile import DockerfileError, parse_dockerfile
from .dockerfile import instructions as i
from .dockerfile.errors import DockerfileSyntaxError
from .dockerfile.instructions import Expander
from .errors import BuildError
from .output import Progress
from .state import BuildState, now


class BuildOptions:
    def __init__(self, **kw) -> None:
        self.dockerfile_name: str = kw.pop("dockerfile_name", "Dockerfile")
        self.target: str | None = kw.pop("target", None)
        self.build_args: dict[str, str] = kw.pop("build_args", {})
        self.labels: dict[str, str] = kw.pop("labels", {})
        self.no_cache: bool = kw.pop("no_cache", False)
        self.pull: bool = kw.pop("pull", False)
        self.secrets: dict[str, str] = kw.pop("secrets", {})
        self.network: str = kw.pop("network", "host")
        self.tags: list[str] = kw.pop("tags", [])
        if kw:
            raise TypeError(f"unknown build options: {', '.join(sorted(kw))}")


_FS_STEPS = (i.Run, i.Copy)  # Add subclasses Copy


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= 200 else first[:197] + "..."


class Builder:
    def __init__(self, store, ctx: BuildContext, opts: BuildOptions, progress: Progress) -> None:
        self.store, self.ctx, self.opts, self.progress = store, ctx, opts, progress
        import os

        if os.path.isdir(os.path.join(store.root, "build-tmp")):
            from .workspace import gc_stale

            gc_stale(store.root)  # what an interrupted build left (a kill -9 skips every finally)
        self.cache = BuildCache(store.root)
        # a context unpacked from a tarball lives in a fresh directory each time: nothing to remember
        self.file_digests = FileDigests(self.cache, ctx.root) if ctx.scratch is None else None
        self.results: dict[int, BuildState] = {}
        self.used_args: set[str] = set()
        self.df = None
        self._open: list = []  # workspaces of --from views, closed at the end

    def close(self) -> None:
        if self.file_digests is not None:
            self.file_digests.flush()
        for ws in self._open:
            ws.close()
        self._open.clear()
        self.cache.close()

    def where(self, ins) -> str:
        return f"{self.opts.dockerfile_name}:{ins.start_line}"

    # -- the whole build ------------------------------------------------------------------
    def build(self, text: bytes):
        self.df = df = parse_dockerfile(text, self.opts.dockerfile_name)
        self.platform_args = platform_args()
        meta = df.meta_env(self.opts.build_args, predefined=self.platform_args)
        self.used_args |= {a for m in df.meta_args for a, _ in m.args if a in self.opts.build_args}
        meta_x = Expander(meta, df.escape)
        froms = {}
        for st in df.stages:
            try:
                froms[st.index] = st.from_.expand(meta_x)
            except DockerfileError as e:
                raise _at(e, self.opts.dockerfile_name, st.from_) from None
        self.froms = froms
        target = df.target(self.opts.target)
        needed = self._needed(target, meta_x)
        for st in df.stages[: target.index + 1]:
            if st.index in needed:
                self.results[st.index] = self._stage(st)
        final = self.results[target.index]
        unused = sorted(set(self.opts.build_args) - self.used_args - _PROXY)
        if unused:
            self.progress.note(f"[warning] build-args not consumed by the Dockerfile: {', '.join(unused)}")
        return self._commit(final)

    def _stage_ref(self, ref: str, before: int):
        """An earlier stage named (or numbered) ``ref``, else None (an image)."""
        st = self.df.find_stage(ref)
        return st if st is not None and st.index < before else None

    def _needed(self, target, x: Expander) -> set[int]:
        """The target and the stages it reads from, transitively (stage indexes)."""
        need, todo = set(), [target]
        while todo:
            st = todo.pop()
            if st.index in need:
                continue
            need.add(st.index)
            refs = [self.froms[st.index].base_name]
            for c in st.commands:
                if isinstance(c, i.Copy) and c.from_:
                    refs.append(_expand_word(x, c.from_))
                elif isinstance(c, i.Run):
                    refs += [_expand_word(x, m["from"]) for m in c.mounts if m["from"]]
            for ref in refs:
                dep = self._stage_ref(ref, st.index)
                if dep is not None:
                    todo.append(dep)
                elif ref.isdigit():  # a number names a stage, never an image
                    raise DockerfileSyntaxError(f"stage {ref} does not exist before stage {st.index}",
                                                filename=self.opts.dockerfile_name)
        return need

    # -- one stage ----------------------------------------------------------------------------
    def _stage(self, st) -> BuildState:
        fr = self.froms[st.index]
        host = self.platform_args["TARGETPLATFORM"]
        if fr.platform and fr.platform.rstrip("/") not in (host, self.platform_args["TARGETOS"] + "/" +
                                                            self.platform_args["TARGETARCH"]):
            raise BuildError(f"FROM --platform={fr.platform}: only this host's platform ({host}) can be built "
                             f"({self.where(fr)})")
        label = f"{st.name} " if st.name and len(self.df.stages) > 1 else ""
        total = 1 + len(st.commands)
        self.progress.step(f"[{label}1/{total}] FROM {fr.base_name}" + (f" AS {st.name}" if st.name else ""))
        state = self._base(fr, st.index)
        self.progress.done()
        commands = list(st.commands)
        triggers = []
        for text in state.onbuild_pending:
            triggers.append(_parse_trigger(text, self.opts.dockerfile_name, fr))
        state.onbuild_pending = []
        for n, ins in enumerate(triggers + commands):
            pos = f"[{label}{max(n - len(triggers), 0) + 2}/{total}]"
            self.progress.step(f"{pos} {'ONBUILD ' if n < len(triggers) else ''}{_one_line(ins.original)}")
            self._step(state, ins)
            self.progress.done()
        return state

    def _base(self, fr: i.From, index: int) -> BuildState:
        name = fr.base_name
        if name.lower() == "scratch":
            return BuildState.scratch()
        dep = self._stage_ref(name, index)
        if dep is not None:
            prev = self.results[dep.index]
            st = BuildState(key=prev.key, raw={**prev.platform, "config": prev.config, "history": prev.history,
                                               "created": prev.created}, layers=prev.layers)
            return st
        return BuildState.from_image(self.store, self._image(name, fr))

    def _image(self, name: str, ins):
        img = None
        if not self.opts.pull:
            try:
                img = self.store.resolve(name)
            except NotFound:
                img = None
        if img is None:
            from ..registry.pull import pull

            try:
                self.progress.line(f"pulling {name}")
                img = pull(self.store, name).image
            except DockyardError as e:
                raise BuildError(f"FROM {name}: not in the local store, and pulling it failed: {e} "
                                 f"({self.where(ins)})") from None
        return img

    # -- one step ------------------------------------------------------------------------------
    def _step(self, state: BuildState, ins) -> None:
        if isinstance(ins, i.Arg):
            return self._arg(state, ins)
        x = Expander(state.expansion_env(), self.df.escape)
        try:
            ex = ins.expand(x)
        except DockerfileError as e:
            raise _at(e, self.opts.dockerfile_name, ins) from None
        if isinstance(ex, i.Workdir):
            return self._workdir(state, ex, ins)
        if not isinstance(ex, _FS_STEPS):
            created_by = metadata.apply(state, ex)
            state.key = step_key(state.key, ins.original)
            state.record(created_by, None)
            return None
        if isinstance(ex, i.Run):
            return self._run(state, ex)
        return self._copy(state, ex, x)

    def _workdir(self, state: BuildState, ex: i.Workdir, ins) -> None:
        """WORKDIR also makes the directory (as BuildKit): a layer only when it was missing."""
        created_by = metadata.apply(state, ex)
        key = step_key(state.key, ins.original)
        if self._cached(state, key, created_by):
            return

        def mkdir(ws, merged):
            import os

            from .._sys import paths

            rfd = os.open(merged, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.close(paths.open_in_root(rfd, state.workdir, create="dir"))
            except OSError as e:
                raise BuildError(f"WORKDIR {state.workdir}: {e} ({self.where(ins)})") from None
            finally:
                os.close(rfd)
        self._fs_step(state, key, created_by, mkdir)

    def _arg(self, state: BuildState, ins: i.Arg) -> None:
        x = Expander(state.expansion_env(), self.df.escape)
        meta = self.df.meta_env(self.opts.build_args, predefined=self.platform_args)
        for name, default in ins.args:
            if name in self.opts.build_args:
                value = self.opts.build_args[name]
                self.used_args.add(name)
            elif default is not None:
                value = x.word(default)
            else:
                value = meta.get(name)  # a meta ARG re-declared without a value keeps its value
            state.args[name] = value
        state.key = step_key(state.key, ins.original, state.args_in_effect())
        state.record(f"ARG {' '.join(n if d is None else f'{n}={d}' for n, d in ins.args)}", None)

    def _cached(self, state: BuildState, key: str, created_by: str) -> bool:
        if self.opts.no_cache:
            return False
        hit = self.cache.get(key, self.store.blobs)
        if hit is None:
            return False
        from .layer_diff import LayerInfo

        layer = LayerInfo.from_dict(hit["layer"]) if hit.get("layer") else None
        state.key = key
        state.record(created_by, layer, created=hit["created"])
        self.progress.cached()
        return True

    def _fs_step(self, state: BuildState, key: str, created_by: str, work) -> None:
        """Run ``work(workspace, merged)`` on a fresh workspace; record its change as a layer."""
        from .layer_diff import is_empty, store_layer
        from .workspace import Workspace, ensure_snapshots

        top = ensure_snapshots(self.store, state.layers)
        ws = Workspace(self.store, top)
        try:
            merged = ws.mount()
            work(ws, merged)
            ws.unmount()
            layer = None
            if not is_empty(ws.upper):
                layer = store_layer(ws.upper, self.store.blobs)
            created = now()
            state.key = key
            state.record(created_by, layer, created=created, empty_layer=layer is None)
            if layer is not None:
                ws.commit_snapshot(state.top_chain(), top, layer)
            self.cache.put(key, {"layer": layer.to_dict() if layer else None, "created": created}, created)
        finally:
            ws.close()

    # -- RUN ------------------------------------------------------------------------------------
    def _run(self, state: BuildState, ins: i.Run) -> None:
        from . import run_step

        args = state.args_in_effect()
        shown = " ".join(ins.args or []) if ins.prepend_shell else str(ins.args)
        argv = run_step.argv_for(state, ins)
        prefix = f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in args.items()) + " " if args else ""
        created_by = f"RUN {prefix}{' '.join(argv) if ins.prepend_shell else shown} # buildkit"
        h = Hasher()
        for m in ins.mounts:  # a bind from the context is an input, like a COPY source
            if m["type"] == "bind" and not m["from"]:
                rels = self.ctx.match(m["source"] or ".", f"RUN --mount ({self.where(ins)})")
                self.ctx.content_hash(rels, h, self.file_digests)
            elif m["from"]:
                h.update(self._from_state(m["from"], ins).key.encode())
        key = step_key(state.key, ins.original, args, state.config.get("Env") or [], str(h.digest()),
                       ins.network or self.opts.network)
        if self._cached(state, key, created_by):
            return

        def work(ws, merged):
            code = run_step.run(self, ws, state, ins, merged)
            if code != 0:
                self.progress.show_log(ws.path("output.log"))
                raise BuildError(f"RUN {_one_line(shown)} exited with {code} ({self.where(ins)})")
        self._fs_step(state, key, created_by, work)

    def bind_source(self, ws, m: dict, name: str, ins) -> str:
        """The host path a ``RUN --mount=type=bind`` shows: in the context, or in a stage/image."""
        import os

        if not m["from"]:
            rel = self.ctx.check_inside(m["source"] or ".", f"RUN --mount ({self.where(ins)})")
            path = os.path.join(self.ctx.root, rel)
            if not os.path.lexists(path) or self.ctx.ignored(rel):
                raise BuildError(f"RUN --mount: {m['source']!r} not found in the build context ({self.where(ins)})")
            return path
        files = self._files_of(self._from_state(m["from"], ins), ws)
        rel = files._resolve(files.check_inside(m["source"] or "/", ""))
        if rel is None:
            raise BuildError(f"RUN --mount: {m['source']!r} not found in {m['from']} ({self.where(ins)})")
        return os.path.join(files.root, rel)

    # -- COPY / ADD -------------------------------------------------------------------------------
    def _from_state(self, ref: str, ins) -> BuildState:
        st = self.df.find_stage(ref)
        if st is not None and st.index in self.results:
            return self.results[st.index]
        if st is not None or ref.isdigit():
            raise BuildError(f"{ins.keyword} --from={ref}: that stage is not built before this one ({self.where(ins)})")
        return BuildState.from_image(self.store, self._image(ref, ins))

    def _files_of(self, src_state: BuildState, ws=None) -> ImageFiles:
        """A mounted view of a stage's or image's files (scratch overlay: writes discarded)."""
        from .workspace import Workspace, ensure_snapshots

        top = ensure_snapshots(self.store, src_state.layers)
        view = Workspace(self.store, top)
        self._open.append(view)
        return ImageFiles(view.mount())

    def _copy(self, state: BuildState, ins: i.Copy, x: Expander) -> None:
        from . import copy_step

        is_add = isinstance(ins, i.Add)
        where = self.where(ins)
        kw = ins.keyword
        if ins.excludes or ins.parents:
            raise BuildError(f"{kw} --exclude/--parents are not supported by dockyard build yet ({where})")
        checksum = getattr(ins, "checksum", None)
        if checksum and any(not _is_url(s) for s in ins.sources):
            raise BuildError(f"ADD --checksum works only with http(s) sources ({where})")
        root = self.ctx
        from_key = ""
        if ins.from_:
            src_state = self._from_state(ins.from_, ins)
            from_key = src_state.key
            root = self._files_of(src_state)
        h = Hasher()
        sources: list[copy_step.Source] = []
        several = len(ins.sources) + len(ins.contents) > 1
        scratch = None
        for pattern in ins.sources:
            if is_add and _is_url(pattern):
                if scratch is None:
                    scratch = _Scratch(self.store)
                    self._open.append(scratch)
                path, name, mtime = copy_step.download(pattern, scratch.dir, checksum, where)
                sources.append(copy_step.Source(name, file=path, mode=0o600, mtime=mtime))
                with open(path, "rb") as f:
                    h.update(f.read())
                continue
            if not is_add and _is_url(pattern):
                raise BuildError(f"COPY cannot fetch URLs ({pattern}): use ADD ({where})")
            try:
                rels = root.match(pattern, f"{kw} ({where})")
            except ContextError as e:
                raise BuildError(str(e)) from None
            if not rels:
                place = f"stage/image {ins.from_}" if ins.from_ else "the build context"
                raise BuildError(f"{kw}: {pattern!r} not found in {place}"
                                 f"{'' if ins.from_ else ' (or excluded by .dockerignore)'} ({where})")
            several = several or len(rels) > 1
            for rel in rels:
                sources.append(copy_step.Source(posixpath.basename(rel) or "", root=root, rel=rel, archive_ok=is_add))
            if root is self.ctx:
                self.ctx.content_hash(rels, h, self.file_digests)
            else:
                h.update("\0".join(rels).encode())
        for c in ins.contents:
            data = c.data
            if c.expand:
                data = x.word(data)
            sources.append(copy_step.Source(posixpath.basename(c.path), data=data.encode()))
            h.update(f"\0heredoc {c.path}\0".encode() + data.encode())
        flags = [f"--{k}={v}" for k, v in (("chown", ins.chown), ("chmod", ins.chmod), ("from", ins.from_)) if v]
        shown = " ".join([*flags, *ins.sources, *(f"<<{c.path}" for c in ins.contents), ins.dest])
        created_by = f"{kw} {shown} # buildkit"
        key = step_key(state.key, ins.original, kw, shown, state.workdir, from_key, str(h.digest()))
        if self._cached(state, key, created_by):
            return

        def work(ws, merged):
            copy_step.copy_sources(sources, ins.dest, merged=merged, workdir=state.workdir, chown=ins.chown,
                                   chmod=ins.chmod, is_add=is_add, where=where, several=several)
        self._fs_step(state, key, created_by, work)

    # -- the image ------------------------------------------------------------------------------
    def _commit(self, state: BuildState):
        config = state.config_bytes(self.opts.labels)
        img = self.store.add(state.manifest_bytes(config), config)
        for tag in self.opts.tags:
            self.store.tag(img.id, tag)
        return self.store.get(img.id)


class _Scratch:
    """A temporary directory for downloads, removed with the build."""

    def __init__(self, store) -> None:
        import os
        import tempfile

        parent = os.path.join(store.root, "build-tmp")
        os.makedirs(parent, mode=0o700, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=f"dl-{os.getpid()}-", dir=parent)

    def close(self) -> None:
        from ..image.snapshots import _rmtree

        _rmtree(self.dir)


_PROXY = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"})


def platform_args() -> dict[str, str]:
    """BuildKit's predefined platform ARGs: the build and the target are this host."""
    from .state import host_arch

    arch = host_arch()
    variant = "v8" if arch == "arm64" else ""
    plat = f"linux/{arch}" + (f"/{variant}" if variant else "")
    out = {}
    for side in ("BUILD", "TARGET"):
        out.update({f"{side}PLATFORM": plat, f"{side}OS": "linux", f"{side}ARCH": arch, f"{side}VARIANT": variant})
    return out


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))


def _expand_word(x: Expander, w: str) -> str:
    try:
        return x.word(w)
    except DockerfileError:
        return w


def _at(e: DockerfileError, filename: str, ins) -> DockerfileError:
    if isinstance(e, DockerfileSyntaxError):
        return e.located(filename=filename, line=ins.start_line, text=ins.original)
    return DockerfileSyntaxError(str(e), filename=filename, line=ins.start_line, text=ins.original)


def _parse_trigger(text: str, filename: str, fr) -> i.Instruction:
    from .dockerfile.parser import parse

    tree = parse(text, filename)
    try:
        return i.parse_instruction(tree.children[0])
    except DockerfileSyntaxError as e:
        raise e.located(filename=filename, line=fr.start_line) from None


def build(store, ctx: BuildContext, dockerfile: bytes, opts: BuildOptions, progress: Progress):
    """Build ``dockerfile`` in ``ctx`` into ``store``; returns the Image (tagged as asked)."""
    b = Builder(store, ctx, opts, progress)
    try:
        return b.build(dockerfile)
    finally:
        b.close()
