"""e2e hygiene: containers run on the default bridge network (Docker's default), whose
bridge `dockyard0` and nft rules are host-wide and stay up between runs, as docker0 does.
After each e2e module that brought it up, take it down again (when no container of any
root is attached to it), so later modules and the network integration tests, which need a
host without it, find the host as it was."""

import os
import subprocess
import sys
import tempfile

import pytest


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
    if before or not os.path.exists("/sys/class/net/dockyard0") or _attached_veths():
        return
    with tempfile.TemporaryDirectory() as tmp:  # the default network has one id in every store
        env = {**os.environ, "DOCKYARD_ROOT": os.path.join(tmp, "lib"), "DOCKYARD_RUN_ROOT": os.path.join(tmp, "run")}
        p = subprocess.run([sys.executable, "-c", "from dockyard.network import service; service.down_default()"],
                           env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
