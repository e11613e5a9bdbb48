"""`dockyard build` end to end (issue 5): real Dockerfiles built by the installed CLI into a
private store, the images run with `dockyard run`, their configs and layers checked; the cache
(hits, invalidation from the changed step on, cache mounts); bad input as one line; a
gcc multi-stage build on a debootstrapped Debian; a built image loaded into podman.

Each test has its own context directory; the module shares one storage root (busybox is
bootstrapped once) and checks at the end that no mount, container or scratch dir is left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest

DOCKYARD = os.path.join(os.path.dirname(sys.executable), "dockyard")
pytestmark = pytest.mark.root


def _env(root) -> dict:
    return {**os.environ, "DOCKYARD_ROOT": str(root / "lib"), "DOCKYARD_RUN_ROOT": str(root / "run"),
            "DOCKYARD_SECCOMP_CACHE": str(root / "seccomp-cache")}


def _no_leftovers(root) -> None:
    with open("/proc/self/mountinfo") as f:
        assert str(root) not in f.read(), "a mount under the test root was left"
    tmp = root / "lib" / "build-tmp"
    assert not tmp.exists() or not os.listdir(tmp), f"build scratch left: {os.listdir(tmp)}"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if os.geteuid() != 0:
        from support import need

        need(False, "needs root")
    root = tmp_path_factory.mktemp("dyb")
    e = _env(root)
    p = subprocess.run([DOCKYARD, "bootstrap", "busybox"], check=False, env=e, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    yield e
    left = subprocess.run([DOCKYARD, "ps", "-a", "-q"], check=False, env=e, capture_output=True, text=True).stdout.split()
    for cid in left:
        subprocess.run([DOCKYARD, "rm", "-f", cid], check=False, env=e, capture_output=True)
    _no_leftovers(root)
    assert not left, f"containers left by the tests (now removed): {left}"


def dy(env, *args, input=None, cwd=None, timeout=120):
    return subprocess.run([DOCKYARD, *args], check=False, env=env, capture_output=True, text=True, input=input, cwd=cwd,
                          timeout=timeout)


def write(ctx, files: dict[str, str]) -> str:
    for name, text in files.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return str(ctx)


def inspect(env, ref) -> dict:
    p = dy(env, "inspect", ref)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)[0]


def layer_names(env, ref, index) -> list[str]:
    """Member names of layer ``index`` of ``ref`` (read from the store's blobs)."""
    from dockyard.image.store import ImageStore

    store = ImageStore(env["DOCKYARD_ROOT"])
    try:
        img = store.resolve(ref)
        with store.blobs.open(img.manifest.layers[index].digest) as f, tarfile.open(fileobj=f) as t:
            return t.getnames()
    finally:
        store.close()


MULTI_STEP = """\
FROM busybox
ARG APP_VERSION=1.0
ENV APP_HOME=/srv/app GREETING="hello world"
WORKDIR $APP_HOME
COPY app.sh config/ ./
RUN chmod 755 app.sh && echo "version $APP_VERSION" > version.txt && rm /bin/zcat && \\
    rm -rf /usr/bin && mkdir /usr/bin && ln -s /bin/busybox /usr/bin/only
USER nobody
EXPOSE 8080 53/udp
LABEL org.opencontainers.image.title=demo maintainer="me <me@example.com>"
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD wget -q -O- localhost:8080 || exit 1
ENTRYPOINT ["/srv/app/app.sh"]
CMD ["--serve"]
"""


def test_multi_step_build_runs_with_its_config(env, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": MULTI_STEP, "app.sh": "#!/bin/sh\necho \"$GREETING $1 $(cat version.txt) "
                           "$(id -u) $(pwd) $(cat settings.conf)\"\n", "config/settings.conf": "conf-ok\n"})
    p = dy(env, "build", "--progress=plain", "-t", "demo:1", "-t", "demo:latest", "--build-arg", "APP_VERSION=2.0", ctx)
    assert p.returncode == 0, p.stderr
    assert "#5 [5/12] COPY app.sh config/ ./" in p.stderr and "[6/12] RUN chmod 755 app.sh" in p.stderr
    run = dy(env, "run", "--rm", "demo:1")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "hello world --serve version 2.0 65534 /srv/app conf-ok\n"
    cfg = inspect(env, "demo:latest")["Config"]
    assert cfg["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_HOME=/srv/app",
                          "GREETING=hello world"]
    assert cfg["Entrypoint"] == ["/srv/app/app.sh"] and cfg["Cmd"] == ["--serve"]
    assert cfg["WorkingDir"] == "/srv/app" and cfg["User"] == "nobody"
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert cfg["Labels"] == {"org.opencontainers.image.title": "demo", "maintainer": "me <me@example.com>"}
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q -O- localhost:8080 || exit 1"],
                                  "Interval": 30_000_000_000, "Timeout": 3_000_000_000, "Retries": 2}
    # the RUN layer: its files, the deletion as a whiteout, none of the runtime's mount points
    names = layer_names(env, "demo:1", 3)  # busybox, WORKDIR (made), COPY, RUN
    assert "bin/.wh.zcat" in names and "srv/app/version.txt" in names
    assert "usr/bin/.wh..wh..opq" in names and "usr/bin/only" in names  # a recreated directory: opaque
    assert dy(env, "run", "--rm", "--entrypoint", "ls", "demo:1", "/usr/bin").stdout == "only\n"
    assert not any(n.startswith(("etc", "proc", "dev", "sys")) for n in names), names
    hist = inspect(env, "demo:1")
    assert hist["Id"] == inspect(env, "demo:latest")["Id"]


