"""The guest's PID 1: a busybox sh script in the initramfs (docs/vm.md "Inside the guest").

Order, and why:
1. devtmpfs, proc, sysfs: Debian's kernel has no DEVTMPFS_MOUNT, and the port lookup below
   reads /sys.
2. insmod the modules in dependency order (written by setup into /lib/modules/order): the
   virtio transports and drivers are modules in Debian's kernel.
3. find the virtio-serial ports by name (/sys/class/virtio-ports/*/name; they appear
   asynchronously once virtio_console has talked to QEMU).
4. with a NIC, source /dockyard/net.sh (appended at start by the host, once the address is
   known): `network IP/PREFIX GW MTU` loads virtio_net (lib/modules/order-net) and sets up
   eth0 with busybox `ip` (lo is up in every VM, as Docker's none has it).
5. source /dockyard/config.sh — appended to the initramfs per VM by the host
   (vm/guest_config.py), every value shell-quoted — which calls, in order: `hostname_is`,
   `rootfs` (virtiofs tag -> /newroot, then the engine's /dockyard/etc/{hostname,hosts,
   resolv.conf} bind-mounted over the image's /etc files), `volume` per volume, `workdir`, then `main` with the
   full command line: `env -i K=V... /bin/busybox nsenter -F -S UID -G GID -r/newroot
   -w/newroot/CWD -- ARGS...` (busybox's nsenter does chroot + chdir + setgid/setuid and
   execs, exit 127/126 like Docker's when the command is missing or not executable).
6. `main` says STARTED on the exit port (the host's boot timeout stops there), runs the
   command with stdin /dev/null, stdout/stderr on their own ports (never the
   kernel console), waits, writes "EXIT <code>" on the exit port, and reboots: QEMU runs with
   -no-reboot, so the reset ends it.
The agent (a background loop on the agent port) serves exec and signals meanwhile; while no
host is connected a virtio port reads as EOF at once, so it polls every 100 ms until one is.
Protocol (lines, host -> guest):  EXEC <id> <base64 of `run_exec ID ARGV...` shell words>
                                  SIGNAL <number>     (to the main process)
          guest -> host:          EXIT <id> <code>    (after the exec's output is written)
An exec's stdout/stderr go to the exec ports (files on the host, appended; one exec at a time,
the host holds a lock). A port write blocks until QEMU has taken the data, so everything the
exec wrote is in the files before its EXIT line is sent."""

INIT = r"""#!/bin/busybox sh
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
EXIT_PORT=/dev/console
fail() {
    echo "dockyard-init: $*" >/dev/console
    echo "ERROR $*" >"$EXIT_PORT"
    reboot -f
}
load_modules() {
    while read -r m; do
        insmod "/lib/modules/$m.ko" || fail "insmod $m"
    done <"$1"
}
load_modules /lib/modules/order
ip link set lo up

port() {
    n=0
    while [ $n -lt 3000 ]; do
        for p in /sys/class/virtio-ports/vport*; do
            [ -e "$p/name" ] || continue
            read -r name <"$p/name"
            [ "$name" = "$1" ] && { echo "/dev/${p##*/}"; return 0; }
        done
        usleep 1000
        n=$((n + 1))
    done
    return 1
}
EXIT_PORT=$(port dockyard.exit) || { EXIT_PORT=/dev/console; fail "no exit port"; }
OUT=$(port dockyard.stdout) || fail "no stdout port"
ERR=$(port dockyard.stderr) || fail "no stderr port"

hostname_is() { hostname "$1"; }
network() {  # IP/PREFIX GATEWAY MTU: eth0 is the virtio-net on the host's tap
    load_modules /lib/modules/order-net
    n=0
    while [ ! -e /sys/class/net/eth0 ]; do
        [ $n -lt 2000 ] || fail "no eth0 after loading virtio_net"
        usleep 1000
        n=$((n + 1))
    done
    ip link set eth0 mtu "$3" up || fail "eth0 up (mtu $3)"
    ip addr add "$1" dev eth0 || fail "address $1 on eth0"
    ip route add default via "$2" dev eth0 || fail "default route via $2"
}
etc_file() {  # NAME: the engine's /dockyard/etc/NAME over the image's /etc/NAME, as Docker binds them
    t="/newroot/etc/$1"
    [ -d /newroot/etc ] || mkdir -p /newroot/etc
    [ -e "$t" ] || [ -L "$t" ] || : >"$t"
    mount --bind "/dockyard/etc/$1" "$t" || echo "dockyard-init: /etc/$1 of the image kept" >/dev/console
}
rootfs() {
    mount -t virtiofs "$1" /newroot || fail "mount rootfs ($1)"
    for d in proc sys dev; do [ -d "/newroot/$d" ] || mkdir -p "/newroot/$d"; done
    mount -t proc proc /newroot/proc
    mount -t sysfs -o ro sysfs /newroot/sys
    mount -t devtmpfs devtmpfs /newroot/dev
    mkdir -p /newroot/dev/pts /newroot/dev/shm
    mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
    mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
    for f in /dockyard/etc/*; do
        [ -f "$f" ] && etc_file "${f##*/}"
    done
}
volume() {
    mkdir -p "/newroot$2" || fail "volume target $2"
    mount -t virtiofs -o "$3" "$1" "/newroot$2" || fail "mount volume $1 on $2"
}
workdir() { mkdir -p "/newroot$1" || fail "workdir $1"; }

run_exec() {
    id=$1
    shift
    "$@" </dev/null >>"$XOUT" 2>>"$XERR"
    echo "EXIT $id $?" >&3
}
agent() {
    XOUT=$(port dockyard.exec-stdout) || return
    XERR=$(port dockyard.exec-stderr) || return
    AGENT=$(port dockyard.agent) || return
    exec 3<>"$AGENT"
    while :; do
        while read -r verb a b <&3; do
            case $verb in
            EXEC) (eval "run_exec $(echo "$b" | base64 -d)") & ;;
            SIGNAL) read -r pid </run/main.pid && kill "-$a" "$pid" ;;
            esac
        done
        usleep 100000
    done
}

main() {
    mkdir -p /run
    agent &
    echo STARTED >"$EXIT_PORT"
    "$@" </dev/null >"$OUT" 2>"$ERR" &
    echo $! >/run/main.pid
    wait $!
    code=$?
    echo "EXIT $code" >"$EXIT_PORT"
    sync
    reboot -f
}

[ -f /dockyard/config.sh ] || fail "no /dockyard/config.sh"
[ ! -f /dockyard/net.sh ] || . /dockyard/net.sh
. /dockyard/config.sh
fail "config.sh did not call main"
"""
