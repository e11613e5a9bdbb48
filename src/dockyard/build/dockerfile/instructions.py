"""Typed instructions from the parse tree, as BuildKit's parser/instructions.

``parse_instruction(node)`` checks an instruction the way BuildKit does (argument counts,
known flags, FROM's ``AS name``, JSON-only SHELL, ...) and returns one of the classes below.
Every instruction keeps its ``node`` (start/end line, original text, comments).

Nothing is expanded here: ``ENV a="b c"`` keeps its quotes until ``expand(env)``, which
applies BuildKit's rules for *which* words each instruction expands (ENV/LABEL/ARG keys and
values, COPY/ADD paths and flags, EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL, RUN --mount
values, FROM's image and --platform against the meta ARGs). RUN/CMD/ENTRYPOINT/SHELL/
HEALTHCHECK text is left for the shell in the container, as Docker does.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import ClassVar

from dockyard.build.dockerfile.ast import Heredoc, Node
from dockyard.build.dockerfile.durations import parse_duration
from dockyard.build.dockerfile.errors import DockerfileSyntaxError, ExpansionError
from dockyard.build.dockerfile.flags import Flags
from dockyard.build.dockerfile.heredoc import parse_heredoc
from dockyard.build.dockerfile.line_parsers import LineError
from dockyard.build.dockerfile.mounts import parse_mount
from dockyard.build.dockerfile.shell_lex import ShellLex

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
MIN_HEALTH_DURATION = 1_000_000  # 1 ms, Docker's minimum for a non-zero interval


class Expander:
    """Expands words against an environment with the Dockerfile's escape character."""

    def __init__(self, env, escape: str = "\\") -> None:
        self.env, self.lex = env, ShellLex(escape)

    def word(self, w: str) -> str:
        return self.lex.process_word(w, self.env)

    def words(self, w: str) -> list[str]:
        return self.lex.process_words(w, self.env)


@dataclass
class Instruction:
    keyword: ClassVar[str] = ""
    node: Node = field(repr=False, compare=False)

    @property
    def start_line(self) -> int:
        return self.node.start_line

    @property
    def end_line(self) -> int:
        return self.node.end_line

    @property
    def original(self) -> str:
        return self.node.original

    def expand(self, expander: Expander) -> Instruction:
        """A copy with the words BuildKit expands for this instruction expanded."""
        return self


@dataclass
class KeyValue:
    key: str
    value: str


@dataclass
class Env(Instruction):
    keyword: ClassVar[str] = "ENV"
    pairs: list[KeyValue] = field(default_factory=list)

    def expand(self, x):
        return dataclasses.replace(self, pairs=[KeyValue(x.word(p.key), x.word(p.value)) for p in self.pairs])


@dataclass
class Label(Env):
    keyword: ClassVar[str] = "LABEL"


@dataclass
class Arg(Instruction):
    keyword: ClassVar[str] = "ARG"
    args: list[tuple[str, str | None]] = field(default_factory=list)  # (name, default or None)

    def expand(self, x):
        return dataclasses.replace(
            self, args=[(x.word(k), None if v is None else x.word(v)) for k, v in self.args])


@dataclass
class Maintainer(Instruction):
    keyword: ClassVar[str] = "MAINTAINER"
    maintainer: str = ""


@dataclass
class SourceContent:
    """A heredoc used as a COPY/ADD source: a file named ``path`` holding ``data``."""

    path: str
    data: str
    expand: bool


@dataclass
class Copy(Instruction):
    keyword: ClassVar[str] = "COPY"
    sources: list[str] = field(default_factory=list)
    contents: list[SourceContent] = field(default_factory=list)
    dest: str = ""
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    excludes: list[str] = field(default_factory=list)

    def _opt(self, x, v):
        return None if v is None else x.word(v)

    def expand(self, x):
        return dataclasses.replace(
            self, sources=[x.word(s) for s in self.sources], dest=x.word(self.dest),
            from_=self._opt(x, self.from_), chown=self._opt(x, self.chown), chmod=self._opt(x, self.chmod),
            excludes=[x.word(e) for e in self.excludes])


@dataclass
class Add(Copy):
    keyword: ClassVar[str] = "ADD"
    checksum: str | None = None
    keep_git_dir: bool = False

    def expand(self, x):
        out = super().expand(x)
        return dataclasses.replace(out, checksum=self._opt(x, self.checksum))


