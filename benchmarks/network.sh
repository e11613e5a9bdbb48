#!/usr/bin/env bash
# `dockyard run --rm busybox /bin/true` on the default bridge network (veth, address, route,
# NAT rules; released again at exit) against podman's default bridge (netavark or CNI, from a
# private store and a private network config dir) and docker's when dockerd runs, same run;
# the same with --network none for reference. Then TCP throughput container <-> host with
# iperf3 against the host's loopback.
# Goal (DESIGN.md §5): run --rm on the default bridge <= 60 ms median (podman 256, docker 249).
# Usage (root): benchmarks/network.sh      RUNS=N (default 30), SECONDS_IPERF=N (default 5)
#
# iperf3 in the container: busybox has none, so the host's /usr/bin/iperf3 and its libraries
# are bind-mounted read-only into a busybox container (no image to build, the same binary on
# both ends: what differs is only the path — veth + bridge + netfilter vs loopback).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "benchmarks/network.sh: run as root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "benchmarks/network.sh: needs iperf3 (apt install iperf3)" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/benchmarks/private_podman.sh"
PY=$REPO/.venv/bin/python
DY=$REPO/.venv/bin/dockyard
RUNS=${RUNS:-30}
SECONDS_IPERF=${SECONDS_IPERF:-5}
unset PYTHONDONTWRITEBYTECODE
"$PY" -m compileall -q "$REPO/src/dockyard"
TMP=$(mktemp -d /tmp/dockyard-netbench.XXXXXX)
export DOCKYARD_ROOT=$TMP/lib DOCKYARD_RUN_ROOT=$TMP/run
# podman's default network is 10.88.0.0/16 too: ours moves aside for this run
export DOCKYARD_DEFAULT_SUBNET=${DOCKYARD_DEFAULT_SUBNET:-10.123.0.0/16}
[ -e /sys/class/net/dockyard0 ] && { echo "benchmarks/network.sh: dockyard0 exists (another store uses it): stop its containers and take it down first" >&2; exit 1; }
PARENTS_BEFORE=$(ls -d /sys/fs/cgroup/*/dockyard 2>/dev/null | tr "\n" " " || true)
FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
TABLES_BEFORE=$(nft list tables 2>/dev/null | tr "\n" "," || true)
cleanup() {
    set +e
    [ -n "${IPERF_PID:-}" ] && kill "$IPERF_PID" 2>/dev/null
    for c in $("$DY" ps -a -q 2>/dev/null); do "$DY" rm -f "$c" >/dev/null 2>&1; done
    "$PY" -c "from dockyard.network import service; service.down_default()" 2>/dev/null
    for d in $(ls -d /sys/fs/cgroup/*/dockyard 2>/dev/null); do
        case " $PARENTS_BEFORE " in *" $d "*) ;; *) rmdir "$d" 2>/dev/null ;; esac
    done
    cleanup_podman 2>/dev/null
    # netavark leaves its NETAVARK-* chains (iptables-nft tables ip nat / ip filter) behind
    # after `system reset`: tables this run made go again
    for t in "ip nat" "ip filter"; do
        case ",$TABLES_BEFORE" in *",table $t,"*) ;; *) nft delete table $t 2>/dev/null ;; esac
    done
    echo "$FORWARD_BEFORE" > /proc/sys/net/ipv4/ip_forward
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "== machine: $(nproc) CPUs, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$DY" bootstrap busybox >/dev/null
CMDS=(-n "dockyard run --rm (default bridge)" "$DY run --rm busybox /bin/true"
      -n "dockyard run --rm --network none" "$DY run --rm --network none busybox /bin/true")
# podman as benchmarks/run.sh runs it (private store, runc, ulimits it may set), with a private
# network config dir so its default network is its own and nothing of the host's is changed
if command -v podman >/dev/null; then
    private_podman "$(mktemp -d /tmp/dy-pnetbench.XXXXXX)"
    podman_load_busybox "$DY" "$TMP"
    echo "(podman $($PODMAN version --format '{{.Client.Version}}'), network backend: $($PODMAN info --format '{{.Host.NetworkBackend}}' 2>/dev/null || echo '?'))"
    CMDS+=(-n "podman run --rm (default bridge)" "$PODMAN run --rm docker.io/library/busybox:latest /bin/true")
    cleanup_podman() { podman_reset; }
else
    echo "(podman: not installed: its row is left out; DESIGN.md measured 256 ms)"
    cleanup_podman() { :; }
fi
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    CMDS+=(-n "docker run --rm (default bridge)" "docker run --rm busybox /bin/true")
else
    echo "(docker: no dockerd running here: its row is left out; DESIGN.md measured 249 ms)"
fi
hyperfine --warmup 3 --runs "$RUNS" --style basic --time-unit millisecond --export-json "$TMP/run.json" "${CMDS[@]}"
"$PY" "$REPO/benchmarks/hyperfine_table.py" "$TMP/run.json"
"$PY" - "$TMP/run.json" <<'PYEOF'
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
dy = rs[0]["median"] * 1e3
others = {r["command"]: r["median"] * 1e3 for r in rs[2:]}
for name, ms in others.items():
    print(f"{name}: {ms / dy:.1f}x dockyard's time")
print(f"\ngoal: dockyard run --rm on the default bridge <= 60 ms median: measured {dy:.1f} ms -> "
      + ("MET" if dy <= 60 else "MISSED"))
PYEOF

echo
echo "== TCP throughput, iperf3 ${SECONDS_IPERF}s per direction (the host's iperf3 binary on both ends)"
HOST_IP=$(ip -4 route get 192.0.2.254 | sed -n 's/.* src \([0-9.]*\).*/\1/p')
IPERF_IN=(-v /usr/bin/iperf3:/usr/bin/iperf3:ro -v /usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro -v /usr/lib64:/lib64:ro)
gbits() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'; }
iperf3 -s -p 5301 >/dev/null 2>&1 & IPERF_PID=$!
sleep 0.3
LOOP_UP=$(iperf3 -c 127.0.0.1 -p 5301 -t "$SECONDS_IPERF" -J | gbits)
LOOP_DOWN=$(iperf3 -c 127.0.0.1 -p 5301 -t "$SECONDS_IPERF" -R -J | gbits)
# container -> host (client in the container, server on the host's address), then -R: host -> container
CT_UP=$("$DY" run --rm "${IPERF_IN[@]}" busybox iperf3 -c "$HOST_IP" -p 5301 -t "$SECONDS_IPERF" -J | gbits)
CT_DOWN=$("$DY" run --rm "${IPERF_IN[@]}" busybox iperf3 -c "$HOST_IP" -p 5301 -t "$SECONDS_IPERF" -R -J | gbits)
kill "$IPERF_PID"; wait "$IPERF_PID" 2>/dev/null || true; IPERF_PID=
echo "| path | Gbit/s (send) | Gbit/s (receive, -R) |"
echo "|---|---:|---:|"
echo "| host loopback (127.0.0.1) | $LOOP_UP | $LOOP_DOWN |"
echo "| container <-> host (default bridge, veth) | $CT_UP | $CT_DOWN |"
"$PY" -c 'import sys; a, b, c, d = map(float, sys.argv[1:]); print("container/loopback: %.2f (send), %.2f (receive)" % (a / b, c / d))' "$CT_UP" "$LOOP_UP" "$CT_DOWN" "$LOOP_DOWN"
