#!/bin/bash
# `make bench`: bench/run measures every figure and prints one table (JSON + Markdown in <build>/bench/; see
# docs/performance.md). HULL_BENCH_DETAIL=1 also runs the detail benchmarks bench/*.sh (kernel boot per kernel,
# ttrpc C vs Go), each printing its own table.
set -u
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
mkdir -p "$build/bench"
status=0
nice /usr/bin/python3 bench/run "$build" || status=1
if [ "${HULL_BENCH_DETAIL:-0}" = 1 ]; then
        for b in bench/*.sh; do
                [ -x "$b" ] || continue
                echo
                echo "== $b"
                HULL_BUILD_DIR=$build "$b" "$build" || status=1
        done
fi
exit $status
