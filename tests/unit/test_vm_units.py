"""Pure parts of the VM backend: the cpio writer, vmlinux extraction and its PVH note, module
dependencies from .modinfo, the guest config's quoting (through a real sh), the QEMU command
line, the exec request."""

from __future__ import annotations

import base64
import io
import lzma
import os
import shutil
import struct
import subprocess

import pytest

from dockyard.vm import cpio, guest_config, modules, qemu, vmlinux


def _read_cpio(data: bytes) -> list[tuple[str, int, bytes]]:
    out, at = [], 0
    while True:
        assert data[at:at + 6] == b"070701"
        f = [int(data[at + 6 + 8 * i:at + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        name_at = at + 110
        name = data[name_at:name_at + namesize - 1].decode()
        body = name_at + namesize + (-(110 + namesize) % 4)
        if name == "TRAILER!!!":
            return out
        out.append((name, mode, data[body:body + size]))
        at = body + size + (-size % 4)


def test_cpio_newc_layout_and_padding():
    buf = io.BytesIO()
    w = cpio.CpioWriter(buf)
    w.directory("bin")
    w.file("bin/x", b"abcde", 0o755)
    w.symlink("bin/sh", "x")
    w.char_device("console", 5, 1)
    w.close()
    data = buf.getvalue()
    assert len(data) % 4 == 0
    entries = _read_cpio(data)
    assert [(n, oct(m)) for n, m, _ in entries] == [("bin", "0o40755"), ("bin/x", "0o100755"),
                                                   ("bin/sh", "0o120777"), ("console", "0o20600")]
    assert entries[1][2] == b"abcde" and entries[2][2] == b"x"
    if shutil.which("busybox"):  # another reader agrees
        listing = subprocess.run(["busybox", "cpio", "-t"], input=data, capture_output=True, check=True).stdout
        assert listing.split() == [b"bin", b"bin/x", b"bin/sh", b"console"]


def _elf_with_note(name: bytes, n_type: int) -> bytes:
    desc = b"\0" * 4
    note = struct.pack("<III", len(name) + 1, len(desc), n_type) + name + b"\0" * (4 - len(name) % 4) + desc
    phoff = 64
    ph = struct.pack("<IIQQQQQQ", 4, 0, 64 + 56, 0, 0, len(note), len(note), 4)
    header = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, phoff, 0, 0,
                                                                         64, 56, 1, 64, 0, 0)
    return header + ph + note


def test_pvh_note_found_only_when_present():
    assert vmlinux.has_pvh_note(_elf_with_note(b"Xen", 18))
    assert not vmlinux.has_pvh_note(_elf_with_note(b"Xen", 17))
    assert not vmlinux.has_pvh_note(_elf_with_note(b"GNU", 18))
    assert not vmlinux.has_pvh_note(b"MZ not an elf at all")


def test_extract_finds_the_payload_after_false_magics():
    elf = _elf_with_note(b"Xen", 18) + os.urandom(1000)
    # a stray xz magic before the real stream (extract-vmlinux tries every offset)
    image = b"setup code" + b"\xfd7zXZ\x00garbage" + lzma.compress(elf, format=lzma.FORMAT_XZ) + b"trailer"
    assert vmlinux.extract(image) == elf
    assert vmlinux.extract(b"no payload here") is None


def _ko(depends: str) -> bytes:
    """A minimal ELF64 with a .modinfo and a section name table."""
    modinfo = f"license=GPL\0depends={depends}\0".encode()
    shstr = b"\0.modinfo\0.shstrtab\0"
    body = modinfo + shstr
    shoff = 64 + len(body)
    sections = [struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                struct.pack("<IIQQQQIIQQ", 1, 1, 0, 0, 64, len(modinfo), 0, 0, 1, 0),
                struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, 64 + len(modinfo), len(shstr), 0, 0, 1, 0)]
    header = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0,
                                                                         64, 0, 0, 64, 3, 2)
    return header + body + b"".join(sections)


def test_modules_in_dependency_order(tmp_path):
    tree = {"a": "b,c", "b": "c", "c": "", "d": "", "e": "a"}
    for name, deps in tree.items():
        (tmp_path / f"{name}.ko").write_bytes(_ko(deps))
    assert modules.depends(_ko("x,y")) == ["x", "y"]
    order = [n for n, _ in modules.resolve(str(tmp_path), {"e": "", "d": ""})]
    assert order == ["c", "b", "a", "e", "d"]
    (tmp_path / "c.ko").write_bytes(_ko("a"))
    with pytest.raises(Exception, match="loop"):
        modules.resolve(str(tmp_path), {"a": ""})
    with pytest.raises(Exception, match="zz not found"):
        modules.resolve(str(tmp_path), {"zz": ""})


NASTY = ["it's", 'a "quoted" $HOME `x` \\ ;|&', "new\nline", "-n", "", "*"]


