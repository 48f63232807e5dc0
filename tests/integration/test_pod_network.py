"""A pod's network reaches the container in the VM (Kata's tcfilter model): the test makes what CNI would (a network
namespace with a veth, 10.213.8.2/24 and a default route via 10.213.8.1; the veth's peer in a second namespace with
10.213.8.1), runs a container with that namespace in its spec through `hull run` (and containerd's `ctr run
--with-ns network:...`), and checks from inside that the address and route are there and that the peer is reached
both ways; that the VMM runs in the pod's namespace; and that after the run, and after a monitor killed with SIGKILL
and `hull delete`, no tap, tc filter or ingress qdisc is left in the pod's namespace."""
import itertools
import os
import shutil
import signal
import subprocess
import time

import pytest

import bundles
import ctrd
import hullcli

POD_IP, PEER_IP = "10.213.8.2", "10.213.8.1"
_seq = itertools.count()


def sh(*args, check=True, timeout=60):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    assert not check or p.returncode == 0, "%s: %s%s" % (" ".join(args), p.stdout, p.stderr)
    return p


class Pod:
    """Two network namespaces joined by a veth: the pod's (eth0, POD_IP/24, default route via PEER_IP) and the
    peer's (PEER_IP/24): what a CNI bridge plugin leaves, without touching the host's own network."""

    def __init__(self, with_veth=True):
        n = "%d-%d" % (os.getpid(), next(_seq))
        self.name, self.peer = "hull-pod-" + n, "hull-peer-" + n
        self.path = "/var/run/netns/" + self.name
        sh("ip", "netns", "add", self.name)
        sh("ip", "netns", "add", self.peer)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")
        if with_veth:
            sh("ip", "-n", self.peer, "link", "add", "vpeer", "type", "veth", "peer", "name", "eth0", "netns",
               self.name)
            sh("ip", "-n", self.peer, "addr", "add", PEER_IP + "/24", "dev", "vpeer")
            sh("ip", "-n", self.peer, "link", "set", "vpeer", "up")
            sh("ip", "-n", self.name, "addr", "add", POD_IP + "/24", "dev", "eth0")
            sh("ip", "-n", self.name, "link", "set", "eth0", "up")
            sh("ip", "-n", self.name, "route", "add", "default", "via", PEER_IP)

    def remove(self):
        for ns in (self.name, self.peer):
            sh("ip", "netns", "del", ns, check=False)

    def in_peer(self, *args, **kw):
        return ["ip", "netns", "exec", self.peer] + list(args)

    def links(self):
        out = sh("ip", "-n", self.name, "-o", "link", "show").stdout
        return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines())

    def leftovers(self):
        """What hull may leave in the pod's namespace: taps, ingress qdiscs, tc filters (none expected)."""
        left = [name for name in self.links() if name not in ("lo", "eth0")]
        if "ingress" in sh("tc", "-n", self.name, "qdisc", "show").stdout:
            left.append("ingress qdisc")
        if "eth0" in self.links() and sh("tc", "-n", self.name, "filter", "show", "dev", "eth0", "ingress").stdout:
            left.append("tc filter on eth0")
        return left

    def listen(self, port):
        """A one-shot TCP listener in the peer's namespace; returns the process (its stdout: what it received)."""
        p = subprocess.Popen(self.in_peer("busybox", "nc", "-l", "-p", str(port)), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 10
        while ":%d " % port not in sh(*self.in_peer("busybox", "netstat", "-ltn")).stdout:
            assert time.monotonic() < deadline, "the listener did not come up"
            time.sleep(0.05)
        return p


def _need_tools():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, taps)")
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            pytest.skip("%s is missing (iproute2)" % tool)
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun")


@pytest.fixture
def pod():
    _need_tools()
    p = Pod()
    yield p
    p.remove()


