"""Mounts inside the container's mount namespace: the spec's ``mounts``, /dev, masked and
read-only paths, and the switch to the new root with pivot_root.

Everything here runs in the container's init (stage 2), single-threaded, before execve.
Targets are resolved with ``paths.open_in_root`` and mounted through ``/proc/self/fd/N``:
a target cannot escape the rootfs through a symlink planted in the image.
"""

from __future__ import annotations

import errno
import os
import stat

from .._sys import libc
from .._sys import paths
from ..errors import MountError

# option -> (set?, flag). The table is runc's (libcontainer/specconv), which follows mount(8).
FLAGS = {
    "async": (False, libc.MS_SYNCHRONOUS), "atime": (False, libc.MS_NOATIME),
    "bind": (True, libc.MS_BIND), "defaults": (False, 0), "dev": (False, libc.MS_NODEV),
    "diratime": (False, libc.MS_NODIRATIME), "dirsync": (True, libc.MS_DIRSYNC),
    "exec": (False, libc.MS_NOEXEC), "lazytime": (True, libc.MS_LAZYTIME),
    "mand": (True, libc.MS_MANDLOCK), "noatime": (True, libc.MS_NOATIME),
    "nodev": (True, libc.MS_NODEV), "nodiratime": (True, libc.MS_NODIRATIME),
    "noexec": (True, libc.MS_NOEXEC), "nolazytime": (False, libc.MS_LAZYTIME),
    "nomand": (False, libc.MS_MANDLOCK), "norelatime": (False, libc.MS_RELATIME),
    "nostrictatime": (False, libc.MS_STRICTATIME), "nosuid": (True, libc.MS_NOSUID),
    "nosymfollow": (True, libc.MS_NOSYMFOLLOW), "rbind": (True, libc.MS_BIND | libc.MS_REC),
    "relatime": (True, libc.MS_RELATIME), "remount": (True, libc.MS_REMOUNT),
    "ro": (True, libc.MS_RDONLY), "rw": (False, libc.MS_RDONLY), "silent": (True, libc.MS_SILENT),
    "strictatime": (True, libc.MS_STRICTATIME), "suid": (False, libc.MS_NOSUID),
    "sync": (True, libc.MS_SYNCHRONOUS),
}
PROPAGATION = {
    "private": libc.MS_PRIVATE, "rprivate": libc.MS_PRIVATE | libc.MS_REC,
    "shared": libc.MS_SHARED, "rshared": libc.MS_SHARED | libc.MS_REC,
    "slave": libc.MS_SLAVE, "rslave": libc.MS_SLAVE | libc.MS_REC,
    "unbindable": libc.MS_UNBINDABLE, "runbindable": libc.MS_UNBINDABLE | libc.MS_REC,
}
UNSUPPORTED = {"idmap", "ridmap", "tmpcopyup", "rro", "rrw", "rnosuid", "rnodev", "rnoexec"}
OPTION_NAMES = set(FLAGS) | set(PROPAGATION)
# Flags the kernel refuses to clear on a bind remount when the source mount has them
# ("locked" in a user namespace); keep them so a remount does not fail with EPERM.
_LOCKED = libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC | libc.MS_RDONLY

# The standard devices every container gets (runtime-spec "Default Devices").
DEFAULT_DEVICES = (
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
)


def parse_options(options) -> tuple[int, int, str]:
    """(flags, propagation flags, data string) of a spec mount's options."""
    flags = prop = 0
    data = []
    for o in options or ():
        if o in FLAGS:
            on, bit = FLAGS[o]
            flags = flags | bit if on else flags & ~bit
        elif o in PROPAGATION:
            prop |= PROPAGATION[o]
        elif o in UNSUPPORTED:
            raise MountError("mount option", errno.EINVAL, o, "not supported by dockyard-runtime yet")
        else:
            data.append(o)
    return flags, prop, ",".join(data)


def _is_bind(m: dict, flags: int) -> bool:
    return bool(flags & libc.MS_BIND) or m.get("type") == "bind"


def _bind_source(m: dict, bundle: str) -> str:
    src = m.get("source") or ""
    return src if src.startswith("/") else os.path.join(bundle, src)


