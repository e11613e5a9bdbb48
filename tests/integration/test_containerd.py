"""containerd can use dockyard-runtime: `ctr run --runc-binary dockyard-runtime` through Debian's
containerd 1.6 and its `io.containerd.runc.v2` shim, which drives the runtime with runc's
flags (`--root /run/containerd/runc/<ns> --log <bundle>/log.json --log-format json create
--bundle B --pid-file F ID`, then `start`, `state`, `ps`, `exec --process`, `kill`, `pause`,
`resume`, `delete`).

A private containerd runs for the module (see containerd_fixtures.py); the image is a busybox
OCI archive written by dockyard.oci.image_tar and `ctr images import`ed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time

import pytest

from containerd_fixtures import IMAGE, RUNTIME, containerd, image  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.containerd, pytest.mark.root]

DEFAULT_CAPS = 0xA80425FB  # containerd's 14 default capabilities (Docker's)


def run(cd, image, name: str, *cmd: str, opts=(), input=None, runtime=RUNTIME, timeout=60):
    """`ctr run --rm --runc-binary RUNTIME [opts] IMAGE ID CMD...`; returns (code, out, err)."""
    cid = cd.cid(name)
    p = cd.ctr("run", "--rm", "--fifo-dir", cd.fifo_dir, "--runc-binary", runtime, *opts, image["ref"], cid, *cmd,
               input=input, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


@contextlib.contextmanager
def detached(cd, image, name: str, *cmd: str, opts=()):
    """A container started with `ctr run -d`; always killed, deleted and removed after."""
    cid = cd.cid(name)
    cd.ctr("run", "-d", "--fifo-dir", cd.fifo_dir, "--runc-binary", RUNTIME, *opts, image["ref"], cid, *cmd,
           check=True)
    try:
        yield cid
    finally:
        cd.ctr("task", "kill", "-s", "SIGKILL", cid)
        wait_status(cd, cid, "STOPPED", must=False)
        cd.ctr("task", "delete", cid)
        cd.ctr("container", "rm", cid)


def wait_status(cd, cid: str, want: str, timeout: float = 15, must: bool = True) -> tuple[int, str]:
    end = time.monotonic() + timeout
    while True:
        t = cd.tasks().get(cid, (0, "(no task)"))
        if t[1] == want or time.monotonic() > end or (t[1] == "(no task)" and not must):
            break
        time.sleep(0.05)
    if must:
        assert t[1] == want, f"task {cid} is {t[1]}, expected {want}\n{cd.diagnostics()}"
    return t


def runtime_state(cd, cid: str) -> dict | None:
    """What `dockyard-runtime state` says under the shim's --root (None once deleted)."""
    p = subprocess.run([RUNTIME, "--root", cd.runc_root, "state", cid], capture_output=True, text=True, timeout=30)
    return json.loads(p.stdout) if p.returncode == 0 else None


def status_fields(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (l.partition(":") for l in text.splitlines()) if v}


# -- image -------------------------------------------------------------------------------

def test_image_imported_from_our_oci_archive(containerd, image):
    out = containerd.ctr("images", "ls", check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith(image["ref"] + " "))
    assert image["manifest"] in line and "application/vnd.oci.image.manifest.v1+json" in line
    # unpacked into the overlayfs snapshotter: a committed snapshot named after the layer chain
    snaps = containerd.ctr("snapshots", "--snapshotter", "overlayfs", "ls", check=True).stdout
    assert image["layer"] in snaps, snaps


# -- (1) exit code and output ------------------------------------------------------------

def test_run_returns_exit_code_and_output(containerd, image):
    code, out, err = run(containerd, image, "exit3", "sh", "-c", "echo hi from dockyard; exit 3")
    assert code == 3, f"{out}\n{err}\n{containerd.diagnostics()}"
    assert out.splitlines() == ["hi from dockyard"], out
    assert containerd.ctr("container", "ls", "-q", check=True).stdout.strip() == ""  # --rm removed it


def test_run_exit_codes_and_pid1_signal_semantics(containerd, image):
    code, out, err = run(containerd, image, "true", "true")
    assert code == 0, err
    code, out, err = run(containerd, image, "exit255", "sh", "-c", "exit 255")
    assert code == 255, err
    # The container's init is PID 1 of its namespace: the kernel drops a SIGKILL it sends itself.
    code, out, err = run(containerd, image, "sigkill", "sh", "-c", "kill -9 $$; echo survived; exit 5")
    assert (code, out) == (5, "survived\n"), f"{code}\n{out}\n{err}"


