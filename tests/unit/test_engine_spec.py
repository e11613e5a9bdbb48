"""engine/spec: a Docker-style run request + an image config -> an OCI runtime spec."""

from __future__ import annotations

import os

import pytest

from dockyard.engine.spec import RunOptions, capabilities, command, container_spec, environment, resolve_user
from dockyard.errors import ConfigError
from dockyard.oci import runtime_spec
from dockyard.runtime.profiles import defaults


@pytest.mark.parametrize("img, opts, want", [
    ({"Cmd": ["sh"]}, {}, ["sh"]),
    ({"Cmd": ["sh"]}, {"args": ["echo", "hi"]}, ["echo", "hi"]),
    ({"Entrypoint": ["/init"], "Cmd": ["--flag"]}, {}, ["/init", "--flag"]),
    ({"Entrypoint": ["/init"], "Cmd": ["--flag"]}, {"args": ["x"]}, ["/init", "x"]),
    ({"Entrypoint": ["/init"], "Cmd": ["--flag"]}, {"entrypoint": "/bin/sh"}, ["/bin/sh"]),  # CMD dropped
    ({"Entrypoint": ["/init"], "Cmd": ["--flag"]}, {"entrypoint": "", "args": ["ls"]}, ["ls"]),
])
def test_command_rules(img, opts, want):
    assert command(img, RunOptions(**opts)) == want


def test_no_command_is_an_error():
    with pytest.raises(ConfigError, match="no command"):
        command({}, RunOptions())


def test_environment_order_and_copies():
    env = environment({"Env": ["PATH=/img/bin", "A=1"]}, RunOptions(env=["A=2", "FROM_HOST", "MISSING", "B=x=y"]),
                      "abc", "/root", caller_env={"FROM_HOST": "h"})
    d = dict(e.split("=", 1) for e in env)
    assert d == {"PATH": "/img/bin", "A": "2", "HOSTNAME": "abc", "FROM_HOST": "h", "B": "x=y", "HOME": "/root"}


def test_users_from_the_images_passwd(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\napp:x:1000:\nwheel:x:10:app\n")
    r = str(tmp_path)
    assert resolve_user("app", r) == (1000, 1000, [10], "/home/app")
    assert resolve_user("1000:10", r) == (1000, 10, [], "/home/app")  # wheel is now the primary group
    assert resolve_user("4242", r) == (4242, 4242, [], "/")
    assert resolve_user("app:wheel", r)[:2] == (1000, 10)
    with pytest.raises(ConfigError, match="unable to find user"):
        resolve_user("ghost", r)
    with pytest.raises(ConfigError, match="unable to find group"):
        resolve_user("app:ghosts", r)


def test_capabilities_add_drop_all():
    d = defaults.default_capabilities()
    assert capabilities(RunOptions()) == d
    caps = capabilities(RunOptions(cap_add=["sys_admin"], cap_drop=["NET_RAW", "cap_mknod"]))
    assert "CAP_SYS_ADMIN" in caps and "CAP_NET_RAW" not in caps and "CAP_MKNOD" not in caps
    assert capabilities(RunOptions(cap_drop=["ALL"], cap_add=["CHOWN"])) == ["CAP_CHOWN"]
    with pytest.raises(ConfigError):
        capabilities(RunOptions(cap_add=["CAP_NOPE"]))


def test_container_spec_is_a_valid_runtime_config(tmp_path):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    spec = container_spec({"Cmd": ["sh"], "WorkingDir": "/srv", "Env": ["X=1"]},
                          RunOptions(memory=64 << 20, cpus=0.5, pids_limit=50, read_only=True,
                                     tmpfs=["/run:size=1m"], binds=[(str(tmp_path), "/data", True)]),
                          rootfs=str(rootfs), cid="0123456789abcdef")
    runtime_spec.validate(spec, str(tmp_path))
    assert spec["hostname"] == "0123456789ab" and spec["process"]["cwd"] == "/srv"
    assert spec["linux"]["resources"]["cpu"] == {"quota": 50000, "period": 100000}
    assert spec["linux"]["resources"]["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert spec["root"]["readonly"] and spec["linux"]["maskedPaths"]
    assert {"destination": "/data", "type": "bind", "source": str(tmp_path), "options": ["rbind", "rprivate", "ro"]} \
        in spec["mounts"]
    priv = container_spec({"Cmd": ["sh"]}, RunOptions(privileged=True), rootfs=str(rootfs), cid="c")
    assert "seccomp" not in priv["linux"] and "maskedPaths" not in priv["linux"]
    assert len(priv["process"]["capabilities"]["bounding"]) > 30
    with pytest.raises(ConfigError):
        container_spec({"Cmd": ["sh"], "WorkingDir": "rel"}, RunOptions(), rootfs=str(rootfs), cid="c")
    assert os.path.isdir(rootfs)


def test_resolv_conf_drops_loopback_resolvers():
    from dockyard.engine.etc_files import hosts, resolv_conf

    assert resolv_conf("search lan\nnameserver 10.0.0.2\nnameserver 127.0.0.53\n") == "search lan\nnameserver 10.0.0.2\n"
    out = resolv_conf("nameserver 127.0.0.53\noptions edns0\n")
    assert "nameserver 8.8.8.8" in out and "127.0.0.53" not in out and "options edns0" in out
    assert "127.0.1.1\tweb1" in hosts("web1") and hosts("x").startswith("127.0.0.1\tlocalhost")
