"""The bpf(2) calls cgroup v2 device control needs: load a BPF_PROG_TYPE_CGROUP_DEVICE
program, attach it to a cgroup directory, list and detach the programs already there.

The attr argument is a union in the kernel; we lay out the few structs we use with
``struct.pack_into`` in a zeroed 144-byte buffer (the kernel wants unused tail bytes zero).
"""

from __future__ import annotations

import ctypes
import os
import struct

from ..errors import CgroupError

SYS_bpf = 321  # x86_64
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH = 5, 8, 9
BPF_PROG_GET_FD_BY_ID, BPF_PROG_QUERY = 13, 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
_ATTR_SIZE = 144

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr, what: str) -> int:
    rc = _libc.syscall(ctypes.c_long(SYS_bpf), ctypes.c_long(cmd), attr, ctypes.c_long(_ATTR_SIZE))
    if rc < 0:
        err = ctypes.get_errno()
        raise CgroupError(f"cgroup devices: bpf {what}: {os.strerror(err)}")
    return rc


def load_device_program(insns: bytes, license: str = "Apache") -> int:
    """Verify and load a device program; returns its fd. The verifier's log is in the error."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(8192)
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("=IIQQIIQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(insns) // 8,
                     ctypes.addressof(code), ctypes.addressof(lic), 1, len(log), ctypes.addressof(log))
    try:
        return _bpf(BPF_PROG_LOAD, attr, "load device program")
    except CgroupError as e:
        detail = log.value.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise CgroupError(f"{e} {detail[0]}".rstrip()) from None


def attached_programs(cgroup_fd: int) -> list[int]:
    """Ids of the device programs attached to a cgroup (not inherited ones)."""
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("=IIIIQI", attr, 0, cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), 64)
    _bpf(BPF_PROG_QUERY, attr, "query device programs")
    count = struct.unpack_from("=I", attr, 24)[0]
    return list(ids[:count])


def program_fd(prog_id: int) -> int:
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("=I", attr, 0, prog_id)
    return _bpf(BPF_PROG_GET_FD_BY_ID, attr, f"open program {prog_id}")


def attach(cgroup_fd: int, prog_fd: int) -> None:
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("=IIII", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
    _bpf(BPF_PROG_ATTACH, attr, "attach device program")


def detach(cgroup_fd: int, prog_fd: int) -> None:
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("=III", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE)
    _bpf(BPF_PROG_DETACH, attr, "detach device program")
