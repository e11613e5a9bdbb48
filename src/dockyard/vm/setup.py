"""`dockyard vm setup`: the guest kernel and the base initramfs, prepared once and cached under
the storage root (docs/vm.md "Setup").

    <storage root>/vm/kernel-<release>/   vmlinuz (the package's bzImage), vmlinux (its ELF,
                                          when it has the PVH entry note), config, modules/
                                          (<name>.ko + `order`), manifest.json
    <storage root>/vm/initramfs-<key>.cpio  busybox-static + init + modules; <key> hashes every
                                          input (kernel release, modules, init script, busybox)

The kernel is Debian's `linux-image-amd64` dependency (the exact versioned
linux-image-6.1.*-amd64 package), fetched with `apt-get download` and unpacked with
`dpkg -x` — never installed on the host. Each product is made in a `.tmp-` name and renamed
into place, so an interrupted setup leaves nothing that looks finished; concurrent setups
serialise on a lock file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass

from .. import _json as json
from .. import config
from .errors import VmSetupError

BUSYBOX = "/bin/busybox"
# applets the init uses, as symlinks (the script names them bare, with PATH=/bin)
APPLETS = ("sh", "mount", "insmod", "usleep", "mkdir", "hostname", "reboot", "sync", "env",
           "nsenter", "base64", "kill", "true", "ip")
KERNEL_META = "linux-image-amd64"


@dataclass(frozen=True)
class Kernel:
    release: str  # e.g. 6.1.0-56-amd64
    package: str  # e.g. linux-image-6.1.0-56-amd64
    version: str  # the package's version, e.g. 6.1.192-2
    directory: str
    pvh: bool  # boot the ELF vmlinux through its PVH entry (else the bzImage)

    @property
    def image(self) -> str:
        return os.path.join(self.directory, "vmlinux" if self.pvh else "vmlinuz")


@dataclass(frozen=True)
class Assets:
    kernel: Kernel
    initramfs: str


def vm_root() -> str:
    return os.path.join(config.storage_root(), "vm")


def _run(argv: list[str], what: str, package: str, cwd: str | None = None) -> str:
    try:
        p = subprocess.run(argv, check=False, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise VmSetupError(f"{what}: {argv[0]} not found (install {package})") from None
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["failed"])[-1]
        raise VmSetupError(f"{what}: {last}")
    return p.stdout


def _kernel_package() -> tuple[str, str]:
    """(package, version) of the kernel image linux-image-amd64 depends on."""
    out = _run(["apt-cache", "depends", KERNEL_META], "finding the guest kernel", "apt")
    names = [line.split()[-1] for line in out.splitlines() if line.strip().startswith("Depends: linux-image-")]
    if not names:
        raise VmSetupError(f"no kernel package behind {KERNEL_META} (apt-get update?)")
    package = names[0]
    out = _run(["apt-cache", "show", "--no-all-versions", package], "finding the guest kernel", "apt")
    version = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Version:")), "")
    return package, version


def _installed_kernels() -> list[Kernel]:
    found = []
    try:
        names = sorted(os.listdir(vm_root()))
    except FileNotFoundError:
        return []
    for name in names:
        if name.startswith("kernel-"):
            k = _load_kernel(os.path.join(vm_root(), name))
            if k:
                found.append(k)
    return found


def _load_kernel(directory: str) -> Kernel | None:
    from .modules import ALL_WANTED

    try:
        with open(os.path.join(directory, "manifest.json")) as f:
            m = json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None
    if sorted(m.get("wanted", [])) != sorted(ALL_WANTED):
        return None  # made for another module list: fetch again
    return Kernel(m["release"], m["package"], m["version"], directory, m["pvh"])


def fetch_kernel(log=lambda msg: None) -> Kernel:
    """Download, unpack and reduce the kernel package to what the VM needs."""
    from . import modules, vmlinux

    package, version = _kernel_package()
    release = package[len("linux-image-"):]
    final = os.path.join(vm_root(), f"kernel-{release}")
    existing = _load_kernel(final)
    if existing:
        return existing
    tmp = os.path.join(vm_root(), f".tmp-kernel-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        log(f"downloading {package} {version}")
        # as root, apt would hand the download to its _apt user, who cannot write here
        _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", f"{package}={version}"],
             f"apt-get download {package}", "apt", cwd=tmp)
        deb = next(f for f in os.listdir(tmp) if f.endswith(".deb"))
        log(f"unpacking {deb}")
        _run(["dpkg", "-x", deb, "unpacked"], f"dpkg -x {deb}", "dpkg", cwd=tmp)
        boot = os.path.join(tmp, "unpacked", "boot")
        os.rename(os.path.join(boot, f"vmlinuz-{release}"), os.path.join(tmp, "vmlinuz"))
        os.rename(os.path.join(boot, f"config-{release}"), os.path.join(tmp, "config"))
        with open(os.path.join(tmp, "vmlinuz"), "rb") as f:
            elf = vmlinux.extract(f.read())
        pvh = bool(elf) and vmlinux.has_pvh_note(elf)
        if pvh:
            with open(os.path.join(tmp, "vmlinux"), "wb") as f:
                f.write(elf)
        else:
            log("no PVH entry note in the kernel: booting the bzImage (slower)")
        mods = os.path.join(tmp, "modules")
        os.mkdir(mods)
        unpacked = os.path.join(tmp, "unpacked", "lib", "modules", release)
        resolved = modules.resolve(unpacked)
        full = modules.resolve(unpacked, modules.ALL_WANTED)
        for name, ko in full:
            with open(os.path.join(mods, f"{name}.ko"), "wb") as f:
                f.write(ko)
        base = [name for name, _ in resolved]
        with open(os.path.join(mods, "order"), "w") as f:
            f.write("".join(f"{name}\n" for name in base))
        with open(os.path.join(mods, "order-net"), "w") as f:  # loaded by a VM with a NIC only
            f.write("".join(f"{name}\n" for name in modules.split_order(base, [n for n, _ in full])))
        shutil.rmtree(os.path.join(tmp, "unpacked"))
        os.unlink(os.path.join(tmp, deb))
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            f.write(json.dumps({"release": release, "package": package, "version": version, "pvh": pvh,
                                "wanted": sorted(modules.ALL_WANTED)}))
        if os.path.exists(final):  # made for another module list: set it aside, then swap
            stale = os.path.join(vm_root(), f".tmp-stale-{os.getpid()}")
            os.rename(final, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in os.listdir(vm_root()):  # a previous kernel release: its initramfs key no longer matches
        if old.startswith("kernel-") and old != f"kernel-{release}":
            shutil.rmtree(os.path.join(vm_root(), old), ignore_errors=True)
    return _load_kernel(final)


def _initramfs_key(kernel: Kernel) -> str:
    from .guest_init import INIT

    h = hashlib.sha256()
    h.update(kernel.release.encode() + b"\0" + INIT.encode() + b"\0" + " ".join(APPLETS).encode())
    for path in (BUSYBOX, os.path.join(kernel.directory, "modules", "order"),
                 os.path.join(kernel.directory, "modules", "order-net")):
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def build_initramfs(kernel: Kernel) -> str:
    """The base initramfs for ``kernel`` (cached by the hash of its inputs). Uncompressed: the
    guest would spend longer decompressing under TCG than QEMU spends copying 3 MB."""
    from .cpio import CpioWriter
    from .guest_init import INIT

    if not os.path.exists(BUSYBOX):
        raise VmSetupError(f"{BUSYBOX} not found (install busybox-static)")
    path = os.path.join(vm_root(), f"initramfs-{_initramfs_key(kernel)}.cpio")
    if os.path.exists(path):
        return path
    tmp = f"{path}.tmp-{os.getpid()}"
    mods = os.path.join(kernel.directory, "modules")
    with open(tmp, "wb") as f:
        w = CpioWriter(f)
        for d in ("bin", "dev", "proc", "sys", "run", "newroot", "dockyard", "lib", "lib/modules"):
            w.directory(d)
        w.char_device("dev/console", 5, 1)  # the kernel opens it for init's stdio before /dev is mounted
        w.char_device("dev/null", 1, 3, 0o666)
        with open(BUSYBOX, "rb") as b:
            w.file("bin/busybox", b.read(), 0o755)
        for applet in APPLETS:
            w.symlink(f"bin/{applet}", "busybox")
        w.file("init", INIT.encode(), 0o755)
        for list_name in ("order", "order-net"):
            with open(os.path.join(mods, list_name)) as o:
                order = o.read()
            for name in order.split():
                with open(os.path.join(mods, f"{name}.ko"), "rb") as k:
                    w.file(f"lib/modules/{name}.ko", k.read())
            w.file(f"lib/modules/{list_name}", order.encode())
        w.close()
    os.rename(tmp, path)
    for old in os.listdir(vm_root()):  # an initramfs for other inputs is never used again
        if old.startswith("initramfs-") and os.path.join(vm_root(), old) != path:
            try:
                os.unlink(os.path.join(vm_root(), old))
            except FileNotFoundError:
                pass
    return path


def ensure(log=lambda msg: None, *, fetch: bool = True) -> Assets:
    """Kernel and initramfs, made if missing. With fetch=False a missing kernel is an error
    rather than a download (for `vm info`)."""
    import fcntl

    from .qemu import find_qemu

    find_qemu()  # a missing QEMU is said first: without it nothing else matters
    os.makedirs(vm_root(), exist_ok=True)
    with open(os.path.join(vm_root(), "setup.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kernels = _installed_kernels()
        if kernels:
            kernel = kernels[-1]
        elif fetch:
            kernel = fetch_kernel(log)
        else:
            raise VmSetupError("no guest kernel yet (run `dockyard vm setup`)")
        return Assets(kernel, build_initramfs(kernel))


def setup(log=lambda msg: None) -> Assets:
    """`dockyard vm setup`: also looks for a newer kernel package than the one cached."""
    import fcntl

    from .qemu import find_qemu

    find_qemu()
    os.makedirs(vm_root(), exist_ok=True)
    with open(os.path.join(vm_root(), "setup.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kernel = fetch_kernel(log)
        return Assets(kernel, build_initramfs(kernel))
