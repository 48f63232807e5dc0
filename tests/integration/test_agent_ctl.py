"""hull-agent's AgentService driven through `hull agent-ctl`, the agent running outside a VM on a unix socket
(as root, real namespaces and mounts, busybox rootfs): what a user of the guest API sees, fast, without QEMU."""
import base64
import os
import signal
import subprocess
import time

import pytest

import agentctl


@pytest.fixture(scope="module")
def agent(build_dir, hull_bin, tmp_path_factory):
    binary = build_dir / "agent" / "hull-agent"
    if not binary.is_file():
        pytest.skip("hull-agent not built (a sanitizer build has none)")
    if os.geteuid() != 0 or not os.path.exists(agentctl.BUSYBOX):
        pytest.skip("needs root and busybox-static")
    tmp = tmp_path_factory.mktemp("agent")
    sock = tmp / "agent.sock"
    log = open(tmp / "agent.log", "w+")
    proc = subprocess.Popen([str(binary), "--server-addr", "unix://%s" % sock, "--log", "debug"],
                            stdout=log, stderr=subprocess.STDOUT)
    ctl = agentctl.AgentCtl(hull_bin, "unix://%s" % sock)
    deadline = time.monotonic() + 10
    # The agent logs its ready line once it listens.
    while "ready:" not in (tmp / "agent.log").read_text():
        assert proc.poll() is None and time.monotonic() < deadline, (tmp / "agent.log").read_text()
        time.sleep(0.05)
    ctl.rootfs = agentctl.make_busybox_rootfs(str(tmp / "rootfs"))
    ctl.proc = proc
    yield ctl
    ctl.close()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_health_check_and_version(agent):
    assert agent.ok("Check") == {"status": "SERVING"}
    assert agent.ok("Version")["agent_version"]