@pytest.fixture
def hull(hull_bin, build_dir):
    _need_tools()
    if not hullcli.QEMU or not bundles.have_busybox():
        pytest.skip("needs qemu-system-x86_64 and busybox-static")
    h = hullcli.Hull(hull_bin, build_dir, hullcli.short_tmpdir())
    yield h
    h.cleanup()


def qemu_pids(root):
    return [pid for pid, cmd in hullcli.processes_mentioning(root) if hullcli.kind_of(cmd) == "qemu"]


# ---- hull run ---------------------------------------------------------------------------------------------------

def test_hull_run_container_has_the_pods_address_and_reaches_its_peer(hull, pod):
    listener = pod.listen(7777)
    try:
        b = bundles.make_bundle(os.path.join(hull.workdir, "b"), [
            "sh", "-c", "ip -o -4 addr show eth0; ip route; ip -o link show eth0; "
            "echo hello-from-the-pod | nc -w 10 %s 7777; echo nc=$?" % PEER_IP], netns=pod.path)
        p = hull.run("run", "-b", b, "n1")
        out = listener.communicate(timeout=30)[0]
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    assert p.returncode == 0, p.stdout + p.stderr
    assert "inet %s/24" % POD_IP in p.stdout
    assert "default via %s dev eth0" % PEER_IP in p.stdout
    mac = sh("ip", "-n", pod.name, "-o", "link", "show", "eth0").stdout.split("link/ether ")[1].split()[0]
    assert mac in p.stdout, "the guest's eth0 has the veth's MAC %s" % mac
    assert "nc=0" in p.stdout
    assert "hello-from-the-pod" in out
    assert hullcli.wait_empty(hull.root) == hullcli.EMPTY_INVENTORY
    assert pod.leftovers() == []
    # the pod's own network is as CNI left it
    assert "inet %s/24" % POD_IP in sh("ip", "-n", pod.name, "addr", "show", "eth0").stdout


