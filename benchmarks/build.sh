#!/usr/bin/env bash
# `dockyard build` against `buildah bud` (Debian's buildah) on the same Dockerfiles, same run:
# cold (--no-cache: every step executed) and warm (cache, nothing changed).
# Goal (DESIGN.md §5): a rebuild of an unchanged Dockerfile <= 100 ms.
# Usage (root): benchmarks/build.sh      ROUNDS=N runs per row (default 10)
#
# Both use busybox made by `dockyard bootstrap busybox` (buildah gets it through `dockyard save`:
# no registry here), the host network for RUN, and private storage under one temp dir. buildah
# runs its RUN steps with runc (crun refuses this cgroup v1 hybrid host, see
# tests/podman_support.py) and --layers, so its cache is used like ours.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "benchmarks/build.sh: run as root" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=$REPO/.venv/bin/python
DY=$REPO/.venv/bin/dockyard
ROUNDS=${ROUNDS:-10}
unset PYTHONDONTWRITEBYTECODE
"$PY" -m compileall -q "$REPO/src/dockyard"
TMP=$(mktemp -d /tmp/dockyard-buildbench.XXXXXX)
export DOCKYARD_ROOT=$TMP/lib DOCKYARD_RUN_ROOT=$TMP/run
BUILDAH="buildah --root $TMP/buildah/root --runroot $TMP/buildah/runroot --storage-driver overlay"
cleanup() {
    set +e
    command -v buildah >/dev/null && $BUILDAH rmi -a -f >/dev/null 2>&1
    for m in $(awk -v t="$TMP" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "== machine: $(nproc) CPUs, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$DY" bootstrap busybox >/dev/null

# -- the Dockerfiles --------------------------------------------------------------------------
mkdir -p "$TMP/simple/src" "$TMP/multi"
for i in $(seq 1 50); do echo "file $i" > "$TMP/simple/src/f$i.txt"; done
cat > "$TMP/simple/Dockerfile" <<'EOF'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY src/ ./src/
RUN cat src/*.txt | wc -l > count && mkdir -p /data
RUN echo built > /data/marker
CMD ["cat", "/app/count"]
EOF
cat > "$TMP/multi/Dockerfile" <<'EOF'
FROM busybox AS one
RUN echo one > /one
FROM busybox AS two
RUN echo two > /two
FROM busybox
COPY --from=one /one /
COPY --from=two /two /
CMD ["cat", "/one", "/two"]
EOF

CMDS=()
for df in simple multi; do
    CMDS+=(-n "dockyard build $df (cold, --no-cache)" "$DY build -q --no-cache -t bench-$df $TMP/$df")
    CMDS+=(-n "dockyard build $df (warm cache)" "$DY build -q -t bench-$df $TMP/$df")
done
if command -v buildah >/dev/null; then
    mkdir -p "$TMP/buildah"
    "$DY" save -o "$TMP/bb.tar" busybox
    $BUILDAH pull -q docker-archive:"$TMP/bb.tar" >/dev/null
    BUD="$BUILDAH bud -q --layers --runtime $(command -v runc) --network host --cgroup-manager cgroupfs --pull=never"
    for df in simple multi; do
        CMDS+=(-n "buildah bud $df (cold, --no-cache)" "$BUD --no-cache -t bench-$df $TMP/$df")
        CMDS+=(-n "buildah bud $df (warm cache)" "$BUD -t bench-$df $TMP/$df")
    done
else
    echo "(buildah: not installed: its rows are left out; apt install buildah)"
fi
hyperfine --warmup 1 --runs "$ROUNDS" --style basic --time-unit millisecond --export-json "$TMP/build.json" "${CMDS[@]}"
"$PY" - "$TMP/build.json" <<'PYEOF'
import json, sys
rs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
print("\n| build | median ms | mean | min | max |\n|---|---:|---:|---:|---:|")
for name, r in rs.items():
    print(f"| {name} | {r['median']*1e3:.1f} | {r['mean']*1e3:.1f} | {r['min']*1e3:.1f} | {r['max']*1e3:.1f} |")
for df in ("simple", "multi"):
    ours, theirs = rs.get(f"dockyard build {df} (warm cache)"), rs.get(f"buildah bud {df} (warm cache)")
    line = f"\n{df}: unchanged rebuild {ours['median']*1e3:.1f} ms (goal <= 100 ms: " \
           f"{'MET' if ours['median'] <= 0.1 else 'MISSED'})"
    if theirs:
        line += f"; buildah {theirs['median']*1e3:.1f} ms ({theirs['median'] / ours['median']:.1f}x ours)"
    print(line)
PYEOF
