"""BuildKit's shell lexer fixtures (frontend/dockerfile/shell): envVarTest (ProcessWord) and
wordsTest (ProcessWords), read as BuildKit's lex_test.go reads them, plus the pattern and
mandatory-variable cases from lex_test.go's table tests."""

from __future__ import annotations

import pytest
from support import shared_reference

from dockyard.build.dockerfile.errors import ExpansionError
from dockyard.build.dockerfile.shell_lex import ShellLex, go_quote

SHELL_DIR = ("buildkit-dockerfile", "frontend", "dockerfile", "shell")
ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _env_var_cases():
    path = shared_reference(*SHELL_DIR, "envVarTest")
    cases = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f.read().split("\n"), 1):
            if line.startswith("#"):
                continue
            line = line.strip()
            if not line:
                continue
            platform, source, expected = (part.strip() for part in line.split("|"))
            assert platform in ("A", "U", "W"), f"bad tag at line {lineno}"
            # "W" rows describe Windows, where env names are case-insensitive ($pwd == $PWD);
            # BuildKit runs them only on Windows, as we run only A and U (Unix) rows.
            marks = [pytest.mark.skip(reason="Windows-only row ($pwd is $PWD there)")] if platform == "W" else []
            cases.append(pytest.param(source, expected, id=f"L{lineno}", marks=marks))
    return cases


def _words_cases():
    path = shared_reference(*SHELL_DIR, "wordsTest")
    cases, env = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f.read().split("\n"), 1):
            if line.startswith("#") or line == "":
                continue
            if line.startswith("ENV "):
                env.append(line[3:].lstrip(" "))
                continue
            test, expected = line.split("|")
            cases.append(pytest.param(test.strip(), expected.lstrip(" ").split(","), list(env), id=f"L{lineno}"))
    return cases


ENV_VAR_CASES = _env_var_cases()
WORDS_CASES = _words_cases()


def test_fixture_counts():
    # All 230 rows of envVarTest: 228 for all platforms or Unix, 2 Windows-only (skipped,
    # as BuildKit's own test skips them off Windows); every wordsTest row.
    assert len(ENV_VAR_CASES) == 230
    assert sum(1 for c in ENV_VAR_CASES if c.marks) == 2
    assert len(WORDS_CASES) == 24


@pytest.mark.parametrize("source,expected", ENV_VAR_CASES)
def test_env_var_fixture(source, expected):
    lex = ShellLex("\\")
    if expected == "error":
        with pytest.raises(ExpansionError):
            lex.process_word(source, ENV)
    else:
        assert lex.process_word(source, ENV) == expected


@pytest.mark.parametrize("source,expected,env", WORDS_CASES)
def test_words_fixture(source, expected, env):
    # BuildKit's test also has a RawQuotes+SkipUnsetEnv pass, but it re-reads an already
    # exhausted file, so only this (normal) mode is actually asserted there.
    try:
        got = ShellLex("\\").process_words(source, env)
    except ExpansionError:
        got = ["error"]
    assert got == expected


@pytest.mark.parametrize(
    "word,env,expected",
    [
        ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc"),
        ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc"),
        ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb "),
        ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  "),
        ("${BAR?bbb}", {"BAR": ""}, ""),
        ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
        ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
        ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
        ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),
        ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
        ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
        ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
        ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
        ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
        ("${FOO%y*}", {"FOO": "xxyy"}, "xxy"),
        ("${FOO%%y*}", {"FOO": "xxyy"}, "xx"),
        ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"}, "/foo.*/*.txt - /foo..*.txt"),
        ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"}, "/tmp/bar.txt - /bar.txt"),
        ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
        ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
        ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
        ("${FOO///}", {}, ""),
    ],
)
def test_modifiers(word, env, expected):
    assert ShellLex().process_word(word, env) == expected


@pytest.mark.parametrize("word", ["${BAZ?ccc}", "${BAR:?bbb}", "${FOO=aaa}", "${FOO:#}", "${FOO:%%}", "${FOO//ww}", "${FOO//}"])
def test_modifier_errors(word):
    with pytest.raises(ExpansionError):
        ShellLex().process_word(word, {"FOO": "xxyy", "BAR": ""})


def test_mandatory_message_is_reported():
    with pytest.raises(ExpansionError, match="message herex"):
        ShellLex().process_word("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"})


def test_backtick_escape():
    lex = ShellLex("`")
    assert lex.process_word("a`$B c\\d", {"B": "x"}) == "a$B c\\d"
    assert lex.process_words('"x`"y" z', {}) == ['x"y', "z"]


def test_skip_unset_env_keeps_references():
    lex = ShellLex(skip_unset_env=True)
    assert lex.process_word("$A ${B} ${C:-x} $D", {"D": "d"}) == "$A ${B} ${C:-x} d"


def test_env_list_last_wins():
    assert ShellLex().process_word("$car", ["car=hat", "car=bike"]) == "bike"


def test_go_quote():
    assert go_quote('a"b\\c\n\x00☃') == '"a\\"b\\\\c\\n\\x00☃"'
