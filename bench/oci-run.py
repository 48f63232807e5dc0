#!/usr/bin/python3
"""`hull run <bundle> true` wall time against a bare QEMU boot of the same kernel with a trivial /init that powers
off (guest/kernel/boottest), and the RSS of a sandbox's processes (monitor, QEMU, virtiofsd) while a container runs.
Same configuration as the tests: the build tree's configuration-qemu.toml (its kernel, memory, machine, TCG here)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "guest", "kernel", "boottest"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
sys.path.insert(0, HERE)
import boottest  # noqa: E402
import bundles  # noqa: E402
from hullbench.common import children, comm, config_value, read_kib_fields  # noqa: E402


def vm_rss_kib(pid):
    return read_kib_fields("/proc/%d/status" % pid, ("VmRSS",)).get("VmRSS")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    build = os.path.realpath(args.build)
    hull = os.path.join(build, "src", "cli", "hull")
    config = os.path.join(build, "configs", "configuration-qemu.toml")
    kernel = config_value(config, "hypervisor.qemu", "kernel")
    memory = config_value(config, "hypervisor.qemu", "default_memory") or 2048

    work = tempfile.mkdtemp(prefix="hull-ocib-", dir="/tmp")
    root = os.path.join(work, "root")
    bundle = bundles.make_bundle(os.path.join(work, "b"), ["true"])
    sleeper = bundles.make_bundle(os.path.join(work, "s"), ["sleep", "1000"])
    result = {"kernel": kernel, "memory_mib": memory, "runs": args.runs}
    try:
        # The bare boot: same kernel and memory, microvm under TCG, /init powers off at once.
        initrd = boottest.make_initramfs(boottest.build_init(work), os.path.join(work, "initrd.img"))
        bare = []
        for _ in range(args.runs):
            r = boottest.boot(kernel, initrd, memory="%dM" % memory)
            if r["timed_out"] or not r["saw_line"] or r["status"] != 0:
                print("oci-run: the bare boot failed:\n" + r["console"][-2000:] + r["stderr"][-500:], file=sys.stderr)
                return 1
            bare.append(r["seconds"])
        runs = []
        for i in range(args.runs):
            start = time.monotonic()
            p = subprocess.run([hull, "--root", root, "--config", config, "run", "-b", bundle, "bench-%d" % i],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
            runs.append(time.monotonic() - start)
            if p.returncode != 0:
                print("oci-run: hull run failed (%d): %s" % (p.returncode, p.stderr), file=sys.stderr)
                return 1
        # RSS with a container running: the monitor (what `hull create` leaves) and its VM's processes.
        pidfile = os.path.join(work, "pid")
        # Not pipes: the detached container keeps its stdio open (a pipe's reader would wait for its end).
        with open(os.path.join(work, "rss.err"), "w+") as err:
            p = subprocess.run([hull, "--root", root, "--config", config, "run", "-d", "--pid-file", pidfile, "-b",
                                sleeper, "bench-rss"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                               timeout=600)
            if p.returncode != 0:
                err.seek(0)
                print("oci-run: hull run -d failed: " + err.read(), file=sys.stderr)
                return 1
        monitor = int(open(pidfile).read())
        time.sleep(1)
        rss = {"monitor": vm_rss_kib(monitor)}
        for c in children(monitor):
            rss[comm(c)] = vm_rss_kib(c)
        subprocess.run([hull, "--root", root, "delete", "--force", "bench-rss"], check=True, capture_output=True,
                       timeout=300)
    finally:
        subprocess.run(["rm", "-rf", work])
    result.update(bare_boot_s=statistics.median(bare), hull_run_s=statistics.median(runs),
                  bare_boot_all=[round(x, 3) for x in bare], hull_run_all=[round(x, 3) for x in runs], rss_kib=rss)
    print("oci-run: QEMU TCG microvm, %d MiB, kernel %s, median of %d" % (memory, os.path.basename(kernel), args.runs))
    print("%-44s %10s" % ("what", "seconds"))
    print("%-44s %10.3f" % ("bare QEMU boot, /init powers off", result["bare_boot_s"]))
    print("%-44s %10.3f" % ("hull run <bundle> true (create..delete)", result["hull_run_s"]))
    print("%-44s %10.3f" % ("hull's overhead over the bare boot", result["hull_run_s"] - result["bare_boot_s"]))
    print()
    print("%-44s %10s" % ("RSS with a container running", "MiB"))
    for k, v in rss.items():
        print("%-44s %10s" % (k, "%.1f" % (v / 1024) if v else "?"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
