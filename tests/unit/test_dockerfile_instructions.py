"""Typed instructions, validation errors and stage splitting (BuildKit's instructions
package semantics), plus which words each instruction expands."""

from __future__ import annotations

import pytest

from dockyard.build.dockerfile import (
    DockerfileSyntaxError,
    StageNotFound,
    parse_dockerfile,
)
from dockyard.build.dockerfile.durations import parse_duration
from dockyard.build.dockerfile.instructions import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expander,
    Expose,
    Healthcheck,
    Label,
    Onbuild,
    Run,
    Shell,
    Volume,
)
from dockyard.build.dockerfile.line_parsers import LineError
from dockyard.build.dockerfile.mounts import parse_mount


def commands(text: str, stage: int = 0):
    return parse_dockerfile(text).stages[stage].commands


def error(text: str) -> str:
    with pytest.raises(DockerfileSyntaxError) as info:
        parse_dockerfile(text)
    return str(info.value)


def test_stages_meta_args_and_target():
    df = parse_dockerfile("ARG BASE=busybox\nARG V\nFROM $BASE AS Builder\nRUN make\nFROM scratch\nCOPY --from=builder /a /b\n")
    assert [a.args for a in df.meta_args] == [[("BASE", "busybox")], [("V", None)]]
    assert [(s.index, s.name, s.base_name) for s in df.stages] == [(0, "builder", "$BASE"), (1, "", "scratch")]
    assert df.target("BUILDER") is df.stages[0] and df.target() is df.stages[1] and df.target("1") is df.stages[1]
    assert df.stages[1].stage_references() == ["scratch", "builder"]
    with pytest.raises(StageNotFound, match="target stage 'nope' could not be found"):
        df.target("nope")


