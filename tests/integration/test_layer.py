"""Applying image layers, for real (as root: ownership, device nodes, whiteout devices and
trusted.* xattrs need it), including a suite of hostile tars: each must be refused or
contained, and the host outside the target must be untouched."""

from __future__ import annotations

import gzip
import io
import os
import stat
import subprocess
import tarfile

import pytest

from dockyard.image.layer import LayerError, apply_layer
from layer_tars import make_tar
from support import need_binary

pytestmark = pytest.mark.root


def apply(data: bytes, target, **kw):
    return apply_layer(io.BytesIO(data), str(target), **kw)


@pytest.fixture
def target(tmp_path, need_root):
    t = tmp_path / "rootfs"
    t.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("host data\n")
    return t


def outside_untouched(target):
    outside = target.parent / "outside"
    assert sorted(os.listdir(outside)) == ["file"] and (outside / "file").read_text() == "host data\n"
    assert os.stat(outside / "file").st_nlink == 1


def test_regular_layer_metadata(target):
    data = make_tar([
        ("etc", "dir", None),
        ("etc/hosts", "file", "127.0.0.1 localhost\n", {"uid": 1000, "gid": 1001, "mode": 0o640}),
        ("bin", "dir", None),
        ("bin/su", "file", "x", {"mode": 0o4755}),
        ("bin/sh", "sym", "busybox"),
        ("bin/busybox", "file", "elf"),
        ("bin/ash", "link", "bin/busybox"),
        ("dev", "dir", None),
        ("dev/null", "chr", (1, 3)),
        ("run/fifo", "fifo", None),  # parent created implicitly
        ("etc/x", "file", "x", {"pax_headers": {"SCHILY.xattr.user.dockyard": "yes"}}),
    ])
    stats = apply(data, target)
    st = os.stat(target / "etc/hosts")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o640)
    assert st.st_mtime == 1_600_000_000
    assert stat.S_IMODE(os.stat(target / "bin/su").st_mode) == 0o4755  # setuid survives chown
    assert os.readlink(target / "bin/sh") == "busybox"
    assert os.stat(target / "bin/ash").st_ino == os.stat(target / "bin/busybox").st_ino
    assert stat.S_ISCHR(os.stat(target / "dev/null").st_mode) and os.stat(target / "dev/null").st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO(os.stat(target / "run/fifo").st_mode)
    assert os.getxattr(target / "etc/x", "user.dockyard") == b"yes"
    assert os.stat(target / "etc").st_mtime == 1_600_000_000  # directories' mtimes set last
    assert stats.entries == 11 and stats.bytes == len("127.0.0.1 localhost\n") + 1 + 3 + 1


def test_gzip_and_zstd_layers(target):
    data = make_tar([("a", "file", "compressed\n")])
    apply(gzip.compress(data), target)
    assert (target / "a").read_text() == "compressed\n"
    zstd = need_binary("zstd")
    z = subprocess.run([zstd, "-q", "-c"], input=make_tar([("b", "file", "zstd\n")]), capture_output=True, check=True).stdout
    apply(z, target)
    assert (target / "b").read_text() == "zstd\n"


def test_whiteouts_overlay_form(target):
    apply(make_tar([("d", "dir", None), ("d/.wh..wh..opq", "file", ""), ("d/.wh.gone", "file", "")]), target)
    assert os.getxattr(target / "d", "trusted.overlay.opaque") == b"y"
    st = os.stat(target / "d/gone", follow_symlinks=False)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert not (target / "d/.wh.gone").exists()


def test_whiteouts_applied_form(target):
    apply(make_tar([("a", "dir", None), ("a/b", "file", "1"), ("a/c", "file", "2"),
                    ("d", "dir", None), ("d/old", "file", "3")]), target, whiteouts="apply")
    apply(make_tar([("a/.wh.b", "file", ""), ("d/.wh..wh..opq", "file", ""), ("d/new", "file", "4")]),
          target, whiteouts="apply")
    assert sorted(os.listdir(target / "a")) == ["c"]
    assert sorted(os.listdir(target / "d")) == ["new"]


