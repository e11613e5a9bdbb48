"""compare's pure parts: the strace attribution of syscalls to QEMU/virtiofsd, the speed
script's marks, the figure rule, and the network stream's receiver (a real busybox nc to it over
loopback: the host mode's figure)."""

import os
import socket

import pytest
from support import need

from dockyard.compare import figures, measure_network, measure_speed, modes, surface

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


def test_network_stream_size():
    assert measure_network.count(1.0) == 256  # 16 MiB in 64 KiB blocks
    assert measure_network.count(0.001) == 16  # never below 1 MiB
    assert measure_network.script("10.88.0.1", 4242, 0.25) == \
        "dd if=/dev/zero bs=64k count=64 2>/dev/null | nc 10.88.0.1 4242"


def test_network_host_stream_timed_by_the_receiver():
    need(os.path.exists(modes.BUSYBOX), "needs busybox-static")
    seconds, err = measure_network.one_run(modes.Host(), "127.0.0.1", 0.125)  # 2 MiB over loopback
    assert err is None and 0 < seconds < 10


def test_network_receiver_reports_a_short_stream():
    # 10 bytes where 2 MiB were due: a failure with what arrived, not a fast figure
    class Short(modes.Host):
        def bridge_argv(self, script):
            return [modes.BUSYBOX, "sh", "-c", script.replace("count=32", "count=0; printf 0123456789")]

    need(os.path.exists(modes.BUSYBOX), "needs busybox-static")
    seconds, err = measure_network.one_run(Short(), "127.0.0.1", 0.125)
    assert seconds is None and err and "of 2097152 bytes" in err


def test_network_receiver_without_a_sender_gives_up():
    rx = measure_network.Receiver()
    rx.close(0)  # the workload never connected: closing the socket ends the wait at once
    assert not rx.thread.is_alive() and rx.error and rx.error.startswith("no connection")
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", rx.port)) != 0  # the port is not left listening
