"""Fixtures for every test; the policy helpers live in support.py.

Session-wide hygiene: the runtime leaves its shared parent cgroup (/dockyard, like /docker
for Docker) in place on purpose; the test session removes the parents that did not exist
before it started, so a test run leaves the host as it was."""

import glob
import os
import subprocess
import sys
import tempfile

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


# Containers run on the default bridge network (Docker's default), whose bridge `dockyard0`
# and nft rules are host-wide and stay up between runs, as docker0 does. After each module
# that brought it up (e2e verbs, registry pulls that run what they pulled...), take it down
# again when no container of any root is attached to it, so later modules — the network
# integration tests need a host without it — and the host after the run find it as it was.


def _attached_veths() -> bool:
    try:
        return bool(os.listdir("/sys/class/net/dockyard0/brif"))
    except OSError:
        return False


IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


def _ip_forward() -> str:
    with open(IP_FORWARD) as f:
        return f.read().strip()


@pytest.fixture(scope="session", autouse=True)
def ip_forward_as_it_was():
    """The first network turns forwarding on (NAT needs it), as dockerd does; a test run
    hands the host back as it found it."""
    before = _ip_forward()
    yield
    if _ip_forward() != before and not os.path.exists("/sys/class/net/dockyard0"):
        with open(IP_FORWARD, "w") as f:
            f.write(before)


@pytest.fixture(scope="module", autouse=True)
def default_bridge_down_after_module():
    before = os.path.exists("/sys/class/net/dockyard0")
    yield
    if before or not os.path.exists("/sys/class/net/dockyard0"):
        return
    import time

    deadline = time.monotonic() + 3  # an exited container's veth goes with its netns, in a kernel worker
    while _attached_veths() and time.monotonic() < deadline:
        time.sleep(0.05)
    if _attached_veths():
        return
    with tempfile.TemporaryDirectory() as tmp:  # the default network has one id in every store
        env = {**os.environ, "DOCKYARD_ROOT": os.path.join(tmp, "lib"), "DOCKYARD_RUN_ROOT": os.path.join(tmp, "run")}
        p = subprocess.run([sys.executable, "-c", "from dockyard.network import service; service.down_default()"],
                           env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
