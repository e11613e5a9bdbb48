"""blkio (v1) / io (v2): proportional weights and per-device throttling (OCI ``blockIO``).

Weights: v1 has blkio.weight under CFQ (gone since 5.0) or blkio.bfq.weight under BFQ; we use
whichever exists. v2 prefers io.bfq.weight (same 10..1000 scale) and falls back to io.weight
with runc's conversion to 1..10000. Leaf weights exist only in CFQ, so they usually warn.
Throttles are one "MAJ:MIN VALUE" line per device on v1, "MAJ:MIN rbps=VALUE" in io.max on v2.
"""

from __future__ import annotations

from . import convert

NAME, KEY, V1, V2 = "blkio", "blockIO", "blkio", "io"
_FIELDS = ("weight", "leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
           "throttleReadIOPSDevice", "throttleWriteIOPSDevice")
# OCI throttle list -> (v1 file, v2 io.max key)
_THROTTLES = (
    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"),
    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"),
    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"),
    ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"),
)


def pick(resources: dict) -> dict:
    b = resources.get(KEY) or {}
    return {k: b[k] for k in _FIELDS if b.get(k)}


def _dev(e: dict) -> str:
    return f"{int(e['major'])}:{int(e['minor'])}"


def v1(d: str, b: dict, f) -> None:
    bfq = not f.exists(d, "blkio.weight") and f.exists(d, "blkio.bfq.weight")
    weight_file = "blkio.bfq.weight" if bfq else "blkio.weight"
    device_file = "blkio.bfq.weight_device" if bfq else "blkio.weight_device"
    if b.get("weight"):
        if not f.write(d, weight_file, b["weight"], optional=True):
            f.warn(f"weight={b['weight']} not applied (no blkio.weight or blkio.bfq.weight: "
                   "needs the CFQ or BFQ I/O scheduler)")
    if b.get("leafWeight"):
        f.write(d, "blkio.leaf_weight", b["leafWeight"])
    for wd in b.get("weightDevice") or ():
        if wd.get("weight"):
            f.write(d, device_file, f"{_dev(wd)} {wd['weight']}")
        if wd.get("leafWeight"):
            f.write(d, "blkio.leaf_weight_device", f"{_dev(wd)} {wd['leafWeight']}")
    for key, name, _ in _THROTTLES:
        for td in b.get(key) or ():
            f.write(d, name, f"{_dev(td)} {int(td.get('rate') or 0)}")


def v2(d: str, b: dict, f) -> None:
    bfq = f.exists(d, "io.bfq.weight")
    if b.get("weight"):
        if bfq:
            f.write(d, "io.bfq.weight", b["weight"])
        else:
            f.write(d, "io.weight", convert.io_weight(b["weight"]))
    if b.get("leafWeight") or any(wd.get("leafWeight") for wd in b.get("weightDevice") or ()):
        f.warn("leafWeight not applied (cgroup v2 has no leaf weights)")
    for wd in b.get("weightDevice") or ():
        if wd.get("weight"):
            if bfq:
                f.write(d, "io.bfq.weight", f"{_dev(wd)} {wd['weight']}")
            else:
                f.write(d, "io.weight", f"{_dev(wd)} {convert.io_weight(wd['weight'])}")
    for key, _, v2key in _THROTTLES:
        for td in b.get(key) or ():
            f.write(d, "io.max", f"{_dev(td)} {v2key}={int(td.get('rate') or 0)}")
