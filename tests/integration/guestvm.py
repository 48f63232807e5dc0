"""Boots hull's guest (kernel + hull-initrd.img) under QEMU for the integration tests: microvm, TCG, the console
on a pipe that the test can wait on, the agent channel as a virtio-serial port on a unix socket.

Every wait is bounded; stop() (called by the fixtures' finalizers) always kills QEMU.
"""
import os
import re
import shutil
import socket
import subprocess
import threading
import time

# TCG on a loaded 2-core machine: a healthy boot reaches the agent in 2-5 s.
BOOT_TIMEOUT = 120
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"


def guest_assets(build_dir):
    """(kernel, initrd) paths in a build directory, or None when they are not built."""
    kernel = build_dir / "guest" / "vmlinuz"
    initrd = build_dir / "guest" / "hull-initrd.img"
    if kernel.is_file() and initrd.is_file():
        return kernel, initrd
    return None


def guest_kernels(build_dir):
    """{name: (kernel, initrd)} of the guest kernels built in a build directory: "hull", the trimmed kernel
    (guest/kernel/) with the agent-only initramfs, and "debian", Debian's cloud kernel with the module initramfs."""
    found = {}
    for name, kernel, initrd in (("hull", "vmlinuz-hull", "hull-initrd-agent.img"),
                                 ("debian", "vmlinuz", "hull-initrd.img")):
        k, i = build_dir / "guest" / kernel, build_dir / "guest" / initrd
        if k.is_file() and i.is_file():
            found[name] = (k, i)
    return found


def default_guest(build_dir):
    """(kernel, initrd) the shipped configurations boot: the trimmed kernel when built, else Debian's; or None."""
    kernels = guest_kernels(build_dir)
    return kernels.get("hull") or kernels.get("debian")


def qemu_rss_kib(pid):
    """VmHWM (peak resident set) of a running process in KiB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def host_tsc_khz():
    """The host's TSC rate: under TCG the guest's TSC runs at it (QEMU reads the host's TSC)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return int(float(line.split(":")[1]) * 1000)
    except OSError:
        pass
    return None


def tcg_kernel_args():
    """Under TCG on a busy host the kernel's TSC calibration against the PIT fails, and the boot then hangs before
    /init (seen with Debian's 6.1 cloud kernel at load 4 on 2 cores); telling it the TSC rate skips the calibration."""
    khz = host_tsc_khz()
    return "tsc_early_khz=%d" % khz if khz else ""


def qemu_binary():
    return shutil.which("qemu-system-x86_64")


class GuestVM:
    def __init__(self, kernel, initrd, workdir, append="", memory=256, extra_args=(), shared_dir=None,
                 fs_tag="hullfs"):
        self.workdir = str(workdir)
        self.channel_path = os.path.join(self.workdir, "agent.sock")
        self.lines = []
        self.cond = threading.Condition()
        self.virtiofsd = None
        fs_args = []
        if shared_dir:
            fs_args = self._start_virtiofsd(str(shared_dir), fs_tag, memory)
        cmd = [
            qemu_binary(),
            "-M", "microvm,rtc=on",
            "-accel", "tcg",
            "-cpu", "max",
            "-m", str(memory),
            "-kernel", str(kernel),
            "-initrd", str(initrd),
            "-append", " ".join(a for a in ("console=ttyS0", tcg_kernel_args(), append) if a),
            "-nographic", "-nodefaults", "-no-reboot",
            "-serial", "stdio",
            "-global", "virtio-mmio.force-legacy=false",
            "-device", "virtio-serial-device",
            "-chardev", "socket,id=agent,path=%s,server=on,wait=off" % self.channel_path,
            "-device", "virtserialport,chardev=agent,name=agent.channel.0",
        ] + fs_args + list(extra_args)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self._read_console, daemon=True)
        self.reader.start()

    def _start_virtiofsd(self, shared_dir, tag, memory):
        """Debian's virtiofsd on a listening socket made here (--fd), so QEMU never races its creation; guest
        memory must then be shared with it (a memfd backend)."""
        path = os.path.join(self.workdir, "virtiofsd.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        self.virtiofsd = subprocess.Popen(
            [VIRTIOFSD, "--fd=%d" % listener.fileno(), "-o", "source=" + shared_dir, "-o", "cache=none",
             "-o", "sandbox=chroot", "-o", "log_level=warn"],
            pass_fds=(listener.fileno(),), stdin=subprocess.DEVNULL)
        listener.close()
        return [
            "-object", "memory-backend-memfd,id=mem,size=%dM,share=on" % memory,
            "-machine", "memory-backend=mem",
            "-chardev", "socket,id=vfs,path=%s" % path,
            "-device", "vhost-user-fs-device,chardev=vfs,tag=%s" % tag,
        ]

    def _read_console(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF: QEMU exited
            self.cond.notify_all()

    def console(self):
        with self.cond:
            return "\n".join(line for line in self.lines if line is not None)

    def wait_for(self, pattern, timeout=BOOT_TIMEOUT, start=0):
        """The first console line at index >= start matching pattern: (index, match). Raises on timeout or exit."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    line = self.lines[i]
                    if line is None:
                        raise AssertionError("QEMU exited before %r; console:\n%s" % (pattern, self.console()))
                    m = rx.search(line)
                    if m:
                        return i, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %r within %ss; console:\n%s" % (pattern, timeout, self.console()))
                self.cond.wait(left)

    def connect(self):
        """A connection to the agent channel's host end (QEMU made the socket before starting the guest)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.channel_path)
        return s

    def wait_exit(self, timeout):
        """QEMU's exit status once the guest powered off (-no-reboot), or None if it still runs after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        finally:
            # Kept next to the test's other files, for reading after a failure.
            with open(os.path.join(self.workdir, "console.log"), "w") as f:
                f.write(self.console())
            if self.virtiofsd:
                if self.virtiofsd.poll() is None:
                    self.virtiofsd.kill()
                self.virtiofsd.wait(timeout=30)
            self.reader.join(timeout=5)
            if self.proc.stdout:
                self.proc.stdout.close()