def test_cache_hit_and_invalidation_from_the_changed_step(env, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo first > /first\nCOPY a.txt /a.txt\n"
                                         "RUN cat /a.txt > /copy\nCOPY b.txt /b.txt\n",
                           "a.txt": "one\n", "b.txt": "bee\n"})
    first = dy(env, "build", "-t", "cached", ctx)
    assert first.returncode == 0 and "CACHED" not in first.stderr, first.stderr
    again = dy(env, "build", "-q", "-t", "cached", ctx)
    assert again.returncode == 0 and again.stdout.strip() == inspect(env, "cached")["Id"]  # same image
    plain = dy(env, "build", "-t", "cached", ctx)
    assert plain.stderr.count("CACHED") == 4
    os.utime(tmp_path / "a.txt", (1, 1))  # mtimes are not content: still cached
    assert dy(env, "build", "-t", "cached", ctx).stderr.count("CACHED") == 4
    (tmp_path / "a.txt").write_text("two\n")
    changed = dy(env, "build", "-t", "cached", ctx)
    assert changed.returncode == 0, changed.stderr
    assert cached_steps(changed.stderr) == ["RUN echo first > /first"], changed.stderr
    assert dy(env, "run", "--rm", "cached", "cat", "/copy").stdout == "two\n"
    nocache = dy(env, "build", "--no-cache", "-t", "cached", ctx)
    assert nocache.returncode == 0 and "CACHED" not in nocache.stderr


def cached_steps(progress: str) -> list[str]:
    """The instructions a build reported CACHED (plain progress: a header, then "#N CACHED")."""
    headers = {}
    for line in progress.splitlines():
        n, _, rest = line.partition(" ")
        if rest.startswith("["):
            headers[n] = rest.split("] ", 1)[1]
    return [headers[line.split()[0]] for line in progress.splitlines() if line.endswith(" CACHED")]


def test_rebuild_with_nothing_changed_is_fast(env, tmp_path):
    import time

    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY . /ctx\nRUN ls /ctx > /list\nCMD cat /list\n",
                           "f1": "x\n", "f2": "y\n"})
    assert dy(env, "build", "-q", "-t", "fast", ctx).returncode == 0
    best = min(_timed(env, ctx) for _ in range(3))
    assert best < 0.25, f"an unchanged rebuild took {best * 1000:.0f} ms"  # budget 100 ms; slack for CI noise
    del time


def _timed(env, ctx) -> float:
    import time

    t = time.monotonic()
    p = dy(env, "build", "-q", "-t", "fast", ctx)
    assert p.returncode == 0, p.stderr
    return time.monotonic() - t


HEREDOCS = '''\
FROM busybox
ARG WHO=heredoc
RUN <<EOF
echo "script line 1" > /from-run
echo "who=$WHO" >> /from-run
EOF
RUN cat <<EOT > /from-cat
cat reads me
EOT
COPY <<EOF /etc/app.conf
name=$WHO
EOF
COPY <<"EOF" /literal
keep $WHO as written
EOF
'''


