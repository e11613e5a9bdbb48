#!/usr/bin/env bash
# OCI runtime `run` of one busybox /bin/true bundle: dockyard-runtime vs crun vs runc, in the
# same run of this script. Goal (DESIGN.md §5): dockyard-runtime's median <= 2x crun's median.
#
#   sudo benchmarks/runtime.sh            # RUNS=30 by default; RUNS=50 benchmarks/runtime.sh
#
# What it does:
#   * byte-compiles src/dockyard (`python -m compileall`) and unsets PYTHONDONTWRITEBYTECODE, so
#     the runtime is measured as installed (cached .pyc), not recompiling every module per start;
#   * builds one bundle (`python -m dockyard.runtime.bundle DIR true`: runc's default spec, pid/
#     net/ipc/uts/mount/cgroup namespaces, no seccomp, process.terminal=false) on a private tmpfs
#     (file creation on this host's ext4 is erratic, see PEERS.md), used by all three runtimes,
#     each with its own --root state directory next to it;
#   * ociVersion in that config.json is set to 1.0.2: crun 1.8.1 refuses "1.2.0"
#     ("unknown version specified"), and runc and dockyard-runtime accept either;
#   * crun 1.8.1 refuses hybrid cgroups, so crun's hyperfine runs inside a private mount namespace
#     where /sys/fs/cgroup/unified is unmounted (the host is not changed); runc and
#     dockyard-runtime run on the host as it is;
#   * hyperfine (--warmup 3 --runs RUNS, no intermediate shell) with one fixed container id per
#     runtime: `run` deletes the container when it exits, which is checked with `list` before
#     and after;
#   * the same three again with 50 ms idle before each run (`--prepare "sleep 0.05"`, untimed):
#     isolated starts, which pay the kernel's cgroup-v1 migration wait that dense back-to-back
#     runs of a fast runtime partly skip (see the comment at that step);
#   * prints a table (median, mean, min, max, ratio to crun's and to runc's median), reference
#     rows that split dockyard's time (bare interpreter, hot-path imports, `dockyard-runtime
#     version`), the -X importtime summary of the path to execve, and a phase-by-phase
#     breakdown of one run (benchmarks/runtime_phases.py).
# Everything (containers, state dirs, the tmpfs, the bundle) is removed on exit.
set -euo pipefail

RUNS=${RUNS:-30}
WARMUP=3

if [ "$(id -u)" != 0 ]; then
    echo "benchmarks/runtime.sh: must run as root (namespaces, mounts, cgroups)" >&2
    exit 1
fi

REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=$REPO/.venv/bin/python
DY=$REPO/.venv/bin/dockyard-runtime
for t in hyperfine crun runc unshare "$PY" "$DY"; do
    command -v "$t" >/dev/null || { echo "benchmarks/runtime.sh: $t not found (make deps venv)" >&2; exit 1; }
done
CRUN=$(command -v crun)
RUNC=$(command -v runc)

# Measure the runtime as installed: modules byte-compiled, and the cache used and kept.
unset PYTHONDONTWRITEBYTECODE
"$PY" -m compileall -q "$REPO/src/dockyard"

TMP=$(mktemp -d /tmp/dockyard-bench.XXXXXX)
MOUNTED=0
ID=bench-$$
B=$TMP/bundle
DYROOT=$TMP/state-dockyard
RUNCROOT=$TMP/state-runc
CRUNROOT=$TMP/state-crun

# crun needs a private mount namespace without the cgroup2 mount of the hybrid layout.
in_crun_ns() {
    unshare --mount --propagation slave sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null || true; exec "$@"' sh "$@"
}

ids_left() {  # the container ids a runtime still lists under its root
    case $1 in
        dockyard) [ -d "$DYROOT" ] && "$DY" --root "$DYROOT" list --quiet || true ;;
        runc) [ -d "$RUNCROOT" ] && "$RUNC" --root "$RUNCROOT" list --quiet || true ;;
        crun) [ -d "$CRUNROOT" ] && in_crun_ns "$CRUN" --root "$CRUNROOT" list --quiet || true ;;
    esac
}

