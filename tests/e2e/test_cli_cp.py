"""`dockyard cp` end to end: both directions, running and stopped containers, a volume and a
tmpfs seen as the container sees them, tar streams in and out, symlinks in the container
that point at the host's /etc (must stay inside the container), Docker's error cases and
ownership. Own storage and run roots; nothing may stay mounted after a copy."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

import pytest

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")
pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if os.geteuid() != 0:
        from support import need

        need(False, "needs root")
    from support import need_binary

    need_binary("conmon")
    root = tmp_path_factory.mktemp("dycp")
    e = {**os.environ, "DOCKYARD_ROOT": str(root / "lib"), "DOCKYARD_RUN_ROOT": str(root / "run"),
         "DOCKYARD_SECCOMP_CACHE": str(root / "seccomp-cache")}
    p = subprocess.run([DOCKYARD, "bootstrap", "busybox"], check=False, env=e, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    e["_root"] = str(root)
    yield e
    left = subprocess.run([DOCKYARD, "ps", "-a", "-q"], check=False, env=e, capture_output=True, text=True).stdout.split()
    for cid in left:
        subprocess.run([DOCKYARD, "rm", "-f", cid], check=False, env=e, capture_output=True)
    for vol in subprocess.run([DOCKYARD, "volume", "ls", "-q"], check=False, env=e, capture_output=True,
                              text=True).stdout.split():
        subprocess.run([DOCKYARD, "volume", "rm", "-f", vol], check=False, env=e, capture_output=True)
    assert not _mounts_under(e), "mounts left behind"
    assert not left, f"containers left by the tests (now removed): {left}"


def _mounts_under(env) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if env["_root"] in line]


def dy(env, *args, input=None, cwd=None, text=True):
    return subprocess.run([DOCKYARD, *args], check=False, env=env, capture_output=True, text=text, input=input, timeout=60,
                          cwd=cwd)


def ok(p):
    assert p.returncode == 0, p.stderr
    return p


def fails(p, words: str):
    err = p.stderr if isinstance(p.stderr, str) else p.stderr.decode()
    assert p.returncode == 1, (p.returncode, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("dockyard: ") and words in err, err
    return err


def in_c(env, name, script):
    return ok(dy(env, "exec", name, "sh", "-c", script)).stdout


@pytest.fixture
def running(env):
    """A running container with a named volume at /data and a tmpfs at /scratch."""
    ok(dy(env, "run", "-d", "--name", "live", "-v", "cpvol:/data", "--tmpfs", "/scratch", "busybox", "sh", "-c",
          "echo in-volume > /data/v.txt; echo in-tmpfs > /scratch/t.txt; mkdir -p /srv/tree/sub;"
          " echo one > /srv/tree/a; echo two > /srv/tree/sub/b; ln -s a /srv/tree/link;"
          " ln -s /etc /tmp/esc; ln -s ../../../../../../../etc /tmp/rel; touch /srv/ready; sleep 300"))
    for _ in range(100):
        if dy(env, "exec", "live", "test", "-e", "/srv/ready").returncode == 0:
            break
    yield "live"
    ok(dy(env, "rm", "-f", "live"))
    dy(env, "volume", "rm", "-f", "cpvol")


def test_running_out_and_in(env, running, tmp_path):
    ok(dy(env, "cp", "live:/srv/tree/a", str(tmp_path / "a.txt")))             # file -> new file
    assert (tmp_path / "a.txt").read_text() == "one\n"
    ok(dy(env, "cp", "live:srv/tree", str(tmp_path)))                           # dir -> into existing dir
    assert (tmp_path / "tree" / "sub" / "b").read_text() == "two\n"
    assert os.readlink(tmp_path / "tree" / "link") == "a"                       # symlinks copied as such
    ok(dy(env, "cp", "live:/srv/tree", str(tmp_path / "renamed")))              # dir -> new dir
    assert sorted(os.listdir(tmp_path / "renamed")) == ["a", "link", "sub"]
    (tmp_path / "merge").mkdir()
    (tmp_path / "merge" / "keep").write_text("k")
    ok(dy(env, "cp", "live:/srv/tree/.", str(tmp_path / "merge")))              # dir/. -> contents merged
    assert sorted(os.listdir(tmp_path / "merge")) == ["a", "keep", "link", "sub"]

    (tmp_path / "up.txt").write_text("from the host\n")
    ok(dy(env, "cp", str(tmp_path / "up.txt"), "live:/srv/"))                  # file -> into dir
    ok(dy(env, "cp", "up.txt", "live:/srv/tree/a", cwd=tmp_path))              # relative, over a file
    assert in_c(env, "live", "cat /srv/up.txt /srv/tree/a") == "from the host\n" * 2
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "f").write_text("deep")
    ok(dy(env, "cp", str(tmp_path / "d"), "live:/newdir"))                     # dir -> new dir
    ok(dy(env, "cp", str(tmp_path / "d") + "/.", "live:/srv/tree"))           # contents merged
    assert in_c(env, "live", "cat /newdir/e/f; echo; cat /srv/tree/e/f; ls /srv/tree | wc -l") == "deep\ndeep4\n"


def test_running_sees_volume_and_tmpfs(env, running, tmp_path):
    ok(dy(env, "cp", "live:/data/v.txt", str(tmp_path)))
    ok(dy(env, "cp", "live:/scratch/t.txt", str(tmp_path)))
    assert (tmp_path / "v.txt").read_text() == "in-volume\n" and (tmp_path / "t.txt").read_text() == "in-tmpfs\n"
    (tmp_path / "to-vol").write_text("written by cp\n")
    ok(dy(env, "cp", str(tmp_path / "to-vol"), "live:/data/"))
    ok(dy(env, "cp", str(tmp_path / "to-vol"), "live:/scratch/"))
    assert in_c(env, "live", "cat /data/to-vol /scratch/to-vol") == "written by cp\n" * 2
    # the volume's own directory holds it: it went into the volume, not under its mount point
    out = ok(dy(env, "run", "--rm", "-v", "cpvol:/v", "busybox", "cat", "/v/to-vol")).stdout
    assert out == "written by cp\n"


def test_stopped_container_both_ways(env, tmp_path):
    ok(dy(env, "run", "--name", "gone", "-v", "cpvol2:/data", "busybox", "sh", "-c",
          "echo made-inside > /made.txt; echo vol > /data/in-vol"))
    assert "Exited (0)" in next(x for x in dy(env, "ps", "-a").stdout.splitlines() if x.endswith(" gone"))
    before = _mounts_under(env)
    try:
        ok(dy(env, "cp", "gone:/made.txt", str(tmp_path)))
        assert (tmp_path / "made.txt").read_text() == "made-inside\n"
        ok(dy(env, "cp", "gone:/data/in-vol", str(tmp_path)))                   # its volume, as when it runs
        assert (tmp_path / "in-vol").read_text() == "vol\n"
        (tmp_path / "new.txt").write_text("added while stopped\n")
        ok(dy(env, "cp", str(tmp_path / "new.txt"), "gone:/etc/"))
        ok(dy(env, "cp", str(tmp_path / "new.txt"), "gone:/data/"))
        assert _mounts_under(env) == before                                     # nothing left mounted
        # the file is in the container's own layer: started again, it sees it
        ok(dy(env, "start", "gone"))
        ok(dy(env, "wait", "gone"))
        ok(dy(env, "cp", "gone:/etc/new.txt", str(tmp_path / "back.txt")))
        assert (tmp_path / "back.txt").read_text() == "added while stopped\n"
        out = ok(dy(env, "run", "--rm", "-v", "cpvol2:/v", "busybox", "cat", "/v/new.txt")).stdout
        assert out == "added while stopped\n"                                   # into the volume itself
    finally:
        dy(env, "rm", "-f", "gone")
        dy(env, "volume", "rm", "-f", "cpvol2")


def test_created_container(env, tmp_path):
    ok(dy(env, "create", "--name", "fresh", "busybox", "cat", "/greeting"))
    try:
        (tmp_path / "greeting").write_text("hello from cp\n")
        ok(dy(env, "cp", str(tmp_path / "greeting"), "fresh:/"))
        ok(dy(env, "start", "fresh"))
        assert ok(dy(env, "wait", "fresh")).stdout.strip() == "0"
        assert dy(env, "logs", "fresh").stdout == "hello from cp\n"
    finally:
        dy(env, "rm", "-f", "fresh")


def test_tar_streams(env, running, tmp_path):
    p = ok(dy(env, "cp", "live:/srv/tree", "-", text=False))
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        names = {m.name: m for m in t.getmembers()}
        assert {"tree", "tree/a", "tree/sub", "tree/sub/b", "tree/link"} <= set(names)
        assert names["tree/link"].issym() and names["tree/link"].linkname == "a"
        assert t.extractfile("tree/sub/b").read() == b"two\n"

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data, uid in (("in/x.txt", b"from a tar\n", 1234), ("top.txt", b"top\n", 0)):
            ti = tarfile.TarInfo(name)
            ti.size, ti.uid, ti.gid, ti.mode = len(data), uid, uid, 0o640
            t.addfile(ti, io.BytesIO(data))
    ok(dy(env, "cp", "-", "live:/srv", input=buf.getvalue(), text=False))
    assert in_c(env, "live", "cat /srv/in/x.txt /srv/top.txt; stat -c '%u:%g %a' /srv/in/x.txt") == \
        "from a tar\ntop\n1234:1234 640\n"                                      # tar owners kept without -a
    fails(dy(env, "cp", "-", "live:/srv/top.txt", input=buf.getvalue(), text=False), "must be a directory")
    fails(dy(env, "cp", "-", "live:/srv", input=b"not a tar at all" * 64, text=False), "not a valid tar")


def test_symlinks_in_the_container_stay_in_it(env, running, tmp_path):
    canary = f"dockyard-cp-canary-{os.getpid()}"
    (tmp_path / canary).write_text("must not reach the host's /etc\n")
    try:
        ok(dy(env, "cp", str(tmp_path / canary), "live:/tmp/esc/"))             # /tmp/esc -> /etc
        ok(dy(env, "cp", str(tmp_path / canary), "live:/tmp/esc/sub-" + canary))
        assert not os.path.exists(f"/etc/{canary}") and not os.path.exists(f"/etc/sub-{canary}")
        assert in_c(env, "live", f"cat /etc/{canary}") == "must not reach the host's /etc\n"
        # reading through it gives the container's /etc/hostname (its ID), not the host's
        ok(dy(env, "cp", "live:/tmp/esc/hostname", str(tmp_path / "h")))
        assert (tmp_path / "h").read_text().strip() == in_c(env, "live", "hostname").strip()
        ok(dy(env, "cp", "-L", "live:/tmp/esc", str(tmp_path / "etc-copy")))    # -L: the link's target
        assert (tmp_path / "etc-copy" / canary).exists()
        # a link climbing out with '..' is refused, not followed to the host
        p = dy(env, "cp", str(tmp_path / canary), "live:/tmp/rel/")
        assert p.returncode == 1 and not os.path.exists(f"/etc/{canary}")
        # a tar that plants a symlink to /etc and then writes through it lands in the container's /etc
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            ln = tarfile.TarInfo("trap")
            ln.type, ln.linkname = tarfile.SYMTYPE, "/etc"
            t.addfile(ln)
            f = tarfile.TarInfo(f"trap/tar-{canary}")
            f.size = 3
            t.addfile(f, io.BytesIO(b"bad"))
        ok(dy(env, "cp", "-", "live:/tmp", input=buf.getvalue(), text=False))
        assert not os.path.exists(f"/etc/tar-{canary}")
        assert in_c(env, "live", f"cat /etc/tar-{canary}") == "bad"
        # copying the container's symlink out makes a symlink, it does not copy the host's /etc
        ok(dy(env, "cp", "live:/tmp/esc", str(tmp_path / "esc-out")))
        assert os.readlink(tmp_path / "esc-out") == "/etc"
    finally:
        for leftover in (canary, f"sub-{canary}", f"tar-{canary}"):
            if os.path.exists(f"/etc/{leftover}"):
                os.unlink(f"/etc/{leftover}")


def test_errors_as_docker(env, running, tmp_path):
    fails(dy(env, "cp", "live:/no/such/file", str(tmp_path)), "could not find the file /no/such/file")
    fails(dy(env, "cp", str(tmp_path / "missing"), "live:/tmp/"), "no such file or directory")
    fails(dy(env, "cp", "nosuchcontainer:/etc/hosts", str(tmp_path)), "no such container")
    (tmp_path / "f").write_text("x")
    fails(dy(env, "cp", str(tmp_path / "f"), "live:/no/such/dir/f"), "no such directory")
    fails(dy(env, "cp", str(tmp_path / "f"), "live:/newdir-must-exist/"), "no such directory")
    fails(dy(env, "cp", "live:/srv/tree", str(tmp_path / "f")), "cannot copy a directory")
    fails(dy(env, "cp", "live:/srv/tree", str(tmp_path / "nodir" / "x")), "no such directory")
    fails(dy(env, "cp", str(tmp_path / "f"), "live:/srv/tree/sub/b/"), "not a directory")
    assert in_c(env, "live", "cat /srv/tree/sub/b") == "two\n"
    fails(dy(env, "cp", "live:/a", "live:/b"), "between containers")
    fails(dy(env, "cp", str(tmp_path / "f"), str(tmp_path / "g")), "at least one container")
    fails(dy(env, "cp", "live:/etc/hosts"), "exactly 2 arguments")
    fails(dy(env, "cp", "--bogus", "live:/etc/hosts", "x"), "unknown option")
    assert not (tmp_path / "nodir").exists()


def test_read_only_root_refused_whole(env, tmp_path):
    ok(dy(env, "run", "-d", "--name", "ro", "--read-only", "-v", "cpvol3:/data", "busybox", "sleep", "300"))
    try:
        (tmp_path / "f").write_text("x")
        fails(dy(env, "cp", str(tmp_path / "f"), "ro:/f"), "Read-only file system")
        ok(dy(env, "cp", str(tmp_path / "f"), "ro:/data/f"))                   # its volume is writable
        assert in_c(env, "ro", "ls -a / | grep -c dockyard-cp || true").strip() == "0"
        ok(dy(env, "stop", "-t", "0", "ro"))
        fails(dy(env, "cp", str(tmp_path / "f"), "ro:/f"), "Read-only file system")  # stopped: still read-only
        ok(dy(env, "cp", str(tmp_path / "f"), "ro:/data/g"))
    finally:
        dy(env, "rm", "-f", "ro")
        dy(env, "volume", "rm", "-f", "cpvol3")


def test_ownership(env, tmp_path):
    """Docker's behaviour: into a container the host's uid/gid are kept; -a gives the files to
    the container's user; out of it, files belong to whoever runs cp; a tar keeps the ids."""
    ok(dy(env, "run", "-d", "--name", "own", "-u", "nobody", "-v", "cpvol4:/data", "busybox", "sh", "-c",
          "echo mine > /tmp/owned; sleep 300"))
    try:
        f = tmp_path / "f"
        f.write_text("x")
        os.chown(f, 1234, 4321)
        ok(dy(env, "cp", str(f), "own:/data/plain"))
        ok(dy(env, "cp", "-a", str(f), "own:/data/archived"))
        assert in_c(env, "own", "stat -c '%u:%g' /data/plain /data/archived") == "1234:4321\n65534:65534\n"
        for _ in range(50):
            if dy(env, "exec", "own", "test", "-e", "/tmp/owned").returncode == 0:
                break
        for flags in ((), ("-a",)):
            out = tmp_path / f"out{len(flags)}"
            ok(dy(env, "cp", *flags, "own:/tmp/owned", str(out)))
            st = os.stat(out)
            assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
        p = ok(dy(env, "cp", "own:/tmp/owned", "-", text=False))
        with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
            m = t.getmember("owned")
            assert (m.uid, m.gid) == (65534, 65534)
    finally:
        dy(env, "rm", "-f", "own")
        dy(env, "volume", "rm", "-f", "cpvol4")


def test_follow_link_in_local_source(env, running, tmp_path):
    (tmp_path / "real").write_text("the target\n")
    os.symlink("real", tmp_path / "alias")
    ok(dy(env, "cp", str(tmp_path / "alias"), "live:/srv/"))
    ok(dy(env, "cp", "-L", str(tmp_path / "alias"), "live:/srv/followed"))
    assert in_c(env, "live", "readlink /srv/alias; cat /srv/followed") == "real\nthe target\n"


def test_whole_root_skips_kernel_file_systems(env, running):
    """`cp CONTAINER:/ -` of a running container: its files, its volume and tmpfs, but /proc
    and /sys only as the empty directories the image has (Docker never shows them either)."""
    p = ok(dy(env, "cp", "live:/", "-", text=False))
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        names = set(t.getnames())
    assert {"./etc/hostname", "./data/v.txt", "./scratch/t.txt", "./srv/tree/a", "./proc", "./sys"} <= names
    assert not any(n.startswith(("./proc/", "./sys/", "./dev/pts/")) for n in names)