@dataclass
class ShellCommand(Instruction):
    """RUN/CMD/ENTRYPOINT: ``args`` is the exec form as written, or one string (shell form,
    ``prepend_shell``: run as SHELL + [string]). ``files`` are the heredocs."""

    args: list[str] | None = None
    prepend_shell: bool = True
    files: list[Heredoc] = field(default_factory=list)


@dataclass
class Run(ShellCommand):
    keyword: ClassVar[str] = "RUN"
    mounts: list[dict] = field(default_factory=list)
    network: str | None = None  # default | none | host
    security: str | None = None  # sandbox | insecure
    mount_specs: list[str] = field(default_factory=list, repr=False)

    def expand(self, x):
        return dataclasses.replace(self, mounts=[parse_mount(s, x.word) for s in self.mount_specs])


@dataclass
class Cmd(ShellCommand):
    keyword: ClassVar[str] = "CMD"


@dataclass
class Entrypoint(ShellCommand):
    keyword: ClassVar[str] = "ENTRYPOINT"


@dataclass
class Shell(Instruction):
    keyword: ClassVar[str] = "SHELL"
    shell: list[str] = field(default_factory=list)


@dataclass
class Workdir(Instruction):
    keyword: ClassVar[str] = "WORKDIR"
    path: str = ""

    def expand(self, x):
        return dataclasses.replace(self, path=x.word(self.path))


@dataclass
class User(Instruction):
    keyword: ClassVar[str] = "USER"
    user: str = ""

    def expand(self, x):
        return dataclasses.replace(self, user=x.word(self.user))


@dataclass
class StopSignal(Instruction):
    keyword: ClassVar[str] = "STOPSIGNAL"
    signal: str = ""

    def expand(self, x):
        return dataclasses.replace(self, signal=x.word(self.signal))


@dataclass
class Expose(Instruction):
    keyword: ClassVar[str] = "EXPOSE"
    ports: list[str] = field(default_factory=list)

    def expand(self, x):
        return dataclasses.replace(self, ports=[w for p in self.ports for w in x.words(p)])


@dataclass
class Volume(Instruction):
    keyword: ClassVar[str] = "VOLUME"
    volumes: list[str] = field(default_factory=list)

    def expand(self, x):
        out = [x.word(v) for v in self.volumes]
        if any(not v.strip() for v in out):
            raise _located(LineError("VOLUME specified can not be an empty string"), self.node)
        return dataclasses.replace(self, volumes=out)


@dataclass
class Healthcheck(Instruction):
    """``test`` as the image config wants it: ["NONE"], ["CMD", ...] or ["CMD-SHELL", s].
    Durations in nanoseconds (0 = Docker's default)."""

    keyword: ClassVar[str] = "HEALTHCHECK"
    test: list[str] = field(default_factory=list)
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass
class Onbuild(Instruction):
    """``expression`` is the trigger's text (stored in the image, run by its children);
    ``trigger`` is it parsed, so errors show at build time of this image already."""

    keyword: ClassVar[str] = "ONBUILD"
    expression: str = ""
    trigger: Instruction | None = None


@dataclass
class From(Instruction):
    keyword: ClassVar[str] = "FROM"
    base_name: str = ""
    stage_name: str = ""  # lower case, "" when unnamed
    platform: str | None = None

    def expand(self, x):
        plat = None if self.platform is None else x.word(self.platform)
        return dataclasses.replace(self, base_name=x.word(self.base_name), platform=plat)


# -- parsing -------------------------------------------------------------------------


def _located(err: Exception, node: Node) -> DockerfileSyntaxError:
    return DockerfileSyntaxError(str(err), line=node.start_line or None, end_line=node.end_line, text=node.original)


def node_args(node: Node) -> list[str]:
    """Arguments as BuildKit's nodeArgs: a sub-instruction contributes its keyword + args."""
    out, n = [], node.next
    while n is not None:
        if not n.children:
            out.append(n.value)
        elif len(n.children) == 1:
            out.append(n.children[0].value)
            out += node_args(n.children[0])
        n = n.next
    return out


def _json_or_joined(args: list[str], node: Node) -> list[str]:
    return args if node.is_json else [" ".join(args)]