# dockyard-runtime leaves its shared parent cgroup (/dockyard, as Docker leaves /docker):
# remove the ones this script brought into being, so a benchmark leaves the host as it was.
PARENTS_BEFORE=$(ls -d /sys/fs/cgroup/*/dockyard /sys/fs/cgroup/dockyard 2>/dev/null | tr "\n" " " || true)

cleanup() {
    set +e
    local id d
    for id in $(ids_left dockyard); do "$DY" --root "$DYROOT" delete --force "$id"; done
    for id in $(ids_left runc); do "$RUNC" --root "$RUNCROOT" delete --force "$id"; done
    for id in $(ids_left crun); do in_crun_ns "$CRUN" --root "$CRUNROOT" delete --force "$id"; done
    for d in $(ls -d /sys/fs/cgroup/*/dockyard /sys/fs/cgroup/dockyard 2>/dev/null); do
        case " $PARENTS_BEFORE " in *" $d "*) ;; *) rmdir "$d" 2>/dev/null ;; esac
    done
    [ "$MOUNTED" = 1 ] && umount "$TMP"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount -t tmpfs -o size=64m,mode=0700 dockyard-bench "$TMP"
MOUNTED=1
mkdir -p "$DYROOT" "$RUNCROOT" "$CRUNROOT"

# ---------------------------------------------------------------------------------------------
cgroup_mode() {
    if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then echo "v2 (unified)"
    elif [ -d /sys/fs/cgroup/unified ] && [ "$(stat -fc %T /sys/fs/cgroup/unified)" = cgroup2fs ]; then
        echo "hybrid (v1 controllers + cgroup2 at /sys/fs/cgroup/unified: $(tr '\n' ' ' </sys/fs/cgroup/unified/cgroup.controllers))"
    else echo "v1 (legacy)"; fi
}
echo "== machine"
echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpus:      $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
echo "kernel:    $(uname -r)"
echo "cgroups:   $(cgroup_mode)"
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
others=$(pgrep -a -f 'pytest|hyperfine' | grep -v "^$$ " | grep -v "$TMP" || true)
[ -n "$others" ] && printf 'busy meanwhile (noise):\n%s\n' "$others"
echo
echo "== versions"
echo "crun:      $("$CRUN" --version | head -1)"
echo "runc:      $("$RUNC" --version | head -1)"
echo "dockyard:  $("$DY" version | head -1) ($("$PY" -c 'import sys; print("Python", sys.version.split()[0], sys.executable)'))"
echo "hyperfine: $(hyperfine --version)"
echo "(src/dockyard byte-compiled with compileall; PYTHONDONTWRITEBYTECODE unset)"
echo

# ---------------------------------------------------------------------------------------------
"$PY" -m dockyard.runtime.bundle "$B" true
"$PY" - "$B/config.json" <<'EOF'
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
cfg["ociVersion"] = "1.0.2"          # crun 1.8.1 rejects 1.2.0
cfg["process"]["terminal"] = False   # no pty: measure run, not a console proxy
assert cfg["process"]["args"] == ["true"], cfg["process"]["args"]
assert "seccomp" not in cfg.get("linux", {}), "the benchmark bundle should carry no seccomp profile"
json.dump(cfg, open(path, "w"), indent=2)
print("bundle:   ", path.rsplit("/", 1)[0], "- namespaces:",
      ",".join(n["type"] for n in cfg["linux"]["namespaces"]), "- seccomp: none - terminal: false")
EOF

# One run each first: it must exit 0 and `run` must leave no container behind, since the
# benchmark reuses one id per runtime.
"$DY" --root "$DYROOT" run --bundle "$B" "$ID"
"$RUNC" --root "$RUNCROOT" run --bundle "$B" "$ID"
in_crun_ns "$CRUN" --root "$CRUNROOT" run --bundle "$B" "$ID"
for rt in dockyard runc crun; do
    left=$(ids_left $rt)
    if [ -n "$left" ]; then echo "benchmarks/runtime.sh: $rt run left containers behind: $left" >&2; exit 1; fi
done
echo "check:     one run each exited 0; list shows no container left afterwards"
echo

# ---------------------------------------------------------------------------------------------
HF=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --style basic --time-unit millisecond)

echo "== hyperfine: crun (private mount namespace without /sys/fs/cgroup/unified)"
in_crun_ns "${HF[@]}" --export-json "$TMP/crun.json" \
    -n crun "$CRUN --root $CRUNROOT run --bundle $B $ID"
