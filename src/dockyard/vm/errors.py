"""Errors of the VM backend: one line a user can act on (the missing package by name)."""

from __future__ import annotations

from ..errors import DockyardError


class VmError(DockyardError):
    code = "vm"
    exit_code = 125


class VmSetupError(VmError):
    """The kernel, initramfs or QEMU is missing or could not be prepared."""

    code = "vm-setup"
