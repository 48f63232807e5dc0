"""What a user sees when a sandbox cannot start or dies under the container, through `hull run`/`create`: QEMU
missing, a wrong kernel path, virtiofsd dying, QEMU killed with SIGKILL, an agent that never answers. Each gives one
clear error line or an exit status, and afterwards nothing is left: no hull, QEMU or virtiofsd process, no mount, no
socket, no state directory (hullcli.inventory, taken before and after)."""
import os
import signal
import subprocess
import time

import pytest

import bundles
import hullcli

# An /init that never starts an agent: the VM boots, nobody answers on the channel.
SILENT_INIT_C = r"""
#include <unistd.h>
int main(void) { for (;;) pause(); }
"""


@pytest.fixture
def make_hull(hull_bin, build_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root (virtiofsd, mounts)")
    if not hullcli.QEMU or not bundles.have_busybox():
        pytest.skip("needs qemu-system-x86_64 and busybox-static")
    made = []

    def make(changes=None):
        h = hullcli.Hull(hull_bin, build_dir, hullcli.short_tmpdir(), changes)
        made.append(h)
        assert h.inventory() == hullcli.EMPTY_INVENTORY
        return h

    yield make
    for h in made:
        h.cleanup()


def one_line_error(p):
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert len(lines) == 1 and lines[0].startswith("hull: "), p.stderr
    return lines[0]


def ppid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def running(h, kind):
    """The top processes of a kind (virtiofsd forks a child for its sandbox: the parent stands for it)."""
    pids = [pid for pid, cmd in hullcli.processes_mentioning(h.root) if hullcli.kind_of(cmd) == kind]
    return [pid for pid in pids if ppid(pid) not in pids]


def test_qemu_binary_missing(make_hull):
    h = make_hull({"hypervisor.qemu": {"path": "/nonexistent/qemu-system-x86_64"}})
    b = bundles.make_bundle(os.path.join(h.workdir, "b"), ["true"])
    line = one_line_error(h.run("run", "-b", b, "f1"))
    assert "/nonexistent/qemu-system-x86_64" in line
    assert hullcli.wait_empty(h.root) == hullcli.EMPTY_INVENTORY


def test_kernel_path_wrong(make_hull):
    h = make_hull({"hypervisor.qemu": {"kernel": "/nonexistent/vmlinuz"}})
    b = bundles.make_bundle(os.path.join(h.workdir, "b"), ["true"])
    line = one_line_error(h.run("create", "-b", b, "f2"))
    assert "/nonexistent/vmlinuz" in line
    assert hullcli.wait_empty(h.root) == hullcli.EMPTY_INVENTORY


def test_agent_never_answers_times_out(make_hull, tmp_path):
    init = tmp_path / "init"
    src = tmp_path / "init.c"
    src.write_text(SILENT_INIT_C)
    subprocess.run(["gcc", "-static", "-Os", "-o", str(init), str(src)], check=True)
    initrd = tmp_path / "silent.img"
    with open(initrd, "wb") as f:
        import test_qemu_driver  # the newc writer of the driver's tests
        test_qemu_driver.build_initramfs(init, f.name)
    h = make_hull({"hypervisor.qemu": {"initrd": str(initrd)}, "agent.kata": {"dial_timeout": 5}})
    b = bundles.make_bundle(os.path.join(h.workdir, "b"), ["true"])
    start = time.monotonic()
    line = one_line_error(h.run("run", "-b", b, "f3"))
    took = time.monotonic() - start
    assert "agent" in line.lower(), line
    assert took < 120, "dial_timeout 5 s, but hull took %.0f s" % took
    assert hullcli.wait_empty(h.root) == hullcli.EMPTY_INVENTORY


def _run_then(h, cid, kill_kind):
    """hull run a sleeping container in the foreground, SIGKILL its kill_kind process, return (CompletedProcess-like
    tuple rc, stderr)."""
    b = bundles.make_bundle(os.path.join(h.workdir, "b"), ["sleep", "1000"])
    proc = h.popen("run", "-b", b, cid, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   text=True)
    try:
        h.wait_status(cid, "running", timeout=hullcli.CREATE_TIMEOUT)
        victims = running(h, kill_kind)
        assert len(victims) == 1, hullcli.processes_mentioning(h.root)
        os.kill(victims[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_qemu_killed_while_the_container_runs(make_hull):
    h = make_hull()
    rc, err = _run_then(h, "f4", "qemu")
    # The VM died before the container's process: no status of its own, 255 (docs/sandbox.md).
    assert rc == 255, err
    assert hullcli.wait_empty(h.root) == hullcli.EMPTY_INVENTORY


def test_virtiofsd_dies_while_the_container_runs(make_hull):
    h = make_hull()
    rc, err = _run_then(h, "f5", "virtiofsd")
    assert rc != 0, err
    assert hullcli.wait_empty(h.root) == hullcli.EMPTY_INVENTORY


def test_delete_after_the_monitor_was_killed(make_hull):
    h = make_hull()
    b = bundles.make_bundle(os.path.join(h.workdir, "b"), ["sleep", "1000"])
    pidfile = os.path.join(h.workdir, "pid")
    h.ok("run", "-d", "--pid-file", pidfile, "-b", b, "f6")
    monitor = int(open(pidfile).read())
    os.kill(monitor, signal.SIGKILL)
    # QEMU and virtiofsd die with their parent (PDEATHSIG); state reads "stopped" once the monitor is gone.
    deadline = time.monotonic() + 30
    while os.path.exists("/proc/%d" % monitor) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert h.state("f6")["status"] == "stopped"
    h.ok("delete", "f6")
    assert hullcli.wait_empty(h.root) == hullcli.EMPTY_INVENTORY
