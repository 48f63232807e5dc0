#!/usr/bin/python3
# Boots a kernel under QEMU (microvm, TCG by default) with a trivial /init that prints one line and
# powers off; reports time to QEMU's exit, QEMU's peak RSS and whether the line appeared.
"""Kernel boot test and measurement helper for hull.

Used by tests/integration/test_kernel.py and bench/kernel-boot.sh. The /init is
guest/kernel/boottest/init.c, built here with gcc (no libc); the initramfs is written
directly as a gzip'd newc cpio with /dev/console, so nothing needs root.
"""

import argparse
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INIT_SOURCE = os.path.join(HERE, "init.c")
INIT_LINE = "hull-boottest: init reached"
# Kata-style parameters (guest/kernel/README.md), plus the serial console the line is read from.
DEFAULT_APPEND = ("console=ttyS0 reboot=k panic=1 nomodule i8042.noaux i8042.nomux i8042.nopnp "
                  "i8042.dumbkbd cryptomgr.notests quiet")
# Console output kept in memory is bounded: a looping guest must not fill the host.
MAX_CONSOLE = 1 << 20


class BootError(Exception):
    pass


def build_init(workdir):
    """Compiles the trivial /init; returns its path."""
    out = os.path.join(workdir, "init")
    cmd = ["gcc", "-Os", "-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector",
           "-fno-pie", "-no-pie", "-s", "-o", out, INIT_SOURCE]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise BootError("building the test init failed: " + proc.stdout.strip())
    return out


_tsc_khz = None


def host_tsc_khz():
    """The host's TSC rate in kHz (guest/kernel/boottest/tsc-khz.c), measured once per process.

    Under TCG the guest's TSC is the host's. A guest left to calibrate it against the PIT fails
    when the host is busy; on microvm (hardware-reduced ACPI: no PIT interrupt, no HPET, no ACPI PM
    timer) it then has no timer at all and hangs at boot, whichever kernel it is."""
    global _tsc_khz
    if _tsc_khz is None:
        with tempfile.TemporaryDirectory(prefix="hull-boottest-") as tmp:
            exe = os.path.join(tmp, "tsc-khz")
            proc = subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "tsc-khz.c")],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if proc.returncode != 0:
                raise BootError("building tsc-khz failed: " + proc.stdout.strip())
            _tsc_khz = int(subprocess.run([exe], stdout=subprocess.PIPE, check=True, text=True).stdout)
    return _tsc_khz


def _cpio_entry(name, mode, data=b"", rdev=(0, 0), ino=1):
    name_b = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
    hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = hdr + name_b
    out += b"\0" * (-len(out) % 4)
    out += data
    out += b"\0" * (-len(out) % 4)
    return out


def make_initramfs(init_path, out_path):
    """Writes a gzip'd newc cpio holding /init, /dev and /dev/console (char 5:1)."""
    with open(init_path, "rb") as f:
        init = f.read()
    archive = b"".join([
        _cpio_entry("dev", 0o040755, ino=1),
        _cpio_entry("dev/console", 0o020600, rdev=(5, 1), ino=2),
        _cpio_entry("init", 0o100755, init, ino=3),
        _cpio_entry("TRAILER!!!", 0, ino=0),
    ])
    with open(out_path, "wb") as f:
        f.write(gzip.compress(archive, mtime=0))
    return out_path


def qemu_command(kernel, initrd, append, memory="512M", accel="tcg", machine="microvm,x-option-roms=off",
                 extra_args=()):
    """QEMU's command line; machine is -M's value (microvm by default, "q35" for virtio-pci)."""
    return ["qemu-system-x86_64", "-M", machine, "-accel", accel, "-smp", "1", "-m", memory,
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", kernel, "-initrd", initrd, "-append", append] + list(extra_args)


def boot(kernel, initrd, append=DEFAULT_APPEND, timeout=120.0, **qemu_opts):
    """Boots once; returns dict(seconds, maxrss_kib, console, saw_line, status, timed_out)."""
    if qemu_opts.get("accel", "tcg") == "tcg" and "tsc_early_khz=" not in append:
        append += " tsc_early_khz=%d" % host_tsc_khz()
    with tempfile.TemporaryDirectory(prefix="hull-boottest-") as tmp:
        console_path = os.path.join(tmp, "console")
        cmd = qemu_command(kernel, initrd, append, **qemu_opts) + ["-serial", "file:" + console_path]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            proc.send_signal(signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            # wait4 gives this child's own peak RSS; Popen.wait would discard it.
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read(MAX_CONSOLE).decode(errors="replace")
        proc.stderr.close()
        try:
            with open(console_path, "rb") as f:
                console = f.read(MAX_CONSOLE).decode(errors="replace")
        except FileNotFoundError:
            console = ""
    return {
        "seconds": seconds,
        "maxrss_kib": usage.ru_maxrss,
        "console": console,
        "stderr": stderr,
        "saw_line": INIT_LINE in console,
        "status": proc.returncode,
        "timed_out": timed_out.is_set(),
    }


def measure(kernel, initrd, runs, append=DEFAULT_APPEND, timeout=120.0):
    """Boots `runs` times; returns medians and the individual results. Fails on a boot that did not work."""
    results = []
    for _ in range(runs):
        r = boot(kernel, initrd, append, timeout)
        if r["timed_out"] or not r["saw_line"] or r["status"] != 0:
            raise BootError("%s: boot failed (status %s, timed out %s); console tail:\n%s%s"
                            % (kernel, r["status"], r["timed_out"], r["console"][-2000:], r["stderr"][-500:]))
        results.append(r)
    return {
        "kernel": kernel,
        "kernel_bytes": os.path.getsize(kernel),
        "runs": runs,
        "median_seconds": statistics.median(r["seconds"] for r in results),
        "median_maxrss_kib": statistics.median(r["maxrss_kib"] for r in results),
        "seconds": [round(r["seconds"], 3) for r in results],
        "maxrss_kib": [r["maxrss_kib"] for r in results],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kernels", nargs="+", metavar="[LABEL=]KERNEL",
                    help="kernel images to boot (bzImage, or an ELF vmlinux with a PVH note)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--append", default=DEFAULT_APPEND)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hull-boottest-") as tmp:
        initrd = make_initramfs(build_init(tmp), os.path.join(tmp, "initrd.img"))
        out = []
        for k in args.kernels:
            label, path = k.split("=", 1) if "=" in k else (os.path.basename(k), k)
            try:
                r = measure(path, initrd, args.runs, args.append, args.timeout)
            except BootError as e:
                print("boottest: %s" % e, file=sys.stderr)
                return 1
            r["label"] = label
            out.append(r)
    print("%-24s %10s %12s %16s" % ("kernel", "size", "boot (s)", "QEMU RSS (MiB)"))
    for r in out:
        print("%-24s %9.1fM %12.3f %16.1f" % (r["label"][:24], r["kernel_bytes"] / 2**20,
                                              r["median_seconds"], r["median_maxrss_kib"] / 1024))
    if len(out) >= 2:
        print("ratio %s / %s: boot time %.2f, QEMU RSS %.2f, size %.2f" % (
            out[0]["label"], out[1]["label"],
            out[0]["median_seconds"] / out[1]["median_seconds"],
            out[0]["median_maxrss_kib"] / out[1]["median_maxrss_kib"],
            out[0]["kernel_bytes"] / out[1]["kernel_bytes"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
