"""Bad input: one clear line on stderr, a non-zero exit, and nothing left behind (the `rt`
fixture fails the test if a state dir, mount or cgroup of ours survives)."""

from __future__ import annotations

import json
import os

import pytest

from runtime_fixtures import cid

pytestmark = pytest.mark.root


def one_line_error(p, *words):
    assert p.returncode != 0, p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_missing_config(rt, tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(rt("create", "--bundle", str(tmp_path / "empty"), cid(rt)), "config.json not found")
    assert rt.ids() == []


def test_missing_bundle(rt, tmp_path):
    one_line_error(rt("create", "--bundle", str(tmp_path / "nope"), cid(rt)), "does not exist")


def test_malformed_config(rt, bundle):
    b = bundle("true")
    with open(os.path.join(b.path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "process": {')
    one_line_error(rt("create", "--bundle", b.path, cid(rt)), "not valid JSON")
    assert rt.ids() == []


def test_unknown_namespace_type(rt, bundle):
    b = bundle("true")
    b.config["linux"]["namespaces"].append({"type": "bogus"})
    b.write()
    one_line_error(rt("run", "--bundle", b.path, cid(rt)), "unknown namespace type 'bogus'")


def test_nonexistent_rootfs(rt, bundle):
    b = bundle("true")
    b.config["root"]["path"] = "no-such-rootfs"
    b.write()
    one_line_error(rt("create", "--bundle", b.path, cid(rt)), "rootfs", "does not exist")


def test_duplicate_id(rt, bundle):
    b = bundle("sleep", "30")
    c = cid(rt)
    rt.detach("create", "--bundle", b.path, c)
    one_line_error(rt("create", "--bundle", b.path, c), "already exists")
    assert rt.state(c)["status"] == "created"  # the first one is untouched
    rt("delete", c, check=True)


@pytest.mark.parametrize("bad", ["a/b", "..", ".", "../escape", "x y", ""])
def test_bad_ids(rt, bundle, bad):
    b = bundle("true")
    one_line_error(rt("create", "--bundle", b.path, bad), "invalid container id")
    assert not os.path.exists(os.path.join(os.path.dirname(rt.root), "escape"))


def test_mount_target_escaping_through_symlink(rt, bundle, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    b = bundle("true")
    os.symlink("../../../../../../../../" + str(outside).lstrip("/"), os.path.join(b.rootfs, "escape"))
    b.config["mounts"].append({"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"})
    b.write()
    one_line_error(rt("run", "--bundle", b.path, cid(rt)), "/escape/x", "escapes the rootfs")
    assert list(outside.iterdir()) == []  # nothing was created outside


def test_absolute_symlink_stays_inside_rootfs(rt, bundle, tmp_path):
    """An absolute link is resolved against the rootfs (as in a chroot), never the host."""
    hostdir = tmp_path / "hostdir"
    hostdir.mkdir()
    b = bundle("sh", "-c", "ls -d /inside/x && echo ok")
    os.makedirs(os.path.join(b.rootfs, "inside"))
    os.symlink(str(hostdir), os.path.join(b.rootfs, "link"))  # /tmp/.../hostdir
    b.config["mounts"].append({"destination": "/link/x", "type": "tmpfs", "source": "tmpfs"})
    b.write()
    p = rt("run", "--bundle", b.path, cid(rt))
    assert p.returncode != 0  # /inside/x does not exist: the mount went to <rootfs>/<hostdir>/x
    assert list(hostdir.iterdir()) == []  # the host's directory was never touched
    # it landed inside the rootfs instead
    assert os.path.isdir(os.path.join(b.rootfs, str(hostdir).lstrip("/"), "x"))


def test_missing_executable(rt, bundle):
    b = bundle("no-such-binary")
    one_line_error(rt("run", "--bundle", b.path, cid(rt)), "executable file not found")
    assert rt.ids() == []


def test_unknown_command_and_option(rt):
    one_line_error(rt("frobnicate"), "unknown command")
    one_line_error(rt("create", "--frob", "x"), "unknown option --frob")


def test_state_of_missing_container(rt):
    one_line_error(rt("state", "nope"), "does not exist")
    one_line_error(rt("delete", "nope"), "does not exist")
    assert rt("delete", "--force", "nope").returncode == 0


def test_bad_seccomp_profile(rt, bundle):
    b = bundle("true")
    b.linux(seccomp={"defaultAction": "SCMP_ACT_BOGUS"})
    one_line_error(rt("create", "--bundle", b.path, cid(rt)), "SCMP_ACT_BOGUS")
    assert rt.ids() == []


def test_bad_cgroup_value_cleans_up(rt, bundle):
    b = bundle("true")
    b.linux(resources={"cpu": {"cpus": "0-999"}})
    one_line_error(rt("create", "--bundle", b.path, cid(rt)), "cpuset")
    assert rt.ids() == []


def test_terminal_without_console_socket(rt, bundle):
    b = bundle("true")
    b.process(terminal=True)
    one_line_error(rt("create", "--bundle", b.path, cid(rt)), "--console-socket")


def test_relative_mount_destination(rt, bundle):
    b = bundle("true")
    b.config["mounts"].append({"destination": "relative", "type": "tmpfs", "source": "tmpfs"})
    b.write()
    one_line_error(rt("create", "--bundle", b.path, cid(rt)), "must be absolute")


def test_user_namespace_without_mappings(rt, bundle):
    b = bundle("true")
    b.config["linux"]["namespaces"].append({"type": "user"})
    b.write()
    one_line_error(rt("create", "--bundle", b.path, cid(rt)), "uidMappings")


def test_config_not_an_object(rt, bundle):
    b = bundle("true")
    with open(os.path.join(b.path, "config.json"), "w") as f:
        json.dump([1, 2], f)
    one_line_error(rt("create", "--bundle", b.path, cid(rt)), "must be an object")


def test_init_killed_during_create_is_reported_and_cleaned_up(rt, bundle):
    """A hook SIGKILLs the init half-way through create: a one-line error that says how the
    init ended, and nothing left behind."""
    b = bundle("true")
    b.config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": [
        "sh", "-c", 'kill -9 $(grep -o \'"pid":[0-9]*\' | cut -d: -f2)']}]}
    b.write()
    line = one_line_error(rt("run", "--bundle", b.path, cid(rt)), "container init exited")
    assert "signal 9" in line
    assert rt.ids() == []


def test_runtime_killed_mid_create_leaves_a_state_delete_can_clean(rt, bundle, tmp_path):
    """SIGKILL the runtime while a createRuntime hook runs: the init notices (its channel
    closes) and exits; the half-made container shows as stopped and `delete` removes it all."""
    import signal
    import subprocess
    import time

    from runtime_fixtures import RUNTIME

    marker = tmp_path / "hook-started"
    b = bundle("true")
    b.config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"touch {marker}; sleep 1"]}]}
    b.write()
    c = cid(rt)
    p = subprocess.Popen([RUNTIME, "--root", rt.root, "create", "--bundle", b.path, c],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=rt.env)
    end = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < end:
        time.sleep(0.01)
    assert marker.exists()
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert rt.state(c)["status"] == "stopped"
    time.sleep(1.2)  # the orphaned hook (sleep 1) finishes on its own
    rt("delete", c, check=True)
    assert rt.ids() == []
