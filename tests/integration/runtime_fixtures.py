"""Fixtures for driving the real `dockyard-runtime` CLI against busybox bundles, and for
checking that nothing is left behind (mounts, cgroups, processes, state)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from dockyard.runtime.bundle import make_busybox_bundle

RUNTIME = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")


class Runtime:
    def __init__(self, root: str) -> None:
        self.root = root
        # the compiled-seccomp cache of these tests: theirs, not the host's /run/dockyard
        self.env = {**os.environ, "DOCKYARD_SECCOMP_CACHE": os.path.join(os.path.dirname(root), "seccomp-cache")}

    def __call__(self, *args, input=None, timeout=60, check=False) -> subprocess.CompletedProcess:
        p = subprocess.run([RUNTIME, "--root", self.root, *args], input=input, capture_output=True,
                           text=True, timeout=timeout, env=self.env)
        if check and p.returncode != 0:
            raise AssertionError(f"dockyard-runtime {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def detach(self, *args, timeout=60) -> None:
        """A command that leaves a container running: its stdio must not be our pipes, or
        we would wait for the container to close them."""
        import tempfile

        with tempfile.TemporaryFile("w+") as err:
            p = subprocess.run([RUNTIME, "--root", self.root, *args], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, timeout=timeout, env=self.env)
            err.seek(0)
            if p.returncode != 0:
                raise AssertionError(f"dockyard-runtime {' '.join(args)} -> {p.returncode}: {err.read()}")

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid, check=True).stdout)

    def ids(self) -> list[str]:
        return self("list", "-q", check=True).stdout.split()


class Bundle:
    def __init__(self, path: str, args: list[str]) -> None:
        self.path = path
        self.config = make_busybox_bundle(path, args)
        self.config["process"]["terminal"] = False
        self.write()

    @property
    def rootfs(self) -> str:
        return os.path.join(self.path, "rootfs")

    def write(self) -> None:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)

    def set(self, **kw) -> "Bundle":
        self.config.update(kw)
        self.write()
        return self

    def process(self, **kw) -> "Bundle":
        self.config["process"].update(kw)
        self.write()
        return self

    def linux(self, **kw) -> "Bundle":
        self.config["linux"].update(kw)
        self.write()
        return self


def _our_mounts(marker: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if marker in line]


def _processes_mentioning(marker: str) -> list[str]:
    """Live (not zombie) processes whose command line names our tmp dir: a container init
    still waiting in `dockyard-runtime --root <tmp>/state create ...`, or a stuck runtime."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != b"Z":
            out.append(f"{pid}: {cmd[:120]}")
    return out


def _cgroups_named(cid_prefix: str) -> list[str]:
    out = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        for d in dirnames:
            if d.startswith(cid_prefix):
                out.append(os.path.join(dirpath, d))
        if dirpath.count("/") > 6:
            dirnames[:] = []
    return out


@pytest.fixture
def rt(tmp_path, need_root):
    """A runtime with its own state root; on teardown every container is force-deleted and
    the test FAILS if any mount, cgroup or state directory of ours is left."""
    root = str(tmp_path / "state")
    r = Runtime(root)
    r.prefix = f"dyt{uuid.uuid4().hex[:8]}"
    yield r
    for cid in r.ids():
        r("delete", "--force", cid)
    leftovers = {
        "processes": _processes_mentioning(str(tmp_path)),
        "state dirs": [n for n in (os.listdir(root) if os.path.isdir(root) else [])],
        "mounts": _our_mounts(str(tmp_path)),
        "cgroups": _cgroups_named(r.prefix),
    }
    assert not any(leftovers.values()), f"leaked: {leftovers}"


@pytest.fixture
def bundle(tmp_path):
    def make(*args: str) -> Bundle:
        d = tmp_path / f"bundle{len(list(tmp_path.glob('bundle*')))}"
        d.mkdir()
        return Bundle(str(d), list(args) or ["true"])
    return make


def cid(rt: Runtime, name: str = "") -> str:
    return f"{rt.prefix}{name}"
