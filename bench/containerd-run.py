#!/usr/bin/python3
"""`ctr run --rm <busybox> true` through containerd with hull (io.containerd.hull.v2) against the same with runc
(io.containerd.runc.v2) and against a bare QEMU boot of the same kernel to a trivial /init that powers off; and the
shim's RSS (VmRSS) with one container running, next to its QEMU's and virtiofsd's. One private containerd (temp
dir, ctrd.py), the busybox image of images.py, the build tree's configuration-qemu.toml. Median of --runs.

usage: bench/containerd-run.py BUILD [--runs N] [--json FILE]   (root)"""
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
import ctrd  # noqa: E402
import images  # noqa: E402
from importlib import import_module  # noqa: E402

ocirun = import_module("oci-run")


def timed(c, *args):
    start = time.monotonic()
    c.ctr(*args, timeout=600)
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    build = os.path.realpath(args.build)
    config = os.environ.get("HULL_BENCH_CONF") or os.path.join(build, "configs", "configuration-qemu.toml")
    text = open(config).read()
    kernel = ocirun.config_value(text, "hypervisor.qemu", "kernel")
    memory = ocirun.config_value(text, "hypervisor.qemu", "default_memory") or 2048
    work = tempfile.mkdtemp(prefix="hull-ctdb-", dir="/tmp")
    result = {"kernel": kernel, "memory_mib": memory, "runs": args.runs}
    c = ctrd.Containerd(os.path.join(work, "c"), shim_dir=os.path.join(build, "src", "shim"),
                        env={"HULL_CONF_FILE": config}, debug=False)
    try:
        initrd = boottest.make_initramfs(boottest.build_init(work), os.path.join(work, "initrd.img"))
        c.start()
        image = images.import_busybox(c.ctr_argv())
        bare, hull, runc = [], [], []
        for i in range(args.runs):
            r = boottest.boot(kernel, initrd, memory="%dM" % memory)
            if r["timed_out"] or not r["saw_line"] or r["status"] != 0:
                print("containerd-run: the bare boot failed:\n" + r["console"][-2000:], file=sys.stderr)
                return 1
            bare.append(r["seconds"])
            runc.append(timed(c, "run", "--rm", "--runtime", "io.containerd.runc.v2", image, "runc-%d" % i, "true"))
            hull.append(timed(c, "run", "--rm", "--runtime", ctrd.RUNTIME, image, "hull-%d" % i, "true"))
        # RSS with one container running.
        c.ctr("run", "-d", "--runtime", ctrd.RUNTIME, image, "rss", "sleep", "1000", timeout=600)
        time.sleep(1)
        rss = {}
        for pid, comm in c.processes():
            rss.setdefault(comm, ocirun.rss_kib(pid))
        c.ctr("task", "kill", "-s", "SIGKILL", "rss")
        c.ctr("task", "delete", "-f", "rss", timeout=120)
        c.ctr("containers", "delete", "rss")
    finally:
        c.stop()
        subprocess.run(["rm", "-rf", work])
    result.update(bare_boot_s=statistics.median(bare), hull_s=statistics.median(hull), runc_s=statistics.median(runc),
                  bare_all=[round(x, 3) for x in bare], hull_all=[round(x, 3) for x in hull],
                  runc_all=[round(x, 3) for x in runc], rss_kib=rss)
    print("containerd-run: QEMU TCG, %d MiB, kernel %s, median of %d" % (memory, os.path.basename(kernel), args.runs))
    print("%-48s %10s" % ("what", "seconds"))
    print("%-48s %10.3f" % ("bare QEMU boot, /init powers off", result["bare_boot_s"]))
    print("%-48s %10.3f" % ("ctr run --rm busybox true, runc", result["runc_s"]))
    print("%-48s %10.3f" % ("ctr run --rm busybox true, hull", result["hull_s"]))
    print("%-48s %10.1f" % ("hull / runc", result["hull_s"] / result["runc_s"]))
    print("%-48s %10.2f" % ("hull / bare boot", result["hull_s"] / result["bare_boot_s"]))
    print()
    print("%-48s %10s" % ("VmRSS with one container running", "MiB"))
    for k, v in sorted(rss.items()):
        print("%-48s %10s" % (k, "%.1f" % (v / 1024) if v else "?"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
