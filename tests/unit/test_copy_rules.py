"""`docker cp`'s path rules (engine/copy_rules.py): argument splitting, path cleaning, and
where a copy lands — Docker's table, case by case."""

from __future__ import annotations

import pytest

from dockyard.engine.copy_rules import (
    CopyError,
    Plan,
    asserts_directory,
    container_path,
    local_path,
    plan,
    rebase,
    split_arg,
    split_dir_entry,
)


@pytest.mark.parametrize("arg, expected", [
    ("box:/etc/hosts", ("box", "/etc/hosts")),
    ("box:etc/hosts", ("box", "etc/hosts")),          # container paths are relative to its /
    ("box:", ("box", "")),
    ("/tmp/a:b", (None, "/tmp/a:b")),                 # absolute local path with a colon
    ("./a:b", (None, "./a:b")),                       # explicit relative local path with a colon
    ("file.txt", (None, "file.txt")),
    ("-", (None, "-")),
])
def test_split_arg(arg, expected):
    assert split_arg(arg) == expected


@pytest.mark.parametrize("path, expected", [
    ("etc/hosts", "/etc/hosts"),
    ("/etc/../../../etc/hosts", "/etc/hosts"),        # '..' cannot climb above the container's /
    ("/data/", "/data/"),                             # a trailing / is kept: "must be a directory"
    ("/data/.", "/data/."),                           # a trailing /. is kept: "its contents"
    ("data/./", "/data/"),
    (".", "/."),
    ("/", "/"),
    ("//x//y", "/x/y"),
])
def test_container_path(path, expected):
    assert container_path(path) == expected


def test_local_path_relative_to_cwd():
    assert local_path("out", "/work") == "/work/out"
    assert local_path("../x/", "/work/sub") == "/work/x/"
    assert local_path("dir/.", "/w") == "/w/dir/."
    assert local_path("/abs", "/w") == "/abs"


@pytest.mark.parametrize("path, expected", [
    ("/a/b", ("/a", "b")), ("/a/b/", ("/a", "b")), ("/a/b/.", ("/a/b", ".")), ("/b", ("/", "b")),
    ("/", ("/", ".")), ("/.", ("/", ".")),
])
def test_split_dir_entry(path, expected):
    assert split_dir_entry(path) == expected


def test_asserts_directory():
    assert asserts_directory("/a/") and asserts_directory("/a/.") and not asserts_directory("/a")


# Docker's table (moby pkg/archive/copy.go, PrepareArchiveCopy), one row per test


def test_file_to_missing_path_is_written_under_that_name():
    assert plan(False, "hosts", "/tmp/copy", False, False) == Plan("/tmp", "copy")


def test_file_to_missing_path_with_trailing_slash_is_an_error():
    with pytest.raises(CopyError, match="no such directory"):
        plan(False, "hosts", "/tmp/newdir/", False, False)


def test_file_over_existing_file_takes_its_name():
    assert plan(False, "hosts", "/tmp/old", True, False) == Plan("/tmp", "old")


def test_file_into_existing_directory_keeps_its_name():
    assert plan(False, "hosts", "/tmp/d", True, True) == Plan("/tmp/d", None)
    assert plan(False, "hosts", "/tmp/d/", True, True) == Plan("/tmp/d", None)


def test_same_name_needs_no_rename():
    assert plan(False, "hosts", "/tmp/hosts", False, False) == Plan("/tmp", None)


def test_directory_to_missing_path_becomes_that_directory():
    assert plan(True, "etc", "/tmp/newdir", False, False) == Plan("/tmp", "newdir")
    assert plan(True, "etc", "/tmp/newdir/", False, False) == Plan("/tmp", "newdir")


def test_directory_over_existing_file_is_an_error():
    with pytest.raises(CopyError, match="cannot copy a directory"):
        plan(True, "etc", "/tmp/file", True, False)


def test_directory_into_existing_directory_is_nested():
    assert plan(True, "etc", "/tmp/d", True, True) == Plan("/tmp/d", None)


def test_directory_contents_merge_into_existing_directory():
    # dir/. : entries are named "./...", extracted straight into the destination
    assert plan(True, ".", "/tmp/d", True, True) == Plan("/tmp/d", None)
    assert plan(True, ".", "/tmp/d/.", True, True) == Plan("/tmp/d", None)


def test_directory_contents_to_missing_path_become_that_directory():
    assert plan(True, ".", "/tmp/new", False, False) == Plan("/tmp", "new")


def test_rebase_renames_only_the_first_component():
    assert rebase(["etc", "etc", "hosts"], "copy") == ["copy", "etc", "hosts"]
    assert rebase([".", "a"], "new") == ["new", "a"]
    assert rebase(["etc"], None) == ["etc"]
