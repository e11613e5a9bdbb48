"""Fixtures for every test; the policy helpers live in support.py.

Session-wide hygiene: the runtime leaves its shared parent cgroup (/dockyard, like /docker
for Docker) in place on purpose; the test session removes the parents that did not exist
before it started, so a test run leaves the host as it was."""

import glob
import os

import pytest

from support import need


@pytest.fixture
def need_root():
    need(os.geteuid() == 0, "needs root (namespaces, mounts, cgroups)")


PARENTS = ("/sys/fs/cgroup/*/dockyard", "/sys/fs/cgroup/dockyard", "/sys/fs/cgroup/*/dockyardtest",
           "/sys/fs/cgroup/dockyardtest")


def _parents() -> set[str]:
    return {p for pattern in PARENTS for p in glob.glob(pattern)}


@pytest.fixture(scope="session", autouse=True)
def remove_parent_cgroups_we_created():
    before = _parents()
    yield
    for d in sorted(_parents() - before, key=len, reverse=True):
        for sub, _, _ in os.walk(d, topdown=False):  # children first
            try:
                os.rmdir(sub)
            except OSError:
                pass  # not empty: a leak, which the per-test checks report
