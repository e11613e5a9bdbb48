"""rdma: HCA handle and object limits per RDMA device (OCI ``rdma``); rdma.max on v1 and v2."""

from __future__ import annotations

from ...errors import CgroupError

NAME, KEY, V1, V2 = "rdma", "rdma", "rdma", "rdma"


def pick(resources: dict) -> dict:
    return dict(resources.get(KEY) or {})


def check(devices: dict) -> None:
    for dev in devices:
        if not dev or any(ch.isspace() for ch in dev):
            raise CgroupError(f"cgroup rdma: invalid device name {dev!r}")


def v1(d: str, devices: dict, f) -> None:
    check(devices)
    for dev, lim in devices.items():
        line = dev
        if (lim or {}).get("hcaHandles") is not None:
            line += f" hca_handle={int(lim['hcaHandles'])}"
        if (lim or {}).get("hcaObjects") is not None:
            line += f" hca_object={int(lim['hcaObjects'])}"
        if line != dev:
            f.write(d, "rdma.max", line)


v2 = v1