# --- hostile layers -------------------------------------------------------------------

@pytest.mark.parametrize("entries, why", [
    ([("../outside/evil", "file", "x")], "climbs out"),
    ([("a/../../outside/evil", "file", "x")], "climbs out"),
    ([("up", "sym", "../../../../../../.."), ("up/outside/evil", "file", "x")], "escapes the rootfs"),
    ([("up", "sym", "../outside"), ("up/evil", "file", "x")], "escapes the rootfs"),
    ([("l", "link", "../outside/file")], "climbs out"),
    ([("l", "link", "/outside/file")], "not in the layers"),
    ([(".wh...", "file", "")], "refused"),
    ([("d", "dir", None), ("d/.wh...", "file", "")], "refused"),
])
def test_hostile_entries_are_refused(target, entries, why):
    with pytest.raises(LayerError) as e:
        apply(make_tar(entries, fmt=tarfile.GNU_FORMAT), target)
    assert why in str(e.value)
    outside_untouched(target)


def test_absolute_names_and_symlinks_stay_inside(target):
    apply(make_tar([("/etc/abs", "file", "a"),
                    ("root-link", "sym", "/"),          # a link to "/" is the rootfs itself
                    ("root-link/etc/through", "file", "b"),
                    ("outside-link", "sym", str(target.parent / "outside")),
                    ("outside-link/evil", "file", "c")]), target)
    assert (target / "etc/abs").read_text() == "a"
    assert (target / "etc/through").read_text() == "b"
    # the absolute link is followed inside the rootfs: <root>/<tmp path>/outside/evil
    assert (target / str(target.parent / "outside").lstrip("/") / "evil").read_text() == "c"
    outside_untouched(target)


def test_existing_symlink_is_replaced_not_written_through(target):
    apply(make_tar([("f", "sym", "../outside/file"), ("g", "sym", str(target.parent / "outside" / "file"))]), target)
    apply(make_tar([("f", "file", "replaced"), ("g", "file", "replaced")]), target)
    assert (target / "f").read_text() == "replaced" and not os.path.islink(target / "f")
    assert (target / "g").read_text() == "replaced" and not os.path.islink(target / "g")
    outside_untouched(target)


def test_symlink_parent_replaced_by_dir_entry(target):
    apply(make_tar([("d", "sym", "../outside")]), target)
    apply(make_tar([("d", "dir", None), ("d/x", "file", "in")]), target)
    assert os.path.isdir(target / "d") and not os.path.islink(target / "d")
    assert (target / "d/x").read_text() == "in"
    outside_untouched(target)


def test_overlay_xattrs_from_a_layer_are_not_applied(target):
    stats = apply(make_tar([("d", "dir", None, {"pax_headers": {"SCHILY.xattr.trusted.overlay.opaque": "y"}})]),
                  target)
    with pytest.raises(OSError):
        os.getxattr(target / "d", "trusted.overlay.opaque")
    assert any("trusted.overlay.opaque" in s for s in stats.skipped)


def test_not_a_tar(target):
    with pytest.raises(LayerError):
        apply(b"this is not a tar archive at all" * 40, target)
    with pytest.raises(LayerError):
        apply(gzip.compress(b"\0" * 10)[:-4] + b"junk", target)


def test_many_entries_stream(tmp_path, need_root):
    """Thousands of entries go through without trouble (memory: only directories are kept)."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else str(tmp_path)
    import tempfile

    with tempfile.TemporaryDirectory(dir=shm) as d:
        entries = [("many", "dir", None)] + [(f"many/f{i}", "file", "") for i in range(5000)]
        stats = apply(make_tar(entries), d)
        assert stats.entries == 5001 and len(os.listdir(os.path.join(d, "many"))) == 5000


def test_diff_id_checked_through_compression(target):
    from dockyard.oci.digest import digest_bytes

    data = make_tar([("a", "file", "x")])
    apply(gzip.compress(data), target, diff_id=digest_bytes(data))
    with pytest.raises(LayerError, match="DiffID"):
        apply(gzip.compress(data), target, diff_id=digest_bytes(b"something else"))
