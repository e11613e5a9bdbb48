"""`dockyard attach` and `dockyard stats` end to end, on detached containers held by conmon:
output from the moment of attaching, stdin, a pty (raw mode, resize, detach keys), signal
proxying and exit codes; CPU/memory/pids figures read from the container's cgroup."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from cli_env import DOCKYARD, bootstrap_busybox, mounted_under, private_env, remove_leftovers
pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from support import need, need_binary

    need(os.geteuid() == 0, "needs root")
    need_binary("conmon")
    root = tmp_path_factory.mktemp("dy")
    e = private_env(root)
    bootstrap_busybox(e)
    yield e
    left = remove_leftovers(e)  # whatever a failed test left: removed, then reported
    assert not mounted_under(root)
    assert not left, f"containers left by the tests (now removed): {left}"


def dy(env, *args, input=None, timeout=60):
    return subprocess.run([DOCKYARD, *args], env=env, capture_output=True, text=True, input=input, timeout=timeout)


def detached(env, *args) -> str:
    p = dy(env, "run", "-d", *args)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def running(env, name: str) -> bool:
    return any(line.endswith(" " + name) for line in dy(env, "ps").stdout.splitlines())


# a container that waits for `exec NAME touch /go`, so a test knows its attach came first
WAIT_GO = "while [ ! -e /go ]; do sleep 0.05; done; "


def attach_then_go(env, name: str, *attach_args, stdin=subprocess.DEVNULL):
    """Start `attach`, give it time to connect, then let the container go on."""
    p = subprocess.Popen([DOCKYARD, "attach", *attach_args, name], env=env, stdin=stdin,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert dy(env, "exec", name, "touch", "/go").returncode == 0
    return p


def test_attach_streams_later_output_apart_and_returns_exit_code(env):
    detached(env, "--name", "att1", "busybox", "sh", "-c", "echo before; " + WAIT_GO +
             "echo to-out; echo to-err >&2; exit 3")
    p = attach_then_go(env, "att1")
    out, err = p.communicate(timeout=30)
    assert p.returncode == 3, err
    assert out == "to-out\n" and err == "to-err\n"  # from now on (no "before"), streams apart
    assert "Exited (3)" in next(x for x in dy(env, "ps", "-a").stdout.splitlines() if x.endswith(" att1"))
    assert dy(env, "rm", "att1").returncode == 0


def test_attach_forwards_stdin_to_run_d_i(env):
    detached(env, "-i", "--name", "att2", "busybox", "sh", "-c", "read line; echo got:$line; exit 4")
    p = dy(env, "attach", "att2", input="hello\n")
    assert p.returncode == 4, p.stderr
    assert p.stdout == "got:hello\n"
    # without -i the container's stdin is not open to attach: `cat` saw EOF at once
    detached(env, "--name", "att2b", "busybox", "sh", "-c", "cat; echo cat-done; sleep 300")
    time.sleep(0.5)
    assert dy(env, "logs", "att2b").stdout == "cat-done\n"
    assert dy(env, "rm", "-f", "att2", "att2b").returncode == 0


def test_attach_to_a_tty_container_raw_resized_and_exit_code(env):
    from support import run_on_pty

    detached(env, "-i", "-t", "--name", "att3", "busybox", "sh")
    # the local terminal is 33x101: attach passes its size to conmon's pty
    code, out = run_on_pty(["sh", "-c", f"stty rows 33 cols 101; exec {DOCKYARD} attach att3"], env=env,
                           wait_for=b"", answer=b"stty size; tty; exit 5\r")
    assert code == 5, out
    assert b"33 101" in out and b"/dev/pts/0" in out, out
    assert dy(env, "rm", "att3").returncode == 0


def test_attach_forwards_a_window_resize(env):
    """The terminal changes size while attached: SIGWINCH -> conmon's ctl -> the pty."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    detached(env, "-i", "-t", "--name", "att10", "busybox", "sh")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))

    def controlling_tty():  # so the kernel sends SIGWINCH to attach when the size changes
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen([DOCKYARD, "attach", "att10"], env=env, stdin=slave, stdout=slave, stderr=slave,
                         preexec_fn=controlling_tty)
    os.close(slave)
    out = b""

    def until(text: bytes, timeout: float = 15.0) -> None:
        nonlocal out
        end = time.monotonic() + timeout
        while text not in out and time.monotonic() < end:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    out += os.read(master, 4096)
                except OSError:  # EIO: attach ended, nothing more will come
                    break
        assert text in out, out

    try:
        time.sleep(1.0)
        os.write(master, b"stty size\r")
        until(b"33 101")
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        time.sleep(0.5)
        os.write(master, b"stty size; exit 7\r")
        until(b"40 120")
        assert p.wait(timeout=15) == 7
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    assert dy(env, "rm", "-f", "att10").returncode == 0


