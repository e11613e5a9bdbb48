#!/usr/bin/env bash
# Pull + unpack of a multi-layer Debian image (~200 MB unpacked) from a local docker-registry:
# dockyard vs `podman pull` vs `skopeo copy` + `umoci unpack` (vs `docker pull` if dockerd
# runs), same run, ROUNDS rounds each from an empty store; min/median seconds and peak RSS.
# Goal (DESIGN.md §5): dockyard <= 0.5x podman's median.
#
# The image: a debootstrap minbase bookworm (`dockyard bootstrap debian`), split into 4 gzip
# layers by top-level directory (usr/lib; the rest of usr; var; everything else), written as
# an OCI layout and pushed with skopeo to docker-registry on 127.0.0.1 (plain HTTP). The
# rootfs and layers are cached in $CACHE (default /var/tmp/dockyard-bench-pull): debootstrap
# runs only on the first use; `rm -rf` it to rebuild.
#
# Usage (root): benchmarks/pull.sh      ROUNDS=N (default 5), CACHE=dir
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "benchmarks/pull.sh: run as root" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/benchmarks/private_podman.sh"
PY=$REPO/.venv/bin/python
DY=$REPO/.venv/bin/dockyard
ROUNDS=${ROUNDS:-5}
CACHE=${CACHE:-/var/tmp/dockyard-bench-pull}
for tool in docker-registry skopeo podman runc /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "benchmarks/pull.sh: needs $tool" >&2; exit 1; }
done
unset PYTHONDONTWRITEBYTECODE
"$PY" -m compileall -q "$REPO/src/dockyard"
TMP=$(mktemp -d /tmp/dy-pullbench.XXXXXX)
REG_PID=
PD=
cleanup() {
    set +e
    [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null
    [ -n "$PD" ] && podman_reset
    rm -rf "$TMP"
}
trap cleanup EXIT
echo "== machine: $(nproc) CPUs, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"

# -- the image: debootstrap once, split in 4 layers, an OCI layout --------------------------
if [ ! -f "$CACHE/layout/index.json" ]; then
    rm -rf "$CACHE" && mkdir -p "$CACHE"
    echo "== building the image in $CACHE (debootstrap: a few minutes, once)"
    DOCKYARD_ROOT=$CACHE/boot DOCKYARD_RUN_ROOT=$CACHE/boot-run "$DY" bootstrap debian >/dev/null
    LAYER=$(DOCKYARD_ROOT=$CACHE/boot "$DY" inspect debian:bookworm |
            "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["RootFS"]["Layers"][0].split(":")[1])')
    mkdir -p "$CACHE/rootfs"
    tar -C "$CACHE/rootfs" -xf "$CACHE/boot/blobs/sha256/$LAYER"   # gzip or plain: tar -x sniffs it
    rm -rf "$CACHE/boot" "$CACHE/boot-run"
    "$PY" - "$CACHE" <<'PYEOF'
import gzip, hashlib, json, os, subprocess, sys
cache = sys.argv[1]
root, layout = os.path.join(cache, "rootfs"), os.path.join(cache, "layout")
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs)
# four layers that do not overlap: tar's --exclude keeps each path in exactly one of them
splits = [["--exclude=./usr", "--exclude=./var", "."], ["./usr/lib"], ["--exclude=./usr/lib", "./usr"], ["./var"]]
layers, diff_ids = [], []
for i, args in enumerate(splits):
    plain = os.path.join(cache, f"layer{i}.tar")
    subprocess.run(["tar", "-C", root, "--numeric-owner", "--xattrs", "-cf", plain, *args], check=True)
    with open(plain, "rb") as f:
        diff_ids.append("sha256:" + hashlib.file_digest(f, "sha256").hexdigest())
    subprocess.run(["gzip", "-n", "-6", plain], check=True)  # as docker and podman push
    with open(plain + ".gz", "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    os.rename(plain + ".gz", os.path.join(blobs, digest))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": f"sha256:{digest}",
                   "size": os.path.getsize(os.path.join(blobs, digest))})
def blob(doc):
    data = json.dumps(doc).encode()
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, d), "wb").write(data)
    return {"digest": f"sha256:{d}", "size": len(data)}
config = blob({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["bash"],
               "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
               "rootfs": {"type": "layers", "diff_ids": diff_ids}})
manifest = blob({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config}, "layers": layers})
open(os.path.join(layout, "oci-layout"), "w").write('{"imageLayoutVersion": "1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest,
           "annotations": {"org.opencontainers.image.ref.name": "bookworm"}}]}, open(os.path.join(layout, "index.json"), "w"))
PYEOF
fi
"$PY" - "$CACHE/layout" <<'PYEOF'
import json, os, sys
layout = sys.argv[1]
b = lambda d: os.path.join(layout, "blobs", "sha256", d.split(":")[1])
m = json.load(open(b(json.load(open(os.path.join(layout, "index.json")))["manifests"][0]["digest"])))
sizes = [x["size"] for x in m["layers"]]
print(f"== image: {len(sizes)} gzip layers, {sum(sizes) / 1e6:.1f} MB compressed "
      f"({', '.join(f'{s / 1e6:.1f}' for s in sizes)} MB), rootfs {sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(layout + '/../rootfs') for f in fs if not os.path.islink(os.path.join(dp, f))) / 1e6:.0f} MB unpacked")
