"""podman (Debian's, rootful) with `--runtime` pointing at hull: a locally built busybox image (podman import of a
tarball, no registry), `podman run --rm` prints and exits with the container's code, `podman exec` works, and
`podman stop` + `podman rm` leave nothing of hull behind. conmon drives hull as it drives runc: create with
--pid-file (it waits on that pid: hull's monitor), start, state, kill, delete; exec -d with --process."""
import os
import shutil
import subprocess
import tarfile

import pytest

import bundles
import hullcli

PODMAN = shutil.which("podman")
IMAGE = "localhost/hull-test/busybox:latest"


@pytest.fixture(scope="module")
def pod(hull_bin, build_dir, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("rootful podman needs root")
    if not PODMAN or not hullcli.QEMU or not bundles.have_busybox():
        pytest.skip("needs podman, qemu-system-x86_64 and busybox-static")
    # Short paths: conmon's container ids are 64 characters and hull's sockets live under <root>/<id>/.
    work = hullcli.short_tmpdir("hp-")
    h = hullcli.Hull(hull_bin, build_dir, work)
    # podman passes no --config: a wrapper gives hull the test's root and configuration.
    wrapper = os.path.join(work, "hull-rt")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec %s --root %s --config %s \"$@\"\n" % (hull_bin, h.root, h.config))
    os.chmod(wrapper, 0o755)
    base = [PODMAN, "--root", os.path.join(work, "storage"), "--runroot", os.path.join(work, "run"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "--runtime", wrapper]
    rootfs = tmp_path_factory.mktemp("rootfs")
    bundles.make_rootfs(rootfs)
    tar = str(rootfs) + ".tar"
    with tarfile.open(tar, "w") as t:
        t.add(str(rootfs), arcname=".")
    subprocess.run(base + ["import", tar, IMAGE], check=True, capture_output=True, timeout=300)

    # The flow tests run without podman's default sysctl (net.ipv4.ping_group_range), which
    # test_podman_default_sysctl covers on its own: one failure names one cause.
    conf = os.path.join(work, "containers.conf")
    with open(conf, "w") as f:
        f.write("[containers]\ndefault_sysctls = []\n")
    env = dict(os.environ, CONTAINERS_CONF=conf)

    def podman(*args, timeout=hullcli.CREATE_TIMEOUT, default_conf=False, **kw):
        kw.setdefault("env", os.environ if default_conf else env)
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(base + list(args), timeout=timeout, **kw)

    h.podman = podman
    yield h
    podman("rm", "--all", "--force", "--time", "0", timeout=300)
    podman("rmi", "--all", "--force", timeout=300)
    h.cleanup()


def nothing_left(h):
    assert h.podman("ps", "--all", "--quiet").stdout.strip() == ""
    assert hullcli.wait_empty(h.root) == hullcli.EMPTY_INVENTORY


def test_podman_run_rm_prints_output_and_exit_code(pod):
    p = pod.podman("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "echo hello-from-the-vm; exit 3")
    assert p.returncode == 3, p.stderr
    assert p.stdout == "hello-from-the-vm\n"
    nothing_left(pod)


def test_podman_run_interactive_stdin_reaches_the_container(pod):
    p = pod.podman("run", "--rm", "-i", "--network", "none", IMAGE, "sh", "-c", "read x; echo got $x",
                   input="piped-through-conmon\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "got piped-through-conmon\n"
    nothing_left(pod)


def test_podman_run_guest_kernel_is_not_the_hosts(pod):
    p = pod.podman("run", "--rm", "--network", "none", IMAGE, "uname", "-r")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() and p.stdout.strip() != os.uname().release
    nothing_left(pod)


def test_podman_exec_stop_rm_leave_nothing(pod):
    p = pod.podman("run", "-d", "--name", "pe1", "--network", "none", IMAGE, "sleep", "1000")
    assert p.returncode == 0, p.stderr
    try:
        st = pod.podman("inspect", "--format", "{{.State.Status}}", "pe1")
        assert st.stdout.strip() == "running", st.stderr
        e = pod.podman("exec", "pe1", "sh", "-c", "echo exec-works; exit 4")
        assert e.returncode == 4, e.stderr
        assert e.stdout == "exec-works\n"
        assert pod.podman("exec", "pe1", "cat", "/proc/1/cmdline").stdout.startswith("sleep")
        s = pod.podman("stop", "--time", "2", "pe1")
        assert s.returncode == 0, s.stderr
        assert pod.podman("inspect", "--format", "{{.State.Status}}", "pe1").stdout.strip() in ("exited",
                                                                                               "stopped")
        r = pod.podman("rm", "pe1")
        assert r.returncode == 0, r.stderr
    finally:
        pod.podman("rm", "--force", "--time", "0", "pe1")
    nothing_left(pod)


def test_podman_default_sysctl(pod):
    """podman's containers.conf sets net.ipv4.ping_group_range in every container: runc writes sysctls before it
    makes /proc/sys read-only, and so must the guest agent."""
    p = pod.podman("run", "--rm", "--network", "none", IMAGE, "cat", "/proc/sys/net/ipv4/ping_group_range",
                   default_conf=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0", "0"]
    nothing_left(pod)
