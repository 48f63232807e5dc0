#!/bin/bash
# `make demo`: show what this host can run, then (once the runtime exists) run a container in a VM.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
hull="$build/src/cli/hull"

echo "== hull check: what this host can run"
"$hull" check || true
echo
echo "== hull env: the effective configuration and host facts"
"$hull" env
