#!/bin/bash
# `make bench`: runs every benchmark under bench/ that exists and prints its table; results go to <build>/bench/.
set -u
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
mkdir -p "$build/bench"
status=0
for b in bench/*.sh; do
        [ -x "$b" ] || continue
        echo "== $b"
        HULL_BUILD_DIR=$build "$b" "$build" || status=1
        echo
done
exit $status
