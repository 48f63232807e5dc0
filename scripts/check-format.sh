#!/bin/sh
# Fails when a tracked C file differs from what clang-format (with the repo's .clang-format) would write.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h')
[ -n "$files" ] || exit 0
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
