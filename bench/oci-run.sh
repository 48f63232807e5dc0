#!/bin/bash
# `hull run <bundle> true` vs a bare QEMU boot of the same kernel to a trivial /init that powers off, and the
# RSS of the monitor (and its QEMU and virtiofsd) with a container running. Median of HULL_BENCH_RUNS (default 3).
#
# usage: bench/oci-run.sh [BUILD]   (results also in BUILD/bench/oci-run.json; needs root for virtiofsd)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-${HULL_BUILD_DIR:-build}}
mkdir -p "$build/bench"
exec nice /usr/bin/python3 bench/oci-run.py "$build" --runs "${HULL_BENCH_RUNS:-3}" --json "$build/bench/oci-run.json"
