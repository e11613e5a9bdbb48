"""A private podman (4.3, Debian's) for round-trip tests: its own storage, state, temp and
network-config directories under one test directory, so the host's podman (and another
test's) is never touched, and everything it made can be removed and checked.

What this machine needs (see shared/PEERS.md), and why:
- ``--runtime runc``: crun 1.8.1, podman's default, refuses every container on this cgroup v1
  hybrid host ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2");
  runc does not mind. ``--runtime-flag root=...`` keeps runc's state out of /run/runc.
- ``--cgroup-manager cgroupfs`` (no systemd as PID 1), ``--events-backend file`` (no journald),
  ``run --network none`` (no bridge needed, no host firewall change).
- containers.conf via CONTAINERS_CONF: ``default_ulimits`` of 1024, because root here lacks
  CAP_SYS_RESOURCE and podman's default (nofile 1048576) makes every container fail in
  setrlimit; ``image_copy_tmp_dir`` and TMPDIR so `load`/`save` scratch stays here, not in /var/tmp.
- ``--storage-driver overlay``: works here (overlayfs, nested too); no need for vfs.
- ``--tmpdir`` and ``--network-config-dir`` are private too: `system reset` removes the tmpdir
  and every non-default network in the config dir, which by default are the host's
  /run/libpod and /etc/containers/networks.

Cleanup is `podman system reset -f` (removes containers, images, storage, and the overlay
mount podman keeps on its storage directory); any mount still under the directory afterwards
is a leak that ``close`` reports (after unmounting it, so the host is clean either way).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
image_copy_tmp_dir = "{tmp}"
"""


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path`` in this mount namespace, deepest first."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            # field 5 is the mount point, with space, tab, newline and backslash octal-escaped
            point = line.split()[4].encode().decode("unicode_escape")
            if point == path or point.startswith(path + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


class Podman:
    def __init__(self, podman: str, runc: str) -> None:
        # a short directory of its own: podman refuses a runroot longer than 50 characters
        # (conmon's attach socket lives there, and a unix socket path is at most 108 bytes)
        self.base = os.path.realpath(tempfile.mkdtemp(prefix="dy-podman-", dir="/tmp"))
        self.podman, self.runc = podman, runc
        d = {k: os.path.join(self.base, k) for k in ("root", "runroot", "tmp", "net", "vol", "runc", "scratch")}
        for p in d.values():
            os.makedirs(p, exist_ok=True)
        self.conf = os.path.join(self.base, "containers.conf")
        with open(self.conf, "w") as f:
            f.write(CONTAINERS_CONF.format(tmp=d["scratch"]))
        self.env = {**os.environ, "CONTAINERS_CONF": self.conf, "TMPDIR": d["scratch"]}
        self.flags = ["--root", d["root"], "--runroot", d["runroot"], "--tmpdir", d["tmp"],
                      "--network-config-dir", d["net"], "--volumepath", d["vol"], "--storage-driver", "overlay",
                      "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                      "--runtime", runc, "--runtime-flag", f"root={d['runc']}"]

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        p = subprocess.run([self.podman, *self.flags, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, check=False)
        if check:
            assert p.returncode == 0, f"podman {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}"
        return p

    def image_id(self, ref: str) -> str:
        return "sha256:" + self.run("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def processes(self) -> list[int]:
        """Processes whose command line names this podman's directory (conmon, a container)."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if self.base.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                continue  # exited while we looked
        return found

    def close(self) -> list[str]:
        """Remove everything podman made; returns the mounts and processes `system reset`
        left behind (a leak: the mounts are unmounted here all the same, the directory removed)."""
        reset = self.run("system", "reset", "-f", check=False, timeout=120)
        leaked = mounts_under(self.base) + [f"process {pid}" for pid in self.processes()]
        for m in mounts_under(self.base):
            subprocess.run(["umount", "-l", m], check=False, capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
        assert reset.returncode == 0, f"podman system reset: {reset.stderr.strip()}"
        return leaked
