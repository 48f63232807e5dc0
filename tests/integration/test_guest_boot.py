"""hull's guest: the initramfs the builder makes (hull-agent as /init, the kernel modules in dependency order), and
a boot under QEMU TCG (microvm, virtio-serial channel) to hull-agent's ready line and a host connection; and both
guest kernels (hull's trimmed kernel with the agent-only initramfs, Debian's cloud kernel with the module initramfs)
booted to a healthy agent that runs a container."""
import gzip
import os
import re
import struct
import time

import pytest

import agentctl
import guestvm


def read_newc(data):
    """{name: (mode, rdev_major, rdev_minor, bytes)} of a newc cpio archive, up to its trailer."""
    entries, off = {}, 0
    while True:
        assert data[off : off + 6] == b"070701", "bad cpio magic at %d" % off
        f = [int(data[off + 6 + 8 * i : off + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rmaj, rmin, namesize = f[1], f[6], f[9], f[10], f[11]
        off += 110
        name = data[off : off + namesize - 1].decode()
        off = (off + namesize + 3) & ~3
        if name == "TRAILER!!!":
            return entries
        entries[name] = (mode, rmaj, rmin, data[off : off + size])
        off = (off + size + 3) & ~3


@pytest.fixture(scope="module")
def assets(build_dir):
    found = guestvm.guest_assets(build_dir)
    if not found:
        pytest.skip("guest assets not built in %s/guest (a sanitizer build has none)" % build_dir)
    return found


@pytest.fixture(scope="module")
def vm(assets, tmp_path_factory):
    if not guestvm.qemu_binary():
        pytest.skip("qemu-system-x86_64 is not installed")
    kernel, initrd = assets
    # A verbose console: when a boot fails, the test's message shows how far it got.
    guest = guestvm.GuestVM(kernel, initrd, tmp_path_factory.mktemp("guest"), append="agent.log=debug")
    yield guest
    guest.stop()


def test_initrd_has_agent_as_init_and_modules_in_dependency_order(assets):
    _, initrd = assets
    files = read_newc(gzip.decompress(initrd.read_bytes()))
    mode, _, _, init = files["init"]
    assert init[:4] == b"\x7fELF" and mode & 0o111, "/init is not an executable ELF"
    assert b"PT_INTERP" not in init and b"/lib64/ld-linux" not in init, "/init is not static"
    mode, major, minor, _ = files["dev/console"]
    assert (mode & 0o170000, major, minor) == (0o020000, 5, 1)
    lists = [n for n in files if n.endswith("/modules.hull")]
    assert len(lists) == 1
    kdir = lists[0].rsplit("/", 1)[0]
    order = files[lists[0]][3].decode().split()
    for name in order:
        assert kdir + "/" + name + ".ko" in files, "%s listed but not in the initramfs" % name
    for wanted in ("virtio_mmio", "virtio_pci", "virtio_console", "virtio_blk", "virtio_net", "virtiofs", "fuse",
                   "vsock", "vmw_vsock_virtio_transport", "vmw_vsock_virtio_transport_common", "overlay", "erofs"):
        assert wanted in order
    # Dependencies load first: the builder read each module's .modinfo "depends=".
    for before, after in (("virtio", "virtio_mmio"), ("virtio_ring", "virtio_console"), ("fuse", "virtiofs"),
                          ("vsock", "vmw_vsock_virtio_transport_common"),
                          ("vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport")):
        assert order.index(before) < order.index(after), "%s must load before %s" % (before, after)
    # Nothing else in the guest: no shell, no busybox.
    assert not any(n.startswith(("bin/", "sbin/", "usr/")) for n in files)


def test_guest_boots_to_agent_ready_line_with_modules(vm):
    _, m = vm.wait_for(r"hull-agent\[1\] info: ready: channel=(\S+) \((\S+)\) uptime=([0-9.]+)s modules=\[(.*)\]")
    assert m.group(1) == "serial://agent.channel.0"
    assert re.fullmatch(r"serial:vport\d+p\d+", m.group(2))
    loaded = m.group(4).split()
    for wanted in ("virtio_mmio", "virtio_console", "virtiofs", "vsock", "vmw_vsock_virtio_transport", "overlay",
                   "erofs"):
        assert wanted in loaded
    console = vm.console()
    assert "failed to load" not in console
    assert "Kernel panic" not in console
    print("guest reached the agent's ready line at %.3fs kernel uptime" % float(m.group(3)))


def ttrpc_health_check(conn, stream_id):
    """Send grpc.Health/Check as a raw ttrpc request and return the HealthCheckResponse payload."""

    def field_bytes(num, data):
        return bytes([num << 3 | 2, len(data)]) + data

    req = field_bytes(1, b"grpc.Health") + field_bytes(2, b"Check") + field_bytes(3, b"")
    conn.sendall(struct.pack(">IIBB", len(req), stream_id, 1, 0) + req)
    header = recv_exact(conn, 10)
    length, sid, mtype, _flags = struct.unpack(">IIBB", header)
    assert (sid, mtype) == (stream_id, 2), "not the response to our request"
    body = recv_exact(conn, length)
    # Response{status=1 (absent: OK), payload=2}: the payload is the last field here.
    assert body[0] == (2 << 3 | 2), "response carries a status, not a payload: %r" % body
    return body[2 : 2 + body[1]]


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        assert chunk, "agent closed the channel"
        data += chunk
    return data


def test_agent_answers_health_check_and_serves_again_after_reconnect(vm):
    start, _ = vm.wait_for(r"info: ready: ")
    for attempt in range(2):
        conn = vm.connect()
        start, _ = vm.wait_for(r"info: channel serial:vport\d+p\d+: host connected", timeout=60, start=start + 1)
        # HealthCheckResponse{status: SERVING (1)}
        assert ttrpc_health_check(conn, 1 + 2 * attempt) == b"\x08\x01"
        conn.close()
        # The agent sees the hang-up and reopens the port for the next host connection.
        start, _ = vm.wait_for(r"info: channel: host disconnected", timeout=60, start=start + 1)


def test_hull_image_build_reproduces_the_build_trees_initrd(assets, hull_bin, tmp_path):
    """`hull image build` runs the same builder as `make`: from the same agent and kernel, the same bytes."""
    import subprocess

    _, initrd = assets
    proc = subprocess.run([hull_bin, "image", "build", "--output", str(tmp_path)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=600)
    assert proc.returncode == 0, proc.stdout.decode()
    assert re.search(rb"hull-initrd.img: \d+ bytes", proc.stdout)
    assert (tmp_path / "hull-initrd.img").read_bytes() == initrd.read_bytes()
    assert (tmp_path / "vmlinuz").read_bytes() == (initrd.parent / "vmlinuz").read_bytes()


def test_hull_image_build_kernel_gives_the_trimmed_kernel_and_agent_only_initrd(build_dir, hull_bin, tmp_path):
    """`hull image build --kernel` also runs guest/kernel/build.sh (from the per-machine cache when built before)
    and makes the agent-only initramfs: the same bytes as the build tree's."""
    import subprocess

    kernels = guestvm.guest_kernels(build_dir)
    if "hull" not in kernels:
        pytest.skip("trimmed kernel not built in %s/guest" % build_dir)
    proc = subprocess.run([hull_bin, "image", "build", "--kernel", "--output", str(tmp_path)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=1800)
    assert proc.returncode == 0, proc.stdout.decode()
    guest = build_dir / "guest"
    for name in ("vmlinuz-hull", "vmlinux-hull", "hull-initrd-agent.img", "vmlinuz", "hull-initrd.img"):
        assert (tmp_path / name).read_bytes() == (guest / name).read_bytes(), name


def test_agent_only_initrd_holds_the_agent_and_no_modules(build_dir):
    kernels = guestvm.guest_kernels(build_dir)
    if "hull" not in kernels:
        pytest.skip("trimmed kernel not built in %s/guest (meson -Dguest_kernel=debian, or no kernel source)" % build_dir)
    files = read_newc(gzip.decompress(kernels["hull"][1].read_bytes()))
    mode, _, _, init = files["init"]
    assert init[:4] == b"\x7fELF" and mode & 0o111
    assert files["dev/console"][1:3] == (5, 1)
    assert not any(n.startswith("lib/") for n in files), "the trimmed kernel has no modules: %s" % sorted(files)
    assert not any(n.startswith(("bin/", "sbin/", "usr/")) for n in files)


@pytest.fixture(scope="module", params=["hull", "debian"])
def kernel_guest(request, build_dir, hull_bin, tmp_path_factory):
    """A guest booted on one of the two kernels, with a busybox rootfs shared through virtio-fs and a sandbox."""
    kernels = guestvm.guest_kernels(build_dir)
    if request.param not in kernels:
        pytest.skip("%s guest kernel not built in %s/guest" % (request.param, build_dir))
    for need in (guestvm.qemu_binary(), guestvm.VIRTIOFSD, agentctl.BUSYBOX):
        if not need or not os.path.exists(need):
            pytest.skip("missing %s" % need)
    kernel, initrd = kernels[request.param]
    tmp = tmp_path_factory.mktemp("kernel-" + request.param)
    shared = tmp / "shared"
    agentctl.make_busybox_rootfs(str(shared / "rootfs"))
    vm = guestvm.GuestVM(kernel, initrd, tmp, append="agent.log=debug", shared_dir=shared)
    vm.kernel_name = request.param
    try:
        _, vm.ready = vm.wait_for(r"hull-agent\[1\] info: ready: channel=(\S+) \((\S+)\) uptime=([0-9.]+)s "
                                  r"modules=\[(.*)\]")
        vm.ctl = agentctl.AgentCtl(hull_bin, "unix://" + vm.channel_path, timeout=300)
        assert vm.ctl.ok("Check") == {"status": "SERVING"}
        vm.health_after = time.monotonic() - vm.started
        yield vm
    finally:
        if getattr(vm, "ctl", None):
            vm.ctl.close()
        vm.stop()


def test_both_kernels_boot_to_a_healthy_agent_and_run_a_container(kernel_guest):
    vm, ctl = kernel_guest, kernel_guest.ctl
    loaded = vm.ready.group(4).split()
    if vm.kernel_name == "hull":
        # Everything is built in: the agent-only initramfs has no module list and nothing is loaded.
        assert loaded == []
    else:
        for wanted in ("virtio_mmio", "virtio_console", "virtiofs", "overlay"):
            assert wanted in loaded
    assert "failed to load" not in vm.console()
    ctl.ok("CreateSandbox", {"sandbox_id": "sb-" + vm.kernel_name, "hostname": "hull-guest", "storages": [
        {"driver": "virtio-fs", "source": "hullfs", "fstype": "virtiofs", "mount_point": "/run/hull/shared"}]})
    s = agentctl.spec("/run/hull/shared/rootfs", ["sh", "-c", "echo hello from $(hostname); cat /proc/version; exit 7"],
                      hostname="c-" + vm.kernel_name)
    ctl.ok("CreateContainer", {"container_id": "c1", "OCI": s})
    ctl.ok("StartContainer", {"container_id": "c1"})
    out = ctl.read_all("c1").decode()
    assert out.startswith("hello from c-%s\nLinux version " % vm.kernel_name), out
    # The container runs on the kernel booted: Debian's says "-cloud-amd64", hull's was built by "hull@hull".
    assert ("hull@hull" in out) == (vm.kernel_name == "hull"), out
    assert ctl.ok("WaitProcess", {"container_id": "c1"}) == {"status": 7}
    ctl.ok("RemoveContainer", {"container_id": "c1"})
    rss = guestvm.qemu_rss_kib(vm.proc.pid)
    print("%s kernel: agent ready at %.2fs kernel uptime, Health.Check %.2fs after QEMU start, QEMU peak RSS %s KiB"
          % (vm.kernel_name, float(vm.ready.group(3)), vm.health_after, rss))
