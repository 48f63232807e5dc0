"""containerd-shim-hull-v2 driven by Debian's containerd (a private instance under a temp dir, started here) and
`ctr`: what a containerd user sees, each container in a QEMU (TCG) VM with hull-agent. After every test no task,
container, shim, VMM, virtiofsd, mount or state file is left."""
import os
import pathlib
import pty
import re
import select
import shutil
import signal
import subprocess
import threading
import time

import pytest

import ctrd

RT = ctrd.RUNTIME


def _need(build_dir, source_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root (containerd)")
    for tool in ("containerd", "ctr", "umoci"):
        if shutil.which(tool) is None:
            pytest.skip("%s is missing (scripts/deps.txt)" % tool)
    shim = build_dir / "src" / "shim" / "containerd-shim-hull-v2"
    if not shim.is_file() and not (source_dir / "src" / "sandbox" / "task-service.c").is_file():
        pytest.skip("the sandbox service (src/sandbox/task-service.c) is not there yet: no shim to test")
    if not shim.is_file():
        pytest.fail("containerd-shim-hull-v2 is not built: %s" % shim)
    conf = pathlib.Path(os.environ.get("HULL_SHIM_TEST_CONF", build_dir / "configs" / "configuration-qemu.toml"))
    if not conf.is_file():
        pytest.fail("no build configuration: %s" % conf)
    return shim, conf


@pytest.fixture(scope="module")
def ctd(build_dir, source_dir, tmp_path_factory):
    shim, conf = _need(build_dir, source_dir)
    # Short paths: sockets live under this directory.
    tmp = tmp_path_factory.mktemp("ctd")
    with ctrd.with_busybox(tmp, shim, conf) as c:
        yield c


@pytest.fixture(autouse=True)
def nothing_left(ctd):
    """Every test ends with nothing left behind (what a failed test left is removed, and still reported)."""
    yield
    left = ctd.leftovers(wait=20)
    if left:
        ctd.remove_all()
    assert not left, "left behind: %r\ncontainerd log:\n%s" % (left, ctd.log_tail())


def run_tty(ctd, args, timeout=120):
    """Run ctr with a pty as its terminal; returns (exit status, output)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("ctr", ctd.ctr_argv(*args), ctd.env)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 1)
            if fd in r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def wait_status(ctd, cid, want, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in ctd.ctr("task", "ls").stdout.splitlines()[1:]:
            f = line.split()
            if f and f[0] == cid and f[-1] == want:
                return
        time.sleep(0.1)
    raise AssertionError("task %s not %s:\n%s" % (cid, want, ctd.ctr("task", "ls").stdout))


def qemu_pids(ctd):
    return [pid for pid, comm in ctd.processes() if comm.startswith("qemu")]


def test_ctr_run_prints_and_exits_with_status(ctd):
    with open("/proc/sys/kernel/random/boot_id") as f:
        host_boot = f.read().strip()
    r = ctd.ctr("run", "--rm", "--runtime", RT, ctd.image, "run1", "sh", "-c",
                "echo hello from the vm; cat /proc/sys/kernel/random/boot_id; exit 3", check=False)
    assert r.returncode == 3, r.stderr + ctd.log_tail()
    lines = r.stdout.split()
    assert lines[:4] == ["hello", "from", "the", "vm"]
    # A kernel of its own: not the host's boot.
    assert re.fullmatch(r"[0-9a-f-]{36}", lines[4]) and lines[4] != host_boot


def test_ctr_events_are_published(ctd):
    ev = ctd.popen("events", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # the subscription is in place once ctr events sees the container being created
        ctd.ctr("containers", "create", ctd.image, "ev0", "true")
        ctd.ctr("containers", "delete", "ev0")
        ctd.ctr("run", "-d", "--runtime", RT, ctd.image, "ev1", "sleep", "1000")
        wait_status(ctd, "ev1", "RUNNING")
        ctd.ctr("task", "exec", "--exec-id", "evx", "ev1", "true")
        ctd.ctr("task", "kill", "-s", "SIGKILL", "ev1")
        wait_status(ctd, "ev1", "STOPPED")
        ctd.ctr("task", "delete", "ev1", check=False)  # non-zero: the task's 137
        ctd.ctr("containers", "delete", "ev1")
        deadline = time.monotonic() + 10
        seen = ""
        while time.monotonic() < deadline and "/tasks/delete" not in seen:
            r, _, _ = select.select([ev.stdout], [], [], 1)
            if r:
                seen += os.read(ev.stdout.fileno(), 65536).decode(errors="replace")
    finally:
        ev.kill()
        ev.wait()
    for topic in ("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"):
        assert re.search(r"%s\s+.*ev1" % re.escape(topic), seen), "%s missing in:\n%s" % (topic, seen)
    # an exec's events name its container and its exec id
    for topic in ("/tasks/exec-added", "/tasks/exec-started"):
        assert re.search(r"%s\s+.*ev1.*evx" % re.escape(topic), seen), "%s missing in:\n%s" % (topic, seen)


def test_ctr_run_with_tty(ctd):
    status, out = run_tty(ctd, ["run", "--rm", "-t", "--runtime", RT, ctd.image, "tty1", "sh", "-c",
                                "test -t 0 && test -t 1 && echo on-a-tty; tty; exit 4"])
    assert status == 4, out
    assert "on-a-tty" in out
    # The pty is the container's own (its devpts), so tty names it.
    assert re.search(r"^/dev/pts/[0-9]+\r*$", out, re.M), out


def test_ctr_run_stdin(ctd):
    # ctr run always attaches its stdin
    r = ctd.ctr("run", "--rm", "--runtime", RT, ctd.image, "stdin1", "sh", "-c", "tr a-z A-Z; echo done",
                input="piped into the vm\n")
    assert r.stdout == "PIPED INTO THE VM\ndone\n"


def test_ctr_task_exec_with_and_without_tty(ctd):
    ctd.ctr("run", "-d", "--runtime", RT, ctd.image, "exec1", "sleep", "1000")
    try:
        r = ctd.ctr("task", "exec", "--exec-id", "e1", "exec1", "sh", "-c", "echo exec-out; echo exec-err >&2; exit 5",
                    check=False)
        assert r.returncode == 5, r.stderr
        assert r.stdout == "exec-out\n"
        assert "exec-err" in r.stderr
        status, out = run_tty(ctd, ["task", "exec", "-t", "--exec-id", "e2", "exec1", "sh", "-c",
                                    "test -t 0 && echo exec-tty; tty; exit 6"])
        assert status == 6, out
        assert "exec-tty" in out
        assert re.search(r"^/dev/pts/[0-9]+\r*$", out, re.M), out
    finally:
        ctd.ctr("task", "kill", "-s", "SIGKILL", "exec1", check=False)
        ctd.ctr("task", "delete", "-f", "exec1", check=False)
        ctd.ctr("containers", "delete", "exec1", check=False)


def test_ctr_task_exec_stdin(ctd):
    ctd.ctr("run", "-d", "--runtime", RT, ctd.image, "exec2", "sleep", "1000")
    try:
        r = ctd.ctr("task", "exec", "--exec-id", "e3", "exec2", "cat", input="exec stdin\n", timeout=60)
        assert r.stdout == "exec stdin\n"
    finally:
        ctd.ctr("task", "kill", "-s", "SIGKILL", "exec2", check=False)
        ctd.ctr("task", "delete", "-f", "exec2", check=False)
        ctd.ctr("containers", "delete", "exec2", check=False)


def _run_then_kill(ctd, cid, sig, script):
    """ctr run in the foreground, the signal from another ctr: returns ctr run's exit status."""
    run = ctd.popen("run", "--rm", "--runtime", RT, ctd.image, cid, "sh", "-c", script,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_status(ctd, cid, "RUNNING")
        # the trap is set before the container prints "ready"
        line = run.stdout.readline()
        assert line.strip() == "ready", line
        ctd.ctr("task", "kill", "-s", sig, cid)
        return run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def test_ctr_task_kill_sigterm(ctd):
    status = _run_then_kill(ctd, "term1", "SIGTERM",
                            "trap 'echo got TERM; exit 42' TERM; echo ready; while true; do sleep 0.2; done")
    assert status == 42


def test_ctr_task_kill_sigkill(ctd):
    status = _run_then_kill(ctd, "kill1", "SIGKILL", "echo ready; exec sleep 1000")
    assert status == 137


def test_ctr_task_ps_pause_resume_metrics(ctd):
    ctd.ctr("run", "-d", "--runtime", RT, ctd.image, "pr1", "sh", "-c",
            # written aside and renamed: `echo > /tmp/tick` truncates first, and a cat landing between the
            # truncate and the write would read an empty file
            "i=0; while true; do i=$((i+1)); echo $i > /tmp/tick.new; mv /tmp/tick.new /tmp/tick; sleep 0.1; done")
    try:
        wait_status(ctd, "pr1", "RUNNING")
        ps = ctd.ctr("task", "ps", "pr1").stdout.splitlines()
        assert ps[0].split()[0] == "PID"
        assert len(ps) >= 2 and ps[1].split()[0].isdigit()

        ctd.ctr("task", "pause", "pr1")
        wait_status(ctd, "pr1", "PAUSED")
        ctd.ctr("task", "resume", "pr1")
        wait_status(ctd, "pr1", "RUNNING")
        # still alive and served after the resume
        tick = ctd.ctr("task", "exec", "--exec-id", "p1", "pr1", "cat", "/tmp/tick").stdout
        assert tick.strip().isdigit(), repr(tick)

        m = ctd.ctr("task", "metrics", "pr1").stdout
        assert re.search(r"memory\.usage_in_bytes\s+\d+", m) or re.search(r"memory\.\S+\s+\d+", m), m
        assert "pids.current" in m or "pids" in m, m
    finally:
        ctd.ctr("task", "kill", "-s", "SIGKILL", "pr1", check=False)
        ctd.ctr("task", "delete", "-f", "pr1", check=False)
        ctd.ctr("containers", "delete", "pr1", check=False)


def test_two_containers_in_one_sandbox_share_one_vm(ctd):
    sb = "io.kubernetes.cri.sandbox-id=pod1"
    ctd.ctr("run", "-d", "--runtime", RT, "--annotation", sb, "--annotation",
            "io.kubernetes.cri.container-type=sandbox", ctd.image, "pod1", "sleep", "1000")
    try:
        ctd.ctr("run", "-d", "--runtime", RT, "--annotation", sb, "--annotation",
                "io.kubernetes.cri.container-type=container", ctd.image, "pod1-c2", "sleep", "1000")
        wait_status(ctd, "pod1", "RUNNING")
        wait_status(ctd, "pod1-c2", "RUNNING")
        assert len(ctd.shim_pids()) == 1, ctd.processes()
        assert len(qemu_pids(ctd)) == 1, ctd.processes()
        # one kernel serves both
        b1 = ctd.ctr("task", "exec", "--exec-id", "b1", "pod1", "cat", "/proc/sys/kernel/random/boot_id").stdout
        b2 = ctd.ctr("task", "exec", "--exec-id", "b2", "pod1-c2", "cat", "/proc/sys/kernel/random/boot_id").stdout
        assert b1 == b2 and b1.strip()
        # the second container goes, the VM stays for the first
        ctd.ctr("task", "kill", "-s", "SIGKILL", "pod1-c2")
        ctd.ctr("task", "delete", "-f", "pod1-c2")
        ctd.ctr("containers", "delete", "pod1-c2")
        assert len(qemu_pids(ctd)) == 1
        assert ctd.ctr("task", "exec", "--exec-id", "b3", "pod1", "true").returncode == 0
    finally:
        for c in ("pod1-c2", "pod1"):
            ctd.ctr("task", "kill", "-s", "SIGKILL", c, check=False)
            ctd.ctr("task", "delete", "-f", c, check=False)
            ctd.ctr("containers", "delete", c, check=False)


def test_five_sandboxes_at_once(ctd):
    runs = [ctd.popen("run", "--rm", "--runtime", RT, ctd.image, "five%d" % i, "sh", "-c", "echo sandbox %d" % i,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(5)]
    seen_vms = 0
    try:
        deadline = time.monotonic() + 240
        while any(r.poll() is None for r in runs) and time.monotonic() < deadline:
            seen_vms = max(seen_vms, len(ctd.shim_pids()))
            time.sleep(0.2)
        outs = [r.communicate(timeout=max(1, deadline - time.monotonic())) for r in runs]
    finally:
        for r in runs:
            if r.poll() is None:
                r.kill()
                r.wait()
    for i, (r, (out, err)) in enumerate(zip(runs, outs)):
        assert r.returncode == 0, err
        assert out == "sandbox %d\n" % i
    assert seen_vms >= 2  # they really ran side by side


def test_shim_killed_mid_run_is_cleaned_up_by_delete(ctd):
    ctd.ctr("run", "-d", "--runtime", RT, ctd.image, "victim", "sleep", "1000")
    wait_status(ctd, "victim", "RUNNING")
    shims = ctd.shim_pids()
    assert len(shims) == 1
    vmms = qemu_pids(ctd)
    assert vmms
    os.kill(shims[0], signal.SIGKILL)
    # containerd sees the connection drop, runs `containerd-shim-hull-v2 delete` and reports the task stopped
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tasks = ctd.ctr("task", "ls").stdout
        if "victim" not in tasks or "STOPPED" in tasks:
            break
        time.sleep(0.2)
    ctd.ctr("task", "delete", "victim", check=False)
    ctd.ctr("containers", "delete", "victim")
    for pid in vmms:
        assert not os.path.exists("/proc/%d/environ" % pid) or pid not in [p for p, _ in ctd.processes()]
    assert "cleaning up dead shim" in ctd.log_tail(400)


def test_containerd_restart_keeps_the_task_and_its_vm(ctd):
    """containerd restarts (an upgrade, a crash) while a hull task runs: the shim and its VM stay, the new containerd
    finds the task through the shim's address file, and exec, kill, the exit event and delete all still work."""
    ctd.ctr("run", "-d", "--runtime", RT, ctd.image, "survivor", "sh", "-c", "echo up > /tmp/up; exec sleep 1000")
    try:
        wait_status(ctd, "survivor", "RUNNING")
        shims, vmms = ctd.shim_pids(), qemu_pids(ctd)
        assert len(shims) == 1 and vmms
        ctd.restart()
        assert ctd.shim_pids() == shims and qemu_pids(ctd) == vmms
        wait_status(ctd, "survivor", "RUNNING")
        out = ctd.ctr("task", "exec", "--exec-id", "after", "survivor", "cat", "/tmp/up").stdout
        assert out == "up\n", repr(out)
        # the exit reaches the new containerd as an event: the task is reported stopped with SIGKILL's status
        ctd.ctr("task", "kill", "-s", "SIGKILL", "survivor")
        wait_status(ctd, "survivor", "STOPPED")
        r = ctd.ctr("task", "delete", "survivor")
        assert "137" in r.stdout + r.stderr, (r.stdout, r.stderr)
    finally:
        ctd.ctr("task", "delete", "-f", "survivor", check=False)
        ctd.ctr("containers", "delete", "survivor", check=False)


def test_runtime_config_path_reaches_the_service(ctd):
    r = ctd.ctr("run", "--rm", "--runtime", RT, "--runtime-config-path", "/nonexistent/hull-conf.toml", ctd.image,
                "cfg1", "true", check=False)
    assert r.returncode != 0
    assert "/nonexistent/hull-conf.toml" in r.stderr + ctd.log_tail(100)
    ctd.ctr("containers", "delete", "cfg1", check=False)
