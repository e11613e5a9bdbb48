"""Fixtures for every test; the policy helpers live in support.py."""

import os

import pytest

from support import need


@pytest.fixture
def need_root():
    need(os.geteuid() == 0, "needs root (namespaces, mounts, cgroups)")
