#!/bin/bash
# `make demo`, the containerd part: a private containerd (root, state and sockets under a temporary directory),
# a busybox image built here and imported with `ctr images import`, and `ctr run --runtime io.containerd.hull.v2`
# printing from inside a hull VM. containerd is stopped and the directory removed afterwards, also on failure.
set -eu
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
shim_dir="$build/src/shim"
conf="${HULL_CONF_FILE:-$build/configs/configuration-qemu.toml}"

for tool in containerd ctr umoci; do
        command -v "$tool" >/dev/null || { echo "demo-containerd: $tool is missing (scripts/deps.txt)" >&2; exit 1; }
done
[ -x "$shim_dir/containerd-shim-hull-v2" ] || { echo "demo-containerd: $shim_dir/containerd-shim-hull-v2 is not built" >&2; exit 1; }

tmp=$(mktemp -d /tmp/hull-demo-ctd.XXXXXX)
ctd_pid=
cleanup() {
        if [ -n "$ctd_pid" ] && kill -0 "$ctd_pid" 2>/dev/null; then
                ctr_ task rm -f demo >/dev/null 2>&1 || true
                ctr_ containers rm demo >/dev/null 2>&1 || true
                kill -TERM "$ctd_pid" 2>/dev/null || true
                wait "$ctd_pid" 2>/dev/null || true
        fi
        rm -rf "$tmp"
}
trap cleanup EXIT
ctr_() { ctr --address "$tmp/containerd.sock" --namespace hull-demo "$@"; }

cat >"$tmp/config.toml" <<EOF
version = 2
root = "$tmp/root"
state = "$tmp/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$tmp/containerd.sock"
[ttrpc]
  address = "$tmp/containerd.sock.ttrpc"
EOF

echo "== containerd: a private instance under $tmp"
PATH="$shim_dir:$PATH" HULL_SHIM_ROOT="$tmp/shim" HULL_CONF_FILE="$conf" \
        containerd --config "$tmp/config.toml" >"$tmp/containerd.log" 2>&1 &
ctd_pid=$!
for _ in $(seq 300); do
        ctr_ version >/dev/null 2>&1 && break
        kill -0 "$ctd_pid" 2>/dev/null || { cat "$tmp/containerd.log" >&2; exit 1; }
        sleep 0.1
done

echo "== ctr images import: busybox (Debian's busybox-static, packed by umoci)"
archive=$(python3 tests/integration/images.py)
ctr_ images import --base-name hull.test/busybox "$archive"

echo "== ctr run --runtime io.containerd.hull.v2 --rm hull.test/busybox:latest demo ..."
start=$(date +%s.%N)
ctr_ run --runtime io.containerd.hull.v2 --rm hull.test/busybox:latest demo \
        sh -c 'echo "hello from a container in a hull VM: kernel $(uname -r), $(nproc) vCPU, $(grep MemTotal /proc/meminfo)"'
end=$(date +%s.%N)
printf "== done in %.2f s (TCG on this host); containerd stopped\n" "$(echo "$end - $start" | bc)"
