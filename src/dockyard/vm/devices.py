"""Every device a dockyard microVM gets, with the reason it earns its place (Firecracker's
"say no by default"). docs/vm.md renders this table; qemu.py builds the command line from it,
so the two cannot drift. Anything not listed is off: `-nodefaults` drops QEMU's defaults
(VGA, NIC, floppy, CD-ROM, monitor), microvm has no PCI bus, no firmware option ROMs."""

from __future__ import annotations

# (what, QEMU device or option, why)
DEVICES = (
    ("machine", "-M microvm,x-option-roms=off",
     ("no PCI, no firmware tables beyond ACPI for the virtio-mmio devices (acpi=off hides them "
     "from Debian's kernel); pic/pit stay on: this kernel hangs without them")),
    ("kernel console", "isa-serial (ttyS0) -> console.log",
     ("kernel messages and panics, to a host file, never the workload's output; `quiet` keeps "
     "the slow emulated UART mostly silent")),
    ("virtio-serial", "virtio-serial-device + 6 virtserialport",
     ("stdout, stderr, exit code, agent, exec stdout/stderr: byte streams with no tty line "
     "discipline (a virtconsole would turn \\n into \\r\\n), separate from the kernel console")),
    ("rootfs", "vhost-user-fs-device (virtiofsd)",
     ("the container's overlay-mounted rootfs shared as is: writes land in its upper dir, "
     "copy-on-write like a container (docs/vm.md: measured against 9p and ext4)")),
    ("volumes", "one vhost-user-fs-device per volume",
     "bind mounts and named volumes, each its own virtiofsd over the host directory"),
    ("network", "-netdev tap,fd=N + virtio-net-device (bridge/user networks only)",
     ("the VM on the containers' bridge: a tap the host made, put on the bridge and passed as "
      "an fd, so it goes with QEMU; -p and names work as for containers. None with --network none")),
    ("memory balloon", "virtio-balloon-device",
     "`update --memory` below the boot size gives memory back through QMP"),
    ("memory backend", "memory-backend-memfd,share=on",
     "vhost-user (virtiofsd) must map guest RAM: it has to be a shareable memfd"),
    ("QMP", "-qmp unix:qmp.sock",
     "balloon and status for the host; a socket in the VM's run dir, not a device"),
)
