"""snapshots._rmtree: removes a container's tree, never what its symlinks point at."""

from __future__ import annotations

import os

from dockyard.image.snapshots import _rmtree


def test_removes_everything_and_follows_no_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    tree = tmp_path / "ctr"
    (tree / "upper" / "deep" / "er").mkdir(parents=True)
    (tree / "upper" / "deep" / "er" / "f").write_text("x")
    os.symlink(outside, tree / "upper" / "dirlink")
    os.symlink(outside / "precious", tree / "upper" / "filelink")
    (tree / "work" / "work").mkdir(parents=True)
    os.chmod(tree / "work" / "work", 0)  # as overlayfs leaves it
    _rmtree(str(tree))
    assert not tree.exists()
    assert (outside / "precious").read_text() == "keep"


def test_missing_tree_is_not_an_error(tmp_path):
    _rmtree(str(tmp_path / "nothing"))