def test_stdin_and_stderr_pass_through(containerd, image):
    # `read` a line rather than wait for EOF: `ctr run` (without -t) never closes the task's
    # stdin fifo after its own stdin ends, with runc as with us, so `cat` would never return.
    code, out, err = run(containerd, image, "stdin", "sh", "-c", "read l; echo \"$l\" | tr a-z A-Z; echo to-stderr >&2",
                         input="piped through containerd\n")
    assert code == 0, err
    assert out == "PIPED THROUGH CONTAINERD\n"
    assert "to-stderr" in err


def test_shim_drives_runtime_with_runc_flags(containerd, image, tmp_path):
    """Record what the runc v2 shim really calls, through a wrapper that logs its argv."""
    log = tmp_path / "argv.log"
    wrapper = tmp_path / "runtime-wrapper"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec {RUNTIME} "$@"\n')
    wrapper.chmod(0o755)
    code, out, err = run(containerd, image, "argv", "sh", "-c", "exit 7", runtime=str(wrapper))
    assert code == 7, err
    cid = containerd.cid("argv")
    calls = log.read_text().splitlines()
    bundle = os.path.join(containerd.state, "io.containerd.runtime.v2.task", containerd.ns, cid)
    prefix = f"--root {containerd.runc_root} --log {bundle}/log.json --log-format json "
    assert all(c.startswith(prefix) for c in calls), calls
    verbs = [c[len(prefix):] for c in calls]
    assert verbs[0] == f"create --bundle {bundle} --pid-file {bundle}/init.pid {cid}", verbs
    assert verbs[1] == f"start {cid}", verbs
    assert f"delete {cid}" in verbs[2:], verbs


def test_runtime_error_reaches_ctr(containerd, image):
    """A failing create is reported through the shim, which reads the runtime's JSON log."""
    code, out, err = run(containerd, image, "noexec", "/no/such/binary")
    assert code != 0
    # ctr: failed to create shim task: OCI runtime create failed: exec: /no/such/binary: ...
    assert "OCI runtime create failed" in err and "/no/such/binary" in err, err
    assert containerd.ctr("container", "ls", "-q", check=True).stdout.strip() == ""


def test_private_runc_root(containerd, image, tmp_path):
    """`--runc-root` reaches the runtime as its --root (plus the namespace), and is empty after."""
    root = tmp_path / "runc-root"
    code, out, err = run(containerd, image, "root", "sh", "-c", "exit 9", opts=("--runc-root", str(root)))
    assert code == 9, err
    ns_root = root / containerd.ns
    assert ns_root.is_dir() and list(ns_root.iterdir()) == [], list(ns_root.iterdir())


