"""What the numbers were measured on: CPUs, RAM, kernel, load, and for VMs which accelerator
ran (KVM or TCG) and why — a TCG VM is an emulator, and every VM figure means something else
under it — plus which CLI path runs a VM here (probed, never assumed)."""

from __future__ import annotations

import os
import platform
import subprocess

from .figures import measured, missing


def _meminfo_mib(key: str) -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def describe() -> dict:
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return {
        "cpus": measured(os.cpu_count(), "CPUs", "os.cpu_count()"),
        "cpu_model": _cpu_model(),
        "ram": measured(_meminfo_mib("MemTotal"), "MiB", "/proc/meminfo MemTotal"),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "load_at_start": load,
    }


def accel() -> dict:
    """The VM backend's own choice (vm/accel.py, cached per kernel and /dev/kvm), as `vm info`
    prints it."""
    try:
        from ..vm import accel as vm_accel
        from ..vm import setup

        assets = setup.ensure(fetch=True)
        chosen = vm_accel.choose(assets.kernel.release, assets.kernel.image, assets.initramfs, setup.vm_root())
        return {"name": chosen.name, "reason": chosen.reason, "guest_kernel": assets.kernel.release}
    except Exception as e:  # noqa: BLE001 - any failure here is a reason in the report, not a crash
        return {"name": None, "reason": f"no VM here: {e}", "guest_kernel": None}


def vm_path(dockyard: str, env: dict) -> dict:
    """`run --isolation=vm` when the engine takes the flag, else `vm run` (no detached VMs then).

    The probe passes a bogus isolation value: an engine that knows the flag refuses the value
    ("use process, vm or default") without booting anything; one that does not names the flag."""
    p = subprocess.run([dockyard, "run", "--isolation=compare-probe", "busybox", "true"], env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    if "process, vm" in p.stderr:
        return measured("run --isolation=vm", "", "probe: `dockyard run --isolation=compare-probe` was refused as a value "
                        f"({p.stderr.strip()!r}), so the engine knows --isolation")
    return measured("vm run", "", f"probe: `dockyard run --isolation=...` gave {p.stderr.strip()!r}: "
                    "VMs through `dockyard vm run` (foreground only)")


def no_vm_path() -> dict:
    return missing("no VM: see accel")
