#!/bin/bash
# Boot time to power-off, QEMU peak RSS and image sizes: hull's trimmed kernel vs Debian's cloud kernel,
# under QEMU TCG (microvm) with a trivial /init. Median of HULL_BENCH_RUNS (default 5) boots each.
# Then bench/agent-boot.py boots the real guest (hull-agent) on both kernels: agent ready, Health.Check, RSS.
#
# usage: bench/kernel-boot.sh [BUILD]   (BUILD defaults to build; results also in BUILD/bench/kernel-boot.json)
# env:   HULL_CLOUD_KERNEL=<vmlinuz> picks the cloud kernel; otherwise BUILD/guest/vmlinuz, otherwise the
#        kernel of linux-image-cloud-amd64 is fetched with apt-get download into a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-${HULL_BUILD_DIR:-build}}
runs=${HULL_BENCH_RUNS:-5}
tmp=$(mktemp -d /tmp/hull-kernel-boot.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The trimmed kernel: built (or taken from the per-machine cache) when missing.
if [ ! -f "$build/guest/vmlinuz-hull" ]; then
        guest/kernel/build.sh "$build/guest"
fi

cloud=${HULL_CLOUD_KERNEL:-}
if [ -z "$cloud" ] && [ -f "$build/guest/vmlinuz" ]; then
        cloud=$build/guest/vmlinuz
fi
if [ -z "$cloud" ]; then
        pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
        [ -n "$pkg" ] || { echo "kernel-boot: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
        echo "kernel-boot: fetching $pkg (apt-get download, not installed)"
        (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) || { echo "kernel-boot: apt-get download $pkg failed" >&2; exit 1; }
        dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/cloud"
        cloud=$(ls "$tmp"/cloud/boot/vmlinuz-*)
fi

mkdir -p "$build/bench"
echo "kernel-boot: QEMU TCG microvm, 1 vCPU, 512 MiB, trivial /init to power-off, median of $runs boots"
guest/kernel/boottest/boottest.py --runs "$runs" --json "$build/bench/kernel-boot.json" \
        "hull (bzImage)=$build/guest/vmlinuz-hull" "debian-cloud (bzImage)=$cloud" \
        "hull (PVH vmlinux)=$build/guest/vmlinux-hull"

# The real guest on each kernel: agent ready, first Health.Check, QEMU RSS, guest memory (bench/agent-boot.py).
echo
/usr/bin/python3 bench/agent-boot.py "$build" --runs "${HULL_BENCH_AGENT_RUNS:-3}" --json "$build/bench/agent-boot.json"
