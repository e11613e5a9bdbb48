# Sourced by the benchmarks: a private podman (never the host's store, state or networks).
#   private_podman DIR    sets PODMAN (the command with every flag) and makes DIR's layout;
#   podman_reset          removes everything that podman made under DIR (and DIR).
# Why each flag (tests/podman_support.py and shared/PEERS.md have the details): runc, because
# crun refuses this cgroup v1 hybrid host; cgroupfs and a file event log (no systemd here);
# ulimits podman may set (root lacks CAP_SYS_RESOURCE here, podman's default 1048576 fails);
# private tmp, network config and scratch dirs so `system reset` and `load` touch only DIR.
private_podman() {
    PD=$1
    mkdir -p "$PD"/{root,runroot,tmp,net,runc,scratch}
    printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nimage_copy_tmp_dir = "%s"\n' \
        "$PD/scratch" > "$PD/containers.conf"
    PODMAN="env CONTAINERS_CONF=$PD/containers.conf TMPDIR=$PD/scratch podman --root $PD/root --runroot $PD/runroot --tmpdir $PD/tmp --network-config-dir $PD/net --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime $(command -v runc) --runtime-flag root=$PD/runc"
}

podman_reset() {
    [ -n "${PODMAN:-}" ] && $PODMAN system reset -f >/dev/null 2>&1
    [ -n "${PD:-}" ] && rm -rf "$PD"
    return 0
}

# busybox as dockyard made it, in the private podman's store (there is no registry to pull from)
podman_load_busybox() {  # DY TMPDIR
    "$1" save -o "$2/bb.tar" busybox
    $PODMAN load -q -i "$2/bb.tar" >/dev/null
}
