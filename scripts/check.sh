#!/bin/bash
# `make check`: build, run unit tests (plain and under ASan+UBSan), the toml-test suite, the integration
# tests and the format check, then print one summary line: "N passed, N failed[, N skipped]".
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
asan=${2:-build-asan}
py=/usr/bin/python3
results=$build/test-results
failed_steps=0

step() { printf '\n== %s\n' "$*"; }

step "build ($build)"
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null || exit 1
ninja -C "$build" || { echo "hull: build failed"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$results"
rm -f "$results"/*
step "guest kernel (guest/kernel/build.sh: built once per machine, then cached)"
if guest/kernel/build.sh "$build/guest"; then echo ok > "$results/kernel.result"; else echo fail > "$results/kernel.result"; fi

step "build with AddressSanitizer + UndefinedBehaviorSanitizer ($asan)"
[ -f "$asan/build.ninja" ] || meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
ninja -C "$asan" || { echo "hull: sanitizer build failed"; echo "0 passed, 1 failed"; exit 1; }

step "unit tests, toml-test suite"
meson test -C "$build" --no-rebuild --print-errorlogs || failed_steps=$((failed_steps + 1))

step "unit tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C "$asan" --no-rebuild --print-errorlogs --suite unit || failed_steps=$((failed_steps + 1))

step "format (clang-format)"
if scripts/check-format.sh > "$results/format.txt" 2>&1; then
        echo "format: clean"
        echo "ok" > "$results/format.result"
else
        cat "$results/format.txt"
        echo "fail" > "$results/format.result"
fi

step "integration tests"
HULL_BUILD_DIR=$(realpath "$build") $py -m pytest -q -rs tests/integration --junitxml="$results/integration.xml"
rc=$?
# pytest exits 5 when no test was collected; the summary below still counts what ran.
[ $rc = 0 ] || [ $rc = 5 ] || failed_steps=$((failed_steps + 1))

# The host side (hull, its monitor, containerd-shim-hull-v2, hv-boot) built with ASan+UBSan, driven by the
# integration tests of the sandbox service, the CLI and the shim. A sanitizer build makes no guest (its agent
# could not be static): it boots the plain build's. Every report lands in $results/asan/; any report fails.
step "integration tests of the host side under ASan+UBSan"
rm -rf "$results/asan"
mkdir -p "$asan/guest" "$results/asan"
for f in "$build"/guest/vmlinuz* "$build"/guest/vmlinux* "$build"/guest/*.img; do
        [ -e "$f" ] && ln -sfn "$(realpath "$f")" "$asan/guest/$(basename "$f")"
done
ASAN_OPTIONS=detect_leaks=0:log_path=$(realpath "$results")/asan/asan \
UBSAN_OPTIONS=print_stacktrace=1:log_path=$(realpath "$results")/asan/ubsan \
HULL_BUILD_DIR=$(realpath "$asan") $py -m pytest -q -rs -p no:cacheprovider \
        tests/integration/test_sandbox_service.py tests/integration/test_oci_cli.py \
        tests/integration/test_containerd_shim.py tests/integration/test_failures.py \
        tests/integration/test_qemu_driver.py tests/integration/test_podman.py tests/integration/test_pod_network.py \
        --junitxml="$results/integration-asan.xml"
rc=$?
[ $rc = 0 ] || [ $rc = 5 ] || failed_steps=$((failed_steps + 1))
if ls "$results"/asan/* >/dev/null 2>&1; then
        echo "sanitizer reports:"
        head -n 60 "$results"/asan/*
        echo fail > "$results/asan-reports.result"
else
        echo "no sanitizer report"
        echo ok > "$results/asan-reports.result"
fi

step "summary"
exec $py scripts/summary.py "$build/meson-logs/testlog.json" "$asan/meson-logs/testlog.json" \
        "$results/integration.xml" "$results/integration-asan.xml" "$results/asan-reports.result" \
        "$results/format.result" "$results/kernel.result"