echo
echo "== hyperfine: runc and dockyard-runtime (host namespace), and dockyard's start-up pieces"
"${HF[@]}" --export-json "$TMP/host.json" \
    -n runc "$RUNC --root $RUNCROOT run --bundle $B $ID" \
    -n dockyard-runtime "$DY --root $DYROOT run --bundle $B $ID" \
    -n "  python -IS -c pass" "$PY -IS -c pass" \
    -n "  python -IS -c 'import <hot path>'" "$PY -IS -c 'import sys; sys.path.insert(0, \"$REPO/src\"); import dockyard.runtime.cli, dockyard.runtime.commands, dockyard.runtime.create, dockyard.runtime.init'" \
    -n "  dockyard-runtime version" "$DY version"
echo
# The same runs with the machine idle for 50 ms before each (hyperfine --prepare, not timed):
# back-to-back runs can profit from kernel state left warm by the previous one (an RCU wait
# in the cgroup v1 move was suspected of this; see docs/benchmarks.md), isolated ones cannot.
echo "== hyperfine: the same, 50 ms idle before each run (isolated starts)"
in_crun_ns "${HF[@]}" --prepare "sleep 0.05" --export-json "$TMP/crun-idle.json" \
    -n "crun, idle 50 ms before each" "$CRUN --root $CRUNROOT run --bundle $B $ID"
"${HF[@]}" --prepare "sleep 0.05" --export-json "$TMP/host-idle.json" \
    -n "runc, idle 50 ms before each" "$RUNC --root $RUNCROOT run --bundle $B $ID" \
    -n "dockyard-runtime, idle 50 ms before each" "$DY --root $DYROOT run --bundle $B $ID"
echo

# The same bundle with Docker's default seccomp profile (from shared/reference, converted as
# dockerd converts it), when that reference data is on this machine.
PROFILE=""
for d in "${DOCKYARD_SHARED:-}" "$REPO/../shared" /work/shared; do
    [ -n "$d" ] && [ -f "$d/reference/docker-default-seccomp.json" ] && { PROFILE=$d/reference/docker-default-seccomp.json; break; }
done
SC_JSON=()
if [ -n "$PROFILE" ]; then
    B2=$TMP/bundle-seccomp
    mkdir -p "$B2" && cp "$B/config.json" "$B2/"
    "$PY" - "$B2/config.json" "$PROFILE" "$B/rootfs" <<'EOF'
import json, sys
from dockyard.oci.docker_seccomp import to_oci
cfg = json.load(open(sys.argv[1]))
cfg["linux"]["seccomp"] = to_oci(json.load(open(sys.argv[2])))
cfg["root"]["path"] = sys.argv[3]  # the same rootfs (runc refuses a symlinked one)
json.dump(cfg, open(sys.argv[1], "w"))
print("seccomp:   Docker's default profile,", len(cfg["linux"]["seccomp"]["syscalls"]), "rule groups")
EOF
    echo "== hyperfine: with Docker's default seccomp profile"
    in_crun_ns "${HF[@]}" --export-json "$TMP/crun-sc.json" \
        -n "crun, Docker seccomp profile" "$CRUN --root $CRUNROOT run --bundle $B2 $ID"
    DOCKYARD_SECCOMP_CACHE=$TMP/seccomp-cache "${HF[@]}" --export-json "$TMP/host-sc.json" \
        -n "runc, Docker seccomp profile" "$RUNC --root $RUNCROOT run --bundle $B2 $ID" \
        -n "dockyard-runtime, Docker seccomp, cached BPF" "$DY --root $DYROOT run --bundle $B2 $ID" \
        -n "dockyard-runtime, Docker seccomp, cache off" "env DOCKYARD_SECCOMP_CACHE=off $DY --root $DYROOT run --bundle $B2 $ID"
    SC_JSON=("$TMP/crun-sc.json" "$TMP/host-sc.json")
    echo
else
    echo "(no shared/reference/docker-default-seccomp.json here: the seccomp rows are left out)"
fi

for rt in dockyard runc crun; do
    left=$(ids_left $rt)
    if [ -n "$left" ]; then echo "benchmarks/runtime.sh: $rt left containers behind: $left" >&2; exit 1; fi
done

