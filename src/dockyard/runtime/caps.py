"""Linux capabilities: names <-> bit numbers, and applying the spec's five sets.

Order matters and is the one runc uses: drop from the bounding set while we still hold
CAP_SETPCAP, keep capabilities across the uid switch (PR_SET_KEEPCAPS), switch uid/gid,
then set effective/permitted/inheritable with capset(2), then raise the ambient set
(ambient capabilities must also be permitted and inheritable, or the kernel refuses).
"""

from __future__ import annotations

# From <linux/capability.h>; index = bit number.
NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
BITS = {name: i for i, name in enumerate(NAMES)}
SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


def mask(names, unknown: list[str] | None = None, last_cap: int = len(NAMES) - 1) -> int:
    """Bit mask of capability names. Unknown or newer-than-kernel names are skipped, as
    runc does, so one config works across kernels; they are reported in ``unknown``."""
    m = 0
    for n in names or ():
        bit = BITS.get(n.upper())
        if bit is None or bit > last_cap:
            if unknown is not None:
                unknown.append(n)
            continue
        m |= 1 << bit
    return m


def names_of(m: int) -> list[str]:
    return [n for i, n in enumerate(NAMES) if m >> i & 1]


def masks(capabilities: dict | None, last_cap: int, unknown: list[str] | None = None) -> dict[str, int]:
    """The five sets of a spec ``process.capabilities`` object as masks (missing set = empty)."""
    caps = capabilities or {}
    return {s: mask(caps.get(s), unknown, last_cap) for s in SETS}


def drop_bounding(keep: int, last_cap: int) -> None:
    from .._sys import libc

    for bit in range(last_cap + 1):
        if not keep >> bit & 1 and libc.prctl(libc.PR_CAPBSET_READ, bit, step="read bounding set") == 1:
            libc.prctl(libc.PR_CAPBSET_DROP, bit, step=f"drop {NAMES[bit]} from bounding set")


def apply_sets(m: dict[str, int]) -> None:
    """capset + ambient; call after the uid switch (with PR_SET_KEEPCAPS set before it)."""
    from .._sys import libc

    libc.capset(m["effective"], m["permitted"], m["inheritable"])
    libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL, step="clear ambient capabilities")
    for bit in range(len(NAMES)):
        if m["ambient"] >> bit & 1:
            libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_RAISE, bit,
                       step=f"raise ambient {NAMES[bit]}")
