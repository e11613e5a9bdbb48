"""SCMP_ACT_NOTIFY through the runtime: the listener fd reaches the agent at listenerPath
with the container's state, and the agent decides the intercepted syscall's result."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from dockyard._sys import seccomp as sc
from runtime_fixtures import cid
from support import recv_with_fds

pytestmark = pytest.mark.root


def test_notify_listener_gets_fd_and_state_and_answers(rt, bundle, tmp_path):
    path = str(tmp_path / "agent.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(30)
    got = {}

    def agent():
        conn, _ = srv.accept()
        msg, fds = recv_with_fds(conn)
        got["state"] = json.loads(msg)
        fd = fds[0]
        n = sc.notify_receive(fd, timeout=20)
        got["nr"] = n.nr
        sc.notify_respond(fd, n.id, error=122)  # EDQUOT: an errno nobody else would return
        conn.close()

    t = threading.Thread(target=agent, daemon=True)
    t.start()
    b = bundle("sh", "-c", "mkdir /tmp/d; echo rc=$?")
    b.config["root"]["readonly"] = False
    b.linux(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path, "listenerMetadata": "hello",
                     "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]})
    p = rt("run", "--bundle", b.path, cid(rt), timeout=60)
    t.join(30)
    srv.close()
    assert p.returncode == 0, p.stderr
    assert "rc=1" in p.stdout and "quota" in p.stderr.lower()  # strerror(EDQUOT)
    st = got["state"]
    assert st["fds"] == ["seccompFd"] and st["metadata"] == "hello"
    assert st["state"]["id"] == cid(rt) and st["state"]["pid"] > 0
    assert got["nr"] in (83, 258)  # mkdir, mkdirat on x86_64
