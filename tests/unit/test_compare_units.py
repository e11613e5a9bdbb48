"""compare's pure parts: the strace attribution of syscalls to QEMU/virtiofsd, the speed
script's marks, and the figure rule."""

import pytest

from dockyard.compare import figures, measure_speed, surface

TRACE = """\
100 execve("/work/.venv/bin/python", ["python"], 0x7ffc /* 30 vars */) = 0
100 openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD <unfinished ...>
101 close(7)                                = 0
101 execve("/usr/bin/qemu-system-x86_64", ["qemu-system-x86_64"], 0x5 /* 3 vars */) = 0
100 <... clone resumed>, child_tidptr=0x7f) = 101
101 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f
101 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0, stack=0x7f, stack_size=0x7ff}, 88 <unfinished ...>
102 ppoll([{fd=3, events=POLLIN}], 1, NULL, NULL, 8 <unfinished ...>
101 <... clone3 resumed>) = 102
102 <... ppoll resumed>) = 1 ([{fd=3, revents=POLLIN}])
100 wait4(101, <unfinished ...>
103 execve("/usr/lib/qemu/virtiofsd", ["virtiofsd"], 0x5 /* 3 vars */) = 0
103 fgetxattr(5, "user.x", NULL, 0) = -1 ENODATA (No data available)
101 +++ exited with 0 +++
"""


def test_vmm_syscalls_by_program():
    got = surface.vmm_syscalls(TRACE)
    # 101's close() came before its execve: the parent's (python's); its thread 102's ppoll is QEMU's
    assert got["qemu-system-x86_64"] == {"execve", "mmap", "clone3", "ppoll"}
    assert got["virtiofsd"] == {"execve", "fgetxattr"}
    assert "close" in got["python"] and "wait4" in got["python"]


def test_speed_marks_to_seconds():
    out = "@cpu 10.00\n@syscalls 10.50\nnoise\n@memory 11.25\n@disk 11.30\n@end 12.00\n"
    assert measure_speed.parse(out) == pytest.approx({"cpu": 0.5, "syscalls": 0.75, "memory": 0.05, "disk": 0.7})
    text = measure_speed.script(0.5)
    assert "count=32 " in text and "-lt 500 " in text and text.count("t ") >= 5


def test_figure_rule():
    ok = {"a": figures.measured(1, "ms", "timed"), "b": figures.missing("no dockerd"), "c": [figures.spread([3, 1, 2], "ms", "x")]}
    assert figures.problems(ok) == []
    assert ok["c"][0]["value"] == 2 and ok["c"][0]["min"] == 1 and ok["c"][0]["max"] == 3
    bad = {"a": {"value": 1, "how": ""}, "b": {"value": None, "reason": ""}}
    assert figures.problems(bad) == ["a: a value without unit or how", "b: no value and no reason"]
    assert figures.fmt(figures.missing("x")) == "n/a" and figures.fmt(figures.measured(1.5, "x", "r")) == "1.5x"