def test_run_d_t_works_under_conmon(env):
    detached(env, "-t", "--name", "att4", "busybox", "sh", "-c", "tty; stty size; exit 2")
    assert dy(env, "wait", "att4").stdout.strip() == "2"
    assert dy(env, "logs", "att4").stdout.splitlines()[0].strip() == "/dev/pts/0"
    assert dy(env, "rm", "att4").returncode == 0


def test_detach_keys_leave_the_container_running(env):
    from support import run_on_pty

    detached(env, "-i", "-t", "--name", "att5", "busybox", "sh")
    t0 = time.monotonic()
    code, out = run_on_pty([DOCKYARD, "attach", "att5"], env=env, wait_for=b"", answer=b"\x10\x11", timeout=15)
    assert code == 1 and b"read escape sequence" in out and time.monotonic() - t0 < 10, out  # docker's 1
    assert running(env, "att5")
    # custom keys, stdin not a terminal: the bytes before them still reach the container
    detached(env, "-i", "--name", "att6", "busybox", "sh", "-c", "read line; echo got:$line >&2; sleep 300")
    p = dy(env, "attach", "--detach-keys", "ctrl-x,d", "att6", input="typed\n\x18d", timeout=15)
    assert p.returncode == 1 and p.stderr == "read escape sequence\n"
    time.sleep(0.3)
    assert running(env, "att6") and dy(env, "logs", "att6").stderr == "got:typed\n"
    p = dy(env, "attach", "--detach-keys", "ctrl-", "att6")
    assert p.returncode == 125 and "--detach-keys" in p.stderr and len(p.stderr.splitlines()) == 1
    assert dy(env, "rm", "-f", "att5", "att6").returncode == 0


def test_attach_proxies_signals_unless_told_not_to(env):
    detached(env, "--name", "att7", "busybox", "sh", "-c",
             "trap 'echo got-term; exit 9' TERM; " + WAIT_GO + "echo waiting; while :; do sleep 0.1; done")
    p = attach_then_go(env, "att7")
    assert p.stdout.readline() == "waiting\n"
    p.send_signal(signal.SIGTERM)  # to the attach client: forwarded to the container
    out, err = p.communicate(timeout=30)
    assert p.returncode == 9 and out == "got-term\n", err
    detached(env, "--name", "att8", "busybox", "sh", "-c", "trap 'exit 9' INT; " + WAIT_GO + "echo waiting; sleep 300")
    p = attach_then_go(env, "att8", "--sig-proxy=false")
    assert p.stdout.readline() == "waiting\n"
    p.send_signal(signal.SIGINT)  # not forwarded: the client ends, the container runs on
    p.communicate(timeout=30)
    assert p.returncode == 130 and running(env, "att8")
    assert dy(env, "rm", "-f", "att7", "att8").returncode == 0


def test_attach_refuses_what_it_cannot_attach_to(env):
    assert dy(env, "run", "--name", "att9", "busybox", "true").returncode == 0
    for name in ("att9", "no-such-container"):
        p = dy(env, "attach", name)
        assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("dockyard: ")
    assert dy(env, "rm", "att9").returncode == 0


def _stats(env, *args) -> dict:
    p = dy(env, "stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}", *args)
    assert p.returncode == 0, p.stderr
    rows = {}
    for line in p.stdout.splitlines():
        name, mem, pids, cpu = line.split("|")
        rows[name] = (mem, int(pids), float(cpu.rstrip("%")))
    return rows


def _bytes(text: str) -> float:
    units = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    raise AssertionError(text)