@pytest.mark.parametrize("text,message", [
    ("FROM a\nFOO bar\n", 'Dockerfile:2: unknown instruction: FOO (line: "FOO bar")'),
    ("FROM a\nCOPY onlyone\n", "Dockerfile:2: COPY requires at least two arguments, but only one was provided."),
    ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a AS 1x\n", 'Dockerfile:1: invalid name for build stage: "1x"'),
    ("FROM a AS b\nFROM c AS B\n", "Dockerfile:2: duplicate stage name 'b'"),
    ("RUN x\nFROM a\n", "Dockerfile:1: no build stage in current context"),
    ("FROM a\nSHELL sh -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
    ("FROM a\nCOPY --nope=1 a b\n", "Dockerfile:2: unknown flag: nope"),
    ("FROM a\nCOPY --from a b\n", "Dockerfile:2: Missing a value on flag: from"),
    ("FROM a\nCOPY --link=maybe a b\n", "Dockerfile:2: expecting boolean value for flag link, not: maybe"),
    ("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
    ("FROM a\nHEALTHCHECK CONNECT TCP 7000\n", 'Dockerfile:2: Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
    ("FROM a\nHEALTHCHECK --interval=10us CMD x\n", 'Interval "interval" cannot be less than 1ms'),
    ("FROM a\nONBUILD ONBUILD RUN x\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM a\nONBUILD FROM b\n", "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nUSER\n", "USER requires exactly one argument"),
    ("FROM a\nARG =x\n", "ARG names can not be blank"),
    ("FROM a\nRUN --network=bridge x\n", "unsupported network mode: bridge"),
    ("FROM a\nRUN --mount=type=nfs,target=/x x\n", "unsupported mount type 'nfs'"),
    ("FROM a\nRUN --mount=type=cache x\n", "mount type cache requires a target"),
    ("FROM a\nCOPY a <<EOF\nx\nEOF\n", "COPY cannot accept a heredoc as a destination"),
    ("", "Dockerfile: file with no instructions"),
])
def test_validation_errors(text, message):
    msg = error(text)
    assert message in msg and "\n" not in msg


def test_copy_add_flags_and_heredoc_sources():
    copy, add = commands('FROM a\nCOPY --from=b --chown=1:2 --chmod=755 --link --exclude=*.md x "y z" /d/\n'
                         "ADD --checksum=sha256:abc --keep-git-dir https://e/x.tgz /\n")
    assert isinstance(copy, Copy) and not isinstance(copy, Add)
    assert (copy.from_, copy.chown, copy.chmod, copy.link, copy.excludes) == ("b", "1:2", "755", True, ["*.md"])
    assert copy.sources == ["x", '"y', 'z"'] and copy.dest == "/d/"  # split as written, as BuildKit
    assert isinstance(add, Add) and add.checksum == "sha256:abc" and add.keep_git_dir
    (c,) = commands("FROM a\nCOPY <<-EOT <<'RAW' /d/\n\tone $X\n\tEOT\nraw $X\nRAW\n")
    assert [(s.path, s.data, s.expand) for s in c.contents] == [("EOT", "one $X\n", True), ("RAW", "raw $X\n", False)]


def test_run_cmd_entrypoint_forms():
    run, cmd, ep, ep2, sh = commands('FROM a\nRUN --mount=type=secret,id=tok --mount=type=bind,from=b,source=/s,'
                                     'target=/t,rw apt-get update\nCMD ["a", "b"]\nENTRYPOINT []\nENTRYPOINT x y\n'
                                     'SHELL ["/bin/bash", "-c"]\n')
    assert isinstance(run, Run) and run.args == ["apt-get update"] and run.prepend_shell
    secret, bind = run.mounts
    assert (secret["type"], secret["target"], secret["id"], secret["readonly"]) == ("secret", "/run/secrets/tok", "tok", True)
    assert (bind["from"], bind["source"], bind["target"], bind["readonly"]) == ("b", "/s", "/t", False)
    assert isinstance(cmd, Cmd) and cmd.args == ["a", "b"] and not cmd.prepend_shell
    assert isinstance(ep, Entrypoint) and ep.args is None
    assert ep2.args == ["x y"] and ep2.prepend_shell
    assert isinstance(sh, Shell) and sh.shell == ["/bin/bash", "-c"]
    (heredoc_run,) = commands("FROM a\nRUN <<EOF\necho hi\nEOF\n")
    assert heredoc_run.files[0].content == "echo hi\n" and heredoc_run.args == ["<<EOF"]


def test_healthcheck_and_onbuild():
    hc, none, ob = commands('FROM a\nHEALTHCHECK --interval=5s --timeout=3s --retries=3 --start-period=1m CMD ["c", "q"]\n'
                            "HEALTHCHECK NONE\nONBUILD COPY . /app\n")
    assert isinstance(hc, Healthcheck) and hc.test == ["CMD", "c", "q"]
    assert (hc.interval, hc.timeout, hc.retries, hc.start_period) == (5 * 10**9, 3 * 10**9, 3, 60 * 10**9)
    assert none.test == ["NONE"]
    assert isinstance(ob, Onbuild) and ob.expression == "COPY . /app" and isinstance(ob.trigger, Copy)


def test_env_label_arg_expose_volume_and_expansion():
    env, legacy, label, arg, expose, vol = commands(
        'FROM a\nENV A="x y" B=$HOME\\ z\nENV K some value\nLABEL "com.x"="1 2"\nARG N=${HOME:-d} M\n'
        'EXPOSE $PORT 53/udp\nVOLUME ["/data", "$HOME"]\n')
    x = Expander({"HOME": "/root", "PORT": "80 443"})
    assert isinstance(env, Env) and [(p.key, p.value) for p in env.expand(x).pairs] == [("A", "x y"), ("B", "/root z")]
    assert [(p.key, p.value) for p in legacy.pairs] == [("K", "some value")]
    assert isinstance(label, Label) and [(p.key, p.value) for p in label.expand(x).pairs] == [("com.x", "1 2")]
    assert isinstance(arg, Arg) and arg.expand(x).args == [("N", "/root"), ("M", None)]
    assert isinstance(expose, Expose) and expose.expand(x).ports == ["80", "443", "53/udp"]  # sorted as written
    assert isinstance(vol, Volume) and vol.expand(x).volumes == ["/data", "/root"]
    with pytest.raises(DockerfileSyntaxError, match="VOLUME specified can not be an empty string"):
        vol.expand(Expander({}))


def test_from_expands_with_meta_args_and_keeps_location():
    df = parse_dockerfile("ARG TAG=1\n\nFROM --platform=linux/$ARCH busybox:$TAG AS b\n")
    f = df.stages[0].from_.expand(Expander({"TAG": "1.36", "ARCH": "amd64"}))
    assert (f.base_name, f.platform, f.stage_name) == ("busybox:1.36", "linux/amd64", "b")
    assert (f.start_line, f.end_line, f.original) == (3, 3, "FROM --platform=linux/$ARCH busybox:$TAG AS b")


def test_backtick_escape_dockerfile():
    (env,) = commands("# escape=`\nFROM a\nENV P=C:\\dir `\n  Q=`$x\n")
    x = Expander({"x": "no"}, escape="`")
    assert [(p.key, p.value) for p in env.expand(x).pairs] == [("P", "C:\\dir"), ("Q", "$x")]


def test_mount_parsing_details():
    m = parse_mount("type=cache,target=/root/.cache,sharing=locked,mode=0755,uid=1000,id=pip")
    assert (m["sharing"], m["mode"], m["uid"], m["id"], m["readonly"]) == ("locked", 0o755, 1000, "pip", False)
    assert parse_mount("type=tmpfs,target=/t,size=64m")["size"] == 64 * 1024 * 1024
    assert parse_mount("target=/ctx")["type"] == "bind" and parse_mount("target=/ctx")["readonly"] is True
    assert parse_mount("type=cache,target=$DIR", lambda w: w.replace("$DIR", "/c"))["target"] == "/c"


def test_durations():
    assert parse_duration("1h2m3.5s") == (3600 + 120 + 3.5) * 10**9
    assert parse_duration("0") == 0 and parse_duration("250ms") == 250 * 10**6
    with pytest.raises(LineError, match="invalid duration"):
        parse_duration("5")


def test_meta_env_for_from_lines():
    df = parse_dockerfile("ARG REG=docker.io\nARG IMG=${REG}/busybox TAG\nFROM $IMG:${TAG:-latest}\n")
    env = df.meta_env({"TAG": "1.36"})
    assert env == {"REG": "docker.io", "IMG": "docker.io/busybox", "TAG": "1.36"}
    assert df.stages[0].from_.expand(Expander(env)).base_name == "docker.io/busybox:1.36"
    assert df.meta_env()["IMG"] == "docker.io/busybox" and "TAG" not in df.meta_env()
