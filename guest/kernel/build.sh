#!/bin/bash
# Builds hull's trimmed guest kernel from Debian's linux-source package: tinyconfig + configs/<arch>/*.conf,
# cached per machine by source version + fragment hash, then copied to <outdir>/vmlinuz-hull and vmlinux-hull.
#
# usage: guest/kernel/build.sh [--force] [--config-only] [OUTDIR]     (OUTDIR defaults to build/guest)
#        guest/kernel/build.sh --check     exit 0 when the kernel can be built here (Debian's source is installed)
# env:   HULL_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/hull), HULL_KERNEL_ARCH (default: uname -m),
#        HULL_KERNEL_JOBS (default: number of CPUs), HULL_KERNEL_KEEP_BUILD=1 keeps the object tree.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# Bump when the recipe below changes in a way that changes the result: it is part of the cache key.
RECIPE=1
SOURCE_PKG=linux-source-6.1
SOURCE_TAR=/usr/src/linux-source-6.1.tar.xz
# Debian packages the build needs (also listed in scripts/deps.txt).
BUILD_PKGS="$SOURCE_PKG gcc make bc bison flex libelf-dev xz-utils zstd binutils"

log() { printf 'hull-kernel: %s\n' "$*"; }
die() { printf 'hull-kernel: error: %s\n' "$*" >&2; exit 1; }
human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }

force=0
config_only=0
outdir=""
while [ $# -gt 0 ]; do
        case "$1" in
        --force) force=1 ;;
        --config-only) config_only=1 ;;
        --check)
                # meson's -Dguest_kernel=auto asks this at configure time; `make deps` installs the source.
                if [ -f "$SOURCE_TAR" ]; then echo "yes: $SOURCE_TAR"; exit 0; fi
                echo "no: $SOURCE_TAR is missing (apt-get install $SOURCE_PKG)"; exit 1 ;;
        -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) [ -z "$outdir" ] || die "more than one output directory"; outdir=$1 ;;
        esac
        shift
done
outdir=${outdir:-build/guest}

arch=${HULL_KERNEL_ARCH:-$(uname -m)}
case "$arch" in
x86_64 | amd64) arch=x86_64; karch=x86_64; image=arch/x86/boot/bzImage ;;
aarch64 | arm64) arch=aarch64; karch=arm64; image=arch/arm64/boot/Image ;;
*) die "unsupported architecture $arch" ;;
esac
fragdir=$here/configs/$arch
mapfile -t fragments < <(find "$fragdir" -maxdepth 1 -name '*.conf' 2>/dev/null | LC_ALL=C sort)
[ "${#fragments[@]}" -gt 0 ] || die "no kernel config fragments for $arch in $fragdir"

# ---- packages ----------------------------------------------------------------------------------
missing=""
for p in $BUILD_PKGS; do
        case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
        esac
done
if [ -n "$missing" ]; then
        [ "$(id -u)" = 0 ] || die "missing Debian packages:$missing (run: sudo apt-get install$missing)"
        log "installing Debian packages:$missing"
        if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -60 2>/dev/null | head -n 1)" ]; then
                apt-get update -qq
        fi
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -f "$SOURCE_TAR" ] || die "$SOURCE_TAR is missing although $SOURCE_PKG is installed"
version=$(dpkg-query -W -f='${Version}' "$SOURCE_PKG")

# ---- cache key: source version + arch + fragments + this recipe --------------------------------
hash=$({
        echo "recipe $RECIPE arch $arch"
        for f in "${fragments[@]}"; do
                echo "== $(basename "$f")"
                cat "$f"
        done
} | sha256sum | cut -c1-16)
key="$version-$arch-$hash"
cache_root=${HULL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hull}/kernel
cache=$cache_root/$key
mkdir -p "$cache_root"

install_outputs() {
        mkdir -p "$outdir"
        for f in vmlinuz-hull vmlinux-hull config-hull; do
                # Copy through a temporary name so a reader never sees half a file.
                cp -f "$cache/$f" "$outdir/.$f.tmp"
                mv -f "$outdir/.$f.tmp" "$outdir/$f"
        done
        log "kernel $version ($arch, key $hash):"
        log "  $outdir/vmlinuz-hull  $(human "$(stat -c %s "$outdir/vmlinuz-hull")")  (bzImage)"
        log "  $outdir/vmlinux-hull  $(human "$(stat -c %s "$outdir/vmlinux-hull")")  (ELF with PVH entry)"
}

# One build per key at a time: `make check` and `make demo` may start together.
exec 9>"$cache_root/$key.lock"
flock 9