def test_stats_memory_pids_cpu_and_format(env):
    detached(env, "--name", "st1", "--memory", "256m", "--tmpfs", "/t", "busybox", "sh", "-c",
             "mkfifo /t/go; read x < /t/go; head -c 50000000 /dev/zero > /t/fill; sleep 300 & sleep 300 & wait")
    detached(env, "--name", "st2", "busybox", "sh", "-c", "while :; do :; done")
    before = _stats(env, "st1", "st2")
    usage, limit = (_bytes(x) for x in before["st1"][0].split(" / "))
    assert limit == 256 * 1024**2 and usage < 20 * 1024**2
    assert before["st1"][1] == 1  # sh alone, blocked opening the fifo
    assert dy(env, "exec", "st1", "sh", "-c", "echo > /t/go").returncode == 0
    time.sleep(1.0)
    after = _stats(env, "st1", "st2")
    grown = _bytes(after["st1"][0].split(" / ")[0])
    assert grown - usage > 40 * 1024**2, (before, after)  # the 50 MB written into its tmpfs
    assert after["st1"][1] == 3  # and two sleeps
    assert after["st2"][2] > 50.0  # a busy loop: most of one CPU, as Docker computes it
    table = dy(env, "stats", "--no-stream", "st1").stdout.splitlines()
    assert table[0].split()[:3] == ["CONTAINER", "ID", "NAME"] and "MEM USAGE / LIMIT" in table[0]
    assert table[1].split()[1] == "st1" and "B / " in table[1]  # NET I/O: bytes in / out (issue 6)
    full = dy(env, "stats", "--no-stream", "--no-trunc", "--format", "table {{.ID}}\t{{.PIDs}}", "st1").stdout
    assert full.splitlines()[0].split() == ["CONTAINER", "ID", "PIDS"] and len(full.splitlines()[1].split()[0]) == 64
    assert dy(env, "rm", "-f", "st1", "st2").returncode == 0


def test_stats_all_stream_and_errors(env):
    assert dy(env, "run", "--name", "st3", "busybox", "true").returncode == 0
    detached(env, "--name", "st4", "busybox", "sleep", "300")
    running_only = _stats(env)
    assert "st4" in running_only and "st3" not in running_only
    assert _stats(env, "-a")["st3"] == ("0B / 0B", 0, 0.0)  # stopped: zeros, as docker shows
    p = subprocess.Popen([DOCKYARD, "stats", "st4"], env=env, stdout=subprocess.PIPE, text=True)
    time.sleep(2.8)
    p.send_signal(signal.SIGINT)  # how a stream is ended
    out, _ = p.communicate(timeout=10)
    assert p.returncode == 0 and out.count("\033[2J\033[H") >= 2 and "st4" in out
    p = dy(env, "stats", "--no-stream", "st4", "no-such-container")
    assert p.returncode == 1 and p.stdout == "" and p.stderr.strip().splitlines() == [
        "dockyard: no such container: no-such-container"]
    assert dy(env, "stats", "--bogus").returncode == 125
    assert dy(env, "rm", "-f", "st3", "st4").returncode == 0


def test_detach_keys_parsed_and_found_across_reads():
    from dockyard.engine.attach import DetachMatcher, parse_detach_keys
    from dockyard.errors import ConfigError

    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-@,a,ctrl-\\") == b"\x00a\x1c"
    for bad in ("ctrl-", "ctrl-pq", "shift-a", ""):
        with pytest.raises(ConfigError):
            parse_detach_keys(bad)
    m = DetachMatcher(b"\x10\x11")
    assert m.feed(b"ab\x10") == (b"ab", False)  # a maybe-start is held back...
    assert m.feed(b"c") == (b"\x10c", False)  # ...and released when it was not the sequence
    assert m.feed(b"\x10\x10") == (b"\x10", False)
    assert m.feed(b"\x11rest") == (b"", True)


def test_sizes_as_docker_prints_them():
    from dockyard.cli.stats import binary_size, decimal_size

    assert binary_size(0) == "0B" and binary_size(1536) == "1.5KiB" and binary_size(50 * 2**20) == "50MiB"
    assert binary_size(23.54 * 2**30) == "23.54GiB"
    assert decimal_size(376832) == "376.8kB" and decimal_size(999) == "999B"
