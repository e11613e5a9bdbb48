#!/usr/bin/env bash
# The VM backend (issue 7), same run:
#  1. `dockyard vm run busybox true` and `dockyard run --rm --isolation=vm` (no network, and on
#     the default bridge) vs the floor — a hand-written minimal QEMU command booting
#     the same kernel and initramfs (no rootfs share, no virtiofsd, no QMP, not daemonized; the
#     init runs `true` from the initramfs) — vs `dockyard run --rm --network none busybox true`.
#     Goal (DESIGN.md §5): vm run <= 1.2x the floor.
#  2. idle VM memory: PSS of QEMU + virtiofsd for `vm run --memory 128m busybox sleep`, at a few
#     TCG translation cache sizes (DOCKYARD_VM_TB_MIB; 0 = QEMU's default).
# Usage (root): benchmarks/vm.sh     RUNS=N (default 10), TB_SIZES="0 32 64 128", SKIP_BOOT=1 (memory only)
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "benchmarks/vm.sh: run as root" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=$REPO/.venv/bin/python
DY=$REPO/.venv/bin/dockyard
RUNS=${RUNS:-10}
TB_SIZES=${TB_SIZES:-"0 32 64 128"}
command -v hyperfine >/dev/null || { echo "benchmarks/vm.sh: needs hyperfine" >&2; exit 1; }
unset PYTHONDONTWRITEBYTECODE
"$PY" -m compileall -q "$REPO/src/dockyard"
TMP=$(mktemp -d /tmp/dockyard-vmbench.XXXXXX)
export DOCKYARD_ROOT=$TMP/lib DOCKYARD_RUN_ROOT=$TMP/run
IDLE_PID=
BRIDGE_BEFORE=$([ -e /sys/class/net/dockyard0 ] && echo yes || true)
cleanup() {
    set +e
    [ -n "$IDLE_PID" ] && kill "$IDLE_PID" 2>/dev/null && wait "$IDLE_PID" 2>/dev/null
    for c in $("$DY" ps -a -q 2>/dev/null); do "$DY" rm -f "$c" >/dev/null 2>&1; done
    # the bridge rows brought dockyard0 up: take it down again unless it was up before
    [ -n "$BRIDGE_BEFORE" ] || "$PY" -c "from dockyard.network import service; service.down_default()" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "== machine: $(nproc) CPUs, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$DY" bootstrap busybox >/dev/null
"$DY" vm setup >/dev/null 2>&1
"$DY" vm info | sed 's/^/   /'

# the floor: the same kernel, the same initramfs + a config that runs `true` with no rootfs
mkdir -p "$TMP/floor"
"$PY" - "$TMP/floor" <<'PYEOF'
import os, sys
from dockyard.vm import guest_config, qemu, setup
d = sys.argv[1]
a = setup.ensure(fetch=False)
with open(a.initramfs, "rb") as src, open(os.path.join(d, "initrd"), "wb") as dst:
    dst.write(src.read())
    dst.write(guest_config.config_cpio(guest_config.quote(["main", "true"]) + "\n"))
m = qemu.Machine(kernel=a.kernel.image, initrd="", run_dir=d, stdout="", stderr="", accel="tcg")
ports = " ".join(f"-chardev file,id=n{i},path=/dev/null -device virtserialport,chardev=n{i},name={p},nr={i}"
                 for i, p in enumerate(qemu.PORTS, 1))
with open(os.path.join(d, "cmd"), "w") as f:
    f.write(f"qemu-system-x86_64 -M microvm -nodefaults -no-user-config -display none -no-reboot "
            f"-accel tcg,tb-size={qemu.TCG_TB_MIB} -cpu {qemu.TCG_CPU} -m 256M -kernel {a.kernel.image} -initrd {d}/initrd -append '{qemu.kernel_cmdline(m)}' "
            f"-device virtio-serial-device {ports}\n")
PYEOF
FLOOR=$(cat "$TMP/floor/cmd")
echo "   floor: $FLOOR"

[ "${SKIP_BOOT:-}" ] || hyperfine --warmup 1 --runs "$RUNS" --style basic --time-unit millisecond --export-json "$TMP/boot.json" \
    -n "dockyard vm run busybox true" "$DY vm run busybox true" \
    -n "bare QEMU: same kernel + initramfs (floor)" "$FLOOR" \
    -n "dockyard run --rm --isolation=vm --network none busybox true" "$DY run --rm --isolation=vm --network none busybox true" \
    -n "dockyard run --rm --isolation=vm busybox true (default bridge)" "$DY run --rm --isolation=vm busybox true" \
    -n "dockyard run --rm --network none busybox true" "$DY run --rm --network none busybox true" >/dev/null
[ "${SKIP_BOOT:-}" ] || "$PY" - "$TMP/boot.json" <<'PYEOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
names = list(r)
floor = r[names[1]]["median"]
print(f"== boot to exit code, median of {len(r[names[0]]['times'])} runs")
for n in names:
    print(f"   {n:50s} {r[n]['median'] * 1000:8.1f} ms  (min {r[n]['min'] * 1000:.1f})  {r[n]['median'] / floor:5.2f}x floor")
PYEOF

pss_kib() {  # PSS of a pid in KiB
    awk '/^Pss:/ {s += $2} END {print s + 0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0
}
echo "== idle VM (--memory 128m, busybox sleep), PSS after the guest started + 3 s"
printf "   %-14s %10s %12s %10s\n" "tb-size MiB" "QEMU MiB" "virtiofsd MiB" "total MiB"
for tb in $TB_SIZES; do
    DOCKYARD_VM_TB_MIB=$tb "$DY" vm run --memory 128m busybox sleep 1000 >/dev/null 2>&1 &
    IDLE_PID=$!
    vmdir=
    for _ in $(seq 1 300); do
        vmdir=$(ls -d "$DOCKYARD_RUN_ROOT"/vm/*/ 2>/dev/null | head -1 || true)
        [ -n "$vmdir" ] && grep -q STARTED "$vmdir/exit" 2>/dev/null && break
        sleep 0.1
    done
    sleep 3
    qpid=$(cat "$vmdir/qemu.pid")
    fsd=0
    for p in $(pgrep -f "virtiofsd --socket-path=$vmdir" || true); do fsd=$((fsd + $(pss_kib "$p"))); done
    q=$(pss_kib "$qpid")
    printf "   %-14s %10.1f %12.1f %10.1f\n" "$tb" "$(echo "$q/1024" | bc -l)" "$(echo "$fsd/1024" | bc -l)" \
        "$(echo "($q+$fsd)/1024" | bc -l)"
    kill "$IDLE_PID"; wait "$IDLE_PID" 2>/dev/null || true
    IDLE_PID=
done
