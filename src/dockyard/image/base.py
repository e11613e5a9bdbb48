"""Base images made on this machine, for when no registry is reachable (no Docker Hub here).

``busybox``: one layer from Debian's busybox-static — the binary, a symlink per applet, a
minimal /etc — built reproducibly (fixed mtimes and owners, sorted entries), so the same
busybox package always gives the same image ID.

``debian``: debootstrap (minbase variant) from a Debian mirror into a scratch directory of
the store, apt's caches dropped as Docker's debian images do, then imported as one layer.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import tempfile

from ..errors import DockyardError
from ..oci import image_spec
from ..oci.digest import Hasher

BUSYBOX = "/bin/busybox"
EPOCH = 0  # reproducible: every entry gets this mtime (SOURCE_DATE_EPOCH in spirit)
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700, "run": 0o755,
         "sbin": 0o755, "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
         "var": 0o755}
_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hostname": "busybox\n",
}


def _info(name: str, **kw) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = EPOCH, 0, 0, "root", "root"
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def busybox_layer(out, busybox: str = BUSYBOX) -> None:
    """Write the busybox rootfs as an uncompressed tar to the binary file ``out``."""
    if not os.path.exists(busybox):
        raise DockyardError(f"{busybox} not found: install Debian's busybox-static (apt install busybox-static)")
    applets = sorted(subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split())
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as t:
        for d, mode in sorted(_DIRS.items()):
            t.addfile(_info(d, type=tarfile.DIRTYPE, mode=mode))
        size = os.path.getsize(busybox)
        with open(busybox, "rb") as f:
            t.addfile(_info("bin/busybox", size=size, mode=0o755), f)
        for a in applets:
            if a != "bin/busybox":
                t.addfile(_info(a, type=tarfile.SYMTYPE, linkname="/bin/busybox", mode=0o777))
        for name, text in sorted(_FILES.items()):
            data = text.encode()
            t.addfile(_info(name, size=len(data), mode=0o644), io.BytesIO(data))


def make_busybox(store, tag: str = "busybox:latest", busybox: str = BUSYBOX):
    """Build the busybox image into ``store`` (an ImageStore) and tag it. Returns the Image."""
    with tempfile.TemporaryFile() as tmp:
        busybox_layer(tmp, busybox)
        tmp.seek(0)
        h = Hasher()
        with store.blobs.ingest() as w:
            while chunk := tmp.read(1 << 20):
                h.update(chunk)
                w.write(chunk)
        layer_digest, layer_size = h.digest(), h.size
    version = subprocess.run([busybox], capture_output=True, text=True).stdout.splitlines()[:1]
    config = {
        "created": "1970-01-01T00:00:00Z",
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [str(layer_digest)]},
        "history": [{"created": "1970-01-01T00:00:00Z",
                     "created_by": f"dockyard: busybox from Debian's busybox-static ({' '.join(version)[:60]})"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    from ..oci.digest import digest_bytes

    manifest = {
        "schemaVersion": 2, "mediaType": image_spec.OCI_MANIFEST,
        "config": {"mediaType": image_spec.OCI_CONFIG, "digest": str(digest_bytes(config_bytes)),
                   "size": len(config_bytes)},
        "layers": [{"mediaType": image_spec.OCI_LAYER, "digest": str(layer_digest), "size": layer_size}],
    }
    img = store.add(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode(), config_bytes)
    store.tag(img.id, tag)
    return store.get(img.id)


def _apt_mirror() -> str:
    """The host's own Debian mirror (deb822 or one-line sources), else deb.debian.org."""
    import glob

    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            for line in f:
                if line.startswith("URIs:") and "security" not in line:
                    return line.split()[1]
    try:
        with open("/etc/apt/sources.list") as f:
            for line in f:
                w = line.split()
                if len(w) > 2 and w[0] == "deb" and "security" not in w[1]:
                    return w[1]
    except OSError:
        pass
    return "http://deb.debian.org/debian"


def make_debian(store, suite: str = "bookworm", mirror: str | None = None):
    """`dockyard bootstrap debian[:SUITE]`: a Debian image made with debootstrap here."""
    import shutil

    from .importer import import_tarball

    exe = shutil.which("debootstrap")
    if not exe:
        raise DockyardError("bootstrap debian needs debootstrap (apt install debootstrap)")
    mirror = mirror or os.environ.get("DOCKYARD_DEBIAN_MIRROR") or _apt_mirror()
    scratch = tempfile.mkdtemp(prefix=".debootstrap-", dir=store.root)
    rootfs = os.path.join(scratch, "rootfs")
    try:
        p = subprocess.run([exe, "--variant=minbase", suite, rootfs, mirror], capture_output=True, text=True)
        if p.returncode != 0:
            last = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["failed"]
            raise DockyardError(f"debootstrap {suite} from {mirror}: {last[0]}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            d = os.path.join(rootfs, junk)
            for name in os.listdir(d) if os.path.isdir(d) else ():
                path = os.path.join(d, name)
                if os.path.isfile(path) and not name.startswith("lock"):
                    os.unlink(path)
        layer = os.path.join(scratch, "layer.tar")
        with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as t:
            for name in sorted(os.listdir(rootfs)):
                t.add(os.path.join(rootfs, name), arcname=name)
        with open(layer, "rb") as f:
            img = import_tarball(store, f, f"debian:{suite}",
                                 run_config={"Env": [PATH_ENV], "Cmd": ["bash"]},
                                 created_by=f"dockyard: debootstrap --variant=minbase {suite} {mirror}")
        return img
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
