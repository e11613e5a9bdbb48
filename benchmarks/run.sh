#!/usr/bin/env bash
# `dockyard run --rm --network none busybox /bin/true` against `crun run` of a bundle (and podman/docker when
# installed), same run; then the monitor's PSS for 20 idle detached containers (conmon).
# Goal (DESIGN.md §5): run --rm <= 25 ms median; monitor <= 0.5 MiB PSS per idle container.
# Usage (root): benchmarks/run.sh      RUNS=N to change the number of runs (default 30)
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "benchmarks/run.sh: run as root" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/benchmarks/private_podman.sh"
PY=$REPO/.venv/bin/python
DY=$REPO/.venv/bin/dockyard
RUNS=${RUNS:-30}
unset PYTHONDONTWRITEBYTECODE
"$PY" -m compileall -q "$REPO/src/dockyard"
TMP=$(mktemp -d /tmp/dockyard-runbench.XXXXXX)
export DOCKYARD_ROOT=$TMP/lib DOCKYARD_RUN_ROOT=$TMP/run
PARENTS_BEFORE=$(ls -d /sys/fs/cgroup/*/dockyard 2>/dev/null | tr "\n" " " || true)
cleanup() {
    set +e
    for c in $("$DY" ps -a -q 2>/dev/null); do "$DY" rm -f "$c" >/dev/null 2>&1; done
    for d in $(ls -d /sys/fs/cgroup/*/dockyard 2>/dev/null); do
        case " $PARENTS_BEFORE " in *" $d "*) ;; *) rmdir "$d" 2>/dev/null ;; esac
    done
    cleanup_podman 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "== machine: $(nproc) CPUs, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$DY" bootstrap busybox >/dev/null
"$PY" -m dockyard.runtime.bundle "$TMP/bundle" true
"$PY" - "$TMP/bundle/config.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1])); c["ociVersion"] = "1.0.2"; c["process"]["terminal"] = False
json.dump(c, open(sys.argv[1], "w"))
PYEOF
# --network none: the podman and docker rows run without a network too (the default bridge
# is benchmarks/network.sh's comparison)
CMDS=(-n "dockyard run --rm --network none" "$DY run --rm --network none busybox /bin/true")
if command -v crun >/dev/null; then
    CMDS+=(-n "crun run (bundle, private mount ns)" "unshare --mount --propagation slave sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root $TMP/crun run --bundle $TMP/bundle b1'")
fi
# podman: a private store (never the host's), busybox loaded from `dockyard save`, runc (crun
# refuses this cgroup v1 hybrid host), ulimits it may set (no CAP_SYS_RESOURCE here): see
# tests/podman_support.py and shared/PEERS.md for why each flag.
if command -v podman >/dev/null; then
    private_podman "$(mktemp -d /tmp/dy-pbench.XXXXXX)"
    podman_load_busybox "$DY" "$TMP"
    CMDS+=(-n "podman run --rm (runc)" "$PODMAN run --rm --network none docker.io/library/busybox:latest /bin/true")
    cleanup_podman() { podman_reset; }
else
    echo "(podman: not installed: its row is left out; PEERS.md measured 105 ms)"
    cleanup_podman() { :; }
fi
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    CMDS+=(-n "docker run --rm" "docker run --rm --network none busybox /bin/true")
else
    echo "(docker: no dockerd running here: its row is left out; PEERS.md measured 174 ms)"
fi
hyperfine --warmup 3 --runs "$RUNS" --style basic --time-unit millisecond --export-json "$TMP/run.json" "${CMDS[@]}"
"$PY" "$REPO/benchmarks/hyperfine_table.py" "$TMP/run.json"
"$PY" - "$TMP/run.json" <<'PYEOF'
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
dy = rs[0]["median"] * 1e3
print(f"\ngoal: dockyard run --rm <= 25 ms median: measured {dy:.1f} ms -> " + ("MET" if dy <= 25 else "MISSED"))
PYEOF

echo
echo "== monitor: PSS of conmon for 20 idle detached containers"
for i in $(seq 1 20); do "$DY" run -d --network none --name idle$i busybox sleep 600 >/dev/null; done
sleep 1
"$PY" - "$DOCKYARD_ROOT/containers" <<'PYEOF'
import glob, sys
tot = n = 0
for f in glob.glob(sys.argv[1] + "/*/conmon.pid"):
    pid = open(f).read().strip()
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            tot += int(line.split()[1]); n += 1
print(f"{n} conmon processes: {tot} kB PSS in all, {tot / max(n, 1) / 1024:.2f} MiB per container (goal <= 0.5)")
PYEOF
