"""The QEMU driver against real QEMU (TCG): boot, QMP lifecycle, exit events, failure messages, and nothing left.

Driven through tests/helpers/hv-boot, which wraps src/hypervisor behind a line protocol on stdin/stdout. The guest is
the guest kernel (<build>/guest/vmlinuz, or $HULL_GUEST_DIR/vmlinuz) with a tiny initramfs built here whose /init
prints a marker and then waits, powers off or reboots as the kernel command line says (hvtest=...).
"""
import gzip
import io
import os
import pathlib
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

QEMU = shutil.which("qemu-system-x86_64")
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
MARKER = "HVTEST-INIT-REACHED"
BOOT_TIMEOUT = 120  # TCG on a loaded 2-core machine

INIT_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/reboot.h>
int main(void)
{
        const char *a = getenv("hvtest"); /* kernel parameters with '=' and no '.' reach init's environment */
        printf("\n" "HVTEST-INIT-REACHED %s\n", a ? a : "(none)");
        fflush(stdout);
        if (a && strcmp(a, "poweroff") == 0)
                reboot(RB_POWER_OFF);
        if (a && strcmp(a, "reboot") == 0)
                reboot(RB_AUTOBOOT);
        for (;;)
                pause();
}
"""


def newc_entry(name, mode, data=b"", rdev=(0, 0), ino=1):
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = head + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def build_initramfs(init_binary, path):
    body = io.BytesIO()
    body.write(newc_entry("dev", 0o040755, ino=1))
    body.write(newc_entry("dev/console", 0o020600, rdev=(5, 1), ino=2))
    body.write(newc_entry("init", 0o100755, init_binary.read_bytes(), ino=3))
    body.write(newc_entry("TRAILER!!!", 0, ino=0))
    with gzip.open(path, "wb") as f:
        f.write(body.getvalue())


@pytest.fixture(scope="session")
def hv_boot(build_dir):
    path = os.environ.get("HULL_HV_BOOT") or str(build_dir / "tests" / "helpers" / "hv-boot")
    if not os.path.isfile(path):
        pytest.fail(f"hv-boot is not built: {path} is missing (set HULL_BUILD_DIR)")
    if not QEMU:
        pytest.skip("qemu-system-x86_64 is not installed")
    return path


@pytest.fixture(scope="session")
def guest_dir(build_dir):
    return pathlib.Path(os.environ.get("HULL_GUEST_DIR") or (build_dir / "guest"))


@pytest.fixture(scope="session")
def kernel(guest_dir):
    k = guest_dir / "vmlinuz"
    if not k.is_file():
        pytest.skip(f"no guest kernel at {k}: build the guest assets or set HULL_GUEST_DIR")
    return str(k)


@pytest.fixture(scope="session")
def tiny_initrd():
    d = pathlib.Path(tempfile.mkdtemp(prefix="hull-hv-initrd-"))
    try:
        yield make_tiny_initrd(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def make_tiny_initrd(d):
    src = d / "init.c"
    src.write_text(INIT_C)
    init = d / "init"
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler for the test initramfs")
    proc = subprocess.run([cc, "-static", "-O2", "-o", str(init), str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip("cannot build a static /init: " + proc.stderr.strip()[-300:])
    img = d / "initrd.img"
    build_initramfs(init, img)
    return str(img)


def processes_mentioning(text):
    """pids of live processes other than hv-boot whose command line mentions text (QEMU, virtiofsd). Zombies have
    no command line, so they do not count."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if text in cmdline and not comm.startswith("hv-boot") and int(entry) != os.getpid():
            found.append(int(entry))
    return found


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class HvBoot:
    """One hv-boot process: commands in, answer and event lines out."""

    def __init__(self, binary, workdir, kernel, initrd=None, append="hvtest=wait", machine="microvm", shared=True,
                 extra=()):
        self.workdir = pathlib.Path(workdir)
        self.state = self.workdir / "state"
        self.shared = self.workdir / "shared"
        self.state.mkdir(parents=True, exist_ok=True)
        self.shared.mkdir(exist_ok=True)
        self.stderr_path = self.workdir / "hv-boot.stderr"
        args = [binary, "--kernel", kernel, "--state-dir", str(self.state), "--machine", machine, "--accel", "tcg",
                "--channel", "serial", "--append", append, "--id", self.workdir.name]
        if initrd:
            args += ["--initrd", initrd]
        if shared:
            args += ["--shared-dir", str(self.shared)]
        args += list(extra)
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        self.buf = b""
        self.lines = []

    def send(self, cmd):
        self.proc.stdin.write((cmd + "\n").encode())
        self.proc.stdin.flush()

    def _readline(self, deadline):
        while b"\n" not in self.buf:
            left = max(0.0, deadline - time.monotonic())
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.decode(errors="replace")
        self.lines.append(line)
        return line

    def expect(self, prefix, timeout=30):
        """The next line starting with prefix (lines before it are kept in self.lines)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            if line is None:
                raise AssertionError(f"no line starting with {prefix!r} within {timeout}s; got {self.lines} "
                                     f"stderr: {self.stderr_text()} console: {self.console()[-1500:]}")
            if line.startswith(prefix):
                return line

    def drain(self):
        """Read the lines that are there now; True when one says the VM exited."""
        while self._readline(time.monotonic()) is not None:
            pass
        return any(line.startswith("event exited") for line in self.lines)

    def command(self, cmd, prefix, timeout=30):
        self.send(cmd)
        return self.expect(prefix, timeout)

    def console(self):
        try:
            return (self.state / "console.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_guest(self, timeout=BOOT_TIMEOUT):
        wait_for(lambda: MARKER in self.console() or self.drain(), timeout, "the guest's /init marker on the console")
        assert MARKER in self.console(), f"the VM exited before its /init ran: {self.lines}"

    def stderr_text(self):
        self.stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def quit(self):
        if self.proc.returncode is not None:
            return self.proc.returncode
        if self.proc.poll() is None:
            try:
                self.send("quit")
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode


def fields(line):
    """'event exited pid=1 code=0 ... message=a b c' -> dict of the key=value words (message takes the rest)."""
    out = {}
    head, sep, message = line.partition(" message=")
    for word in head.split():
        k, eq, v = word.partition("=")
        if eq:
            out[k] = v
    if sep:
        out["message"] = message
    return out


def assert_nothing_left(hv):
    wait_for(lambda: not processes_mentioning(str(hv.workdir)), 10,
             f"QEMU/virtiofsd processes of {hv.workdir} to go away")
    socks = sorted(p.name for p in hv.state.iterdir() if p.is_socket())
    assert socks == [], f"sockets left in the state dir: {socks}"


@pytest.fixture
def workdir():
    """A private directory for VM state: short (unix socket paths are limited) and outside pytest's shared base
    directory, which a concurrent pytest run may prune."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="hull-hv-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def vm(hv_boot, kernel, tiny_initrd, workdir):
    made = []

    def make(**kw):
        kw.setdefault("initrd", tiny_initrd)
        hv = HvBoot(hv_boot, workdir / f"vm{len(made)}", kernel, **kw)
        made.append(hv)
        hv.expect("created")
        return hv

    yield make
    codes = {}
    for hv in made:
        codes[hv.workdir.name] = (hv.quit(), hv.stderr_path.read_text(errors="replace")[-2000:])
        for pid in processes_mentioning(str(hv.workdir)):  # never leave a VM behind, even on failure
            os.kill(pid, signal.SIGKILL)
    # hv-boot frees everything before it exits 0; a sanitizer build exits non-zero on a leak or a memory error
    bad = {k: v for k, v in codes.items() if v[0] != 0}
    assert not bad, f"hv-boot did not exit cleanly: {bad}"