def test_heredocs(env, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": HEREDOCS})
    p = dy(env, "build", "-t", "heredocs", ctx)
    assert p.returncode == 0, p.stderr
    out = dy(env, "run", "--rm", "heredocs", "cat", "/from-run", "/from-cat", "/etc/app.conf", "/literal").stdout
    assert out == "script line 1\nwho=heredoc\ncat reads me\nname=heredoc\nkeep $WHO as written\n"


MULTI_STAGE = """\
FROM busybox AS base
RUN echo base > /base

FROM base AS tools
RUN echo tools-built > /tools

FROM busybox AS unused
RUN echo UNUSED-STAGE-RAN

FROM busybox AS final
COPY --from=tools /tools /base /got/
CMD ["cat", "/got/tools", "/got/base"]
"""


def test_multi_stage_target_and_unused_stage(env, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": MULTI_STAGE})
    p = dy(env, "build", "-t", "ms", ctx)
    assert p.returncode == 0, p.stderr
    assert "UNUSED-STAGE-RAN" not in p.stderr and "[unused" not in p.stderr
    assert dy(env, "run", "--rm", "ms").stdout == "tools-built\nbase\n"
    t = dy(env, "build", "--target", "base", "-t", "ms-base", ctx)
    assert t.returncode == 0, t.stderr
    assert "[tools" not in t.stderr and "[final" not in t.stderr
    assert dy(env, "run", "--rm", "ms-base", "cat", "/base").stdout == "base\n"
    assert dy(env, "run", "--rm", "ms-base", "ls", "/tools").returncode != 0


def test_dockerignore(env, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY . /ctx\n", ".dockerignore": "*.secret\nbuild/\n!build/keep\n",
                           "a.txt": "a", "x.secret": "no", "build/out.o": "no", "build/keep": "yes",
                           "sub/y.secret": "sub-level: kept (patterns are anchored at the root)"})
    assert dy(env, "build", "-t", "ignored", ctx).returncode == 0
    out = dy(env, "run", "--rm", "ignored", "find", "/ctx", "-type", "f").stdout.split()
    assert sorted(out) == ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/a.txt", "/ctx/build/keep", "/ctx/sub/y.secret"]
    # an ignored file is not in the context at all: naming it fails as "not found"
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY x.secret /\n")
    p = dy(env, "build", ctx)
    assert p.returncode != 0 and "x.secret" in p.stderr and "Dockerfile:2" in p.stderr


def test_cache_mount_survives_between_builds(env, tmp_path):
    df = "FROM busybox\nRUN --mount=type=cache,target=/var/cache/app,id=counter,sharing=locked " \
         "echo x >> /var/cache/app/n && wc -l < /var/cache/app/n > /count\n"
    ctx = write(tmp_path, {"Dockerfile": df})
    assert dy(env, "build", "--no-cache", "-t", "cm", ctx).returncode == 0
    first = int(dy(env, "run", "--rm", "cm", "cat", "/count").stdout)
    assert dy(env, "build", "--no-cache", "-t", "cm", ctx).returncode == 0
    assert int(dy(env, "run", "--rm", "cm", "cat", "/count").stdout) == first + 1
    # the cache directory is not part of the image
    assert dy(env, "run", "--rm", "cm", "ls", "/var/cache/app").stdout == ""


def test_run_mounts_secret_bind_tmpfs_and_network_none(env, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t")
    df = ("FROM busybox\n"
          "RUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen-secret\n"
          "RUN --mount=type=bind,source=data,target=/mnt cat /mnt/d.txt > /seen-bind && "
          "(touch /mnt/new 2>/dev/null && echo rw || echo ro) >> /seen-bind\n"
          "RUN --mount=type=tmpfs,target=/scratch grep -q '/scratch tmpfs' /proc/mounts && echo tmpfs > /seen-tmpfs\n"
          "RUN --network=none ls /sys/class/net > /seen-net\n")
    ctx = write(tmp_path / "ctx", {"Dockerfile": df, "data/d.txt": "bound\n"})
    p = dy(env, "build", "--secret", f"id=tok,src={secret}", "-t", "mounts", ctx)
    assert p.returncode == 0, p.stderr
    out = dy(env, "run", "--rm", "mounts", "cat", "/seen-secret", "/seen-bind", "/seen-tmpfs", "/seen-net").stdout
    assert out == "s3cr3tbound\nro\ntmpfs\nlo\n"
    assert "run" not in [n.split("/")[0] for n in layer_names(env, "mounts", 1)]  # no /run/secrets stub left


def test_add_archive_url_and_checksum(env, tmp_path):
    import hashlib
    import http.server
    import io
    import threading

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as t:
        data = b"inside the archive\n"
        ti = tarfile.TarInfo("pkg/readme")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    (ctx / "pkg.tar.xz").write_bytes(buf.getvalue())
    served = tmp_path / "www"
    served.mkdir()
    (served / "remote.txt").write_text("from http\n")
    digest = "sha256:" + hashlib.sha256(b"from http\n").hexdigest()
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **kw)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/remote.txt"
    try:
        (ctx / "Dockerfile").write_text(f"FROM busybox\nADD pkg.tar.xz /opt/\nADD --checksum={digest} {url} /dl/\n")
        p = dy(env, "build", "-t", "added", str(ctx))
        assert p.returncode == 0, p.stderr
        out = dy(env, "run", "--rm", "added", "sh", "-c", "cat /opt/pkg/readme /dl/remote.txt; stat -c %a /dl/remote.txt")
        assert out.stdout == "inside the archive\nfrom http\n600\n"
        (ctx / "Dockerfile").write_text(f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url} /dl/\n")
        bad = dy(env, "build", str(ctx))
        assert bad.returncode != 0 and "checksum" in bad.stderr and "Dockerfile:2" in bad.stderr
    finally:
        httpd.shutdown()


def test_context_from_stdin_and_tarball(env, tmp_path):
    p = dy(env, "build", "-t", "stdin-df", "-", input="FROM busybox\nRUN echo from-stdin > /s\nWORKDIR /made/here\n")
    assert p.returncode == 0, p.stderr
    r = dy(env, "run", "--rm", "stdin-df", "sh", "-c", "cat /s; pwd")
    assert r.stdout == "from-stdin\n/made/here\n", r.stderr  # WORKDIR made the directory
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY f /f\n", "f": "in the tarball\n"})
    tarpath = tmp_path / "ctx.tar.gz"
    with tarfile.open(tarpath, "w:gz") as t:
        t.add(ctx, arcname=".")
    b = dy(env, "build", "-t", "tar-ctx", str(tarpath))
    assert b.returncode == 0, b.stderr
    r = dy(env, "run", "--rm", "tar-ctx", "cat", "/f")
    assert r.stdout == "in the tarball\n", r.stderr


@pytest.mark.parametrize("dockerfile, expect", [
    ("FROM busybox\nRUN echo ok\nCOPY [\"a\", \n", "Dockerfile:3"),
    ("FROM busybox\nFROBNICATE now\n", 'Dockerfile:2: unknown instruction: FROBNICATE (line: "FROBNICATE now")'),
    ("FROM busybox\nCOPY ../outside /x\n", "outside the build context"),
    ("FROM busybox\nCOPY escape /x\n", "outside the build context through a symlink"),
    ("FROM busybox\nCOPY --from=nosuchstage-0 /x /x\n", "Dockerfile:2"),
    ("FROM --platform=linux/s390x busybox\n", "only this host's platform"),
])
def test_bad_input_is_one_line(env, tmp_path, dockerfile, expect):
    write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    os.symlink("/etc", tmp_path / "ctx" / "escape")
    p = dy(env, "build", "-t", "bad", str(tmp_path / "ctx"), timeout=60)
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("dockyard: build: ") and expect in last, p.stderr
    assert "Traceback" not in p.stderr
    assert dy(env, "inspect", "bad").returncode != 0  # nothing tagged


def test_failing_run_shows_output_and_exit_code_and_tags_nothing(env, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo fine\nRUN echo about to fail\n"
                                         "RUN echo oops >&2; exit 2\nRUN echo never\n"})
    p = dy(env, "build", "-t", "failing", ctx)
    assert p.returncode == 1
    assert "oops" in p.stderr and "never" not in p.stderr.replace("RUN echo never", "")
    assert p.stderr.strip().splitlines()[-1] == "dockyard: build: RUN echo oops >&2; exit 2 exited with 2 (Dockerfile:4)"
    assert dy(env, "inspect", "failing").returncode != 0
    q = dy(env, "build", "-q", "-t", "failing", ctx)  # quiet: the failing step's output still shown
    assert q.returncode == 1 and "oops" in q.stderr and q.stdout == ""


