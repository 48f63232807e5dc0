#!/bin/sh
# Installs the Debian packages hull needs to build and test, when missing. Idempotent; quiet when all is there.
set -eu

here=$(dirname "$0")
# One package per line in deps.txt; '#' starts a comment. Groups: build, test, guest, runtime.
pkgs=$(sed -e 's/#.*//' "$here/deps.txt" | tr -s ' \n' '\n' | grep -v '^$')

missing=""
for p in $pkgs; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
        esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
        echo "hull: missing Debian packages:$missing" >&2
        echo "hull: run as root, or: sudo apt-get install$missing" >&2
        exit 1
fi
echo "hull: installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
# A stale or empty package list makes apt-get install fail; refresh it once per hour at most.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -60 2>/dev/null | head -n 1)" ]; then
        apt-get update -qq
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "hull: packages installed"
