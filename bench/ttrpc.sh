#!/bin/bash
# ttrpc round trip of a small unary call over a unix socket: hull's C ttrpc and containerd's Go ttrpc, each as client
# and server. Prints a table (also written to <build>/bench/ttrpc.txt). usage: bench/ttrpc.sh [BUILD_DIR]
# TTRPC_BENCH_CALLS (default 20000) sequential calls give median and p99; as many again, TTRPC_BENCH_CONCURRENCY
# (default 16) in flight at a time, give the throughput.
set -eu
cd "$(dirname "$0")/.."
build=$(realpath "${1:-${HULL_BUILD_DIR:-build}}")
calls=${TTRPC_BENCH_CALLS:-20000}
conc=${TTRPC_BENCH_CONCURRENCY:-16}
cbench=$build/bench/ttrpc-bench
[ -x "$cbench" ] || { echo "ttrpc bench: $cbench is not built (ninja -C $build)" >&2; exit 1; }
command -v go >/dev/null || { echo "ttrpc bench: needs golang-go and golang-github-containerd-ttrpc-dev" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$tmp"
}
trap cleanup EXIT

GO111MODULE=off GOPATH="$tmp/gopath:/usr/share/gocode" GOCACHE="$tmp/gocache" GOFLAGS= CGO_ENABLED=0 \
        go build -o "$tmp/ttrpc-peer" ./tests/interop/ttrpc-peer

# Start a server and wait for the READY line it prints once it listens.
start_server() { # name command...
        local name=$1 line
        shift
        mkfifo "$tmp/$name.ready"
        "$@" server "$tmp/$name.sock" >"$tmp/$name.ready" &
        pids+=($!)
        read -r -t 20 line <"$tmp/$name.ready" || true
        [ "$line" = READY ] || { echo "ttrpc bench: $name server did not start" >&2; exit 1; }
}
start_server c "$cbench"
start_server go "$tmp/ttrpc-peer"

run() { # client-label server-label client-command...
        local cl=$1 sl=$2 res
        shift 2
        res=$("$@")
        echo "$cl $sl $res" >>"$tmp/results"
}
run C C "$cbench" client "$tmp/c.sock" "$calls" "$conc"
run Go Go "$tmp/ttrpc-peer" bench-client "$tmp/go.sock" "$calls" "$conc"
run C Go "$cbench" client "$tmp/go.sock" "$calls" "$conc"
run Go C "$tmp/ttrpc-peer" bench-client "$tmp/c.sock" "$calls" "$conc"

mkdir -p "$build/bench"
awk -v calls="$calls" -v conc="$conc" '
{
        for (i = 3; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2] }
        label[NR] = sprintf("%-2s client -> %-2s server", $1, $2)
        med[$1 "-" $2] = v[NR, "median_us"]
}
END {
        printf "ttrpc round trip, small unary call over a unix socket (%d sequential calls; throughput with %d in flight)\n", calls, conc
        printf "%-22s %10s %10s %10s\n", "", "median us", "p99 us", "calls/s"
        for (i = 1; i <= NR; i++)
                printf "%-22s %10.1f %10.1f %10.0f\n", label[i], v[i, "median_us"], v[i, "p99_us"], v[i, "rps"]
        if (med["C-C"] > 0)
                printf "median ratio Go/C (Go->Go over C->C): %.2f\n", med["Go-Go"] / med["C-C"]
}' "$tmp/results" | tee "$build/bench/ttrpc.txt"