def test_platform_args_and_meta_args(env, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "ARG TAG=latest\nFROM busybox:${TAG}\nARG TARGETARCH\nARG TAG\n"
                                         "RUN echo $TARGETARCH $TAG $TARGETOS > /arch\n"})
    assert dy(env, "build", "-t", "plat", ctx).returncode == 0
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    assert dy(env, "run", "--rm", "plat", "cat", "/arch").stdout == f"{arch} latest\n"  # TARGETOS not declared


def test_build_killed_mid_step_is_cleaned_by_the_next(env, tmp_path):
    import time

    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo started; sleep 2\n"})
    p = subprocess.Popen([DOCKYARD, "build", "--no-cache", ctx], env=env, stderr=subprocess.PIPE, text=True)
    seen = ""
    while not seen.endswith(" started\n"):  # the step's own output, not its header
        line = p.stderr.readline()
        assert line, seen
        seen += line
    p.kill()  # SIGKILL: no finally runs, the workspace and its overlay mount stay behind
    p.wait()
    p.stderr.close()
    tmp = os.path.join(env["DOCKYARD_ROOT"], "build-tmp")
    assert any(n.startswith(f"step-{p.pid}-") for n in os.listdir(tmp))
    time.sleep(2.5)  # the orphaned step finishes on its own
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    assert dy(env, "build", "-q", ctx).returncode == 0
    assert not [n for n in os.listdir(tmp) if n.startswith(f"step-{p.pid}-")]
    with open("/proc/self/mountinfo") as f:
        assert f"step-{p.pid}-" not in f.read()