def need_virtiofsd():
    if not os.access(VIRTIOFSD, os.X_OK):
        pytest.skip(f"{VIRTIOFSD} is not installed")


def test_boot_pause_resume_stop_leaves_nothing(vm):
    need_virtiofsd()
    hv = vm()
    assert hv.command("channel", "channel") == f"channel serial path={hv.state}/agent.sock"
    hv.command("start", "started")
    err = hv.stderr_text()
    # QEMU is up when QMP greeted us; query-status said running.
    assert "(QEMU 7." in err or "(QEMU " in err, err
    assert "status running" in err, err
    assert "TCG" in err, err
    pids = [int(p) for p in hv.command("pids", "pids").split()[1:]]
    assert len(pids) == 2, pids
    exes = [os.path.basename(os.readlink(f"/proc/{p}/exe")) for p in pids]
    assert exes[0].startswith("qemu-system"), exes
    assert exes[1] == "virtiofsd", exes
    assert (hv.state / "qmp.sock").is_socket()
    assert (hv.state / "agent.sock").is_socket()
    assert (hv.state / "virtiofsd.sock").is_socket()
    hv.wait_guest()

    hv.command("pause", "ok pause")
    assert fields(hv.expect("event paused"))["code"] == "0"
    assert hv.command("state", "state") == "state paused"
    hv.command("resume", "ok resume")
    hv.expect("event resumed")
    assert hv.command("state", "state") == "state running"

    assert hv.command("stop", "stopped") == "stopped code=0"
    assert hv.command("state", "state") == "state stopped"
    assert hv.command("pids", "pids") == "pids"
    for p in pids:
        assert not os.path.exists(f"/proc/{p}") or open(f"/proc/{p}/stat").read().split()[2] == "Z"
    assert_nothing_left(hv)
    hv.send("quit")
    hv.expect("bye")
    assert hv.quit() == 0
    assert not any(line.startswith("event exited") for line in hv.lines), hv.lines


