"""Make an OCI bundle whose rootfs is Debian's busybox-static: the smallest real userland,
used by the demo, the tests and the benchmarks until images arrive (issue 3).

    python -m dockyard.runtime.bundle DIR [COMMAND...]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from ..errors import DockyardError
from ..oci.runtime_spec import default_spec

BUSYBOX = "/bin/busybox"


def make_busybox_bundle(bundle: str, args: list[str] | None = None, *, terminal: bool = False,
                        busybox: str = BUSYBOX) -> dict:
    """Write ``bundle/rootfs`` (busybox + one symlink per applet) and ``bundle/config.json``.
    Returns the config. The rootfs is reused when it already exists."""
    if not os.path.exists(busybox):
        raise DockyardError(f"{busybox} not found: install Debian's busybox-static")
    rootfs = os.path.join(bundle, "rootfs")
    if not os.path.exists(os.path.join(rootfs, "bin", "busybox")):
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "etc", "tmp", "root", "var", "run"):
            os.makedirs(os.path.join(rootfs, d), exist_ok=True)
        os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
        shutil.copy2(busybox, os.path.join(rootfs, "bin", "busybox"))
        applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
        for a in applets:
            link = os.path.join(rootfs, a)
            if not os.path.lexists(link):
                os.symlink("/bin/busybox", link)
        with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        with open(os.path.join(rootfs, "etc", "group"), "w") as f:
            f.write("root:x:0:\nnogroup:x:65534:\n")
    cfg = default_spec(args or ["sh"], terminal=terminal)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return cfg


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m dockyard.runtime.bundle DIR [COMMAND...]")
    make_busybox_bundle(sys.argv[1], sys.argv[2:] or None)
