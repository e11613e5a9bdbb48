"""The `dockyard` CLI end to end (issue 3, first verbs): bootstrap busybox, images, run in
the foreground with Docker's flags and exit codes, ps -a, rm, rmi. Each test has its own
storage and run roots, and must leave no mount, cgroup or process behind."""

from __future__ import annotations

import os
import subprocess

import pytest

from cli_env import DOCKYARD, bootstrap_busybox, mounted_under, private_env, remove_leftovers
pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if os.geteuid() != 0:
        from support import need

        need(False, "needs root")
    root = tmp_path_factory.mktemp("dy")
    e = private_env(root)
    bootstrap_busybox(e)
    yield e
    left = remove_leftovers(e)  # whatever a failed test left: removed, then reported
    assert not mounted_under(root)
    assert not left, f"containers left by the tests (now removed): {left}"


def dy(env, *args, input=None):
    return subprocess.run([DOCKYARD, *args], env=env, capture_output=True, text=True, input=input, timeout=60)


def test_images_lists_busybox(env):
    out = dy(env, "images").stdout.splitlines()
    assert out[0].split()[:3] == ["REPOSITORY", "TAG", "IMAGE"]
    assert any(line.split()[:2] == ["busybox", "latest"] for line in out[1:])


def test_run_exit_code_and_defaults(env):
    p = dy(env, "run", "--rm", "busybox", "sh", "-c",
           "hostname; grep -E '^(CapEff|Seccomp):' /proc/self/status; echo $HOME; exit 3")
    assert p.returncode == 3, p.stderr
    host, capeff, seccomp, home = p.stdout.split("\n")[:4]
    assert len(host) == 12 and capeff.split()[1] == "00000000a80425fb" and seccomp.split()[1] == "2"
    assert home == "/root"


def test_run_flags(env, tmp_path):
    (tmp_path / "in.txt").write_text("from the host\n")
    os.chmod(tmp_path, 0o755)  # readable by the container's user "nobody"
    p = dy(env, "run", "--rm", "-e", "GREETING=hi", "-w", "/tmp", "-u", "nobody", "--hostname", "box1",
           "-v", f"{tmp_path}:/data:ro", "--cap-drop", "ALL", "--read-only", "--memory", "32m", "busybox",
           "sh", "-c", "echo $GREETING; pwd; id -u; hostname; cat /data/in.txt; grep CapEff /proc/self/status;"
           " touch /x 2>/dev/null || echo ro; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null ||"
           " cat /sys/fs/cgroup/memory.max")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:5] == ["hi", "/tmp", "65534", "box1", "from the host"]
    assert lines[5].split()[1] == "0000000000000000" and lines[6] == "ro" and lines[7] == str(32 << 20)


def test_entrypoint_and_missing_command(env):
    p = dy(env, "run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint")
    assert p.returncode == 0 and p.stdout == "from entrypoint\n"
    p = dy(env, "run", "--rm", "busybox", "no-such-command")
    assert p.returncode == 127 and "executable file not found" in p.stderr
    p = dy(env, "run", "--bogus-flag", "busybox")
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1
    p = dy(env, "run", "--rm", "nosuchimage")
    assert p.returncode == 125 and "not found" in p.stderr


def test_named_container_ps_and_rm(env):
    assert dy(env, "run", "--name", "kept", "busybox", "sh", "-c", "exit 7").returncode == 7
    ps = dy(env, "ps", "-a").stdout
    line = next(x for x in ps.splitlines() if x.endswith(" kept"))
    assert "Exited (7)" in line
    assert dy(env, "run", "--name", "kept", "busybox", "true").returncode == 125  # name in use
    assert dy(env, "rm", "kept").returncode == 0
    assert "kept" not in dy(env, "ps", "-a").stdout


def test_rmi_then_bootstrap_again(env):
    p = dy(env, "rmi", "busybox")
    assert p.returncode == 0 and "Untagged: busybox:latest" in p.stdout
    assert "busybox" not in dy(env, "images").stdout
    assert dy(env, "bootstrap", "busybox").returncode == 0
    assert dy(env, "run", "--rm", "busybox", "true").returncode == 0


