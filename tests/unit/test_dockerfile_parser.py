"""The Dockerfile parser against BuildKit's own fixtures (parser/testfiles: the parse tree
dump must equal ``result`` byte for byte; parser/testfiles-negative: must be rejected with
a one-line DockerfileSyntaxError), plus line numbers, directives, comments and heredocs."""

from __future__ import annotations

import os

import pytest
from support import shared_reference

from dockyard.build.dockerfile import DockerfileSyntaxError, parse
from dockyard.errors import DockyardError

PARSER_DIR = ("buildkit-dockerfile", "frontend", "dockerfile", "parser")


def _fixture_dirs(kind: str) -> list[str]:
    base = shared_reference(*PARSER_DIR, kind)
    return sorted(os.path.join(base, d) for d in os.listdir(base)) if os.path.isdir(base) else []


POSITIVE = _fixture_dirs("testfiles")
NEGATIVE = _fixture_dirs("testfiles-negative")


def test_fixture_counts():
    assert len(POSITIVE) == 33
    assert len(NEGATIVE) == 4


@pytest.mark.parametrize("case", POSITIVE, ids=os.path.basename)
def test_parse_tree_matches_buildkit(case):
    with open(os.path.join(case, "Dockerfile"), "rb") as f:
        tree = parse(f.read())
    with open(os.path.join(case, "result"), encoding="utf-8") as f:
        assert tree.dump() == f.read()


@pytest.mark.parametrize("case", NEGATIVE, ids=os.path.basename)
def test_negative_fixture_rejected(case):
    with open(os.path.join(case, "Dockerfile"), "rb") as f:
        data = f.read()
    with pytest.raises(DockerfileSyntaxError) as info:
        parse(data)
    assert isinstance(info.value, DockyardError) and info.value.exit_code == 1
    assert str(info.value).startswith("Dockerfile")
    assert "\n" not in str(info.value)


def test_error_names_file_line_and_text():
    with pytest.raises(DockerfileSyntaxError) as info:
        parse("FROM busybox\n\nENV PATH\n", filename="app/Dockerfile")
    err = info.value
    assert (err.filename, err.line, err.text) == ("app/Dockerfile", 3, "ENV PATH")
    assert str(err) == 'app/Dockerfile:3: ENV must have two arguments (line: "ENV PATH")'


def test_line_numbers_and_original_text():
    text = "# hello\nFROM a\n\nRUN one \\\n  # note\n  two\nCMD x\n"
    tree = parse(text)
    got = [(n.keyword, n.start_line, n.end_line, n.original) for n in tree.children]
    assert got == [
        ("from", 2, 2, "FROM a"),
        ("run", 4, 6, "RUN one \\\n  # note\n  two"),
        ("cmd", 7, 7, "CMD x"),
    ]
    assert tree.children[0].prev_comment == ["hello"]
    assert tree.children[1].args() == ["one   two"]


def test_directives_only_at_top():
    tree = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN x `\n  y\n")
    assert tree.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert tree.escape == "`"
    assert tree.children[1].args() == ["x   y"]
    late = parse("FROM a\n# escape=`\nRUN x \\\n  y\n")
    assert late.escape == "\\" and late.directives == {}
    after_comment = parse("# a comment\n# escape=`\nFROM a\n")
    assert after_comment.escape == "\\"


def test_repeated_or_bad_directive_rejected():
    with pytest.raises(DockerfileSyntaxError, match="only one escape parser directive"):
        parse("# escape=`\n# escape=`\nFROM a\n")
    with pytest.raises(DockerfileSyntaxError, match="invalid escape token"):
        parse("# escape=x\nFROM a\n")


def test_empty_continuation_line_warns():
    tree = parse("FROM a\nRUN a \\\n\n  b\n")
    assert tree.children[1].args() == ["a   b"]
    assert len(tree.warnings) == 1 and "empty continuation" in tree.warnings[0]


def test_unknown_instruction_is_kept_by_the_parser():
    # As BuildKit: the parse tree keeps it; the instruction layer rejects it.
    assert parse("FROM a\nFOO bar\n").children[1].value == "FOO"


def test_heredocs():
    text = (
        "FROM a\n"
        "RUN <<EOF\n"
        "echo $HOME\n"
        "EOF\n"
        "RUN <<-'EOT' cat >/x && 3<<FILE2 cat\n"
        "\t\tliteral $X\n"
        "\tEOT\n"
        "second\n"
        "FILE2\n"
        'COPY <<"A" <<B /dest/\n'
        "a\n"
        "A\n"
        "b\n"
        "B\n"
        "RUN [\"echo\", \"<<EOF\"]\n"
    )
    tree = parse(text)
    run1, run2, copy, run3 = tree.children[1:]
    assert [(h.name, h.expand, h.chomp, h.content) for h in run1.heredocs] == [("EOF", True, False, "echo $HOME\n")]
    assert (run1.start_line, run1.end_line) == (2, 4)
    docs = run2.heredocs
    assert [(h.name, h.expand, h.chomp, h.file_descriptor) for h in docs] == [("EOT", False, True, 0), ("FILE2", True, False, 3)]
    assert docs[0].chomped_content() == "literal $X\n" and docs[1].content == "second\n"
    assert [(h.name, h.expand, h.content) for h in copy.heredocs] == [("A", False, "a\n"), ("B", True, "b\n")]
    assert copy.args() == ['<<"A"', "<<B", "/dest/"]
    assert run3.heredocs == [] and run3.is_json


def test_unterminated_heredoc():
    with pytest.raises(DockerfileSyntaxError, match=r"Dockerfile:2: unterminated heredoc"):
        parse("FROM a\nRUN <<EOF\necho\n")


def test_onbuild_heredoc_and_nesting():
    tree = parse("FROM a\nONBUILD RUN <<EOF\nhi\nEOF\n")
    ob = tree.children[1]
    assert ob.dump() == 'onbuild (run "<<EOF")'
    assert ob.heredocs[0].content == "hi\n"


def test_flags_and_json_forms():
    tree = parse('FROM a\nRUN --mount=type=cache,target=/c --network=none ["sh", "-c", "x"]\nCOPY --from=b --chown="1:1" a b\n')
    run, copy = tree.children[1:]
    assert run.flags == ["--mount=type=cache,target=/c", "--network=none"] and run.is_json
    assert run.args() == ["sh", "-c", "x"]
    assert copy.flags == ["--from=b", "--chown=1:1"] and copy.args() == ["a", "b"]


def test_crlf_and_bom():
    tree = parse(b"\xef\xbb\xbfFROM a\r\nRUN x \\\r\n  y\r\n")
    assert tree.dump() == '(from "a")\n(run "x   y")\n'