def test_guest_poweroff_is_reported_as_exit_event(vm):
    hv = vm(append="hvtest=poweroff", shared=os.access(VIRTIOFSD, os.X_OK))
    hv.command("start", "started")
    shutdown = fields(hv.expect("event shutdown", BOOT_TIMEOUT))
    assert shutdown["guest"] == "1"
    assert shutdown["message"] == "guest-shutdown"
    exited = fields(hv.expect("event exited", 30))
    assert exited["code"] == "0"
    assert exited["guest"] == "1"
    assert exited["message"] == "qemu exited with status 0 (the guest shut down)"
    # virtiofsd leaving with QEMU is part of QEMU's exit, not a daemon failure
    assert not any(line.startswith("event daemon-exited") for line in hv.lines), hv.lines
    assert MARKER + " poweroff" in hv.console()
    assert hv.command("state", "state") == "state exited"
    assert_nothing_left(hv)


def test_guest_reboot_ends_the_vm(vm):
    hv = vm(append="hvtest=reboot", shared=False)
    hv.command("start", "started")
    exited = fields(hv.expect("event exited", BOOT_TIMEOUT))
    assert exited["code"] == "0", exited  # -no-reboot: a guest reboot is an exit, not a new boot
    assert_nothing_left(hv)


def test_sigkill_of_qemu_is_reported_at_once(vm):
    need_virtiofsd()
    hv = vm()
    hv.command("start", "started")
    killed = fields(hv.command("kill-vmm", "killed"))
    exited = fields(hv.expect("event exited", 10))
    assert exited["code"] == str(128 + 9)
    assert exited["pid"] == killed["pid"]
    assert exited["message"] == "qemu was killed by signal 9 (Killed)"
    latency_ms = int(exited["t"]) - int(killed["t"])
    assert latency_ms < 1000, f"exit noticed after {latency_ms} ms"
    assert hv.command("state", "state") == "state exited"
    assert hv.command("pids", "pids") == "pids"
    assert_nothing_left(hv)  # virtiofsd went with it


