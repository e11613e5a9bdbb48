"""The OCI lifecycle through the CLI: create/start/state/kill/delete, pause/resume, exec,
hooks in order, a terminal through --console-socket, update, list/ps/events."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from runtime_fixtures import cid

pytestmark = pytest.mark.root


def wait_status(rt, c, want, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = rt.state(c)["status"]
        if st == want:
            return
        time.sleep(0.02)
    raise AssertionError(f"{c}: status {st}, wanted {want}")


def test_full_lifecycle_with_spec_status_values(rt, bundle, tmp_path):
    b = bundle("sleep", "60")
    c = cid(rt)
    pidfile = tmp_path / "pid"
    rt.detach("create", "--bundle", b.path, "--pid-file", str(pidfile), c)
    st = rt.state(c)
    assert st["status"] == "created"
    assert st["id"] == c and st["bundle"] == b.path and st["ociVersion"]
    assert st["pid"] == int(pidfile.read_text())
    # created: the init waits, the user's command has not run yet
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert b"sleep" not in f.read()
    assert c in rt("list", "-q", check=True).stdout.split()
    rt("start", c, check=True)
    wait_status(rt, c, "running")
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"
    assert rt("start", c).returncode != 0  # not twice
    assert rt("delete", c).returncode != 0  # running: needs --force
    assert json.loads(rt("ps", "--format", "json", c, check=True).stdout) == [st["pid"]]
    rt("kill", c, "KILL", check=True)
    wait_status(rt, c, "stopped")
    assert rt.state(c)["pid"] == 0
    assert rt("kill", c, "TERM").returncode != 0  # not running any more
    rt("delete", c, check=True)
    p = rt("state", c)
    assert p.returncode != 0 and "does not exist" in p.stderr


def test_pause_and_resume(rt, bundle):
    b = bundle("sh", "-c", "while true; do sleep 0.05; done")
    c = cid(rt)
    rt.detach("run", "--detach", "--bundle", b.path, c)
    pid = rt.state(c)["pid"]
    rt("pause", c, check=True)
    assert rt.state(c)["status"] == "paused"
    with open(f"/proc/{pid}/stat") as f:
        assert f.read().rsplit(")", 1)[1].split()[0] in ("D", "S")  # frozen, not running
    assert rt("pause", c).returncode != 0
    rt("resume", c, check=True)
    assert rt.state(c)["status"] == "running"
    rt("delete", "--force", c, check=True)


def test_kill_all_and_delete_force_of_paused(rt, bundle):
    b = bundle("sh", "-c", "sleep 60 & sleep 60 & wait")
    c = cid(rt)
    rt.detach("run", "-d", "--bundle", b.path, c)
    time.sleep(0.2)
    assert len(json.loads(rt("ps", "--format", "json", c, check=True).stdout)) == 3
    rt("pause", c, check=True)
    rt("delete", "--force", c, check=True)
    assert c not in rt.ids()


def test_exec_into_running_container(rt, bundle, tmp_path):
    b = bundle("sleep", "60")
    b.set(hostname="exec-target")
    c = cid(rt)
    rt.detach("run", "-d", "--bundle", b.path, c)
    p = rt("exec", c, "sh", "-c", "echo $$; hostname; cat /proc/1/cmdline; echo; id -u; exit 5")
    assert p.returncode == 5, p.stderr
    pid, host, init_cmd, uid = p.stdout.split()
    assert pid != "1" and host == "exec-target" and init_cmd.startswith("sleep") and uid == "0"
    # argv form with overrides
    p = rt("exec", "--user", "1000:1000", "--cwd", "/tmp", "--env", "FOO=bar", c, "sh", "-c", "id -u; pwd; echo $FOO")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1000", "/tmp", "bar"]
    # --process form
    proc = {"args": ["sh", "-c", "echo from-process-json; exit 3"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0}}
    pj = tmp_path / "process.json"
    pj.write_text(json.dumps(proc))
    p = rt("exec", "--process", str(pj), c)
    assert p.returncode == 3 and "from-process-json" in p.stdout
    # detached exec with a pid file
    pidfile = tmp_path / "exec.pid"
    rt.detach("exec", "--detach", "--pid-file", str(pidfile), c, "sleep", "30")
    assert int(pidfile.read_text()) in json.loads(rt("ps", "--format", "json", c, check=True).stdout)
    # bad: a missing command
    p = rt("exec", c, "no-such-command")
    assert p.returncode != 0 and "not found" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    rt("delete", "--force", c, check=True)


def test_hooks_run_in_order_with_state_on_stdin(rt, bundle, tmp_path):
    logdir = tmp_path / "hooklog"
    logdir.mkdir()
    log = logdir / "order"
    b = bundle("sh", "-c", "echo workload >> /hooklog/order")
    b.config["root"]["readonly"] = False
    b.config["mounts"].append({"destination": "/hooklog", "type": "bind", "source": str(logdir),
                               "options": ["rbind", "rw"]})

    def host_hook(kind):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {logdir}/{kind}.json; echo {kind} >> {log}"]}

    b.config["hooks"] = {
        "prestart": [host_hook("prestart")],
        "createRuntime": [host_hook("createRuntime")],
        # runs in the container's namespaces but before pivot_root: host paths still resolve
        "createContainer": [host_hook("createContainer")],
        # runs inside the container (its /bin/sh, its /hooklog)
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer >> /hooklog/order"]}],
        "poststart": [host_hook("poststart")],
        "poststop": [host_hook("poststop")],
    }
    b.write()
    c = cid(rt)
    p = rt("run", "--bundle", b.path, c)
    assert p.returncode == 0, p.stderr
    order = log.read_text().split()
    # poststart runs after start returns, concurrently with the workload: compare the rest
    assert [o for o in order if o not in ("poststart", "workload")] == \
        ["prestart", "createRuntime", "createContainer", "startContainer", "poststop"]
    assert "poststart" in order and order.index("poststart") > order.index("startContainer")
    st = json.loads((logdir / "createRuntime.json").read_text())
    assert st["id"] == c and st["pid"] > 0 and st["bundle"] == b.path
    assert json.loads((logdir / "poststop.json").read_text())["status"] == "stopped"


def test_failing_create_hook_fails_create_and_cleans_up(rt, bundle):
    b = bundle("true")
    b.config["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    b.write()
    p = rt("create", "--bundle", b.path, cid(rt))
    assert p.returncode != 0 and "createRuntime hook" in p.stderr
    assert rt.ids() == []


def test_terminal_through_console_socket(rt, bundle, tmp_path):
    b = bundle("sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty; stty size; sleep 0.3")
    b.process(terminal=True, consoleSize={"height": 33, "width": 101})
    sock_path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    c = cid(rt)
    rt.detach("create", "--bundle", b.path, "--console-socket", sock_path, c)
    conn, _ = srv.accept()
    from support import recv_with_fds

    master = recv_with_fds(conn)[1][0]
    conn.close()
    srv.close()
    rt("start", c, check=True)
    out = b""
    end = time.monotonic() + 10
    while time.monotonic() < end and b"101" not in out:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        out += chunk
    os.close(master)
    text = out.decode()
    assert "/dev/pts/0" in text and "stdin-is-a-tty" in text and "33 101" in text, text
    rt("delete", "--force", c, check=True)


def test_update_resources_live(rt, bundle):
    b = bundle("sleep", "60")
    b.linux(resources={"memory": {"limit": 64 << 20}, "pids": {"limit": 20}})
    c = cid(rt)
    rt.detach("run", "-d", "--bundle", b.path, c)
    rt("update", "--memory", "128m", "--pids-limit", "30", "--cpu-quota", "50000", "--cpu-period", "100000", c,
       check=True)
    p = rt("exec", c, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
           "/sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max")
    assert p.stdout.split()[:3] == [str(128 << 20), "30", "50000"], p.stdout + p.stderr
    stats = json.loads(rt("events", "--stats", c, check=True).stdout)
    assert stats["type"] == "stats" and stats["data"]["pids"]["current"] >= 1
    rt("delete", "--force", c, check=True)


def test_spec_and_features(rt, tmp_path):
    p = rt("spec", "--bundle", str(tmp_path))
    assert p.returncode == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["process"]["args"] == ["sh"] and {"type": "pid"} in cfg["linux"]["namespaces"]
    assert rt("spec", "--bundle", str(tmp_path)).returncode != 0  # no silent overwrite
    feats = json.loads(rt("features", check=True).stdout)
    assert "user" in feats["linux"]["namespaces"] and feats["linux"]["seccomp"]["enabled"]
    assert "SCMP_ACT_NOTIFY" in feats["linux"]["seccomp"]["actions"]


def test_concurrent_create_same_id_only_one_wins(rt, bundle, tmp_path):
    import subprocess

    from runtime_fixtures import RUNTIME

    b = bundle("sleep", "30")
    c = cid(rt)
    # stderr to files, not pipes: the winner's init keeps its stdio open until it exits
    errfiles = [open(tmp_path / f"err{i}", "w+") for i in range(4)]
    procs = [subprocess.Popen([RUNTIME, "--root", rt.root, "create", "--bundle", b.path, c],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errfiles[i])
             for i in range(4)]
    codes = [p.wait(timeout=30) for p in procs]
    errs = []
    for f in errfiles:
        f.seek(0)
        errs.append(f.read())
        f.close()
    assert sorted(codes).count(0) == 1, (codes, errs)
    assert all("already exists" in e for e, code in zip(errs, codes, strict=True) if code != 0)
    assert rt.state(c)["status"] == "created"
    rt("delete", c, check=True)  # a created container can be deleted without --force


def test_systemd_cgroup_flag_is_accepted_and_says_what_it_does(rt, bundle, tmp_path):
    import glob

    existed = set(glob.glob("/sys/fs/cgroup/*/system.slice"))
    b = bundle("sleep", "30")
    c = cid(rt)
    b.linux(cgroupsPath=f"system.slice:dyt:{c}")
    log = tmp_path / "log.json"
    rt.detach("--systemd-cgroup", "--log", str(log), "--log-format", "json", "run", "-d", "--bundle", b.path, c)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e["level"] == "warning" and "--systemd-cgroup is not supported" in e["msg"] for e in entries)
    pid = rt.state(c)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        assert f"/system.slice/dyt-{c}.scope" in f.read()
    rt("delete", "--force", c, check=True)
    assert not os.path.exists(f"/sys/fs/cgroup/pids/system.slice/dyt-{c}.scope")
    for d in set(glob.glob("/sys/fs/cgroup/*/system.slice")) - existed:  # parents we made
        os.rmdir(d)


def test_errors_go_to_the_json_log_for_containerd(rt, tmp_path):
    log = tmp_path / "log.json"
    p = rt("--log", str(log), "--log-format", "json", "state", "missing")
    assert p.returncode != 0
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "does not exist" in last["msg"] and last["time"]


def test_run_with_terminal_and_no_console_socket_proxies_the_pty(rt, bundle):
    """`run` of a terminal process without --console-socket: the runtime holds the pty
    master and copies between it and its own stdio (here a pty of the test's)."""
    from runtime_fixtures import RUNTIME
    from support import run_on_pty

    b = bundle("sh", "-c", "tty; read line; echo got:$line; exit 6")
    b.process(terminal=True)
    code, out = run_on_pty([RUNTIME, "--root", rt.root, "run", "--bundle", b.path, cid(rt)],
                           wait_for=b"/dev/pts/0", answer=b"hello\r")
    assert code == 6, out
    assert b"/dev/pts/0" in out and b"got:hello" in out, out


def test_ps_table_kill_all_and_events_stream(rt, bundle):
    b = bundle("sh", "-c", "sleep 60 & sleep 60 & wait")
    c = cid(rt)
    rt.detach("run", "-d", "--bundle", b.path, c)
    time.sleep(0.2)
    table = rt("ps", c, check=True).stdout.splitlines()
    assert "PID" in table[0] and sum(line.endswith(" sleep 60") for line in table[1:]) == 2
    rt("kill", "--all", c, "TERM", check=True)  # sleeps die; sh (PID 1) ignores TERM, sees wait end
    wait_status(rt, c, "stopped")
    p = rt("events", "--interval", "0.1s", c, timeout=10)
    ev = [json.loads(line) for line in p.stdout.splitlines()]
    assert ev and ev[-1]["type"] == "stats" and ev[-1]["id"] == c
    rt("delete", c, check=True)