def test_missing_stage(env, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox AS one\nRUN true\n"})
    p = dy(env, "build", "--target", "two", ctx)
    assert p.returncode != 0
    assert p.stderr.strip() == "dockyard: build: target stage 'two' could not be found (stages: one)"


# -- a real toolchain: gcc on Debian, the binary copied into busybox ------------------------


@pytest.fixture(scope="module")
def debian_env(env):
    from support import need_binary

    need_binary("debootstrap")
    p = subprocess.run([DOCKYARD, "bootstrap", "debian"], check=False, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    return env


GCC = """\
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY hello.c .
RUN gcc -static -O2 -o /hello hello.c

FROM busybox
COPY --from=build /hello /usr/local/bin/hello
CMD ["hello"]
"""


def test_gcc_multi_stage_on_debian(debian_env, tmp_path):
    env = debian_env
    ctx = write(tmp_path, {"Dockerfile": GCC,
                           "hello.c": '#include <stdio.h>\nint main(void){puts("hello from gcc");return 0;}\n'})
    p = dy(env, "build", "-t", "hello-gcc", ctx, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Setting up gcc" in p.stderr  # apt ran inside the build, network through the host
    run = dy(env, "run", "--rm", "hello-gcc")
    assert run.returncode == 0 and run.stdout == "hello from gcc\n", run.stderr
    cfg = inspect(env, "hello-gcc")
    assert len(cfg["RootFS"]["Layers"]) == 2  # busybox + the one COPY: nothing of the build stage


PYTHON_APP = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY app.py requirements.txt ./
ENV GREETING=bonjour
USER nobody
CMD ["python3", "app.py"]
"""


def test_python_app_on_debian(debian_env, tmp_path):
    env = debian_env
    ctx = write(tmp_path, {"Dockerfile": PYTHON_APP, "requirements.txt": "",
                           "app.py": "import os, sys\nprint(os.environ['GREETING'], os.getuid(), os.getcwd(),"
                                     " sys.version_info[0])\n"})
    p = dy(env, "build", "-t", "pyapp", ctx, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    run = dy(env, "run", "--rm", "pyapp")
    assert run.returncode == 0 and run.stdout == "bonjour 65534 /app 3\n", run.stderr
    again = dy(env, "build", "-t", "pyapp", ctx)
    assert again.returncode == 0 and cached_steps(again.stderr)[:1] == [PYTHON_APP.splitlines()[1]]


def test_saved_build_loads_into_podman(env, tmp_path):
    from podman_support import Podman
    from support import need_binary

    podman = Podman(need_binary("podman"), need_binary("runc"))
    try:
        ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo built-here > /msg\n"
                                                    "CMD [\"cat\", \"/msg\"]\n"})
        assert dy(env, "build", "-t", "to-podman:1", ctx).returncode == 0
        archive = tmp_path / "img.tar"
        s = dy(env, "save", "-o", str(archive), "to-podman:1")
        assert s.returncode == 0, s.stderr
        podman.run("load", "-i", str(archive))
        out = podman.run("run", "--rm", "--network", "none", "docker.io/library/to-podman:1")
        assert out.stdout == "built-here\n"
        assert podman.image_id("docker.io/library/to-podman:1") == inspect(env, "to-podman:1")["Id"]
    finally:
        leaked = podman.close()
    assert not leaked, leaked
