"""KVM or TCG: decided once per (guest kernel, host kernel, /dev/kvm) and cached, never a
silent fallback — the choice and its reason are in `vm info` and each VM's state.

/dev/kvm being there is not enough (PEERS.md): on this kind of machine it is kvm_pvm, a
software virtualiser that runs only guests built for it, and a stock Debian kernel dies in
it after ~70 s. So the probe boots the real guest (kernel + initramfs, no rootfs, `true` as
the command) under KVM with a short timeout; a normal KVM host passes it in well under a
second. A loaded kvm_pvm module is known not to work and is not probed.
DOCKYARD_VM_ACCEL=kvm|tcg overrides the probe (said so in the reason)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .. import _json as json

PROBE_TIMEOUT = 15.0


@dataclass(frozen=True)
class Accel:
    name: str  # "kvm" or "tcg"
    reason: str


def _kvm_usable_device() -> str | None:
    """Why /dev/kvm cannot be used, or None if it may be."""
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm"
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
    except OSError as e:
        return f"/dev/kvm: {e.strerror}"
    if os.path.exists("/sys/module/kvm_pvm"):
        return "/dev/kvm is kvm_pvm, which runs only guests built for PVM (CONFIG_PVM_GUEST)"
    return None


def _cache_key(kernel_release: str) -> str:
    try:
        st = os.stat("/dev/kvm")
        dev = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    except OSError:
        dev = "none"
    return f"{kernel_release}|{os.uname().release}|{dev}"


def _probe(kernel_image: str, initramfs: str) -> str | None:
    """Boot the guest under KVM; None if it reported an exit code, else why not."""
    import shutil
    import subprocess
    import tempfile
    import time

    from . import guest_config, qemu

    d = tempfile.mkdtemp(prefix="dockyard-kvm-probe-")
    try:
        initrd = os.path.join(d, "initrd")
        with open(initramfs, "rb") as src, open(initrd, "wb") as dst:
            dst.write(src.read())
            dst.write(guest_config.config_cpio(guest_config.quote(["main", "true"]) + "\n"))
        m = qemu.Machine(kernel=kernel_image, initrd=initrd, run_dir=d, stdout=os.devnull,
                         stderr=os.devnull, accel="kvm", memory=128 << 20)
        p = subprocess.run(qemu.command_line(m), check=False, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
        if p.returncode != 0:
            return f"QEMU would not start with KVM: {(p.stderr.strip().splitlines() or ['?'])[-1]}"
        with open(m.path("qemu.pid")) as f:
            pid = int(f.read())
        from ..runtime.procs import proc_start_time

        end = time.monotonic() + PROBE_TIMEOUT
        while time.monotonic() < end and proc_start_time(pid) is not None:  # None: gone or a zombie
            time.sleep(0.05)
        if proc_start_time(pid) is not None:
            os.kill(pid, 9)
            return f"the guest did not finish booting under KVM in {PROBE_TIMEOUT:.0f} s"
        with open(m.path("exit")) as f:
            if f.read().startswith("EXIT 0"):
                return None
        return "the guest did not report an exit code under KVM"
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"KVM probe failed: {e}"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def choose(kernel_release: str, kernel_image: str, initramfs: str, cache_dir: str) -> Accel:
    forced = os.environ.get("DOCKYARD_VM_ACCEL")
    if forced in ("kvm", "tcg"):
        return Accel(forced, "forced by DOCKYARD_VM_ACCEL")
    why_not = _kvm_usable_device()
    if why_not:
        return Accel("tcg", why_not)
    path = os.path.join(cache_dir, "accel.json")
    key = _cache_key(kernel_release)
    try:
        with open(path) as f:
            cached = json.loads(f.read())
        if cached.get("key") == key:
            return Accel(cached["name"], cached["reason"] + " (cached probe)")
    except (FileNotFoundError, ValueError):
        pass
    failure = _probe(kernel_image, initramfs)
    result = Accel("tcg", failure) if failure else Accel("kvm", "/dev/kvm booted the guest (probe)")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps({"key": key, "name": result.name, "reason": result.reason}))
    os.rename(tmp, path)
    return result
