#!/usr/bin/python3
"""Boots hull's guest to a healthy agent on each guest kernel the build made and prints one table.

hull's trimmed kernel (guest/kernel/) with the agent-only initramfs vs Debian's cloud kernel with the module
initramfs, under QEMU TCG (microvm, 1 vCPU, 256 MiB, virtio-serial agent channel, virtio-fs busybox rootfs),
the same way the integration tests boot them (tests/integration/guestvm.py). Per boot:
- ready: QEMU start to the agent's ready line on the console (host clock), and the guest's uptime at that line;
- health: QEMU start to the first successful grpc.Health/Check through `hull agent-ctl`;
- QEMU RSS once the agent is healthy, and its peak (VmHWM);
- guest memory used (MemTotal - MemAvailable) and the agent's RSS and PSS, read by a container in the agent's pid
  namespace after the sandbox is up.
Median of --runs boots per kernel.

usage: bench/agent-boot.py BUILD [--runs N] [--json FILE]
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agentctl  # noqa: E402
import guestvm  # noqa: E402

SHARED = "/run/hull/shared"


def status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def boot_once(hull_bin, kernel, initrd, workdir):
    shared = os.path.join(workdir, "shared")
    agentctl.make_busybox_rootfs(os.path.join(shared, "rootfs"))
    vm = guestvm.GuestVM(kernel, initrd, workdir, shared_dir=shared)
    ctl = None
    try:
        _, m = vm.wait_for(r"hull-agent\S*( info)?: ready: .* uptime=([0-9.]+)s")
        ready = time.monotonic() - vm.started
        ctl = agentctl.AgentCtl(hull_bin, "unix://" + vm.channel_path, timeout=300)
        ctl.ok("Check")
        health = time.monotonic() - vm.started
        rss = status_kib(vm.proc.pid, "VmRSS")
        ctl.ok("CreateSandbox", {"sandbox_id": "bench", "storages": [
            {"driver": "virtio-fs", "source": "hullfs", "fstype": "virtiofs", "mount_point": SHARED}]})
        s = agentctl.spec(SHARED + "/rootfs", ["sh", "-c", "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo; "
                                                           "grep -E '^(Rss|Pss):' /proc/1/smaps_rollup"])
        # Without its own pid namespace the container sees the agent as pid 1. smaps_rollup walks the page tables:
        # VmRSS in /proc/<pid>/status lags for a process that has been idle since it started (the kernel folds
        # per-thread RSS counters into it only every 64 page faults), and read 4 kB for the agent here.
        s["Linux"]["Namespaces"] = [n for n in s["Linux"]["Namespaces"] if n["Type"] != "pid"]
        # Reading another process's smaps needs ptrace access: CAP_SYS_PTRACE (the agent holds every capability).
        caps = ["CAP_SYS_PTRACE"]
        s["Process"]["Capabilities"] = {"Bounding": caps, "Effective": caps, "Permitted": caps}
        ctl.ok("CreateContainer", {"container_id": "look", "OCI": s})
        ctl.ok("StartContainer", {"container_id": "look"})
        out = ctl.read_all("look").decode()
        ctl.ok("WaitProcess", {"container_id": "look"})
        if os.environ.get("HULL_BENCH_DEBUG"):
            print(out)
        kb = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", out, re.M)}
        return {
            "ready_s": ready,
            "uptime_at_ready_s": float(m.group(2)),
            "health_s": health,
            "qemu_rss_mib": rss / 1024.0 if rss else None,
            "qemu_peak_rss_mib": (status_kib(vm.proc.pid, "VmHWM") or 0) / 1024.0,
            "guest_used_mib": (kb["MemTotal"] - kb["MemAvailable"]) / 1024.0,
            "agent_rss_kib": kb["Rss"],
            "agent_pss_kib": kb["Pss"],
        }
    finally:
        if ctl:
            ctl.close()
        vm.stop()


def mib(path):
    return os.path.getsize(path) / 1048576.0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build")
    p.add_argument("--runs", type=int, default=int(os.environ.get("HULL_BENCH_RUNS", "3")))
    p.add_argument("--json")
    args = p.parse_args(argv)
    build = os.path.realpath(args.build)
    hull_bin = os.path.join(build, "src", "cli", "hull")
    import pathlib
    kernels = guestvm.guest_kernels(pathlib.Path(build))
    if not kernels:
        print("agent-boot: no guest kernel built in %s/guest" % build, file=sys.stderr)
        return 1
    for need in (guestvm.qemu_binary(), guestvm.VIRTIOFSD, agentctl.BUSYBOX, hull_bin):
        if not need or not os.path.exists(need):
            print("agent-boot: missing %s" % need, file=sys.stderr)
            return 1
    results = {}
    for name, (kernel, initrd) in sorted(kernels.items(), key=lambda kv: kv[0] != "hull"):
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="hull-agent-boot-") as tmp:
                runs.append(boot_once(hull_bin, kernel, initrd, tmp))
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        med["kernel_mib"] = mib(kernel)
        med["initrd_mib"] = mib(initrd)
        results[name] = {"kernel": str(kernel), "initrd": str(initrd), "median": med, "runs": runs}

    print("agent-boot: QEMU TCG microvm, 1 vCPU, 256 MiB, virtio-serial channel, median of %d boots" % args.runs)
    cols = [("kernel", "kernel_mib", "%.1f MiB"), ("initrd", "initrd_mib", "%.2f MiB"),
            ("ready (host)", "ready_s", "%.2f s"), ("uptime@ready", "uptime_at_ready_s", "%.2f s"),
            ("Health.Check", "health_s", "%.2f s"), ("QEMU RSS", "qemu_rss_mib", "%.0f MiB"),
            ("QEMU peak", "qemu_peak_rss_mib", "%.0f MiB"), ("guest used", "guest_used_mib", "%.1f MiB"),
            ("agent RSS", "agent_rss_kib", "%d KiB"), ("agent PSS", "agent_pss_kib", "%d KiB")]
    print("| guest | " + " | ".join(c[0] for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, r in results.items():
        label = {"hull": "hull trimmed + agent-only initrd", "debian": "Debian cloud + module initrd"}[name]
        print("| %s | " % label + " | ".join(fmt % r["median"][key] for _, key, fmt in cols) + " |")
    if "hull" in results and "debian" in results:
        h, d = results["hull"]["median"], results["debian"]["median"]
        print("trimmed/cloud: ready %.2fx, Health.Check %.2fx, QEMU RSS %.2fx" % (
            h["ready_s"] / d["ready_s"], h["health_s"] / d["health_s"], h["qemu_rss_mib"] / d["qemu_rss_mib"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