def mount_one(root_fd: int, m: dict, bundle: str, cgroup_binds) -> None:
    """Mount one spec ``mounts`` entry under the rootfs open as ``root_fd``."""
    dest = m["destination"]
    flags, prop, data = parse_options(m.get("options"))
    mtype = m.get("type") or ""
    if mtype == "cgroup":
        return _mount_cgroup(root_fd, dest, flags, cgroup_binds)
    bind = _is_bind(m, flags)
    if bind:
        src = _bind_source(m, bundle)
        try:
            is_dir = stat.S_ISDIR(os.stat(src).st_mode)
        except OSError as e:
            raise MountError("bind mount source", e.errno, src) from None
        fd = paths.open_in_root(root_fd, dest, create="dir" if is_dir else "file")
        try:
            libc.mount(src, paths.fd_path(fd), None, libc.MS_BIND | (flags & libc.MS_REC), shown=dest)
        finally:
            os.close(fd)
        extra = flags & ~(libc.MS_BIND | libc.MS_REC | libc.MS_REMOUNT)
        if extra or prop:
            _after_mount(root_fd, dest, lambda t: _remount_bind(t, extra, src, dest) if extra else None, prop)
        return
    fd = paths.open_in_root(root_fd, dest, create="dir")
    sysfs_bind = False
    try:
        try:
            libc.mount(m.get("source") or mtype, paths.fd_path(fd), mtype, flags, data or None, shown=dest)
        except MountError as e:
            # sysfs cannot be mounted in a user namespace that does not own the netns:
            # fall back to a read-only recursive bind of the host's, as runc does.
            if mtype != "sysfs" or e.errno != errno.EPERM:
                raise
            libc.mount("/sys", paths.fd_path(fd), None, libc.MS_BIND | libc.MS_REC, shown=dest)
            sysfs_bind = True
    finally:
        os.close(fd)
    if sysfs_bind or prop:
        _after_mount(root_fd, dest, lambda t: _remount_bind(t, flags | libc.MS_RDONLY, "/sys", dest)
                     if sysfs_bind else None, prop)


def _after_mount(root_fd: int, dest: str, remount, prop: int) -> None:
    """Remount/propagation changes need the new mount's root: an fd opened before the
    mount names the directory underneath it (mount(2) then fails with EINVAL)."""
    fd = paths.open_in_root(root_fd, dest)
    try:
        target = paths.fd_path(fd)
        remount(target)
        if prop:
            libc.mount(None, target, None, prop, shown=dest)
    finally:
        os.close(fd)


def _remount_bind(target: str, flags: int, src: str, shown: str) -> None:
    try:
        locked = os.statvfs(src).f_flag & _LOCKED
    except OSError:
        locked = 0
    libc.mount(None, target, None, libc.MS_BIND | libc.MS_REMOUNT | flags | locked, shown=shown)


def _mount_cgroup(root_fd: int, dest: str, flags: int, cgroup_binds) -> None:
    """The spec's ``cgroup`` mount: the container's own cgroups, never the host's tree.

    ``cgroup_binds`` is computed by the host side (cgroup_plan.cgroup_binds): (name, host
    directory of this container's cgroup) for each hierarchy. Always bind mounts of
    the container's own cgroup directories (one, on pure v2; else one per hierarchy under a
    tmpfs, like runc and Docker on v1): the mounts happen before the init has joined its
    cgroup namespace (see init._joined), and a bind shows exactly the container's subtree
    whatever namespace the mounter is in.
    """
    fd = paths.open_in_root(root_fd, dest, create="dir")
    try:
        target = paths.fd_path(fd)
        if len(cgroup_binds) == 1 and cgroup_binds[0][0] == "":
            host_dir = cgroup_binds[0][1]
            libc.mount(host_dir, target, None, libc.MS_BIND | libc.MS_REC, shown=dest)
            _after_mount(root_fd, dest, lambda t: _remount_bind(t, flags, host_dir, dest), 0)
            return
        libc.mount("tmpfs", target, "tmpfs", flags & ~libc.MS_RDONLY, "mode=755", shown=dest)
        # Our fd names the directory under the new tmpfs: reopen to reach the tmpfs itself.
        os.close(fd)
        fd = paths.open_in_root(root_fd, dest)
        target = paths.fd_path(fd)
        for name, host_dir in cgroup_binds:
            sub = paths.open_in_root(fd, name, create="dir")
            try:
                libc.mount(host_dir, paths.fd_path(sub), None, libc.MS_BIND | libc.MS_REC, shown=f"{dest}/{name}")
            finally:
                os.close(sub)
            _after_mount(fd, name, lambda t, h=host_dir, n=name: _remount_bind(t, flags, h, f"{dest}/{n}"), 0)
            if "," in name:  # co-mounted hierarchies (cpu,cpuacct): the usual names as symlinks
                for alias in name.split(","):
                    try:
                        os.symlink(name, alias, dir_fd=fd)
                    except FileExistsError:
                        pass
        if flags & libc.MS_RDONLY:
            libc.mount(None, target, None, libc.MS_REMOUNT | flags, "mode=755", shown=dest)
    finally:
        os.close(fd)