PYEOF

# -- the registry --------------------------------------------------------------------------
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
mkdir -p "$TMP/registry"
printf '{"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": true}}, "storage": {"filesystem": {"rootdirectory": "%s"}}, "http": {"addr": "%s"}}\n' \
    "$TMP/registry" "$REG" > "$TMP/registry.yml"
docker-registry serve "$TMP/registry.yml" >"$TMP/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.1; done
IMAGE=$REG/bench/debian:bookworm
skopeo copy -q --dest-tls-verify=false "oci:$CACHE/layout:bookworm" "docker://$IMAGE"

# -- the contenders: each round starts from an empty store ----------------------------------
prepare_podman() { private_podman "$TMP/podman"; }
export DOCKYARD_CONFIG=$TMP/no-registries.json   # loopback is insecure (plain HTTP) by default
NAMES=("dockyard pull" "podman pull" "skopeo copy + umoci unpack")
run_dockyard() { DOCKYARD_ROOT=$TMP/dy DOCKYARD_RUN_ROOT=$TMP/dy-run "$DY" pull -q "$IMAGE" >/dev/null; }
clean_dockyard() { rm -rf "$TMP/dy" "$TMP/dy-run"; }
run_podman() { $PODMAN pull -q --tls-verify=false "$IMAGE" >/dev/null; }
clean_podman() { podman_reset; prepare_podman; }
if command -v umoci >/dev/null; then
    run_skopeo() {
        skopeo copy -q --src-tls-verify=false "docker://$IMAGE" "oci:$TMP/sk:b" &&
            umoci unpack --image "$TMP/sk:b" "$TMP/sk-bundle" >/dev/null
    }
else
    NAMES[2]="skopeo copy + tar x (umoci not installed)"
    run_skopeo() {   # no whiteouts in this image, so extracting the layers in order is enough
        skopeo copy -q --src-tls-verify=false "docker://$IMAGE" "oci:$TMP/sk:b" && mkdir -p "$TMP/sk-bundle/rootfs" &&
            "$PY" -c 'import json,sys; l=sys.argv[1]; i=json.load(open(l+"/index.json")); m=json.load(open(l+"/blobs/sha256/"+i["manifests"][0]["digest"][7:]))
print("\n".join(l+"/blobs/sha256/"+x["digest"][7:] for x in m["layers"]))' "$TMP/sk" |
            while read -r blob; do tar -C "$TMP/sk-bundle/rootfs" -xzf "$blob" || exit 1; done
    }
fi
clean_skopeo() { rm -rf "$TMP/sk" "$TMP/sk-bundle"; }
KINDS=(dockyard podman skopeo)
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    NAMES+=("docker pull")
    KINDS+=(docker)
    run_docker() { docker pull -q "$IMAGE" >/dev/null; }   # needs $REG in dockerd's insecure-registries
    clean_docker() { docker rmi -f "$IMAGE" >/dev/null 2>&1 || true; }
else
    echo "(docker: no dockerd running here: its row is left out)"
fi
prepare_podman
for kind in "${KINDS[@]}"; do "clean_$kind"; done
echo "== $ROUNDS rounds, contenders interleaved, each from an empty store"
for round in $(seq "$ROUNDS"); do
    for kind in "${KINDS[@]}"; do
        sync
        /usr/bin/time -f "%e %M" -o "$TMP/time" bash -c "$(declare -f "run_$kind"); $(declare -p IMAGE TMP PY PODMAN DY 2>/dev/null); run_$kind" \
            || { echo "benchmarks/pull.sh: $kind failed in round $round" >&2; exit 1; }
        echo "$kind $(tail -1 "$TMP/time")" >> "$TMP/results"
        "clean_$kind"
    done
done
"$PY" - "$TMP/results" "${KINDS[@]}" -- "${NAMES[@]}" <<'PYEOF'
import statistics, sys
args = sys.argv[2:]
sep = args.index("--")
kinds, names = args[:sep], args[sep + 1:]
rows = {k: [] for k in kinds}
for line in open(sys.argv[1]):
    k, secs, kb = line.split()
    rows[k].append((float(secs), int(kb)))
print("\n| pull + unpack | min s | median s | peak RSS MB | x podman |\n|---|---:|---:|---:|---:|")
med = {k: statistics.median(s for s, _ in v) for k, v in rows.items()}
for k, name in zip(kinds, names):
    v = rows[k]
    print(f"| {name} | {min(s for s, _ in v):.2f} | {med[k]:.2f} | {max(m for _, m in v) / 1000:.1f} | "
          f"{med[k] / med['podman']:.2f} |")
r = med["dockyard"] / med["podman"]
print(f"\ngoal: dockyard <= 0.5x podman: measured {r:.2f}x -> " + ("MET" if r <= 0.5 else "MISSED"))
PYEOF