def test_detached_container_logs_stop_rm(env):
    from support import need_binary

    need_binary("conmon")
    p = dy(env, "run", "-d", "--name", "bg", "busybox", "sh", "-c", "echo to-out; echo to-err >&2; sleep 60")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    assert len(cid) == 64
    import time

    time.sleep(0.3)
    assert any(line.endswith(" bg") and "Running" in line for line in dy(env, "ps").stdout.splitlines())
    logs = dy(env, "logs", "bg")
    assert logs.stdout == "to-out\n" and logs.stderr == "to-err\n"  # streams kept apart
    assert dy(env, "rm", "bg").returncode == 125  # running: needs -f
    t0 = time.monotonic()
    assert dy(env, "stop", "-t", "1", "bg").returncode == 0  # sh as PID 1 ignores TERM: KILL after 1 s
    assert time.monotonic() - t0 < 10
    assert "Exited (137)" in next(x for x in dy(env, "ps", "-a").stdout.splitlines() if x.endswith(" bg"))
    last = dy(env, "logs", "--tail", "1", "bg")  # the last entry of either stream
    assert (last.stdout, last.stderr) == ("", "to-err\n")
    assert dy(env, "rm", "bg").returncode == 0
    assert " bg" not in dy(env, "ps", "-a").stdout


def test_detached_rm_removes_itself_and_rm_f(env):
    import time

    from support import need_binary

    need_binary("conmon")
    p = dy(env, "run", "-d", "--rm", "--name", "gone", "busybox", "true")
    assert p.returncode == 0, p.stderr
    end = time.monotonic() + 10
    while " gone" in dy(env, "ps", "-a").stdout and time.monotonic() < end:
        time.sleep(0.1)
    assert " gone" not in dy(env, "ps", "-a").stdout
    assert dy(env, "run", "-d", "--name", "busy", "busybox", "sleep", "60").returncode == 0
    assert dy(env, "rm", "-f", "busy").returncode == 0
    assert " busy" not in dy(env, "ps", "-a").stdout


def test_exec_kill_wait_inspect_rename_top(env):
    import json

    from support import need_binary

    need_binary("conmon")
    assert dy(env, "run", "-d", "--name", "ex1", "busybox", "sleep", "60").returncode == 0
    p = dy(env, "exec", "ex1", "sh", "-c", "echo in $(hostname); exit 9")
    assert p.returncode == 9 and p.stdout.startswith("in ")
    p = dy(env, "exec", "-u", "nobody", "-w", "/tmp", "-e", "X=1", "ex1", "sh", "-c", "id -u; pwd; echo $X")
    assert p.stdout.split() == ["65534", "/tmp", "1"]
    assert dy(env, "exec", "ex1", "no-such-thing").returncode == 127
    assert "sleep 60" in dy(env, "top", "ex1").stdout
    info = json.loads(dy(env, "inspect", "ex1").stdout)[0]
    assert info["Name"] == "/ex1" and info["State"]["Running"] and info["State"]["Pid"] > 0
    assert info["Path"] == "sleep" and info["Args"] == ["60"]
    img = json.loads(dy(env, "inspect", "busybox").stdout)[0]
    assert img["RepoTags"] == ["busybox:latest"] and img["Config"]["Cmd"] == ["sh"]
    assert dy(env, "rename", "ex1", "ex2").returncode == 0
    assert dy(env, "kill", "ex2").returncode == 0
    w = dy(env, "wait", "ex2")
    assert w.stdout.strip() == "137"
    assert dy(env, "exec", "ex2", "true").returncode == 125  # not running
    assert dy(env, "rm", "ex2").returncode == 0


def test_create_start_restart_keep_the_containers_files(env):
    import time

    from support import need_binary

    need_binary("conmon")
    p = dy(env, "create", "--name", "cs", "busybox", "sh", "-c", "echo x >> /runs; wc -l < /runs; sleep 60")
    assert p.returncode == 0, p.stderr
    assert "Created" in next(x for x in dy(env, "ps", "-a").stdout.splitlines() if x.endswith(" cs"))
    assert dy(env, "start", "cs").returncode == 0
    assert dy(env, "restart", "-t", "0", "cs").returncode == 0
    end = time.monotonic() + 10
    while dy(env, "logs", "cs").stdout.split() != ["1", "2"] and time.monotonic() < end:
        time.sleep(0.1)
    assert dy(env, "logs", "cs").stdout.split() == ["1", "2"]  # the second run saw the first one's file
    assert dy(env, "rm", "-f", "cs").returncode == 0


def test_etc_files_even_with_a_read_only_root(env):
    p = dy(env, "run", "--rm", "--read-only", "--hostname", "web1", "busybox", "sh", "-c",
           "cat /etc/hostname; grep web1 /etc/hosts; grep -c nameserver /etc/resolv.conf")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    # on the default bridge the hostname maps to the container's IP, as Docker writes it
    assert lines[0] == "web1" and lines[1].endswith("\tweb1") and int(lines[2]) >= 1