echo "== results ($RUNS runs each after $WARMUP warm-up runs; times in ms)"
"$PY" - "$TMP/crun.json" "$TMP/host.json" "$TMP/crun-idle.json" "$TMP/host-idle.json" "${SC_JSON[@]}" <<'EOF'
import json, sys
rows = [r for p in sys.argv[1:] for r in json.load(open(p))["results"]]
by = {r["command"]: r for r in rows}
crun, runc = by["crun"]["median"], by["runc"]["median"]
main = ["dockyard-runtime", "crun", "runc"]
idle = [r["command"] for r in rows if "idle" in r["command"]]
order = main + sorted(idle, key=lambda n: ("dockyard" not in n, n)) + \
    [r["command"] for r in rows if r["command"] not in main and r["command"] not in idle]
print(f"| {'runtime':40} | {'median':>7} | {'mean':>7} | {'min':>7} | {'max':>7} | {'÷ crun':>7} | {'÷ runc':>7} |")
print(f"|{'-' * 42}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
for name in order:
    r = by[name]
    print(f"| {name:40} | {r['median'] * 1e3:7.2f} | {r['mean'] * 1e3:7.2f} | {r['min'] * 1e3:7.2f} | "
          f"{r['max'] * 1e3:7.2f} | {r['median'] / crun:6.2f}x | {r['median'] / runc:6.2f}x |")
dy = by["dockyard-runtime"]["median"]
goal = 2 * crun
print()
print(f"goal: dockyard-runtime median <= 2x crun median = {goal * 1e3:.2f} ms in this run; "
      f"measured {dy * 1e3:.2f} ms = {dy / crun:.2f}x crun -> "
      + ("MET" if dy <= goal else f"MISSED by {(dy - goal) * 1e3:.2f} ms"))
ci, di = [by[n]["median"] for n in idle if n.startswith("crun")], [by[n]["median"] for n in idle if n.startswith("dockyard")]
if ci and di:
    print(f"isolated starts (idle 50 ms before each): dockyard-runtime {di[0] * 1e3:.2f} ms = "
          f"{di[0] / ci[0]:.2f}x crun's {ci[0] * 1e3:.2f} ms")
EOF
echo

# ---------------------------------------------------------------------------------------------
echo "== python -X importtime: the dockyard runtime's imports on the way to execve (top 10 cumulative, µs)"
IMPORTS='import dockyard.runtime.cli, dockyard.runtime.commands, dockyard.runtime.create, dockyard.runtime.init'
"$PY" -c "$IMPORTS"  # warm the page cache
"$PY" -X importtime -c "$IMPORTS" 2>"$TMP/importtime.txt"
"$PY" - "$TMP/importtime.txt" <<'EOF'
import sys
rows = []
for line in open(sys.argv[1]):
    if not line.startswith("import time:") or "cumulative" in line:
        continue
    self_us, cum_us, name = line[len("import time:"):].split("|")
    rows.append((int(cum_us), int(self_us), name.rstrip("\n")))
top = sorted(rows, reverse=True)[:10]
print(f"{'cumulative':>10} {'self':>7}  module")
for cum, self_us, name in top:
    print(f"{cum:10d} {self_us:7d}  {name.strip()}")
total = sum(s for _, s, _ in rows)
dy = sum(s for _, s, n in rows if n.strip().startswith("dockyard"))
print(f"{len(rows)} modules, {total / 1e3:.1f} ms in all (under -X importtime, which inflates it); "
      f"dockyard's own modules {dy / 1e3:.1f} ms self time")
EOF
echo
echo "== where one dockyard-runtime run spends its time (benchmarks/runtime_phases.py)"
"$PY" "$REPO/benchmarks/runtime_phases.py" --root "$DYROOT" --bundle "$B" --id "$ID" --runs 15 \
    || echo "(phase breakdown failed; the figures above stand)"
echo
for rt in dockyard runc crun; do
    left=$(ids_left $rt)
    if [ -n "$left" ]; then echo "benchmarks/runtime.sh: $rt left containers behind: $left" >&2; exit 1; fi
done
left=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "$ID" 2>/dev/null || true)
if [ -n "$left" ]; then echo "benchmarks/runtime.sh: cgroups left behind: $left" >&2; exit 1; fi
echo "check:     no container and no cgroup named $ID left"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