@pytest.mark.skipif(not shutil.which("sh"), reason="needs sh")
def test_config_script_quotes_everything_through_a_real_shell():
    argv = guest_config.workload_argv(NASTY, ["A=it's $x", "B="], "/work dir", 1000, 100)
    assert argv[:4] == ["env", "-i", "A=it's $x", "B="]
    assert argv[argv.index("--") + 1:] == NASTY and "-w/newroot/work dir" in argv
    script = guest_config.config_script(rootfs_tag="rootfs", volumes=[("vol0", "/da ta", True)], hostname="h'x",
                                        cwd="/work dir", argv=argv)
    shell = ('hostname_is() { printf "H<%s>" "$@"; }; rootfs() { printf "R<%s>" "$@"; }; '
             'volume() { printf "V<%s>" "$@"; }; workdir() { printf "W<%s>" "$@"; }; '
             'main() { printf "M<%s>" "$@"; }; . /dev/stdin')
    out = subprocess.run(["sh", "-c", shell], input=script, capture_output=True, text=True, check=True).stdout
    expected = "H<h'x>R<rootfs>V<vol0>V</da ta>V<ro>W</work dir>" + "".join(f"M<{a}>" for a in argv)
    assert out == expected


def test_environment_entries_must_be_assignments():
    with pytest.raises(Exception, match="KEY=VALUE"):
        guest_config.workload_argv(["true"], ["NOEQUALS"], "/", 0, 0)


def test_exec_request_is_one_line_of_base64_words():
    from dockyard.vm.agent import exec_request

    rid, line = exec_request(["sh", "-c", "echo 'x'"])
    verb, got_id, b64 = line.decode().rstrip("\n").split(" ")
    assert verb == "EXEC" and got_id == rid and line.count(b"\n") == 1
    assert base64.b64decode(b64).decode() == guest_config.quote([rid, "sh", "-c", "echo 'x'"])


def test_command_line(monkeypatch, tmp_path):
    monkeypatch.setattr(qemu, "find_qemu", lambda: "/usr/bin/qemu-system-x86_64")
    m = qemu.Machine(kernel="/k/vmlinux", initrd="/r/initrd", run_dir=str(tmp_path), stdout="/o", stderr="/e",
                     accel="tcg", cpus=2, memory=128 << 20, tb_size_mib=32,
                     shares=[qemu.Share("rootfs", "/r/fs0.sock", "/merged")])
    argv = qemu.command_line(m)
    joined = " ".join(argv)
    for part in ("-nodefaults", "-no-user-config", "-no-reboot", "-daemonize", "-smp 2", "-m 128M",
                 "tcg,tb-size=32", "memory-backend-memfd,id=mem,size=128M,share=on", "virtio-balloon-device",
                 "vhost-user-fs-device,chardev=fs0,tag=rootfs", "name=dockyard.stdout", "path=/o,append=on"):
        assert part in joined, part
    append = argv[argv.index("-append") + 1]
    assert "panic=-1" in append and "quiet" in append
    assert "tsc_early_khz=" in append or qemu.host_tsc_khz() is None
    m.accel = "kvm"
    kvm = qemu.command_line(m)
    assert "kvm" in kvm and "host,-arch-capabilities" in kvm and "tsc_early_khz" not in " ".join(kvm)


def test_nic_on_the_command_line_only_when_given(monkeypatch, tmp_path):
    monkeypatch.setattr(qemu, "find_qemu", lambda: "/usr/bin/qemu-system-x86_64")
    m = qemu.Machine(kernel="/k", initrd="/i", run_dir=str(tmp_path), stdout="/o", stderr="/e", accel="tcg")
    assert "-netdev" not in qemu.command_line(m)  # --network none: no device at all
    m.nic = qemu.Nic(fd=9, mac="02:42:0a:58:00:02")
    argv = qemu.command_line(m)
    assert argv[argv.index("-netdev") + 1] == "tap,id=n0,fd=9"
    assert "virtio-net-device,netdev=n0,mac=02:42:0a:58:00:02" in argv
    assert not any("vhost" in a and "net" in a for a in argv)  # no /dev/vhost-net here


def test_split_order_keeps_dependency_order():
    base = ["virtio_ring", "virtio", "virtio_mmio"]
    full = ["virtio_ring", "virtio", "virtio_mmio", "failover", "net_failover", "virtio_net"]
    assert modules.split_order(base, full) == ["failover", "net_failover", "virtio_net"]
    assert "virtio_net" in modules.NET_WANTED and "virtio_net" not in modules.WANTED


@pytest.mark.skipif(not shutil.which("busybox"), reason="needs busybox")
def test_start_cpio_carries_network_and_etc_files(tmp_path):
    data = guest_config.start_cpio(address="10.88.0.5/16", gateway="10.88.0.1", mtu=1400,
                                   etc={"hosts": "10.88.0.5\tweb\n", "resolv.conf": "nameserver 1.1.1.1\n"})
    subprocess.run(["busybox", "cpio", "-i", "-d"], input=data, cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "dockyard/net.sh").read_text() == "network 10.88.0.5/16 10.88.0.1 1400\n"
    assert (tmp_path / "dockyard/etc/hosts").read_text() == "10.88.0.5\tweb\n"
    assert oct((tmp_path / "dockyard/etc/resolv.conf").stat().st_mode & 0o777) == "0o644"
    none = guest_config.start_cpio(etc={"hostname": "h\n"})
    assert b"net.sh" not in none and b"dockyard/etc/hostname" in none
    with pytest.raises(Exception, match="guest /etc file name"):
        guest_config.start_cpio(etc={"../x": ""})