def test_save_and_load_cli(env, tmp_path):
    out = tmp_path / "busybox.tar"
    assert dy(env, "save", "-o", str(out), "busybox").returncode == 0 and out.stat().st_size > 1 << 20
    other = {**env, "DOCKYARD_ROOT": str(tmp_path / "other")}
    p = dy(other, "load", "-i", str(out))
    assert p.returncode == 0 and p.stdout.strip() == "Loaded image: busybox:latest"
    assert dy(other, "run", "--rm", "busybox", "echo", "loaded").stdout == "loaded\n"


def test_fifty_concurrent_runs(env):
    procs = [subprocess.Popen([DOCKYARD, "run", "--rm", "busybox", "sh", "-c", f"echo ok-{i}"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(50)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    failures = [(i, r) for i, r in enumerate(results) if r[0] != 0 or r[1] != f"ok-{i}\n"]
    assert not failures, failures[:3]
    assert dy(env, "ps", "-a", "-q").stdout == ""  # all removed, no record corrupted or left


def _subreaper(on: bool) -> None:
    """Orphans of a killed CLI (its dockyard-runtime child) come to us to be reaped, not to
    this machine's PID 1 (which does not reap promptly here)."""
    import ctypes

    ctypes.CDLL(None).prctl(36, 1 if on else 0, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def test_cli_killed_during_run_leaves_a_readable_store(env):
    import signal
    import time

    _subreaper(True)
    try:
        _killed_run(env, signal, time)
    finally:
        time.sleep(0.2)
        _reap()
        _subreaper(False)


def _killed_run(env, signal, time):
    p = subprocess.Popen([DOCKYARD, "run", "--name", "orphan", "busybox", "sleep", "60"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 20
    while "orphan" not in dy(env, "ps").stdout and time.monotonic() < end:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    ps = dy(env, "ps", "-a")
    assert ps.returncode == 0 and " orphan" in ps.stdout  # the store reads fine
    t0 = time.monotonic()
    assert dy(env, "rm", "-f", "orphan").returncode == 0
    assert time.monotonic() - t0 < 15
    assert " orphan" not in dy(env, "ps", "-a").stdout
    assert "busybox" in dy(env, "images").stdout


def test_cli_killed_during_rm_leaves_a_readable_store(env):
    """`rm -f` killed at several moments (stopping, runtime delete, unmount, row removal):
    the store stays readable and a second `rm -f` finishes the job."""
    import signal
    import time

    _subreaper(True)
    try:
        for i, delay in enumerate((0.02, 0.08, 0.2, 0.4)):
            name = f"rmkill{i}"
            assert dy(env, "run", "-d", "--name", name, "busybox", "sleep", "60").returncode == 0
            p = subprocess.Popen([DOCKYARD, "rm", "-f", name], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            p.wait()
            ps = dy(env, "ps", "-a", "--format", "{{.Names}} {{.Status}}")
            assert ps.returncode == 0, ps.stderr
            assert dy(env, "images").returncode == 0
            if name in ps.stdout.split():
                p2 = dy(env, "rm", "-f", name)
                assert p2.returncode == 0, p2.stderr
            assert name not in dy(env, "ps", "-a").stdout
    finally:
        time.sleep(0.2)
        _reap()
        _subreaper(False)


def test_init_runs_docker_init_as_pid_1(env):
    p = dy(env, "run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; exit 5")
    assert p.returncode == 5, p.stderr
    assert p.stdout.split()[:3] == ["/sbin/docker-init", "--", "sh"]
    # the workload is checked, not the init: a missing command is still 127
    assert dy(env, "run", "--rm", "--init", "busybox", "no-such-command").returncode == 127


def test_cli_killed_during_load_leaves_a_consistent_store(env, tmp_path):
    import signal
    import time

    out = tmp_path / "bb.tar"
    assert dy(env, "save", "-o", str(out), "busybox").returncode == 0
    other = {**env, "DOCKYARD_ROOT": str(tmp_path / "victim")}
    for delay in (0.05, 0.15, 0.3):
        p = subprocess.Popen([DOCKYARD, "load", "-i", str(out)], env=other, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert dy(other, "images").returncode == 0  # readable whatever the moment of the kill
    assert dy(other, "load", "-i", str(out)).returncode == 0  # and a later load completes it
    assert dy(other, "run", "--rm", "busybox", "true").returncode == 0


def test_import_a_rootfs_tarball(env, tmp_path):
    import gzip
    import tarfile

    from dockyard.image.base import busybox_layer

    raw = tmp_path / "rootfs.tar"
    with open(raw, "wb") as f:
        busybox_layer(f)
    gz = tmp_path / "rootfs.tar.gz"
    gz.write_bytes(gzip.compress(raw.read_bytes()))
    p = dy(env, "import", str(gz), "localhost/imported:1")
    assert p.returncode == 0 and p.stdout.startswith("sha256:"), p.stderr
    p = dy(env, "run", "--rm", "localhost/imported:1", "/bin/sh", "-c", "echo imported")
    assert p.stdout == "imported\n", p.stderr
    assert dy(env, "run", "--rm", "localhost/imported:1").returncode == 125  # no CMD, as docker import
    with open(raw, "rb") as f:
        p = subprocess.run([DOCKYARD, "import", "-", "localhost/fromstdin"], env=env, stdin=f, capture_output=True,
                           text=True)
    assert p.returncode == 0, p.stderr
    (tmp_path / "bad.tar").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    assert dy(env, "import", str(tmp_path / "bad.tar")).returncode == 125
    assert tarfile.is_tarfile(raw)


def test_env_file_ulimit_label_stop_signal(env, tmp_path):
    import json
    import time

    (tmp_path / "vars").write_text("# comment\nA=1\n\nB=two words\n")
    p = dy(env, "run", "--rm", "--env-file", str(tmp_path / "vars"), "-e", "A=override", "--ulimit", "nofile=512:768",
           "busybox", "sh", "-c", 'echo "$A|$B"; ulimit -n; ulimit -Hn')
    assert p.stdout.split("\n")[:3] == ["override|two words", "512", "768"], p.stderr
    assert dy(env, "run", "--rm", "--ulimit", "nofile=lots", "busybox", "true").returncode == 125
    # sh as PID 1 ignores TERM but not a signal it has a handler for: stop uses --stop-signal
    p = dy(env, "run", "-d", "--name", "sig", "--label", "team=dock", "--stop-signal", "USR1", "--stop-timeout", "5",
           "busybox", "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done")
    assert p.returncode == 0, p.stderr
    info = json.loads(dy(env, "inspect", "sig").stdout)[0]
    assert info["Config"]["Labels"] == {"team": "dock"} and info["Config"]["StopSignal"] == "USR1"
    time.sleep(0.3)
    t0 = time.monotonic()
    assert dy(env, "stop", "sig").returncode == 0
    assert time.monotonic() - t0 < 4  # the trap ran: no wait for the 5 s timeout and SIGKILL
    assert "Exited (42)" in next(x for x in dy(env, "ps", "-a").stdout.splitlines() if x.endswith(" sig"))
    assert dy(env, "rm", "sig").returncode == 0


def test_tag_history_prune_df(env, tmp_path):
    other = {**env, "DOCKYARD_ROOT": str(tmp_path / "prune")}
    assert dy(other, "bootstrap", "busybox").returncode == 0
    assert dy(other, "tag", "busybox", "localhost/bb:2").returncode == 0
    assert "localhost/bb" in dy(other, "images").stdout
    assert "busybox-static" in dy(other, "history", "busybox").stdout
    assert dy(other, "run", "--name", "stopped1", "busybox", "true").returncode == 0
    assert "Containers" in dy(other, "system", "df").stdout
    assert dy(other, "image", "prune", "-a").stdout.count("Deleted") == 0  # used by a container
    assert "Deleted:" in dy(other, "container", "prune").stdout
    assert dy(other, "ps", "-a", "-q").stdout == ""
    out = dy(other, "image", "prune", "-a").stdout
    assert "Deleted: sha256:" in out and "3 blobs" in out
    assert dy(other, "image", "ls").stdout.count("\n") == 1  # the header only


def test_run_it_through_a_real_pty(env):
    from support import run_on_pty

    code, out = run_on_pty([DOCKYARD, "run", "--rm", "-it", "busybox", "sh", "-c", "tty; read line; echo got:$line; exit 6"],
                           wait_for=b"/dev/pts/0", answer=b"hello\r", env=env)
    assert code == 6 and b"/dev/pts/0" in out and b"got:hello" in out, out


def test_logs_follow_after_the_cli_returned(env):
    p = dy(env, "run", "-d", "--name", "chatty", "busybox", "sh", "-c",
           "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done")
    assert p.returncode == 0
    f = dy(env, "logs", "-f", "chatty")  # returns when the container exits, with everything
    assert f.stdout.split() == ["line1", "line2", "line3", "line4", "line5"]
    assert dy(env, "rm", "chatty").returncode == 0


def test_restart_policies_without_a_daemon(env):
    import json
    import time

    assert dy(env, "run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c",
              "echo run; exit 1").returncode == 0
    end = time.monotonic() + 20
    while time.monotonic() < end:  # first run + 2 restarts, then it stays exited
        info = json.loads(dy(env, "inspect", "flaky").stdout)[0]
        if len(dy(env, "logs", "flaky").stdout.split()) == 3 and not info["State"]["Running"]:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # no fourth run comes (the limit is 2)
    info = json.loads(dy(env, "inspect", "flaky").stdout)[0]
    assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 1 and not info["State"]["Running"]
    assert dy(env, "logs", "flaky").stdout.split() == ["run", "run", "run"]
    assert dy(env, "run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "0.2").returncode == 0
    end = time.monotonic() + 20
    while json.loads(dy(env, "inspect", "always").stdout)[0]["RestartCount"] < 1 and time.monotonic() < end:
        time.sleep(0.1)
    assert json.loads(dy(env, "inspect", "always").stdout)[0]["RestartCount"] >= 1  # restarted after exit 0
    assert dy(env, "stop", "always").returncode == 0
    time.sleep(1.5)
    info = json.loads(dy(env, "inspect", "always").stdout)[0]
    assert not info["State"]["Running"]  # stopped by hand: not brought back
    assert dy(env, "run", "--rm", "--restart", "always", "busybox", "true").returncode == 125
    assert dy(env, "rm", "-f", "flaky", "always").returncode == 0


def test_ps_filter_and_format(env):
    assert dy(env, "run", "--name", "fa", "--label", "tier=web", "busybox", "true").returncode == 0
    assert dy(env, "run", "--name", "fb", "busybox", "sh", "-c", "exit 3").returncode == 3
    out = dy(env, "ps", "-a", "--filter", "label=tier=web", "--format", "{{.Names}}\\t{{.Status}}").stdout
    assert out == "fa\tExited (0)\n"
    assert dy(env, "ps", "--filter", "exited=3", "--format", "{{.Names}}").stdout == "fb\n"  # implies -a
    table = dy(env, "ps", "-a", "--filter", "name=f", "--format", "table {{.Names}}\\t{{.State}}").stdout.splitlines()
    assert table[0] == "NAMES\tSTATE" and sorted(table[1:]) == ["fa\texited", "fb\texited"]
    p = dy(env, "ps", "--filter", "bogus=1")
    assert p.returncode == 125 and "unknown filter" in p.stderr
    assert dy(env, "rm", "fa", "fb").returncode == 0


def test_named_volumes(env):
    import json

    assert dy(env, "volume", "create", "--label", "k=v", "vol1").stdout == "vol1\n"
    assert dy(env, "run", "--rm", "-v", "vol1:/data", "busybox", "sh", "-c", "echo kept > /data/f").returncode == 0
    p = dy(env, "run", "--name", "vreader", "-v", "vol1:/data:ro", "busybox", "sh", "-c",
           "cat /data/f; touch /data/x 2>/dev/null || echo read-only")
    assert p.stdout == "kept\nread-only\n", p.stderr
    info = json.loads(dy(env, "volume", "inspect", "vol1").stdout)[0]
    assert info["Labels"] == {"k": "v"} and info["Driver"] == "local"
    p = dy(env, "volume", "rm", "vol1")
    assert p.returncode == 125 and "in use" in p.stderr  # vreader still names it
    assert dy(env, "rm", "vreader").returncode == 0
    assert dy(env, "run", "--rm", "-v", "made-on-use:/x", "busybox", "true").returncode == 0
    assert "made-on-use" in dy(env, "volume", "ls", "-q").stdout
    assert set(dy(env, "volume", "prune").stdout.split()) >= {"Deleted:", "vol1", "made-on-use"}
    assert dy(env, "volume", "ls", "-q").stdout == ""
    assert dy(env, "run", "--rm", "-v", "bad/name:/x", "busybox", "true").returncode == 125


def test_bootstrap_debian_with_debootstrap(env, tmp_path):
    """A real Debian (minbase) from the host's Debian mirror, made here and run (~40 s)."""
    from support import need_binary

    need_binary("debootstrap")
    other = {**env, "DOCKYARD_ROOT": str(tmp_path / "debian")}
    p = dy(other, "bootstrap", "debian:bookworm")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("debian:bookworm sha256:")
    p = dy(other, "run", "--rm", "debian:bookworm", "sh", "-c", "cat /etc/debian_version; command -v apt-get")
    assert p.returncode == 0 and p.stdout.split("\n")[0].startswith("12.") and "apt-get" in p.stdout, p.stderr
    assert dy(other, "run", "--rm", "debian", "true").returncode == 125  # no debian:latest was made
    p = dy(other, "bootstrap", "debian:no-such-suite")
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1
    assert [n for n in os.listdir(tmp_path / "debian") if n.startswith(".debootstrap-")] == []  # scratch removed
