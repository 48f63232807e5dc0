"""The sandbox service (src/sandbox) behind the monitor a `hull create` leaves: its containerd Task API driven for
real with tests/helpers/task-ctl, in QEMU TCG VMs with busybox bundles. This test process is the monitors' child
subreaper (as conmon is), so it sees each monitor's exit status; after every test no monitor, QEMU or virtiofsd
of the test is left."""
import base64
import ctypes
import json
import os
import pathlib
import re
import select
import shutil
import signal
import subprocess
import time

import pytest

import bundles

PR_SET_CHILD_SUBREAPER = 36


def _pids_matching(text):
    """QEMU, virtiofsd and monitor processes whose command line names text (not our task-ctl clients)."""
    found = []
    for p in subprocess.run(["pgrep", "-f", text], capture_output=True, text=True).stdout.split():
        try:
            comm = pathlib.Path("/proc/%s/comm" % p).read_text().strip()
        except OSError:
            continue
        if comm.startswith("qemu") or comm.startswith("virtiofsd") or comm == "hull-monitor":
            found.append(int(p))
    return found


class TaskCtl:
    """One long-lived `task-ctl SOCKET` process: Task calls as JSON lines on one connection."""

    def __init__(self, exe, sock, timeout=180):
        self.timeout = timeout
        self.proc = subprocess.Popen([exe, sock, str(timeout)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buf = b""

    def call(self, method, req=None):
        self.proc.stdin.write(("%s %s\n" % (method, json.dumps(req or {}))).encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(deadline - time.monotonic(), 0))
            assert ready, "task-ctl: no reply to %s within %ss" % (method, self.timeout)
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            assert chunk, "task-ctl ended: %s" % self.proc.stderr.read().decode()
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def ok(self, method, req=None):
        r = self.call(method, req)
        assert "error" not in r, "%s: %s" % (method, r)
        return r

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class Sandbox:
    """A monitor spawned the way `hull create` does it, and a Task client on its socket."""

    def __init__(self, env, sid, bundle):
        self.env, self.id = env, sid
        self.dir = env.root / sid
        out = subprocess.run([env.task_ctl, "--spawn", str(env.root), sid, str(bundle), str(env.config)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        self.pid = json.loads(out.stdout)["pid"]
        self.ctl = TaskCtl(env.task_ctl, str(self.dir / "monitor.sock"))
        self.status = None

    def state_json(self):
        return json.loads((self.dir / "state.json").read_text())

    def wait_monitor(self, timeout=60):
        """The monitor's exit status (we are its subreaper)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
            time.sleep(0.05)
        raise AssertionError("monitor %d still runs" % self.pid)

    def close(self):
        self.ctl.close()
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.wait_monitor(30)
            except AssertionError:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)


class Env:
    pass


@pytest.fixture(scope="module")
def env(build_dir):
    for need in (bundles.BUSYBOX, "/usr/bin/qemu-system-x86_64", "/usr/lib/qemu/virtiofsd"):
        if not os.path.exists(need):
            pytest.skip("missing %s" % need)
    if os.geteuid() != 0:
        pytest.skip("the sandbox service needs root (mount namespace, bind mounts)")
    e = Env()
    e.task_ctl = str(build_dir / "tests" / "helpers" / "task-ctl")
    base = build_dir / "configs" / "configuration-qemu.toml"
    if not os.path.exists(e.task_ctl) or not base.exists():
        pytest.fail("task-ctl or configs/configuration-qemu.toml not built in %s" % build_dir)
    text = base.read_text()
    for key in ("kernel", "initrd"):
        m = re.search(r'^%s = "([^"]+)"' % key, text, re.M)
        if not m or not os.path.exists(m.group(1)):
            pytest.skip("guest %s not built: %s" % (key, m.group(1) if m else "?"))
    # Short state paths outside pytest's temp dir (sockets have a 108-byte limit); a small guest.
    e.work = pathlib.Path(subprocess.run(["mktemp", "-d", "/tmp/hull-sbx.XXXXXX"], capture_output=True, text=True,
                                         check=True).stdout.strip())
    e.root = e.work / "r"
    e.config = e.work / "configuration.toml"
    text = re.sub(r"^default_memory = .*$", "default_memory = 256", text, flags=re.M)
    text = re.sub(r"^dial_timeout = .*$", "dial_timeout = 60", text, flags=re.M)
    text = re.sub(r"^enable_annotations = .*$", 'enable_annotations = ["default_memory", "kernel_params"]', text,
                  flags=re.M)
    e.config.write_text(text)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    yield e
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    shutil.rmtree(e.work, ignore_errors=True)


@pytest.fixture
def sandboxes(env):
    made = []

    def make(sid, bundle):
        s = Sandbox(env, sid, bundle)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
    left = _pids_matching(str(env.root))
    for p in left:  # the test failed before cleaning up: do not leave VMs running
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, "processes left: %s" % left
    shutil.rmtree(env.root, ignore_errors=True)


def fd_uri(fd):
    return "hull-fd://%d/%d" % (os.getpid(), fd)


def read_all(fd, timeout=60):
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            return data
        data += chunk
    raise AssertionError("no EOF; got %r" % data)


def exec_spec(args, terminal=False):
    proc = {"terminal": terminal, "user": {"uid": 0, "gid": 0}, "args": args, "env": bundles.DEFAULT_ENV, "cwd": "/"}
    return {"type_url": "types.containerd.io/opencontainers/runtime-spec/1/Process",
            "value": base64.b64encode(json.dumps(proc).encode()).decode()}


def no_leftovers(env, sb):
    assert not _pids_matching(str(sb.dir)), "QEMU/virtiofsd/monitor of %s still run" % sb.id
    assert not (sb.dir / "monitor.sock").exists()
    assert not (sb.dir / "shared").exists()


def test_create_start_wait_reports_stdout_stderr_and_status(env, sandboxes, tmp_path):
    b = bundles.make_bundle(tmp_path / "b", ["sh", "-c", "echo out; uname -r; echo err >&2; exit 3"])
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    sb = sandboxes("run1", b)
    t0 = time.monotonic()
    created = sb.ctl.ok("Create", {"id": "run1", "bundle": str(b), "stdout": fd_uri(out_w), "stderr": fd_uri(err_w)})
    os.close(out_w)
    os.close(err_w)
    assert created["pid"] == sb.pid  # the monitor's pid stands for the container's processes
    assert sb.state_json()["status"] == "created"
    assert sb.ctl.ok("State", {"id": "run1"})["status"] == "CREATED"
    sb.ctl.ok("Start", {"id": "run1"})
    assert sb.ctl.ok("Wait", {"id": "run1"})["exit_status"] == 3
    elapsed = time.monotonic() - t0
    out = read_all(out_r).decode().split("\n")
    assert out[0] == "out" and re.match(r"\d+\.\d+", out[1]), out
    assert read_all(err_r) == b"err\n"
    assert sb.wait_monitor() == 3
    st = sb.state_json()
    assert st["status"] == "stopped" and st["exit_status"] == 3
    no_leftovers(env, sb)
    print("\ncreate -> start -> exit: %.2f s" % elapsed)


def test_stdin_from_a_fifo_reaches_the_container(env, sandboxes, tmp_path):
    b = bundles.make_bundle(tmp_path / "b", ["sh", "-c", "read line; echo got:$line; cat | wc -c"])
    fifo = tmp_path / "stdin"
    os.mkfifo(fifo)
    w = os.open(fifo, os.O_RDWR)  # our writer end, opened before the service opens its reader
    out_r, out_w = os.pipe()
    sb = sandboxes("in1", b)
    sb.ctl.ok("Create", {"id": "in1", "bundle": str(b), "stdin": str(fifo), "stdout": fd_uri(out_w)})
    os.close(out_w)
    sb.ctl.ok("Start", {"id": "in1"})
    os.write(w, b"hello\n" + b"x" * 200000)
    os.close(w)
    assert sb.ctl.ok("Wait", {"id": "in1"}).get("exit_status", 0) == 0
    assert read_all(out_r) == b"got:hello\n200000\n"
    sb.wait_monitor()


def test_exec_pause_resume_kill_and_monitor_rss(env, sandboxes, tmp_path):
    # PID 1 of its namespace: SIGTERM ends it only through a handler.
    b = bundles.make_bundle(tmp_path / "b", ["sh", "-c", "trap 'exit 143' TERM; while :; do sleep 1; done"])
    sb = sandboxes("ex1", b)
    sb.ctl.ok("Create", {"id": "ex1", "bundle": str(b)})
    sb.ctl.ok("Start", {"id": "ex1"})
    out_r, out_w = os.pipe()
    sb.ctl.ok("Exec", {"id": "ex1", "exec_id": "e1", "stdout": fd_uri(out_w),
                       "spec": exec_spec(["sh", "-c", "echo from-exec; hostname"])})
    os.close(out_w)
    sb.ctl.ok("Start", {"id": "ex1", "exec_id": "e1"})
    assert sb.ctl.ok("Wait", {"id": "ex1", "exec_id": "e1"}).get("exit_status", 0) == 0
    assert read_all(out_r) == b"from-exec\nhull\n"
    sb.ctl.ok("Delete", {"id": "ex1", "exec_id": "e1"})
    assert sb.ctl.call("State", {"id": "ex1", "exec_id": "e1"})["code"] == "NotFound"

    sb.ctl.ok("Pause", {"id": "ex1"})
    assert sb.ctl.ok("State", {"id": "ex1"})["status"] == "PAUSED"
    assert sb.state_json()["status"] == "paused"
    assert sb.ctl.call("Pause", {"id": "ex1"})["code"] == "FailedPrecondition"
    sb.ctl.ok("Resume", {"id": "ex1"})
    assert sb.ctl.ok("State", {"id": "ex1"})["status"] == "RUNNING"
    stats = sb.ctl.ok("Stats", {"id": "ex1"})
    assert stats["stats"]["type_url"] == "io.containerd.cgroups.v2.Metrics"
    assert sb.ctl.ok("Pids", {"id": "ex1"})["processes"][0]["pid"] == sb.pid
    assert sb.ctl.call("Checkpoint", {"id": "ex1"})["code"] == "Unimplemented"

    def resources(type_url, text):
        return {"id": "ex1", "resources": {"type_url": type_url, "value": base64.b64encode(text.encode()).decode()}}
    linux = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"
    sb.ctl.ok("Update", resources(linux, json.dumps({"pids": {"limit": 77}})))
    assert sb.ctl.call("Update", resources("types.containerd.io/opencontainers/runtime-spec/1/WindowsResources",
                                           "{}"))["code"] == "InvalidArgument"
    assert sb.ctl.call("Update", resources(linux, "{\"pids\": "))["code"] == "InvalidArgument"

    rss = int(re.search(r"VmRSS:\s+(\d+) kB", pathlib.Path("/proc/%d/status" % sb.pid).read_text()).group(1))
    print("\nmonitor RSS with one running container: %d kB" % rss)
    assert rss < 16 * 1024

    sb.ctl.ok("Kill", {"id": "ex1", "signal": 15})
    assert sb.ctl.ok("Wait", {"id": "ex1"})["exit_status"] == 143
    assert sb.wait_monitor() == 143
    no_leftovers(env, sb)


def test_pod_second_container_joins_the_vm_and_delete_ends_it(env, sandboxes, tmp_path):
    b1 = bundles.make_bundle(tmp_path / "b1", ["sleep", "100000"])
    b2 = bundles.make_bundle(tmp_path / "b2", ["sh", "-c", "echo in-c2; exit 7"],
                             annotations={"io.kubernetes.cri.sandbox-id": "pod1",
                                          "io.kubernetes.cri.container-type": "container"})
    b3 = bundles.make_bundle(tmp_path / "b3", ["true"])  # names no sandbox: refused
    sb = sandboxes("pod1", b1)
    sb.ctl.ok("Create", {"id": "pod1", "bundle": str(b1)})
    sb.ctl.ok("Start", {"id": "pod1"})
    out_r, out_w = os.pipe()
    sb.ctl.ok("Create", {"id": "c2", "bundle": str(b2), "stdout": fd_uri(out_w)})
    os.close(out_w)
    assert sb.ctl.call("Create", {"id": "c3", "bundle": str(b3)})["code"] == "FailedPrecondition"
    assert len([p for p in _pids_matching(str(sb.dir)) if "qemu" in open("/proc/%d/comm" % p).read()]) == 1
    sb.ctl.ok("Start", {"id": "c2"})
    assert sb.ctl.ok("Wait", {"id": "c2"})["exit_status"] == 7
    assert read_all(out_r) == b"in-c2\n"
    assert sb.ctl.ok("Delete", {"id": "c2"})["exit_status"] == 7
    assert sb.ctl.ok("State", {"id": "pod1"})["status"] == "RUNNING"
    sb.ctl.ok("Kill", {"id": "pod1", "signal": 9, "all": True})
    assert sb.ctl.ok("Wait", {"id": "pod1"})["exit_status"] == 137
    assert sb.wait_monitor() == 137
    no_leftovers(env, sb)


def test_delete_of_the_last_container_removes_the_sandbox(env, sandboxes, tmp_path):
    b = bundles.make_bundle(tmp_path / "b", ["true"])
    sb = sandboxes("del1", b)
    sb.ctl.ok("Create", {"id": "del1", "bundle": str(b)})
    sb.ctl.ok("Delete", {"id": "del1"})
    assert sb.wait_monitor() == 0
    assert not sb.dir.exists()
    assert not _pids_matching(str(sb.dir))


def test_vmm_killed_turns_into_an_exit_event(env, sandboxes, tmp_path):
    b = bundles.make_bundle(tmp_path / "b", ["sleep", "100000"])
    sb = sandboxes("kill1", b)
    sb.ctl.ok("Create", {"id": "kill1", "bundle": str(b)})
    sb.ctl.ok("Start", {"id": "kill1"})
    procs = {p["what"]: p["pid"] for p in sb.state_json()["processes"]}
    assert "qemu" in procs and "virtiofsd" in procs
    os.kill(procs["qemu"], signal.SIGKILL)
    assert sb.ctl.ok("Wait", {"id": "kill1"})["exit_status"] == 255
    assert sb.wait_monitor() == 255
    assert "processes" not in sb.state_json() or not sb.state_json()["processes"]
    no_leftovers(env, sb)


def test_bad_requests_get_errors(env, sandboxes, tmp_path):
    b = bundles.make_bundle(tmp_path / "b", ["true"])
    sb = sandboxes("bad1", b)
    assert sb.ctl.call("Start", {"id": "nope"})["code"] == "NotFound"
    assert sb.ctl.call("Create", {"id": "bad1", "bundle": "relative"})["code"] == "InvalidArgument"
    assert sb.ctl.call("Create", {"id": "bad1", "bundle": str(b), "stdout": "tcp://x"})["code"] != "OK"
    assert sb.ctl.call("Update", {"id": "bad1"})["code"] == "NotFound"