def _mknod(dir_fd: int, name: str, kind: int, major: int, minor: int, mode: int, uid: int, gid: int,
           in_userns: bool) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise MountError("create device", errno.EISDIR, f"/dev/{name}") from None
    if in_userns:
        # mknod is not allowed in a user namespace: bind the host's node instead (runc too).
        fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                     dir_fd=dir_fd)
        os.close(fd)
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            libc.mount(f"/dev/{name}", paths.fd_path(fd), None, libc.MS_BIND, shown=f"/dev/{name}")
        finally:
            os.close(fd)
        return
    try:
        os.mknod(name, mode | kind, os.makedev(major, minor), dir_fd=dir_fd)
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
        os.chmod(name, mode, dir_fd=dir_fd)  # mknod's mode is filtered by the umask
    except OSError as e:
        raise MountError("mknod", e.errno, f"/dev/{name}") from None


def setup_dev(root_fd: int, devices, in_userns: bool, has_devpts: bool) -> None:
    """Default device nodes, the spec's ``linux.devices``, /dev/ptmx and the std symlinks."""
    dev = paths.open_in_root(root_fd, "/dev", create="dir")
    try:
        dfd = os.open(paths.fd_path(dev), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(dev)
    try:
        for name, major, minor in DEFAULT_DEVICES:
            _mknod(dfd, name, stat.S_IFCHR, major, minor, 0o666, 0, 0, in_userns)
        for d in devices or ():
            rel = d["path"][len("/dev/"):]
            parent, _, leaf = rel.rpartition("/")
            pfd = paths.open_in_root(dfd, parent, create="dir") if parent else None
            try:
                target_dir = os.open(paths.fd_path(pfd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if pfd else dfd
                kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d["type"]]
                _mknod(target_dir, leaf, kind, d.get("major", 0), d.get("minor", 0), d.get("fileMode", 0o666) & 0o7777,
                       d.get("uid", 0), d.get("gid", 0), in_userns)
                if pfd:
                    os.close(target_dir)
            finally:
                if pfd:
                    os.close(pfd)
        if has_devpts:
            try:
                os.unlink("ptmx", dir_fd=dfd)
            except FileNotFoundError:
                pass
            os.symlink("pts/ptmx", "ptmx", dir_fd=dfd)
        for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            try:
                os.symlink(target, link, dir_fd=dfd)
            except FileExistsError:
                pass
    finally:
        os.close(dfd)


def pivot(rootfs: str, no_pivot: bool = False) -> None:
    """Make ``rootfs`` the root. pivot_root(".", ".") stacks the old root on top of the new
    one; unmounting "." (lazily, after making it a slave so the unmount does not propagate
    to the host) then leaves only the new root — no temporary directory in the image."""
    os.chdir(rootfs)
    if no_pivot:
        libc.mount(rootfs, "/", None, libc.MS_MOVE)
        os.chroot(".")
    else:
        libc.pivot_root(".", ".")
        libc.mount(None, ".", None, libc.MS_SLAVE | libc.MS_REC, shown="old root")
        libc.umount2(".", libc.MNT_DETACH)
    os.chdir("/")


def remount_root_readonly() -> None:
    locked = os.statvfs("/").f_flag & _LOCKED
    libc.mount(None, "/", None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | locked, shown="/ (root.readonly)")


def mask_paths(masked) -> None:
    """maskedPaths: /dev/null over files, an empty read-only tmpfs over directories.
    Runs after pivot_root, so the paths resolve inside the container's own root."""
    for p in masked or ():
        try:
            st = os.stat(p)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISDIR(st.st_mode):
            libc.mount("tmpfs", p, "tmpfs", libc.MS_RDONLY, "size=0k,nr_inodes=1", shown=p)
        else:
            libc.mount("/dev/null", p, None, libc.MS_BIND, shown=p)


def readonly_paths(ro) -> None:
    for p in ro or ():
        try:
            libc.mount(p, p, None, libc.MS_BIND | libc.MS_REC, shown=p)
        except MountError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                continue
            raise
        locked = os.statvfs(p).f_flag & _LOCKED
        libc.mount(None, p, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_REC | locked, shown=p)
