"""Test policy helpers shared by every test directory (a plain module, not a conftest:
two conftest.py files would both be importable only as `conftest`).

A test whose need (root, a package, reference data) is missing skips on a developer machine
but FAILS in CI (CI=true), so CI can never go green by skipping."""

import os
import shutil

import pytest

IN_CI = os.environ.get("CI") == "true"


def need(condition: bool, why: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI requirement missing: {why}")
    pytest.skip(why)


def need_binary(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"needs {name} (apt: see Makefile APT_PKGS)")
    return path


def shared_reference(*parts: str) -> str:
    """A file under shared/reference (specs and data we test against but do not copy into
    the project): $DOCKYARD_SHARED, the project's ../shared, or /work/shared."""
    here = os.path.dirname(os.path.abspath(__file__))
    for base in (os.environ.get("DOCKYARD_SHARED"), os.path.join(here, "..", "..", "shared"), "/work/shared"):
        if base and os.path.isdir(os.path.join(base, "reference")):
            return os.path.normpath(os.path.join(base, "reference", *parts))
    need(False, "shared/reference (set DOCKYARD_SHARED)")
    return ""
