"""Where the cgroup hierarchies are mounted: parsed from /proc/self/mountinfo.

Three shapes exist in the wild and all are handled the same way, controller by controller:

    v1      one mount per hierarchy, each with one or more controllers ("cpu,cpuacct")
    hybrid  v1 hierarchies plus a cgroup2 mount (often /sys/fs/cgroup/unified) holding
            whatever controllers no v1 hierarchy took (here: only hugetlb)
    v2      one cgroup2 mount at /sys/fs/cgroup (maybe with a legacy name=systemd v1 mount)

A controller lives in at most one hierarchy (the kernel binds it to one), so "where is X?"
has one answer: its v1 mount if it has one, else the unified mount if cgroup.controllers
lists it, else nowhere. The Manager asks exactly that and never assumes a fixed path.

detect() runs on every container start: it reads mountinfo once (plus cgroup.controllers
when a cgroup2 mount exists) and imports nothing heavy. Layout is a plain class and not a
dataclass because `import dataclasses` pulls in `inspect` (~20 ms here).
"""

from __future__ import annotations

# v1 controllers we know how to use (everything else in the super options is a mount option
# such as rw, xattr, noprefix, clone_children, release_agent=...). A whitelist, because mount
# options vary between kernels and distributions, and controllers we cannot use we don't need.
V1_CONTROLLERS = frozenset(
    "cpu cpuacct cpuset memory devices freezer blkio pids hugetlb net_cls net_prio perf_event rdma misc".split()
)
# Named v1 hierarchies worth joining: systemd tracks services (and containers) through it.
V1_NAMED = frozenset({"name=systemd"})
# v2 controllers a container's cgroup gets enabled from its parents (see Manager.create).
V2_CONTROLLERS = frozenset("cpuset cpu io memory hugetlb pids rdma misc".split())


class Layout:
    """The host's cgroup mounts. ``mode`` is "v1", "hybrid" or "v2"; ``v1`` maps each v1
    controller (and "name=systemd") to its mountpoint, co-mounted controllers sharing one;
    ``unified`` is the cgroup2 mountpoint or None; ``unified_controllers`` the controllers
    its root offers (cgroup.controllers)."""

    __slots__ = ("mode", "v1", "unified", "unified_controllers")

    def __init__(self, mode: str, v1: dict[str, str] | None = None, unified: str | None = None,
                 unified_controllers: set[str] | frozenset[str] | None = None) -> None:
        if mode not in ("v1", "hybrid", "v2"):
            raise ValueError(f"cgroup mode must be v1, hybrid or v2, not {mode!r}")
        self.mode = mode
        self.v1 = dict(v1 or {})
        self.unified = unified
        self.unified_controllers = set(unified_controllers or ())

    def hierarchies(self) -> list[str]:
        """Every mountpoint a container's cgroup is created in: v1 ones (each once, however
        many controllers share it), then the unified one."""
        seen = sorted(set(self.v1.values()))
        if self.unified:
            seen.append(self.unified)
        return seen

    def to_dict(self) -> dict:
        return {"mode": self.mode, "v1": dict(sorted(self.v1.items())), "unified": self.unified,
                "unified_controllers": sorted(self.unified_controllers)}

    @classmethod
    def from_dict(cls, d: dict) -> Layout:
        return cls(d["mode"], d.get("v1") or {}, d.get("unified"), set(d.get("unified_controllers") or ()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (f"Layout(mode={self.mode!r}, v1={self.v1!r}, unified={self.unified!r}, "
                f"unified_controllers={sorted(self.unified_controllers)!r})")


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and all(ch in "01234567" for ch in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse(text: str) -> tuple[dict[str, str], str | None]:
    """(v1 controller -> mountpoint, cgroup2 mountpoint) from mountinfo text. Pure, for tests.

    A hierarchy may be mounted several times (bind mounts, containers); the first mount of
    the hierarchy's root ("/") wins, else the first mount seen."""
    v1: dict[str, tuple[str, bool]] = {}
    unified: tuple[str, bool] | None = None
    for line in text.splitlines():
        if " - cgroup" not in line:  # cheap filter: most lines are other filesystems
            continue
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, mountpoint = _unescape(fields[3]), _unescape(fields[4])
        is_root = root == "/"
        if tail[0] == "cgroup2":
            if unified is None or (is_root and not unified[1]):
                unified = (mountpoint, is_root)
        elif tail[0] == "cgroup":
            for opt in tail[2].split(","):
                if opt in V1_CONTROLLERS or opt in V1_NAMED:
                    prev = v1.get(opt)
                    if prev is None or (is_root and not prev[1]):
                        v1[opt] = (mountpoint, is_root)
    return {c: mp for c, (mp, _) in v1.items()}, unified[0] if unified else None


def mode_of(v1: dict[str, str], unified: str | None) -> str:
    # A legacy name=systemd v1 mount next to cgroup2 is still v2: no controller is on v1.
    if unified and not (set(v1) & V1_CONTROLLERS):
        return "v2"
    return "hybrid" if unified else "v1"


def _read_controllers(unified: str) -> set[str]:
    try:
        with open(unified + "/cgroup.controllers") as f:
            return set(f.read().split())
    except OSError:
        return set()


def detect(mountinfo: str = "/proc/self/mountinfo") -> Layout:
    """The Layout of this host (as seen from this mount namespace). Never raises for odd or
    missing mounts: a host without cgroups yields an empty "v1" layout, and every limit then
    comes back from Manager.set() as a warning."""
    try:
        with open(mountinfo) as f:
            text = f.read()
    except OSError:
        text = ""
    v1, unified = parse(text)
    controllers = _read_controllers(unified) if unified else set()
    return Layout(mode_of(v1, unified), v1, unified, controllers)