if [ "$force" = 0 ] && [ -f "$cache/done" ]; then
        log "cached in $cache"
        if [ "$config_only" = 1 ]; then
                log "configuration: $cache/config-hull"
                exit 0
        fi
        install_outputs
        exit 0
fi

rm -rf "$cache"
mkdir -p "$cache"
src=$cache/src
obj=$cache/build
start=$(date +%s)
# The unpacked source and the objects are ~1.5 GiB: gone when the script ends, however it ends,
# unless asked to keep them; the logs and results stay.
cleanup() {
        [ "${HULL_KERNEL_KEEP_BUILD:-0}" = 1 ] || rm -rf "$src" "$obj"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "unpacking $SOURCE_TAR ($SOURCE_PKG $version)"
mkdir -p "$src"
tar -xJf "$SOURCE_TAR" -C "$src" --strip-components=1
mkdir -p "$obj"
kmake() { make -C "$src" O="$obj" ARCH="$karch" "$@"; }

# ---- configuration: tinyconfig, then the fragments on top --------------------------------------
log "configuring: tinyconfig + ${#fragments[@]} fragments from $fragdir"
kmake -s tinyconfig >"$cache/config.log" 2>&1 || { tail -n 20 "$cache/config.log"; die "make tinyconfig failed"; }
cp "$obj/.config" "$obj/tinyconfig.config"
# -n: allnoconfig with tinyconfig + fragments as the base, so an option no fragment names and no
# named option selects stays off; the kernel is what the fragments say and nothing more.
(cd "$src" && ARCH="$karch" scripts/kconfig/merge_config.sh -n -O "$obj" "$obj/tinyconfig.config" "${fragments[@]}") \
        >>"$cache/config.log" 2>&1 || { tail -n 20 "$cache/config.log"; die "merge_config.sh failed"; }

# Every option a fragment asks for must be in the result; Kconfig silently drops an option whose
# dependencies are not met, and merge_config.sh only warns about it.
dropped=$(awk '
        FNR == 1 { isfrag = (FILENAME != cfg) }
        !isfrag {
                if (match($0, /^CONFIG_[A-Za-z0-9_]+=/)) have[substr($0, 1, RLENGTH - 1)] = substr($0, RLENGTH + 1)
                next
        }
        /^CONFIG_[A-Za-z0-9_]+=/ { n = index($0, "="); want[substr($0, 1, n - 1)] = substr($0, n + 1); where[substr($0, 1, n - 1)] = FILENAME; next }
        /^# CONFIG_[A-Za-z0-9_]+ is not set/ { want[$2] = "n"; where[$2] = FILENAME; next }
        END {
                for (k in want) {
                        got = (k in have) ? have[k] : "n"
                        if (got != want[k]) {
                                f = where[k]; sub(/.*\//, "", f)
                                printf "  %s=%s (%s) is %s in the result\n", k, want[k], f, got == "n" ? "not set" : got
                        }
                }
        }' cfg="$obj/.config" "$obj/.config" "${fragments[@]}" | LC_ALL=C sort)
if [ -n "$dropped" ]; then
        printf '%s\n' "$dropped" >&2
        die "the kernel configuration lost options the fragments ask for (a dependency is missing; add it to a fragment)"
fi
cp "$obj/.config" "$cache/config-hull"
log "configuration verified: $(grep -c '=y$' "$obj/.config") options built in, every fragment option present"
[ "$config_only" = 0 ] || { log "configuration only: $cache/config-hull"; exit 0; }

# ---- build --------------------------------------------------------------------------------------
jobs=${HULL_KERNEL_JOBS:-$(nproc)}
log "building $(basename "$image") and vmlinux with $jobs jobs (log: $cache/build.log)"
if ! nice -n 10 make -C "$src" O="$obj" ARCH="$karch" -j"$jobs" "$(basename "$image")" vmlinux \
        KBUILD_BUILD_USER=hull KBUILD_BUILD_HOST=hull >"$cache/build.log" 2>&1; then
        tail -n 30 "$cache/build.log" >&2
        die "kernel build failed (full log: $cache/build.log)"
fi
cp "$obj/$image" "$cache/vmlinuz-hull"
# The symbol table is of no use to a VMM; the PVH note (an allocated note section) stays.
strip -s -o "$cache/vmlinux-hull" "$obj/vmlinux"

cleanup
echo "$version $arch $hash" >"$cache/done"
end=$(date +%s)
log "built in $((end - start)) s into $cache"
install_outputs
