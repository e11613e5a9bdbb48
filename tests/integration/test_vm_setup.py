"""`dockyard vm setup` and `vm info` (issue 7): Debian's kernel fetched and unpacked once,
the initramfs rebuilt only when an input changes, missing pieces named in one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support import need, need_binary

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")
pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    need(os.geteuid() == 0, "needs root")
    need_binary("qemu-system-x86_64")
    root = tmp_path_factory.getbasetemp() / "vm-shared"  # shared with test_vm_run: one download
    root.mkdir(exist_ok=True)
    run = tmp_path_factory.mktemp("vmrun")
    return {**os.environ, "DOCKYARD_ROOT": str(root / "lib"), "DOCKYARD_RUN_ROOT": str(run)}


def dy(env, *args):
    return subprocess.run([DOCKYARD, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def test_setup_is_idempotent_and_cached(env):
    first = dy(env, "vm", "setup")
    assert first.returncode == 0, first.stderr
    vm_dir = os.path.join(env["DOCKYARD_ROOT"], "vm")
    kernels = [d for d in os.listdir(vm_dir) if d.startswith("kernel-")]
    assert len(kernels) == 1
    stamp = os.stat(os.path.join(vm_dir, kernels[0])).st_mtime_ns
    again = dy(env, "vm", "setup")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout and "downloading" not in again.stderr
    assert os.stat(os.path.join(vm_dir, kernels[0])).st_mtime_ns == stamp
    assert not [d for d in os.listdir(vm_dir) if d.startswith(".tmp")]
    # what is kept of the package: the bzImage, its ELF with the PVH entry, the modules the guest needs
    k = os.path.join(vm_dir, kernels[0])
    assert sorted(os.listdir(k)) == ["config", "manifest.json", "modules", "vmlinux", "vmlinuz"]
    from dockyard.vm import vmlinux

    with open(os.path.join(k, "vmlinux"), "rb") as f:
        assert vmlinux.has_pvh_note(f.read())
    with open(os.path.join(k, "modules", "order")) as f:
        order = f.read().split()
    assert order.index("virtio_ring") < order.index("virtio") < order.index("virtio_mmio")
    assert order.index("fuse") < order.index("virtiofs") and "virtio_console" in order
    with open(os.path.join(k, "modules", "order-net")) as f:  # loaded only by a VM with a NIC
        net = f.read().split()
    assert net[-1] == "virtio_net" and "net_failover" in net and not set(net) & set(order)


def test_a_kernel_made_for_another_module_list_is_replaced(env):
    """A store set up before the module list changed: setup fetches again and swaps the
    kernel directory in (a rename onto the old, non-empty one used to fail)."""
    import json

    vm_dir = os.path.join(env["DOCKYARD_ROOT"], "vm")
    assert dy(env, "vm", "setup").returncode == 0
    kdir = os.path.join(vm_dir, next(d for d in os.listdir(vm_dir) if d.startswith("kernel-")))
    with open(os.path.join(kdir, "manifest.json")) as f:
        manifest = json.loads(f.read())
    manifest["wanted"] = manifest["wanted"][:-1]  # as if made before the last module was added
    with open(os.path.join(kdir, "manifest.json"), "w") as f:
        f.write(json.dumps(manifest))
    again = dy(env, "vm", "setup")
    assert again.returncode == 0, again.stderr
    assert "downloading" in again.stderr
    with open(os.path.join(kdir, "manifest.json")) as f:
        assert len(json.loads(f.read())["wanted"]) == len(manifest["wanted"]) + 1
    assert not [d for d in os.listdir(vm_dir) if d.startswith(".tmp")]


def test_initramfs_contents_and_rebuild_on_change(env, monkeypatch):
    for k in ("DOCKYARD_ROOT", "DOCKYARD_RUN_ROOT"):
        monkeypatch.setenv(k, env[k])
    from dockyard.vm import guest_init, setup

    assets = setup.ensure(fetch=False)
    with open(assets.initramfs, "rb") as f:
        listing = subprocess.run(["busybox", "cpio", "-t"], stdin=f, capture_output=True, text=True,
                                 check=True).stdout.split()
    for name in ("init", "bin/busybox", "bin/nsenter", "dev/console", "lib/modules/order", "lib/modules/virtiofs.ko"):
        assert name in listing
    os.unlink(assets.initramfs)
    assert setup.ensure(fetch=False).initramfs == assets.initramfs  # same inputs, same name, made again
    monkeypatch.setattr(guest_init, "INIT", guest_init.INIT + "# changed\n")
    changed = setup.ensure(fetch=False).initramfs
    assert changed != assets.initramfs and os.path.exists(changed)
    assert not os.path.exists(assets.initramfs)  # the old one is never used again
    os.unlink(changed)


def test_info_names_the_accelerator_and_why(env):
    p = dy(env, "vm", "info")
    assert p.returncode == 0, p.stderr
    lines = dict(line.split(": ", 1) for line in p.stdout.splitlines())
    assert lines["accelerator"].split()[0] in ("kvm", "tcg")
    assert "(" in lines["accelerator"]  # the reason
    if os.path.exists("/sys/module/kvm_pvm"):  # this kind of machine (PEERS.md)
        assert lines["accelerator"].startswith("tcg (/dev/kvm is kvm_pvm")
    assert lines["kernel"].startswith("6.1.") and "PVH" in lines["kernel"]


def test_missing_qemu_or_kernel_is_one_line_naming_the_package(env, tmp_path):
    p = dy({**env, "PATH": "/nonexistent"}, "vm", "info")
    assert p.returncode == 125
    assert p.stderr == "dockyard: qemu-system-x86_64 not found (install qemu-system-x86)\n"
    p = dy({**env, "DOCKYARD_ROOT": str(tmp_path)}, "vm", "info")
    assert p.returncode == 125
    assert p.stderr == "dockyard: no guest kernel yet (run `dockyard vm setup`)\n"
    p = dy({**env, "DOCKYARD_ROOT": str(tmp_path)}, "vm", "setup", "extra")
    assert p.returncode == 125 and p.stderr == "dockyard: vm setup: takes no arguments\n"
