""".dockerignore reading and matching, with the cases moby/patternmatcher documents and
tests (``**``, ``!`` exceptions, leading ``/``, cleaned paths, parent directories)."""

from __future__ import annotations

import pytest

from dockyard.build.dockerignore import (
    DockerignoreError,
    PatternMatcher,
    load,
    read_patterns,
)


def ignored(patterns: list[str], path: str) -> bool:
    return PatternMatcher(patterns).matches(path)


def test_read_patterns_normalises():
    text = "\ufeff# comment\n  /abs/path  \n\n./a//b/\n! /keep/this \n #not a comment\n..//x\n"
    assert read_patterns(text) == ["abs/path", "a/b", "!keep/this", "#not a comment", "../x"]


@pytest.mark.parametrize("pattern,path,expected", [
    ("**", "file", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**/file", "file", True),
    ("**/file", "dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file", "dir/notfile", False),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dirfile", False),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "a/b/c.txt", True),
    ("**/*.txt", "c.txt", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/x/y/c", False),
    ("*.go", "main.go", True),
    ("*.go", "cmd/main.go", False),  # * never crosses /
    ("*/*.go", "cmd/main.go", True),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aee", False),
    ("a[^b]e", "ace", True),
    ("f\\*", "f*", True),
    ("f\\*", "fx", False),
    ("file.txt", "fileXtxt", False),  # . is literal
    ("a+b(c)", "a+b(c)", True),
    ("build", "build/x/y.o", True),  # a matched directory matches what is under it
    ("a*/b", "abc/b/c", True),
    ("dir", "dir2/file", False),
    ("/dir", "dir/file", True),
])
def test_single_pattern(pattern, path, expected):
    assert ignored(read_patterns(pattern), path) is expected


def test_exceptions_last_match_wins():
    rules = read_patterns("docs\n!docs/README.md\n*.md\n!README*.md\nREADME-secret.md\n")
    m = PatternMatcher(rules)
    assert m.matches("docs/x.txt")
    assert not m.matches("docs/README.md")
    assert m.matches("CHANGES.md")
    assert not m.matches("README.md")
    assert m.matches("README-secret.md")
    assert m.has_exclusions and m.dirs_with_exceptions("docs")
    assert not PatternMatcher(["a", "!b"]).dirs_with_exceptions("a")


def test_paths_are_cleaned_before_matching():
    m = PatternMatcher(["a/b"])
    assert m.matches("./a//b") and m.matches("/a/b/") and not m.matches("a/c")


def test_bad_patterns():
    with pytest.raises(DockerignoreError, match="illegal exclusion pattern"):
        PatternMatcher(["!"])
    with pytest.raises(DockerignoreError):
        PatternMatcher(["a[b"])


def test_load_prefers_dockerfile_specific_file(tmp_path):
    (tmp_path / ".dockerignore").write_text("*.log\n")
    assert load(str(tmp_path)).matches("x.log")
    df = tmp_path / "app.Dockerfile"
    (tmp_path / "app.Dockerfile.dockerignore").write_text("*.tmp\n")
    m = load(str(tmp_path), str(df))
    assert m.matches("x.tmp") and not m.matches("x.log")
    assert not load(str(tmp_path / "nope")).matches("x.log")