def test_container_output_and_exit_status_read_back_exactly(agent):
    s = agentctl.spec(agent.rootfs, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    agent.ok("CreateContainer", {"container_id": "run1", "OCI": s})
    agent.ok("StartContainer", {"container_id": "run1"})
    assert agent.read_all("run1") == b"out\n"
    assert agent.read_all("run1", stream="ReadStderr") == b"err\n"
    assert agent.ok("WaitProcess", {"container_id": "run1"}) == {"status": 3}
    agent.ok("RemoveContainer", {"container_id": "run1"})


def test_exec_stdin_and_sigterm_sleep_reports_143(agent):
    agent.ok("CreateContainer", {"container_id": "ex", "OCI": agentctl.spec(agent.rootfs, ["sleep", "1000"])})
    agent.ok("StartContainer", {"container_id": "ex"})
    agent.ok("ExecProcess", {"container_id": "ex", "exec_id": "cat", "process": agentctl.process(["cat"])})
    written = agent.ok("WriteStdin", {"container_id": "ex", "exec_id": "cat",
                                      "data": base64.b64encode(b"through stdin\n").decode()})
    assert written == {"len": 14}
    agent.ok("CloseStdin", {"container_id": "ex", "exec_id": "cat"})
    assert agent.read_all("ex", "cat") == b"through stdin\n"
    assert agent.ok("WaitProcess", {"container_id": "ex", "exec_id": "cat"}).get("status", 0) == 0

    agent.ok("ExecProcess", {"container_id": "ex", "exec_id": "sl", "process": agentctl.process(["sleep", "1000"])})
    agent.ok("SignalProcess", {"container_id": "ex", "exec_id": "sl", "signal": 15})
    assert agent.ok("WaitProcess", {"container_id": "ex", "exec_id": "sl"}) == {"status": 143}
    agent.ok("RemoveContainer", {"container_id": "ex"})


def test_tty_process_and_resize(agent):
    agent.ok("CreateContainer", {"container_id": "tty", "OCI": agentctl.spec(agent.rootfs, ["sleep", "1000"])})
    agent.ok("StartContainer", {"container_id": "tty"})
    # The size is set before the process reads it: resize first, then ask the shell to print it.
    agent.ok("ExecProcess", {"container_id": "tty", "exec_id": "t",
                             "process": agentctl.process(["sh", "-c", "read x; test -t 0 && echo tty:$x"], True)})
    agent.ok("TtyWinResize", {"container_id": "tty", "exec_id": "t", "row": 40, "column": 100})
    agent.ok("WriteStdin", {"container_id": "tty", "exec_id": "t", "data": base64.b64encode(b"hi\n").decode()})
    out = agent.read_all("tty", "t")
    assert b"tty:hi" in out
    assert agent.ok("ReadStderr", {"container_id": "tty", "exec_id": "t"}) == {}  # merged into stdout: EOF
    # proto3 JSON leaves out a field at its default: status 0 is {}.
    assert agent.ok("WaitProcess", {"container_id": "tty", "exec_id": "t"}).get("status", 0) == 0
    agent.ok("RemoveContainer", {"container_id": "tty"})


def test_seccomp_denying_mkdir_and_readonly_rootfs(agent):
    seccomp = {"DefaultAction": "SCMP_ACT_ALLOW",
               "Syscalls": [{"Names": ["mkdir", "mkdirat"], "Action": "SCMP_ACT_ERRNO", "errnoret": 1}]}
    s = agentctl.spec(agent.rootfs, ["sh", "-c", "mkdir /tmp/d; echo mkdir=$?; touch /f; echo touch=$?"],
                      readonly=True, seccomp=seccomp)
    agent.ok("CreateContainer", {"container_id": "sec", "OCI": s})
    agent.ok("StartContainer", {"container_id": "sec"})
    assert agent.read_all("sec") == b"mkdir=1\ntouch=1\n"
    err = agent.read_all("sec", stream="ReadStderr")
    assert b"Operation not permitted" in err and b"Read-only file system" in err
    agent.ok("RemoveContainer", {"container_id": "sec"})


def test_malformed_requests_get_errors_and_the_agent_keeps_serving(agent):
    replies = agent.batch([
        ("CreateContainer", {"container_id": "bad1"}),
        ("CreateContainer", {"container_id": "bad2", "OCI": agentctl.spec("/nonexistent/rootfs", ["true"])}),
        ("CreateContainer", {"container_id": "bad3", "OCI": agentctl.spec(agent.rootfs, [])}),
        ("CreateContainer", {"container_id": "../x", "OCI": agentctl.spec(agent.rootfs, ["true"])}),
        ("StartContainer", {"container_id": "no-such-container"}),
        ("WaitProcess", {"container_id": "no-such-container"}),
        ("CopyFile", {"path": "/tmp/hull-agent-ctl-copy", "file_size": 1 << 40}),
        ("Check", {}),
    ])
    assert replies[0]["code"] == "InvalidArgument"
    assert "rootfs" in replies[1]["error"]
    assert "process.args" in replies[2]["error"]
    assert replies[3]["code"] == "InvalidArgument"
    assert replies[4]["code"] == "NotFound" and replies[5]["code"] == "NotFound"
    assert replies[6]["code"] == "InvalidArgument"
    assert replies[7] == {"status": "SERVING"}
    assert agent.proc.poll() is None


def zombies_of(pid):
    n = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open("/proc/%s/stat" % entry).read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            n += 1
    return n


def test_no_zombie_after_50_execs(agent):
    agent.ok("CreateContainer", {"container_id": "z", "OCI": agentctl.spec(agent.rootfs, ["sleep", "1000"])})
    agent.ok("StartContainer", {"container_id": "z"})
    calls = []
    for i in range(50):
        calls += [("ExecProcess", {"container_id": "z", "exec_id": "e%d" % i, "process": agentctl.process(["true"])}),
                  ("WaitProcess", {"container_id": "z", "exec_id": "e%d" % i}),
                  ("ReadStdout", {"container_id": "z", "exec_id": "e%d" % i}),
                  ("ReadStderr", {"container_id": "z", "exec_id": "e%d" % i})]
    replies = agent.batch(calls)
    assert all("error" not in r for r in replies), [r for r in replies if "error" in r][:3]
    assert [r.get("status", 0) for r in replies[1::4]] == [0] * 50
    assert zombies_of(agent.proc.pid) == 0
    agent.ok("RemoveContainer", {"container_id": "z"})


def test_containers_share_the_sandbox_pid_namespace(agent):
    # No hostname here: outside a VM the agent would rename the test host.
    agent.ok("CreateSandbox", {"sandbox_id": "sb", "sandbox_pidns": True})
    one = agentctl.spec(agent.rootfs, ["sleep", "1000"])
    agent.ok("CreateContainer", {"container_id": "p1", "OCI": one, "sandbox_pidns": True})
    agent.ok("StartContainer", {"container_id": "p1"})
    two = agentctl.spec(agent.rootfs, ["sh", "-c", "cat /proc/1/comm; cat /proc/[0-9]*/comm | grep -c sleep"])
    agent.ok("CreateContainer", {"container_id": "p2", "OCI": two, "sandbox_pidns": True})
    agent.ok("StartContainer", {"container_id": "p2"})
    # PID 1 is the sandbox's pause process, and the other container's sleep is visible.
    assert agent.read_all("p2") == b"hull-pause\n1\n"
    # Without sandbox_pidns a container is alone in its own namespace.
    agent.ok("CreateContainer", {"container_id": "p3", "OCI": two})
    agent.ok("StartContainer", {"container_id": "p3"})
    assert agent.read_all("p3") == b"sh\n0\n"
    for cid in ("p1", "p2", "p3"):
        agent.ok("RemoveContainer", {"container_id": cid})
