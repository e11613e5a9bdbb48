"""A Dockerfile as build stages, as BuildKit's instructions.Parse + stage lookup.

ARGs before the first FROM are *meta args*: they may be used in FROM lines only (and
re-declared inside a stage to be used there). Every FROM starts a stage, named by
``AS name`` (lower case) or known by its index. Any other instruction before the first
FROM is an error."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.build.dockerfile.errors import DockerfileSyntaxError, StageNotFound
from dockyard.build.dockerfile.instructions import (
    Arg,
    Copy,
    Expander,
    From,
    Instruction,
    Run,
    parse_instruction,
)
from dockyard.build.dockerfile.parser import ParseResult, parse


@dataclass
class Stage:
    index: int
    from_: From
    commands: list[Instruction] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.from_.stage_name

    @property
    def base_name(self) -> str:
        return self.from_.base_name

    @property
    def platform(self) -> str | None:
        return self.from_.platform

    def stage_references(self) -> list[str]:
        """Names/indexes this stage may read from: its FROM, COPY --from, RUN --mount from=
        (unexpanded; resolve them with Dockerfile.find_stage after expansion)."""
        refs = [self.from_.base_name]
        for c in self.commands:
            if isinstance(c, Copy) and c.from_:
                refs.append(c.from_)
            elif isinstance(c, Run):
                refs += [m["from"] for m in c.mounts if m["from"]]
        return refs


@dataclass
class Dockerfile:
    stages: list[Stage]
    meta_args: list[Arg]
    tree: ParseResult

    @property
    def escape(self) -> str:
        return self.tree.escape

    def meta_env(self, build_args: dict[str, str] | None = None, predefined: dict[str, str] | None = None) -> dict[str, str]:
        """The values FROM lines expand against: each meta ARG in order, a --build-arg
        overriding its default, a default expanded with the ARGs before it. ``predefined``
        (TARGETPLATFORM, ...) is visible to the expansion as BuildKit provides it."""
        build_args = build_args or {}
        env = dict(predefined or {})
        for arg in self.meta_args:
            for name, default in arg.args:
                if name in build_args:
                    env[name] = build_args[name]
                elif default is not None:
                    env[name] = Expander(env, self.escape).word(default)
        return env

    def find_stage(self, ref: str) -> Stage | None:
        """A stage by name (case-insensitive) or by index; None if there is none."""
        for st in self.stages:
            if st.name and st.name == ref.lower():
                return st
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None

    def target(self, name: str | None = None) -> Stage:
        """The stage ``--target`` names, or the last stage when no target is given."""
        if not name:
            return self.stages[-1]
        st = self.find_stage(name)
        if st is None or (not st.name and not name.isdigit()):
            names = ", ".join(s.name for s in self.stages if s.name) or "none"
            raise StageNotFound(f"target stage {name!r} could not be found (stages: {names})")
        return st


def split_stages(tree: ParseResult) -> Dockerfile:
    stages: list[Stage] = []
    meta: list[Arg] = []
    seen: dict[str, int] = {}
    for node in tree.children:
        try:
            ins = parse_instruction(node)
        except DockerfileSyntaxError as e:
            raise e.located(filename=tree.filename) from None
        if isinstance(ins, From):
            if ins.stage_name:
                if ins.stage_name in seen:
                    raise DockerfileSyntaxError(f"duplicate stage name {ins.stage_name!r}", filename=tree.filename,
                                                line=node.start_line, text=node.original)
                seen[ins.stage_name] = len(stages)
            stages.append(Stage(len(stages), ins))
        elif not stages:
            if not isinstance(ins, Arg):
                raise DockerfileSyntaxError("no build stage in current context (instructions before the first FROM "
                                            "must be ARG)", filename=tree.filename, line=node.start_line,
                                            text=node.original)
            meta.append(ins)
        else:
            stages[-1].commands.append(ins)
    if not stages:
        raise DockerfileSyntaxError("the Dockerfile has no FROM instruction", filename=tree.filename)
    return Dockerfile(stages=stages, meta_args=meta, tree=tree)


def parse_dockerfile(text: str | bytes, filename: str = "Dockerfile") -> Dockerfile:
    """Text -> stages of typed instructions; every error is one line with file and line."""
    return split_stages(parse(text, filename))
