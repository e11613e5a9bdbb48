"""Pure conversions from OCI (cgroup v1 flavoured) values to file contents.

The OCI runtime spec describes resources in v1 terms. On v2 we convert the way runc does,
so a container gets the same share of the machine whichever runtime starts it. OCI's
convention (kept by runc) is that 0 means "not set" and -1 means "unlimited".
"""

from __future__ import annotations

from ...errors import CgroupError


def cpu_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000], runc's linear mapping; 0 = unset.
    Shares are clamped to the v1 range first, as the v1 kernel would."""
    if not shares:
        return 0
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def cpu_max(quota: int | None, period: int | None) -> str | None:
    """cpu.max "QUOTA PERIOD": quota <= 0 is "max" (no limit); period defaults to 100 ms
    (the kernel's default). None when neither is set."""
    if not quota and not period:
        return None
    q = str(quota) if quota and quota > 0 else "max"
    return f"{q} {period or 100000}"


def limit(value: int | None) -> str | None:
    """A v2 byte/count limit: 0/None = unset, negative = "max"."""
    if not value:
        return None
    return "max" if value < 0 else str(value)


def swap_max(swap: int | None, memory: int | None) -> str | None:
    """memory.swap.max from OCI's swap, which is memory+swap (the v1 memsw meaning).

    Like runc: unlimited memory with no swap given means unlimited swap too; -1 is "max";
    otherwise swap-only = swap - limit, which needs a real memory limit to subtract from."""
    swap, memory = swap or 0, memory or 0
    if memory == -1 and swap == 0:
        return "max"
    if swap == 0:
        return None
    if swap < 0:
        return "max"
    if memory <= 0:
        raise CgroupError("cgroup memory: a swap limit needs a memory limit (OCI swap is memory+swap)")
    if swap < memory:
        raise CgroupError(f"cgroup memory: swap {swap} (memory+swap) is lower than the memory limit {memory}")
    return str(swap - memory)


def pids_max(value: int) -> str:
    """pids.max: <= 0 means no limit."""
    return str(value) if value > 0 else "max"


def io_weight(blkio_weight: int) -> int:
    """blkio weight [10, 1000] -> io.weight [1, 10000], runc's mapping; 0 = unset."""
    if not blkio_weight:
        return 0
    w = min(max(blkio_weight, 10), 1000)
    return 1 + (w - 10) * 9999 // 990


def device_number(n: int | None) -> str:
    """A device major/minor in a rule: absent or -1 is the wildcard "*"."""
    return "*" if n is None or n < 0 else str(int(n))
