"""The pure parts of `dockyard build` (no root, no containers): Go-style globs and context
confinement, the layer differ's determinism, metadata instructions, RUN command lines,
chained cache keys, and the image config a state writes."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest

from dockyard.build import metadata
from dockyard.build.cache import step_key
from dockyard.build.context import BuildContext, ContextError, _segment_regex
from dockyard.build.dockerfile import parse_dockerfile
from dockyard.build.dockerfile.instructions import Expander
from dockyard.build.dockerignore import PatternMatcher
from dockyard.build.layer_diff import write_tar
from dockyard.build.run_step import argv_for
from dockyard.build.state import BuildState


@pytest.mark.parametrize("pattern, name, hit", [
    ("*.txt", "a.txt", True), ("*.txt", "a.txt.bak", False), ("a?c", "abc", True), ("a?c", "ac", False),
    ("[a-c]x", "bx", True), ("[^a-c]x", "bx", False), ("[^a-c]x", "dx", True), ("\\*", "*", True),
    ("\\*", "a", False), ("file", "file", True),
])
def test_glob_segments_as_go_filepath_match(pattern, name, hit):
    assert bool(_segment_regex(pattern).match(name)) is hit


def _ctx(tmp_path, files, ignore=()):
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return BuildContext(str(tmp_path), PatternMatcher(list(ignore)))


def test_context_matching_globs_ignores_and_confinement(tmp_path):
    ctx = _ctx(tmp_path, {"a.txt": "a", "b.txt": "b", "c.log": "c", "d/e.txt": "e", "d/f.txt": "f"}, ["b.txt"])
    assert ctx.match("*.txt", "COPY") == ["a.txt"]  # b.txt ignored; * does not cross /
    assert ctx.match("d/*.txt", "COPY") == ["d/e.txt", "d/f.txt"]
    assert ctx.match("b.txt", "COPY") == []
    assert ctx.match("./d/", "COPY") == ["d"]
    with pytest.raises(ContextError, match="outside the build context"):
        ctx.match("../x", "COPY (Dockerfile:2)")
    os.symlink("/etc/passwd", tmp_path / "link")
    with pytest.raises(ContextError, match="through a symlink"):
        ctx.match("link", "COPY (Dockerfile:3)")
    os.symlink("a.txt", tmp_path / "inside")
    assert ctx.match("inside", "COPY") == ["inside"]


def test_content_hash_covers_content_and_mode_not_mtime(tmp_path):
    from dockyard.oci.digest import Hasher

    ctx = _ctx(tmp_path, {"d/x": "1"})

    def h():
        x = Hasher()
        ctx.content_hash(["d"], x)
        return x.digest()
    first = h()
    os.utime(tmp_path / "d" / "x", (5, 5))
    assert h() == first
    os.chmod(tmp_path / "d" / "x", 0o600)
    second = h()
    assert second != first
    (tmp_path / "d" / "x").write_text("2")
    assert h() != second


def test_layer_tar_is_deterministic_and_keeps_metadata(tmp_path):
    up = tmp_path / "upper"
    (up / "dir" / "sub").mkdir(parents=True)
    (up / "dir" / "b").write_text("bee")
    (up / "dir" / "a").write_text("ay")
    os.link(up / "dir" / "a", up / "dir" / "a2")
    os.symlink("../dir/a", up / "dir" / "sub" / "ln")
    os.chmod(up / "dir" / "b", 0o640)
    for p in (up / "dir" / "a", up / "dir" / "b", up / "dir"):
        os.utime(p, (1000, 1000), follow_symlinks=False)
    one, two = io.BytesIO(), io.BytesIO()
    write_tar(str(up), one)
    write_tar(str(up), two)
    assert one.getvalue() == two.getvalue()
    one.seek(0)
    with tarfile.open(fileobj=one) as t:
        members = {m.name: m for m in t}
    assert list(members) == ["dir", "dir/a", "dir/a2", "dir/b", "dir/sub", "dir/sub/ln"]
    assert members["dir/a2"].islnk() and members["dir/a2"].linkname == "dir/a"
    assert members["dir/sub/ln"].issym() and members["dir/sub/ln"].linkname == "../dir/a"
    assert members["dir/b"].mode == 0o640 and members["dir/b"].mtime == 1000
    assert members["dir/b"].uname == "" and members["dir"].mtime == 1000


def test_store_layer_digests(tmp_path):
    from dockyard.build.layer_diff import store_layer
    from dockyard.image.blobs import BlobStore
    from dockyard.oci.digest import digest_bytes

    up = tmp_path / "upper"
    up.mkdir()
    (up / "f").write_text("x")
    blobs = BlobStore(str(tmp_path / "store"))
    info = store_layer(str(up), blobs)
    with blobs.open(info.digest) as f:
        data = f.read()
    assert info.size == len(data) and str(digest_bytes(data)) == info.digest
    assert str(digest_bytes(gzip.decompress(data))) == info.diff_id
    assert data[4:8] == b"\0\0\0\0"  # gzip header mtime 0: the same files give the same blob


def _stage(text):
    return parse_dockerfile(text).stages[0]


def test_metadata_instructions():
    st = _stage("FROM x\nENV A=1 B=\"two words\"\nWORKDIR /app\nWORKDIR sub\nUSER nobody\nEXPOSE 80 53/udp\n"
                "LABEL k=v\nVOLUME /data\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo hi\nENTRYPOINT [\"/e\"]\n"
                "STOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s CMD true\n")
    state = BuildState(key="k", raw={"config": {"Cmd": ["inherited"]}})
    for ins in st.commands:
        metadata.apply(state, ins.expand(Expander(state.expansion_env())))
    c = state.config
    assert c["Env"] == ["A=1", "B=two words"] and c["WorkingDir"] == "/app/sub" and c["User"] == "nobody"
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}} and c["Labels"] == {"k": "v"}
    assert c["Volumes"] == {"/data": {}} and c["Shell"] == ["/bin/bash", "-c"]
    assert c["Cmd"] == ["/bin/bash", "-c", "echo hi"]  # CMD set in this stage survives ENTRYPOINT
    assert c["Entrypoint"] == ["/e"] and c["StopSignal"] == "SIGINT"
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}


def test_entrypoint_clears_an_inherited_cmd():
    state = BuildState(key="k", raw={"config": {"Cmd": ["inherited"]}})
    metadata.apply(state, _stage("FROM x\nENTRYPOINT [\"/e\"]\n").commands[0])
    assert state.config["Cmd"] is None


def test_run_command_lines():
    cmds = _stage("FROM x\nRUN echo a\nRUN [\"/bin/true\", \"x\"]\nRUN <<EOF\necho 1\nEOF\n"
                  "RUN cat <<A > /f\nbody\nA\n").commands
    state = BuildState(key="k")
    assert argv_for(state, cmds[0]) == ["/bin/sh", "-c", "echo a"]
    assert argv_for(state, cmds[1]) == ["/bin/true", "x"]
    assert argv_for(state, cmds[2]) == ["/bin/sh", "-c", "echo 1\n"]
    assert argv_for(state, cmds[3]) == ["/bin/sh", "-c", "cat <<A > /f\nbody\nA"]


def test_cache_keys_chain():
    a = step_key("base", "RUN x", {})
    assert a == step_key("base", "RUN x", {})
    assert a != step_key("other-base", "RUN x", {})
    assert a != step_key("base", "RUN x", {"V": "1"})
    assert step_key(a, "COPY f /", "h1") != step_key(a, "COPY f /", "h2")


def test_config_bytes_deterministic_with_labels():
    s = BuildState(key="k", raw={"architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z"})
    s.record("ENV A=1", None)
    one = s.config_bytes({"x": "y"})
    assert one == s.config_bytes({"x": "y"})
    assert b'"empty_layer":true' in one and b'"Labels":{"x":"y"}' in one and b'"created":"2020-01-01T00:00:00Z"' in one


def test_file_digests_reuse_only_unchanged_files(tmp_path):
    import time

    from dockyard.build.cache import BuildCache, FileDigests
    from dockyard.oci.digest import Hasher

    ctx = _ctx(tmp_path / "ctx", {"d/x": "one", "d/y": "two"})
    cache = BuildCache(str(tmp_path))

    def h():
        known = FileDigests(cache, ctx.root)
        x = Hasher()
        ctx.content_hash(["d"], x, known)
        read = [p for p, _, _ in known.new]
        known.flush()
        return x.digest(), read
    first, read = h()
    assert len(read) == 2
    again, read = h()
    assert again == first and not read  # nothing re-read: every signature matched
    st = os.stat(tmp_path / "ctx" / "d" / "x")
    time.sleep(0.01)
    (tmp_path / "ctx" / "d" / "x").write_text("ONE")  # same size, mtime put back: ctime still moves
    os.utime(tmp_path / "ctx" / "d" / "x", ns=(st.st_atime_ns, st.st_mtime_ns))
    changed, read = h()
    assert changed != first and read == [str(tmp_path / "ctx" / "d" / "x")]
    cache.close()