def test_tty(containerd, image):
    """`ctr run -t`: the shim passes --console-socket and gets the pty master from us."""
    import pty
    import select

    cid = containerd.cid("tty")
    master, slave = pty.openpty()
    p = subprocess.Popen(["ctr", "--address", containerd.sock, "--namespace", containerd.ns, "run", "--rm", "-t",
                          "--fifo-dir", containerd.fifo_dir, "--runc-binary", RUNTIME, IMAGE, cid,
                          "sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; exit 6"],
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    end = time.monotonic() + 60
    try:
        while time.monotonic() < end:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every slave fd is closed
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        code = p.wait(timeout=max(1, end - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    text = out.decode(errors="replace").replace("\r", "")
    assert code == 6, f"{code}: {text}\n{containerd.diagnostics()}"
    assert "/dev/pts/0" in text and "stdin-is-tty" in text, text


# -- (2) isolation as seen from inside --------------------------------------------------

def test_pid1_namespaces_and_capabilities(containerd, image):
    probe = ("echo pid=$$; for n in pid uts ipc mnt net; do echo ns $n $(readlink /proc/self/ns/$n); done;"
             " echo procs=$(cd /proc && echo [0-9]*); echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1);"
             " echo cgroup=$(grep -E '^[0-9]+:(pids|memory):' /proc/self/cgroup | head -1);"
             " exec cat /proc/self/status")
    code, out, err = run(containerd, image, "probe", "sh", "-c", probe)
    assert code == 0, f"{err}\n{containerd.diagnostics()}"
    head, _, status = out.partition("Name:")
    lines = head.splitlines()
    assert lines[0] == "pid=1"
    fields = status_fields("Name:" + status)
    assert fields["Pid"] == "1" and fields["PPid"] == "0", fields  # the exec'd cat is still PID 1
    assert int(fields["CapEff"], 16) == DEFAULT_CAPS, fields["CapEff"]
    assert fields["NoNewPrivs"] == "1"
    for line in lines:
        if line.startswith("ns "):
            _, kind, link = line.split()
            assert link != os.readlink(f"/proc/self/ns/{kind}"), f"{kind} namespace shared with the host"
    kv = dict(l.split("=", 1) for l in lines[1:] if "=" in l and not l.startswith("ns "))
    assert "1" in kv["procs"].split() and all(int(p) < 10 for p in kv["procs"].split()), kv  # none of the host's
    assert kv["ifaces"].split() == ["lo"], kv  # a fresh network namespace (no --net-host, no CNI)
    cid = containerd.cid("probe")
    assert kv["cgroup"].endswith(f":/{containerd.ns}/{cid}"), kv  # ctr's cgroupsPath /<ns>/<id>


def test_hostname_is_private(containerd, image):
    host = socket.gethostname()
    code, out, err = run(containerd, image, "uts", "sh", "-c", "hostname dockyard-inside && hostname",
                         opts=("--cap-add", "CAP_SYS_ADMIN"))
    assert code == 0, err
    assert out.strip() == "dockyard-inside"
    assert socket.gethostname() == host


# -- (3) a detached container's lifecycle -----------------------------------------------

def test_detached_lifecycle(containerd, image):
    cd = containerd
    with detached(cd, image, "life", "sleep", "1000") as cid:
        pid, st = wait_status(cd, cid, "RUNNING")
        assert pid > 0
        state = runtime_state(cd, cid)
        assert state and state["status"] == "running" and state["pid"] == pid, state
        bundle = os.path.join(cd.state, "io.containerd.runtime.v2.task", cd.ns, cid)
        assert state["bundle"] == bundle
        with open(os.path.join(bundle, "init.pid")) as f:
            assert int(f.read()) == pid
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[:2] == [b"sleep", b"1000"]
        with open(f"/proc/{pid}/cgroup") as f:
            assert f":/{cd.ns}/{cid}\n" in f.read()
        assert os.path.exists(cd.shim_socket(cid))
        ps = cd.ctr("task", "ps", cid, check=True).stdout  # the shim calls `ps --format json`
        assert str(pid) in ps.split()

        cd.ctr("task", "pause", cid, check=True)
        wait_status(cd, cid, "PAUSED")
        assert runtime_state(cd, cid)["status"] == "paused"
        cd.ctr("task", "resume", cid, check=True)
        wait_status(cd, cid, "RUNNING")

        cd.ctr("task", "kill", "-s", "SIGKILL", cid, check=True)
        wait_status(cd, cid, "STOPPED")
        st = runtime_state(cd, cid)
        assert st is None or st["status"] == "stopped", st
        d = cd.ctr("task", "delete", cid, check=True)
        assert "137" in d.stdout + d.stderr  # ctr reports the exit status it got from the shim
        assert cid not in cd.tasks()
        assert runtime_state(cd, cid) is None
        assert not os.path.exists(os.path.join(cd.runc_root, cid))
        cd.ctr("container", "rm", cid, check=True)
        assert cid not in cd.containers()


def test_kill_sigterm_stops_init(containerd, image):
    cd = containerd
    with detached(cd, image, "term", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done") as cid:
        wait_status(cd, cid, "RUNNING")
        cd.ctr("task", "kill", cid, check=True)  # SIGTERM by default
        wait_status(cd, cid, "STOPPED")
        d = cd.ctr("task", "delete", cid, check=True)
        assert "non-zero" not in d.stdout + d.stderr, d


# -- (4) exec into a running container --------------------------------------------------

def test_exec_returns_exit_code_and_output(containerd, image):
    cd = containerd
    with detached(cd, image, "exec", "sleep", "1000") as cid:
        pid, _ = wait_status(cd, cid, "RUNNING")
        p = cd.ctr("task", "exec", "--fifo-dir", cd.fifo_dir, "--exec-id", "x4", cid, "sh", "-c",
                   "echo exec pid=$$ ppid=$PPID; exit 4")
        assert p.returncode == 4, f"{p.stdout}\n{p.stderr}\n{cd.diagnostics()}"
        assert p.stdout.strip().startswith("exec pid=") and "ppid=0" in p.stdout  # entered the pid ns
        p = cd.ctr("task", "exec", "--fifo-dir", cd.fifo_dir, "--exec-id", "x0", cid, "sh", "-c",
                   "cat /proc/1/cmdline; echo; cd /proc && echo [0-9]*")
        assert p.returncode == 0, p.stderr
        init_cmd, procs = p.stdout.splitlines()
        assert init_cmd.replace("\0", " ").strip() == "sleep 1000"  # PID 1 in here is the task's init
        assert all(int(x) < 20 for x in procs.split()), procs  # only the container's processes
        assert cd.tasks()[cid] == (pid, "RUNNING")  # the exec did not disturb the init
