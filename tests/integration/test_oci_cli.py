"""The `hull` OCI runtime CLI as runc's users drive it, against real QEMU (TCG) VMs: run with piped stdio and exit
statuses (128+signal too), a terminal through --console-socket, create/start/state/kill/delete, exec, ps,
pause/resume, two sandboxes at once; and the commands that need no VM (spec, features, errors)."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import bundles
import hullcli

RUN_TIMEOUT = hullcli.CREATE_TIMEOUT

# As conmon does for `exec -d`: be the subreaper, run the runtime, read --pid-file and wait for that pid.
SUBREAPER_EXEC = r"""
import ctypes, os, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
rc = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL).returncode
pidfile = sys.argv[sys.argv.index("--pid-file") + 1]
pid = int(open(pidfile).read())
_, st = os.waitpid(pid, 0)
print(rc, os.waitstatus_to_exitcode(st))
"""


@pytest.fixture
def hull(hull_bin, build_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root (virtiofsd, mounts)")
    if not hullcli.QEMU or not bundles.have_busybox():
        pytest.skip("needs qemu-system-x86_64 and busybox-static")
    if not (build_dir / "configs" / "configuration-qemu.toml").is_file():
        pytest.fail("configuration-qemu.toml is not built")
    h = hullcli.Hull(hull_bin, build_dir, hullcli.short_tmpdir())
    yield h
    h.cleanup()


@pytest.fixture
def cli(hull_bin, tmp_path):
    """hull without a VM: the commands that only read files."""
    def run(*args, **kw):
        return subprocess.run([hull_bin, "--root", str(tmp_path / "root")] + list(args), capture_output=True,
                              text=True, timeout=30, **kw)
    return run


def bundle(h, name, args, **kw):
    return bundles.make_bundle(os.path.join(h.workdir, name), args, **kw)


# ---- no VM -------------------------------------------------------------------------------------------------------

def test_spec_writes_runc_default_config(cli, tmp_path):
    p = cli("spec", "--bundle", str(tmp_path))
    assert p.returncode == 0, p.stderr
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["process"]["terminal"] is True
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert {"type": "network"} in spec["linux"]["namespaces"]
    again = cli("spec", "--bundle", str(tmp_path))
    assert again.returncode == 1 and again.stderr.startswith("hull: ") and "exists" in again.stderr


def test_spec_rootless_has_user_namespace_and_mappings(cli, tmp_path):
    assert cli("spec", "--rootless", "-b", str(tmp_path)).returncode == 0
    spec = json.loads((tmp_path / "config.json").read_text())
    types = [n["type"] for n in spec["linux"]["namespaces"]]
    assert "user" in types and "network" not in types
    assert spec["linux"]["uidMappings"][0]["hostID"] == os.getuid()


def test_features_is_runc_shaped_json(cli):
    p = cli("features")
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    assert f["ociVersionMin"] == "1.0.0" and f["ociVersionMax"].startswith("1.")
    assert "CAP_SYS_ADMIN" in f["linux"]["capabilities"]
    assert f["linux"]["seccomp"]["enabled"] is True
    assert "rbind" in f["mountOptions"]


def test_missing_container_is_one_line_error_exit_1(cli):
    for cmd in (["state", "nope"], ["start", "nope"], ["kill", "nope"], ["delete", "nope"], ["exec", "nope", "true"],
                ["ps", "nope"], ["pause", "nope"], ["resume", "nope"]):
        p = cli(*cmd)
        assert p.returncode == 1, cmd
        assert p.stderr.strip().splitlines() == ['hull: container "nope" does not exist'] or \
            p.stderr.strip().endswith('container "nope" does not exist'), (cmd, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, (cmd, p.stderr)


def test_delete_force_of_missing_container_succeeds(cli):
    assert cli("delete", "--force", "nope").returncode == 0


def test_kill_rejects_unknown_signal(cli):
    p = cli("kill", "nope", "SIGNOPE")
    assert p.returncode == 1 and "unknown signal" in p.stderr


def test_invalid_id_is_rejected(cli):
    p = cli("state", "../etc")
    assert p.returncode == 1 and "invalid container id" in p.stderr


def test_list_of_empty_root(cli):
    p = cli("list", "--format", "json")
    assert p.returncode == 0 and json.loads(p.stdout) == []
    q = cli("list", "-q")
    assert q.returncode == 0 and q.stdout == ""


def start_time(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def write_state(root, cid, **kw):
    d = root / cid
    d.mkdir(parents=True)
    st = {"version": 1, "id": cid, "bundle": "/nonexistent", "created": "2026-01-01T00:00:00Z", "status": "running",
          "monitor": {"pid": 0, "start_time": 0}, "annotations": {}, "processes": []}
    st.update(kw)
    (d / "state.json").write_text(json.dumps(st))
    return d


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_state_of_a_dead_monitor_reads_stopped(cli, tmp_path):
    write_state(tmp_path / "root", "dead", monitor={"pid": dead_pid(), "start_time": 1})
    p = cli("state", "dead")
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    assert st["status"] == "stopped" and st["pid"] == 0 and st["id"] == "dead"


def test_delete_after_a_dead_monitor_kills_only_processes_whose_start_time_matches(cli, tmp_path):
    mine = subprocess.Popen(["sleep", "100"])
    other = subprocess.Popen(["sleep", "100"])  # stands for a pid reused by someone else
    try:
        d = write_state(tmp_path / "root", "gone", monitor={"pid": dead_pid(), "start_time": 1}, processes=[
            {"what": "qemu", "pid": mine.pid, "start_time": start_time(mine.pid)},
            {"what": "virtiofsd", "pid": other.pid, "start_time": start_time(other.pid) + 1}])
        (d / "shared").mkdir()
        p = cli("delete", "gone")
        assert p.returncode == 0, p.stderr
        assert mine.wait(timeout=10) == -signal.SIGKILL
        assert other.poll() is None
        assert not d.exists()
    finally:
        for proc in (mine, other):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_garbage_state_is_an_error_not_a_crash(cli, tmp_path):
    d = write_state(tmp_path / "root", "bad")
    (d / "state.json").write_text("{not json")
    p = cli("state", "bad")
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    listed = cli("list", "--format", "json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    assert cli("delete", "bad").returncode == 0
    assert not d.exists()


# ---- with VMs ----------------------------------------------------------------------------------------------------

def test_run_pipes_stdout_stderr_and_exit_status(hull):
    b = bundle(hull, "b", ["sh", "-c", "echo out-line; echo err-line >&2; exit 3"])
    p = hull.run("run", "--bundle", b, "r1")
    assert p.returncode == 3, p.stderr
    assert p.stdout == "out-line\n"
    assert "err-line" in p.stderr
    assert hullcli.wait_empty(hull.root) == hullcli.EMPTY_INVENTORY


def test_run_reads_piped_stdin(hull):
    b = bundle(hull, "b", ["sh", "-c", "tr a-z A-Z; echo done"])
    p = hull.run("run", "-b", b, "r2", input="hello from the host\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "HELLO FROM THE HOST\ndone\n"


def test_run_exit_status_of_a_signal_is_128_plus_n(hull):
    b = bundle(hull, "b", ["sleep", "1000"])
    proc = hull.popen("run", "-b", b, "r3", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)
    try:
        hull.wait_status("r3", "running", timeout=RUN_TIMEOUT)
        hull.ok("kill", "r3", "KILL")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGKILL, err


def test_run_forwards_signals_to_the_container(hull):
    b = bundle(hull, "b", ["sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.2; done"])
    proc = hull.popen("run", "-b", b, "r4", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 7, err
    assert "got-term" in out


def test_run_with_terminal_through_console_socket(hull):
    b = bundle(hull, "b", ["sh", "-c", "test -t 0 && test -t 1 && echo stdio-are-ttys; tty; echo on-the-tty; exit 5"],
               terminal=True)
    path = os.path.join(hull.workdir, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(RUN_TIMEOUT)
    proc = hull.popen("run", "-b", b, "--console-socket", path, "r5", stdin=subprocess.DEVNULL,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    master = -1
    try:
        conn, _ = srv.accept()
        with conn:
            master = hullcli.recv_fd(conn)
        assert os.isatty(master)
        out = hullcli.read_until_eof(master).decode(errors="replace")
        proc.wait(timeout=120)
    finally:
        if master >= 0:
            os.close(master)
        srv.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 5, proc.stderr.read()
    assert "stdio-are-ttys" in out and "on-the-tty" in out, out
    # The pty comes from the container's own devpts: tty can name it (a guest pty would be "not a tty").
    assert "\r\n/dev/pts/0\r\n" in out, out
    assert "\r\n" in out  # a real terminal's line discipline


def test_create_start_state_kill_delete(hull):
    b = bundle(hull, "b", ["sleep", "1000"], annotations={"org.example.note": "hi"})
    pidfile = os.path.join(hull.workdir, "c.pid")
    hull.ok("create", "--bundle", b, "--pid-file", pidfile, "--no-pivot", "--no-new-keyring", "c1")
    pid = int(open(pidfile).read())
    st = hull.state("c1")
    assert st["status"] == "created" and st["id"] == "c1"
    assert st["pid"] == pid and os.path.exists("/proc/%d" % pid)
    assert st["bundle"] == str(b) and st["rootfs"] == str(b / "rootfs")
    assert st["ociVersion"] and st["created"].endswith("Z")
    assert st["annotations"].get("org.example.note") == "hi"
    assert set(st) >= {"ociVersion", "id", "status", "pid", "bundle", "rootfs", "created", "owner", "annotations"}
    # A second container with the same id is refused.
    again = hull.run("create", "--bundle", b, "c1")
    assert again.returncode == 1 and "exists" in again.stderr

    hull.ok("start", "c1")
    assert hull.state("c1")["status"] == "running"
    listed = json.loads(hull.ok("list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == ["c1"] and listed[0]["status"] == "running"
    assert hull.ok("list", "-q").stdout == "c1\n"

    busy = hull.run("delete", "c1")
    assert busy.returncode == 1 and "not stopped" in busy.stderr

    hull.ok("kill", "c1", "9")
    st = hull.wait_status("c1", "stopped")
    assert st["pid"] == 0
    hull.ok("delete", "c1")
    gone = hull.run("state", "c1")
    assert gone.returncode == 1 and 'container "c1" does not exist' in gone.stderr
    assert hullcli.wait_empty(hull.root) == hullcli.EMPTY_INVENTORY


def test_kill_before_start_stops_the_container(hull):
    """runc's behaviour: a created container whose init is killed before start is stopped (its init is gone), can
    no longer be started, and delete removes it."""
    b = bundle(hull, "b", ["sleep", "1000"])
    hull.ok("create", "--bundle", b, "k1")
    try:
        assert hull.state("k1")["status"] == "created"
        hull.ok("kill", "k1", "KILL")
        st = hull.wait_status("k1", "stopped")
        assert st["pid"] == 0
        # (The message depends on whether the monitor is still on its way out: not checked here.)
        again = hull.run("start", "k1")
        assert again.returncode == 1, again.stderr
        hull.ok("delete", "k1")
        gone = hull.run("state", "k1")
        assert gone.returncode == 1 and 'container "k1" does not exist' in gone.stderr
    finally:
        hull.run("delete", "--force", "k1")
    assert hullcli.wait_empty(hull.root) == hullcli.EMPTY_INVENTORY


def test_exec_ps_pause_resume_in_a_running_container(hull):
    b = bundle(hull, "b", ["sleep", "1000"])
    hull.ok("run", "-d", "-b", b, "e1")
    try:
        p = hull.run("exec", "e1", "sh", "-c", "echo exec-out; echo exec-err >&2; exit 4")
        assert p.returncode == 4 and p.stdout == "exec-out\n" and "exec-err" in p.stderr
        p = hull.run("exec", "--env", "FOO=bar", "--cwd", "/tmp", "e1", "sh", "-c", 'echo "$FOO $(pwd)"')
        assert p.returncode == 0 and p.stdout == "bar /tmp\n", p.stderr
        p = hull.run("exec", "-u", "65534:65534", "e1", "id")
        assert p.returncode == 0 and "uid=65534" in p.stdout, p.stderr
        p = hull.run("exec", "e1", "cat", input="piped into exec\n")
        assert p.stdout == "piped into exec\n"

        # --process (what conmon passes) and -d with a pid file: the waiter exits with the process's status.
        proc_json = os.path.join(hull.workdir, "process.json")
        with open(proc_json, "w") as f:
            json.dump({"args": ["sh", "-c", "sleep 1; exit 6"], "env": ["PATH=/bin"], "cwd": "/",
                       "user": {"uid": 0, "gid": 0}, "terminal": False}, f)
        pidfile = os.path.join(hull.workdir, "exec.pid")
        p = subprocess.run(["python3", "-c", SUBREAPER_EXEC] + hull.argv("exec", "-d", "--pid-file", pidfile,
                                                                          "--process", proc_json, "e1"),
                           capture_output=True, text=True, timeout=180)
        assert p.returncode == 0, p.stderr
        rc, status = map(int, p.stdout.split())
        assert rc == 0 and status == 6, p.stdout

        # The Task API reports the monitor's pid for the guest's processes (docs/cli.md).
        ps = json.loads(hull.ok("ps", "--format", "json", "e1").stdout)
        assert ps == [hull.state("e1")["pid"]]
        table = hull.ok("ps", "e1").stdout.splitlines()
        assert table[0].split()[0] == "PID" and len(table) == len(ps) + 1

        hull.ok("pause", "e1")
        assert hull.state("e1")["status"] == "paused"
        hull.ok("resume", "e1")
        assert hull.state("e1")["status"] == "running"
        assert hull.run("exec", "e1", "echo", "after-resume").stdout == "after-resume\n"
    finally:
        hull.run("delete", "--force", "e1")
    assert hullcli.wait_empty(hull.root) == hullcli.EMPTY_INVENTORY


def test_update_changes_the_limits_in_the_guest_cgroup(hull):
    """`hull update` (runc's flags, and -r with LinuxResources JSON) reaches the container's cgroup in the VM, as the
    container sees it through its own cgroup namespace; bad input is refused before anything changes."""
    b = bundle(hull, "b", ["sleep", "1000"],
               mounts=[{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}])
    doc = bundles.read_config(b)
    doc["linux"]["namespaces"].append({"type": "cgroup"})
    bundles.write_config(b, doc)
    hull.ok("run", "-d", "-b", b, "u1")

    def limits():
        p = hull.ok("exec", "u1", "cat", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max",
                    "/sys/fs/cgroup/cpu.max")
        return p.stdout.split("\n")[:3]

    try:
        assert limits() == ["max", "max", "max 100000"]
        hull.ok("update", "--memory", "64m", "--pids-limit", "42", "--cpu-quota", "50000", "--cpu-period", "200000",
                "u1")
        assert limits() == ["67108864", "42", "50000 200000"]

        res = os.path.join(hull.workdir, "resources.json")
        with open(res, "w") as f:
            json.dump({"memory": {"limit": 100 << 20}, "pids": {"limit": -1}}, f)
        hull.ok("update", "-r", res, "u1")
        assert limits()[:2] == [str(100 << 20), "max"]
        p = hull.run("update", "-r", "-", "u1", input='{"memory": {"limit": -1}}')
        assert p.returncode == 0, p.stderr
        assert limits()[0] == "max"

        for args, words in ((["--memory", "lots"], "--memory lots"), (["--pids-limit", "-5"], "--pids-limit"),
                            (["--l3-cache-schema", "L3:0=f"], "not supported"),
                            (["-r", "-"], "not a JSON object"), ([], "expected exactly one container id")):
            p = hull.run("update", *args, *(["u1"] if args else []), input="[1, 2]")
            assert p.returncode != 0 and words in p.stderr, (args, p.stderr)
        p = hull.run("update", "--memory", "1g", "nosuchcontainer")
        assert p.returncode != 0 and "nosuchcontainer" in p.stderr
        assert limits()[0] == "max"  # nothing changed by the refused updates
    finally:
        hull.run("delete", "--force", "u1")
    assert hullcli.wait_empty(hull.root) == hullcli.EMPTY_INVENTORY


def test_exec_with_terminal_through_console_socket(hull):
    b = bundle(hull, "b", ["sleep", "1000"])
    hull.ok("run", "-d", "-b", b, "t1")
    path = os.path.join(hull.workdir, "exec-console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(120)
    try:
        proc = hull.popen("exec", "-t", "--console-socket", path, "t1", "sh", "-c", "test -t 0 && echo stdin-is-a-tty; tty; exit 2",
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        conn, _ = srv.accept()
        with conn:
            master = hullcli.recv_fd(conn)
        try:
            out = hullcli.read_until_eof(master).decode(errors="replace")
        finally:
            os.close(master)
        proc.wait(timeout=120)
        assert proc.returncode == 2, proc.stderr.read()
        assert "stdin-is-a-tty" in out, out
        assert re.search(r"^/dev/pts/[0-9]+\r*$", out, re.M), out
    finally:
        srv.close()
        hull.run("delete", "--force", "t1")


def test_two_sandboxes_at_once(hull):
    b1 = bundle(hull, "b1", ["sleep", "1000"], hostname="one")
    b2 = bundle(hull, "b2", ["sleep", "1000"], hostname="two")
    results = {}

    def start(cid, b):
        results[cid] = hull.run("run", "-d", "-b", b, cid)

    threads = [threading.Thread(target=start, args=a) for a in (("s1", b1), ("s2", b2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        for cid in ("s1", "s2"):
            assert results[cid].returncode == 0, results[cid].stderr
        assert hull.run("exec", "s1", "hostname").stdout == "one\n"
        assert hull.run("exec", "s2", "hostname").stdout == "two\n"
        st1, st2 = hull.state("s1"), hull.state("s2")
        assert st1["status"] == st2["status"] == "running" and st1["pid"] != st2["pid"]
        assert hull.inventory()["processes"].get("qemu") == 2
        hull.ok("delete", "--force", "s1")
        assert hull.state("s2")["status"] == "running"
    finally:
        hull.run("delete", "--force", "s1")
        hull.run("delete", "--force", "s2")
    assert hullcli.wait_empty(hull.root) == hullcli.EMPTY_INVENTORY
