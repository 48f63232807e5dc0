"""The issue's acceptance, in a real guest: QEMU TCG (microvm), hull-initrd with hull-agent as PID 1, the
virtio-serial channel driven by `hull agent-ctl`, a busybox rootfs shared through virtio-fs (Debian's virtiofsd,
guest memory as a shared memfd): CreateSandbox, containers, exec, signals, tty, seccomp, a read-only rootfs, no
zombies, malformed requests, DestroySandbox powering the VM off."""
import base64
import re
import time

import pytest

import agentctl

SHARED = "/run/hull/shared"


@pytest.fixture(scope="module")
def guest(build_dir, hull_bin, tmp_path_factory):
    # The kernel the shipped configurations boot: hull's trimmed kernel with the agent-only initramfs when it is
    # built (Debian's cloud kernel is booted by test_guest_boot.py as well).
    vm = agentctl.busybox_guest(build_dir, tmp_path_factory.mktemp("guestctr"))
    try:
        vm.wait_for(r"hull-agent\[1\] info: ready: ")
        vm.ctl = agentctl.AgentCtl(hull_bin, "unix://" + vm.channel_path, timeout=300)
        # Time from QEMU's start to the first successful Health.Check.
        assert vm.ctl.ok("Check") == {"status": "SERVING"}
        vm.health_after = time.monotonic() - vm.started
        vm.ctl.ok("CreateSandbox", {"sandbox_id": "sb1", "hostname": "hull-guest", "storages": [
            {"driver": "virtio-fs", "source": "hullfs", "fstype": "virtiofs", "mount_point": SHARED}]})
        vm.rootfs = SHARED + "/rootfs"
        yield vm
    finally:
        if getattr(vm, "ctl", None):
            vm.ctl.close()
        vm.stop()


def run(ctl, cid, s):
    ctl.ok("CreateContainer", {"container_id": cid, "OCI": s})
    ctl.ok("StartContainer", {"container_id": cid})


def test_container_stdout_stderr_and_status_3(guest):
    ctl = guest.ctl
    run(ctl, "c1", agentctl.spec(guest.rootfs, ["sh", "-c", "echo out; echo err >&2; exit 3"]))
    assert ctl.read_all("c1") == b"out\n"
    assert ctl.read_all("c1", stream="ReadStderr") == b"err\n"
    assert ctl.ok("WaitProcess", {"container_id": "c1"}) == {"status": 3}
    ctl.ok("RemoveContainer", {"container_id": "c1"})


def test_exec_sigterm_and_tty_in_a_running_container(guest):
    ctl = guest.ctl
    run(ctl, "c2", agentctl.spec(guest.rootfs, ["sleep", "100000"], hostname="c2host"))
    ctl.ok("ExecProcess", {"container_id": "c2", "exec_id": "e1",
                           "process": agentctl.process(["sh", "-c", "hostname; echo $$"])})
    out = ctl.read_all("c2", "e1").decode().split()
    assert out[0] == "c2host" and int(out[1]) > 1
    assert ctl.ok("WaitProcess", {"container_id": "c2", "exec_id": "e1"}).get("status", 0) == 0

    ctl.ok("ExecProcess", {"container_id": "c2", "exec_id": "sl", "process": agentctl.process(["sleep", "1000"])})
    ctl.ok("SignalProcess", {"container_id": "c2", "exec_id": "sl", "signal": 15})
    assert ctl.ok("WaitProcess", {"container_id": "c2", "exec_id": "sl"}) == {"status": 143}

    ctl.ok("ExecProcess", {"container_id": "c2", "exec_id": "t",
                           "process": agentctl.process(["sh", "-c", "test -t 1 && echo on-a-tty"], terminal=True)})
    assert b"on-a-tty" in ctl.read_all("c2", "t")
    assert ctl.ok("WaitProcess", {"container_id": "c2", "exec_id": "t"}).get("status", 0) == 0
    ctl.ok("RemoveContainer", {"container_id": "c2"})


def test_seccomp_denies_mkdir_and_readonly_rootfs_rejects_writes(guest):
    ctl = guest.ctl
    seccomp = {"DefaultAction": "SCMP_ACT_ALLOW",
               "Syscalls": [{"Names": ["mkdir", "mkdirat"], "Action": "SCMP_ACT_ERRNO", "errnoret": 1}]}
    run(ctl, "c3", agentctl.spec(guest.rootfs, ["sh", "-c", "mkdir /tmp/d; echo mkdir=$?; touch /x; echo touch=$?"],
                                 readonly=True, seccomp=seccomp))
    assert ctl.read_all("c3") == b"mkdir=1\ntouch=1\n"
    err = ctl.read_all("c3", stream="ReadStderr")
    assert b"Operation not permitted" in err and b"Read-only file system" in err
    ctl.ok("RemoveContainer", {"container_id": "c3"})


def test_no_zombie_after_50_execs(guest):
    ctl = guest.ctl
    run(ctl, "c4", agentctl.spec(guest.rootfs, ["sleep", "100000"]))
    calls = []
    for i in range(50):
        eid = "x%d" % i
        calls += [("ExecProcess", {"container_id": "c4", "exec_id": eid, "process": agentctl.process(["true"])}),
                  ("WaitProcess", {"container_id": "c4", "exec_id": eid}),
                  ("ReadStdout", {"container_id": "c4", "exec_id": eid}),
                  ("ReadStderr", {"container_id": "c4", "exec_id": eid})]
    replies = ctl.batch(calls, call_timeout=120)
    assert not [r for r in replies if "error" in r]
    # A container in the agent's own pid namespace sees the agent's children: none may be a zombie.
    s = agentctl.spec(guest.rootfs, ["sh", "-c", "cat /proc/[0-9]*/stat | grep -c ') Z ' ; grep VmRSS /proc/1/status"])
    s["Linux"]["Namespaces"] = [n for n in s["Linux"]["Namespaces"] if n["Type"] != "pid"]
    run(ctl, "look", s)
    out = ctl.read_all("look").decode()
    assert out.splitlines()[0] == "0", out
    guest.agent_rss = re.search(r"VmRSS:\s+(\d+) kB", out).group(1)
    ctl.ok("RemoveContainer", {"container_id": "look"})
    ctl.ok("RemoveContainer", {"container_id": "c4"})


