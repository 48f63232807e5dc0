"""hull's guest: the initramfs the builder makes (hull-agent as /init, the kernel modules in dependency order), and
a boot under QEMU TCG (microvm, virtio-serial channel) to hull-agent's ready line and a host connection."""
import gzip
import re
import struct

import pytest

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
