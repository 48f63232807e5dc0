#!/bin/bash
# `make demo`: show what this host can run, then run a busybox container in its own VM with `hull run`, on the
# hypervisor `hull check` recommends, and print from inside the VM next to the host's view.
set -eu
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
hull="$build/src/cli/hull"
busybox=/bin/busybox

echo "== hull check: what this host can run"
"$hull" check || true
echo

# The recommended hypervisor -> its configuration file in the build tree.
rec=$("$hull" check --json | python3 -c 'import json, sys; r = json.load(sys.stdin).get("recommended") or {}; print(r.get("hypervisor", ""), r.get("accel", ""))')
read -r hv accel <<<"$rec"
case "$hv" in
qemu) cfgname=qemu ;;
clh) cfgname=clh ;;
firecracker) cfgname=fc ;;
builtin) cfgname=builtin ;;
stratovirt) cfgname=stratovirt ;;
*)
        echo "demo: hull check recommends no hypervisor on this host; nothing to run" >&2
        exit 1
        ;;
esac
config="$build/configs/configuration-$cfgname.toml"
echo "== the recommended hypervisor: $hv ($accel), configuration $config"

[ -x "$busybox" ] || { echo "demo: $busybox is missing (apt-get install busybox-static)" >&2; exit 1; }
work=$(mktemp -d /tmp/hull-demo.XXXXXX)
root="$work/root"
id="demo-$$"
cleanup() {
        "$hull" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT

# A bundle built here: busybox-static with its applets as links, and hull's default spec with our command.
bundle="$work/bundle"
mkdir -p "$bundle/rootfs"/{bin,dev,etc,proc,sys,tmp,root}
cp "$busybox" "$bundle/rootfs/bin/busybox"
for a in $("$busybox" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$a"
done
"$hull" spec --bundle "$bundle"
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["env"] = ["PATH=/bin", "HOME=/root"]
spec["process"]["args"] = ["sh", "-c",
    'echo "  guest kernel:  $(uname -r)"; '
    'echo "  guest CPU:     $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed "s/^ *//")"; '
    'echo "  guest memory:  $(grep MemTotal /proc/meminfo | tr -s " " | cut -d" " -f2-)"; '
    'echo "  guest pid 1:   $(cat /proc/1/comm) (the container init, in its own pid namespace)"']
json.dump(spec, open(path, "w"), indent=2)
PY

echo
echo "== the host"
echo "  host kernel:   $(uname -r)"
echo "  host CPU:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo
echo "== hull run: the same question asked inside a busybox container, in its own VM"
start=$(date +%s.%N)
set +e
"$hull" --root "$root" --config "$config" run --bundle "$bundle" "$id"
status=$?
set -e
end=$(date +%s.%N)
echo
printf '== hull run exited with status %d after %.1f s (VM boot, container, VM shut down)\n' "$status" \
        "$(echo "$end - $start" | bc)"
left=$(ls -A "$root" 2>/dev/null | wc -l)
echo "== state directories left under the root: $left"
echo; scripts/demo-containerd.sh "$build" || status=1  # the containerd path (docs/shim.md)
exit "$status"