def test_cgroup_limits_stats_pause_resume_and_oom_event(guest):
    ctl = guest.ctl
    s = agentctl.spec(guest.rootfs, ["sleep", "100000"])
    s["Linux"]["Resources"] = {"Memory": {"Limit": 32 << 20}, "Pids": {"Limit": 100}}
    run(ctl, "mem", s)
    stats = ctl.ok("StatsContainer", {"container_id": "mem"})["cgroup_stats"]
    assert stats["memory_stats"]["usage"]["limit"] == 32 << 20
    assert stats["pids_stats"]["limit"] == 100 and stats["pids_stats"]["current"] >= 1
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    ctl.ok("PauseContainer", {"container_id": "mem"})
    assert ctl.call("PauseContainer", {"container_id": "mem"})["code"] != "OK"  # already paused
    ctl.ok("ResumeContainer", {"container_id": "mem"})
    # 100 MB in a shell variable, in a 32 MiB cgroup: the kernel's OOM killer ends it, and the host hears of it.
    ctl.ok("ExecProcess", {"container_id": "mem", "exec_id": "hog", "process": agentctl.process(
        ["sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"])})
    assert ctl.ok("WaitProcess", {"container_id": "mem", "exec_id": "hog"}, call_timeout=120) == {"status": 137}
    assert ctl.ok("GetOOMEvent", {}, call_timeout=60) == {"container_id": "mem"}
    ctl.ok("RemoveContainer", {"container_id": "mem"})


def test_update_container_changes_cgroup_limits(guest):
    ctl = guest.ctl
    s = agentctl.spec(guest.rootfs, ["sleep", "100000"])
    s["Linux"]["Resources"] = {"Memory": {"Limit": 32 << 20}, "Pids": {"Limit": 100}}
    run(ctl, "upd", s)
    ctl.ok("UpdateContainer", {"container_id": "upd", "resources": {
        "Memory": {"Limit": 48 << 20}, "Pids": {"Limit": 7}, "CPU": {"Quota": 50000, "Period": 100000}}})
    stats = ctl.ok("StatsContainer", {"container_id": "upd"})["cgroup_stats"]
    assert stats["memory_stats"]["usage"]["limit"] == 48 << 20
    assert stats["pids_stats"]["limit"] == 7
    # The new pids limit holds: 7 processes at most, the sleep is one of them.
    ctl.ok("ExecProcess", {"container_id": "upd", "exec_id": "fork", "process": agentctl.process(
        ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait; echo done"])})
    assert b"can't fork" in ctl.read_all("upd", eid="fork", stream="ReadStderr")
    # busybox's sh gives up at the first fork the limit refuses.
    assert ctl.ok("WaitProcess", {"container_id": "upd", "exec_id": "fork"}, call_timeout=60) == {"status": 2}
    # A limit the kernel refuses is an error naming the file; unknown containers are NotFound.
    r = ctl.call("UpdateContainer", {"container_id": "upd", "resources": {"CPU": {"Quota": 500, "Period": 1}}})
    assert r["code"] != "OK" and "cpu.max" in r["error"], r
    assert ctl.call("UpdateContainer", {"container_id": "nope", "resources": {}})["code"] == "NotFound"
    ctl.ok("RemoveContainer", {"container_id": "upd"})


def test_set_guest_date_time(guest):
    ctl = guest.ctl
    when = 1893456000  # 2030-01-01T00:00:00Z
    ctl.ok("SetGuestDateTime", {"Sec": when, "Usec": 250000})
    run(ctl, "clock", agentctl.spec(guest.rootfs, ["date", "+%s"]))
    now = int(ctl.read_all("clock").decode())
    assert when <= now < when + 60, now
    ctl.ok("RemoveContainer", {"container_id": "clock"})
    assert ctl.call("SetGuestDateTime", {"Sec": when, "Usec": 1000000})["code"] == "InvalidArgument"
    # Back to the host's time, for the tests that follow.
    t = time.time()
    ctl.ok("SetGuestDateTime", {"Sec": int(t), "Usec": int((t % 1) * 1e6)})


def test_malformed_requests_get_errors_and_the_agent_keeps_serving(guest):
    replies = guest.ctl.batch([
        ("CreateContainer", {"container_id": "m1"}),
        ("CreateContainer", {"container_id": "m2", "OCI": agentctl.spec(SHARED + "/no-rootfs", ["true"])}),
        ("StartContainer", {"container_id": "unknown"}),
        ("CopyFile", {"path": "/tmp/big", "file_size": 1 << 40}),
        ("Check", {}),
    ])
    assert replies[0]["code"] == "InvalidArgument"
    assert "rootfs" in replies[1]["error"]
    assert replies[2]["code"] == "NotFound"
    assert replies[3]["code"] == "InvalidArgument"
    assert replies[4] == {"status": "SERVING"}


def test_zz_destroy_sandbox_powers_the_vm_off(guest):
    print("\nguest: first Health.Check %.2fs after QEMU started; agent RSS %s kB" % (
        guest.health_after, getattr(guest, "agent_rss", "?")))
    guest.ctl.ok("DestroySandbox", {})
    assert guest.wait_exit(60) is not None, "the VM still runs after DestroySandbox"