def _kvps(args: list[str], name: str) -> list[KeyValue]:
    if not args:
        raise LineError(f"{name} requires at least one argument")
    if len(args) % 3:
        raise LineError(f"Bad input to {name}, too many arguments")
    pairs = []
    for i in range(0, len(args), 3):  # key, value, separator triples
        if not args[i]:
            raise LineError(f"{name} names can not be blank")
        pairs.append(KeyValue(args[i], args[i + 1]))
    return pairs


def _exactly_one(args: list[str], name: str) -> str:
    if len(args) != 1:
        raise LineError(f"{name} requires exactly one argument")
    return args[0]


def _no_flags(node: Node) -> None:
    Flags(node.flags)


def _sources_and_dest(node: Node, args: list[str], name: str):
    if len(args) < 2:
        raise LineError(f"{name} requires at least two arguments, but only one was provided. "
                        "Destination could not be determined.")
    srcs, dest = args[:-1], args[-1]
    if not node.is_json and parse_heredoc(dest) is not None:
        raise LineError(f"{name} cannot accept a heredoc as a destination")
    docs = {h.name: h for h in node.heredocs}
    paths, contents = [], []
    for src in srcs:
        doc = parse_heredoc(src) if not node.is_json else None
        if doc is not None:
            body = docs.get(doc.name, Heredoc(doc.name))
            data = body.content
            if doc.chomp:
                data = Heredoc(doc.name, chomp=True, content=data).chomped_content()
            contents.append(SourceContent(path=doc.name, data=data, expand=doc.expand))
        else:
            paths.append(src)
    return paths, contents, dest


def _parse_copy(node, args):
    f = Flags(node.flags, strings=("from", "chown", "chmod"), bools=("link", "parents"), lists=("exclude",))
    paths, contents, dest = _sources_and_dest(node, args, "COPY")
    return Copy(node, sources=paths, contents=contents, dest=dest, from_=f.string("from"), chown=f.string("chown"),
                chmod=f.string("chmod"), link=f.bool("link"), parents=f.bool("parents"), excludes=f.list("exclude"))


def _parse_add(node, args):
    f = Flags(node.flags, strings=("chown", "chmod", "checksum"), bools=("link", "keep-git-dir"), lists=("exclude",))
    paths, contents, dest = _sources_and_dest(node, args, "ADD")
    return Add(node, sources=paths, contents=contents, dest=dest, chown=f.string("chown"), chmod=f.string("chmod"),
               link=f.bool("link"), excludes=f.list("exclude"), checksum=f.string("checksum"),
               keep_git_dir=f.bool("keep-git-dir"))


def _parse_from(node, args):
    f = Flags(node.flags, strings=("platform",))
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise LineError(f'invalid name for build stage: "{args[2]}", name can\'t start with a number or contain symbols')
    elif len(args) != 1:
        raise LineError("FROM requires either one or three arguments")
    return From(node, base_name=args[0], stage_name=name, platform=f.string("platform"))


def _shell_dependent(cls, node, args, empty_as_none=False, **extra):
    cmd: list[str] | None = _json_or_joined(args, node)
    if empty_as_none and not cmd:
        cmd = None  # ENTRYPOINT [] clears the entrypoint
    return cls(node, args=cmd, prepend_shell=not node.is_json, files=list(node.heredocs), **extra)


def _parse_run(node, args):
    f = Flags(node.flags, strings=("network", "security"), lists=("mount",))
    net = f.string("network")
    if net is not None and net not in ("default", "none", "host"):
        raise LineError(f"unsupported network mode: {net}")
    sec = f.string("security")
    if sec is not None and sec not in ("sandbox", "insecure"):
        raise LineError(f"unsupported security mode: {sec}")
    specs = f.list("mount")
    mounts = [parse_mount(s) for s in specs]  # validated now, expanded again per stage
    return _shell_dependent(Run, node, args, mounts=mounts, network=net, security=sec, mount_specs=specs)