def test_vmm_runs_in_the_pod_and_a_dead_monitor_is_cleaned_by_delete(hull, pod):
    b = bundles.make_bundle(os.path.join(hull.workdir, "b"), ["sleep", "1000"], netns=pod.path)
    hull.ok("create", "-b", b, "n2")
    hull.ok("start", "n2")
    pids = qemu_pids(hull.root)
    assert len(pids) == 1
    assert os.stat("/proc/%d/ns/net" % pids[0]).st_ino == os.stat(pod.path).st_ino
    assert os.stat("/proc/%d/ns/net" % hull.state("n2")["pid"]).st_ino != os.stat(pod.path).st_ino
    assert "tap0_hull" in pod.links()
    # the peer reaches the guest: its kernel answers
    ping = sh(*pod.in_peer("busybox", "ping", "-c", "2", "-W", "10", POD_IP), check=False, timeout=60)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    os.kill(hull.state("n2")["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while qemu_pids(hull.root):
        assert time.monotonic() < deadline, "QEMU outlived its monitor"
        time.sleep(0.1)
    # the tap went with QEMU; the filter on the pod's veth is what only state.json can undo
    assert "tc filter on eth0" in pod.leftovers()
    hull.ok("delete", "n2")
    assert pod.leftovers() == []
    assert hullcli.wait_empty(hull.root) == hullcli.EMPTY_INVENTORY


def test_a_namespace_with_only_lo_gives_the_guest_only_lo(hull):
    _need_tools()
    p = Pod(with_veth=False)  # podman's --network none
    try:
        b = bundles.make_bundle(os.path.join(hull.workdir, "b"), ["sh", "-c", "ls /sys/class/net"], netns=p.path)
        r = hull.run("run", "-b", b, "n3")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.split() == ["lo"]
        assert p.links() == ["lo"]
        assert hullcli.wait_empty(hull.root) == hullcli.EMPTY_INVENTORY
    finally:
        p.remove()


def test_internetworking_model_none_keeps_the_pods_interfaces_out(hull_bin, build_dir, pod):
    if not hullcli.QEMU or not bundles.have_busybox():
        pytest.skip("needs qemu-system-x86_64 and busybox-static")
    h = hullcli.Hull(hull_bin, build_dir, hullcli.short_tmpdir(), changes={"runtime": {"internetworking_model": "none"}})
    try:
        b = bundles.make_bundle(os.path.join(h.workdir, "b"), ["sh", "-c", "ls /sys/class/net"], netns=pod.path)
        r = h.run("run", "-b", b, "n5")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.split() == ["lo"]
        assert pod.leftovers() == []
        assert hullcli.wait_empty(h.root) == hullcli.EMPTY_INVENTORY
    finally:
        h.cleanup()


def test_a_missing_namespace_fails_the_create_and_leaves_nothing(hull):
    b = bundles.make_bundle(os.path.join(hull.workdir, "b"), ["true"], netns="/var/run/netns/hull-no-such-ns")
    r = hull.run("run", "-b", b, "n4")
    assert r.returncode != 0
    assert "hull-no-such-ns" in r.stderr
    hull.run("delete", "--force", "n4")
    assert hullcli.wait_empty(hull.root) == hullcli.EMPTY_INVENTORY


# ---- containerd -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ctd(build_dir, tmp_path_factory):
    _need_tools()
    for tool in ("containerd", "ctr", "umoci"):
        if shutil.which(tool) is None:
            pytest.skip("%s is missing (scripts/deps.txt)" % tool)
    shim = build_dir / "src" / "shim" / "containerd-shim-hull-v2"
    conf = build_dir / "configs" / "configuration-qemu.toml"
    if not shim.is_file() or not conf.is_file():
        pytest.fail("the shim or its configuration is not built")
    with ctrd.with_busybox(tmp_path_factory.mktemp("ctd"), shim, conf) as c:
        yield c


def test_ctr_run_with_the_pods_network_namespace(ctd, pod):
    listener = pod.listen(7778)
    try:
        r = ctd.ctr("run", "--rm", "--runtime", ctrd.RUNTIME, "--with-ns", "network:" + pod.path, ctd.image, "net1",
                    "sh", "-c", "ip -o -4 addr show eth0; echo via-containerd | nc -w 10 %s 7778; echo nc=$?" % PEER_IP,
                    check=False, timeout=300)
        out = listener.communicate(timeout=30)[0]
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    assert r.returncode == 0, r.stdout + r.stderr + ctd.log_tail()
    assert "inet %s/24" % POD_IP in r.stdout
    assert "nc=0" in r.stdout
    assert "via-containerd" in out
    assert ctd.leftovers(wait=20) == {}
    assert pod.leftovers() == []


def test_ctr_shim_killed_with_a_pod_network_is_cleaned_by_its_delete(ctd, pod):
    ctd.ctr("run", "-d", "--runtime", ctrd.RUNTIME, "--with-ns", "network:" + pod.path, ctd.image, "net2",
            "sleep", "1000", timeout=300)
    deadline = time.monotonic() + 60
    while "tap0_hull" not in pod.links() or "RUNNING" not in ctd.ctr("task", "ls").stdout:
        assert time.monotonic() < deadline, "the task never ran with its tap"
        time.sleep(0.2)
    shims = ctd.shim_pids()
    assert len(shims) == 1
    os.kill(shims[0], signal.SIGKILL)
    # containerd runs `containerd-shim-hull-v2 delete`, which removes what state.json recorded in the pod
    deadline = time.monotonic() + 60
    while pod.leftovers() or "cleaning up dead shim" not in ctd.log_tail(400):
        assert time.monotonic() < deadline, "left in the pod: %r" % pod.leftovers()
        time.sleep(0.2)
    ctd.ctr("task", "delete", "net2", check=False)
    ctd.ctr("containers", "delete", "net2")
    assert ctd.leftovers(wait=20) == {}
    assert pod.leftovers() == []