def test_wrong_kernel_path_gives_qemus_error(hv_boot, tiny_initrd, workdir):
    need_virtiofsd()
    hv = HvBoot(hv_boot, workdir / "badkernel", "/nonexistent/vmlinuz", initrd=tiny_initrd)
    try:
        hv.expect("created")
        line = hv.command("start", "error start")
        assert line == ("error start: qemu exited with status 1: could not open kernel file "
                        "'/nonexistent/vmlinuz': No such file or directory"), line
        assert hv.command("state", "state") == "state exited"
        assert_nothing_left(hv)
    finally:
        assert hv.quit() == 0, hv.stderr_text()


def test_missing_qemu_binary_is_an_error_at_create(hv_boot, kernel, workdir):
    hv = HvBoot(hv_boot, workdir / "nobin", kernel, shared=False, extra=["--binary", "/nonexistent/qemu"])
    line = hv.expect("error create")
    assert "/nonexistent/qemu" in line, line
    assert hv.quit() == 1
    assert_nothing_left(hv)


def test_virtiofsd_death_is_reported(vm):
    need_virtiofsd()
    hv = vm()
    hv.command("start", "started")
    pids = [int(p) for p in hv.command("pids", "pids").split()[1:]]
    hv.command("kill-daemon", "killed")
    ev = fields(hv.expect("event daemon-exited", 10))
    assert ev["pid"] == str(pids[1])
    assert ev["message"] == "virtiofsd was killed by signal 9 (Killed)"
    # the VM itself is the caller's to stop
    assert hv.command("state", "state") == "state running"
    assert hv.command("stop", "stopped").startswith("stopped code=")
    assert_nothing_left(hv)


def test_q35_boots_and_stops(vm):
    need_virtiofsd()
    hv = vm(machine="q35")
    hv.command("start", "started")
    assert "q35" in hv.stderr_text()
    hv.wait_guest()
    hv.command("pause", "ok pause")
    hv.command("resume", "ok resume")
    assert hv.command("stop", "stopped") == "stopped code=0"
    assert_nothing_left(hv)


def test_two_vms_at_once(vm):
    need_virtiofsd()
    a, b = vm(), vm()
    a.send("start")
    b.send("start")
    a.expect("started")
    b.expect("started")
    pa = a.command("pids", "pids").split()[1:]
    pb = b.command("pids", "pids").split()[1:]
    assert len(pa) == 2 and len(pb) == 2 and not set(pa) & set(pb)
    a.command("kill-vmm", "killed")
    a.expect("event exited")
    assert b.command("state", "state") == "state running"  # one VM's death is not the other's
    assert b.command("stop", "stopped") == "stopped code=0"
    assert_nothing_left(a)
    assert_nothing_left(b)


def test_hull_initrd_agent_answers_on_the_serial_channel(hv_boot, kernel, guest_dir, workdir):
    """With the real guest image: the agent comes up on virtio-serial and sees the host connect."""
    initrd = guest_dir / "hull-initrd.img"
    if not initrd.is_file():
        pytest.skip(f"no {initrd}")
    hv = HvBoot(hv_boot, workdir / "agent", kernel, initrd=str(initrd), append="", shared=False,
                extra=["--memory", "512"])
    try:
        hv.expect("created")
        hv.command("start", "started")
        wait_for(lambda: "ready: channel=" in hv.console() or hv.drain(), BOOT_TIMEOUT,
                 "hull-agent ready on the console")
        assert not hv.drain(), f"the VM exited: {hv.lines} console: {hv.console()[-2000:]}"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(hv.state / "agent.sock"))
        try:
            wait_for(lambda: "host connected" in hv.console(), 60, "the agent to see the host connect")
        finally:
            s.close()
        assert hv.command("stop", "stopped").startswith("stopped code=")
        assert_nothing_left(hv)
    finally:
        hv.quit()