def _parse_healthcheck(node, args):
    if not args:
        raise LineError("HEALTHCHECK requires at least one argument")
    typ, rest = args[0].upper(), args[1:]
    if typ == "NONE":
        if rest:
            raise LineError("HEALTHCHECK NONE takes no arguments")
        _no_flags(node)
        return Healthcheck(node, test=["NONE"])
    f = Flags(node.flags, strings=("interval", "timeout", "start-period", "start-interval", "retries"))
    if typ != "CMD":
        raise LineError(f'Unknown type "{typ}" in HEALTHCHECK (try CMD)')
    cmd = _json_or_joined(rest, node)
    if not cmd or cmd == [""]:
        raise LineError("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *cmd] if node.is_json else ["CMD-SHELL", *cmd]

    def interval(name):
        v = f.string(name)
        if not v:
            return 0
        d = parse_duration(v)
        if d != 0 and d < MIN_HEALTH_DURATION or d < 0:
            raise LineError(f'Interval "{name}" cannot be less than 1ms')
        return d

    retries = 0
    if f.string("retries"):
        try:
            retries = int(f.string("retries"))
        except ValueError:
            raise LineError(f"invalid value for retries: {f.string('retries')}") from None
        if retries < 0:
            raise LineError(f"--retries cannot be negative ({retries})")
    return Healthcheck(node, test=test, interval=interval("interval"), timeout=interval("timeout"),
                       start_period=interval("start-period"), start_interval=interval("start-interval"),
                       retries=retries)


def _parse_onbuild(node, args):
    if not args:
        raise LineError("ONBUILD requires at least one argument")
    _no_flags(node)
    trigger = args[0].upper().strip()
    if trigger == "ONBUILD":
        raise LineError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise LineError(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.line or node.original)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    child = node.next.children[0] if node.next is not None and node.next.children else None
    sub = None
    if child is not None:
        child.start_line, child.end_line, child.original = node.start_line, node.end_line, node.original
        child.heredocs = node.heredocs
        sub = parse_instruction(child)
    return Onbuild(node, expression=expression, trigger=sub)


def _parse_arg(node, args):
    if not args:
        raise LineError("ARG requires at least one argument")
    _no_flags(node)
    out = []
    for a in args:
        k, eq, v = a.partition("=")
        if eq and not k:
            raise LineError("ARG names can not be blank")
        out.append((k, v if eq else None))
    return Arg(node, args=out)


def _parse_volume(node, args):
    if not args:
        raise LineError("VOLUME requires at least one argument")
    _no_flags(node)
    if any(not v.strip() for v in args):
        raise LineError("VOLUME specified can not be an empty string")
    return Volume(node, volumes=args)


def _parse_shell(node, args):
    _no_flags(node)
    if not node.is_json:
        raise LineError("SHELL requires the arguments to be in JSON form")
    if not args:
        raise LineError("SHELL requires at least one argument")
    return Shell(node, shell=args)


def _simple(cls, attr, name):
    def parse(node, args):
        _no_flags(node)
        return cls(node, **{attr: _exactly_one(args, name)})
    return parse


def _parse_env_like(cls, name):
    def parse(node, args):
        _no_flags(node)
        return cls(node, pairs=_kvps(args, name))
    return parse


def _parse_expose(node, args):
    if not args:
        raise LineError("EXPOSE requires at least one argument")
    _no_flags(node)
    return Expose(node, ports=sorted(args))


def _parse_cmd(node, args):
    _no_flags(node)
    return _shell_dependent(Cmd, node, args)


def _parse_entrypoint(node, args):
    _no_flags(node)
    return _shell_dependent(Entrypoint, node, args, empty_as_none=True)


PARSERS = {
    "env": _parse_env_like(Env, "ENV"),
    "label": _parse_env_like(Label, "LABEL"),
    "maintainer": _simple(Maintainer, "maintainer", "MAINTAINER"),
    "add": _parse_add,
    "copy": _parse_copy,
    "from": _parse_from,
    "onbuild": _parse_onbuild,
    "workdir": _simple(Workdir, "path", "WORKDIR"),
    "run": _parse_run,
    "cmd": _parse_cmd,
    "healthcheck": _parse_healthcheck,
    "entrypoint": _parse_entrypoint,
    "expose": _parse_expose,
    "user": _simple(User, "user", "USER"),
    "volume": _parse_volume,
    "stopsignal": _simple(StopSignal, "signal", "STOPSIGNAL"),
    "arg": _parse_arg,
    "shell": _parse_shell,
}


def parse_instruction(node: Node) -> Instruction:
    """One parse-tree node -> its typed instruction; DockerfileSyntaxError on bad input."""
    fn = PARSERS.get(node.keyword)
    if fn is None:
        raise _located(LineError(f"unknown instruction: {node.value}"), node)
    try:
        return fn(node, node_args(node))
    except (LineError, ExpansionError) as e:
        raise _located(e, node) from None
    except DockerfileSyntaxError:
        raise
