"""hull's trimmed guest kernel (guest/kernel/): its configuration holds every fragment option, and it
boots under QEMU TCG, through the bzImage and the PVH vmlinux, with virtio-mmio devices named on the
command line and with virtio-pci on q35; and Debian's cloud kernel boots the same init, when unpacked.

The kernel is built by `make kernel` (and by `make check` before the tests); without it these tests
are skipped with the reason.
"""
import pathlib
import shutil
import subprocess
import sys

import pytest

SOURCE_DIR = pathlib.Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(SOURCE_DIR / "guest" / "kernel" / "boottest"))
import boottest  # noqa: E402

# Generous for TCG on a loaded 2-core machine; a healthy boot takes 1-3 s.
BOOT_TIMEOUT = 90
NOT_QUIET = boottest.DEFAULT_APPEND.replace(" quiet", "")


@pytest.fixture(scope="module")
def kernel_dir(build_dir):
    d = build_dir / "guest"
    for name in ("vmlinuz-hull", "vmlinux-hull", "config-hull"):
        if not (d / name).is_file():
            pytest.skip(f"trimmed kernel not built: {d / name} is missing (run `make kernel`)")
    return d


@pytest.fixture(scope="module")
def initrd(tmp_path_factory):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    tmp = tmp_path_factory.mktemp("boottest")
    return boottest.make_initramfs(boottest.build_init(str(tmp)), str(tmp / "initrd.img"))


def parse_fragments(arch="x86_64"):
    """{option: value} from the fragments, "n" for `# CONFIG_X is not set`; later files win."""
    want = {}
    for f in sorted((SOURCE_DIR / "guest" / "kernel" / "configs" / arch).glob("*.conf")):
        for line in f.read_text().splitlines():
            if line.startswith("CONFIG_"):
                k, v = line.split("=", 1)
                want[k] = v
            elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
                want[line.split()[1]] = "n"
    return want


def parse_config(path):
    have = {}
    for line in path.read_text().splitlines():
        if line.startswith("CONFIG_"):
            k, v = line.split("=", 1)
            have[k] = v
    return have


def assert_booted(r, *expect):
    assert not r["timed_out"], "QEMU did not exit in %ds; console:\n%s" % (BOOT_TIMEOUT, r["console"][-3000:])
    assert r["status"] == 0, "QEMU exited %d: %s" % (r["status"], r["stderr"][-1000:])
    assert r["saw_line"], "init's line is missing; console:\n" + r["console"][-3000:]
    for text in expect:
        assert text in r["console"], "%r missing from the console:\n%s" % (text, r["console"][-3000:])


def test_config_holds_every_fragment_option(kernel_dir):
    want = parse_fragments()
    have = parse_config(kernel_dir / "config-hull")
    assert len(want) > 50
    lost = {k: (v, have.get(k, "n")) for k, v in want.items() if have.get(k, "n") != v}
    assert lost == {}, "options lost from the built kernel's config (stale build? run `make kernel`)"


def test_config_is_built_in_only(kernel_dir):
    have = parse_config(kernel_dir / "config-hull")
    assert "CONFIG_MODULES" not in have
    assert [k for k, v in have.items() if v == "m"] == []
    for k in ("CONFIG_VIRTIO_MMIO", "CONFIG_VIRTIO_PCI", "CONFIG_VIRTIO_VSOCKETS", "CONFIG_VIRTIO_FS", "CONFIG_PVH"):
        assert have.get(k) == "y", k


def test_bzimage_boots_and_powers_off(kernel_dir, initrd):
    r = boottest.boot(str(kernel_dir / "vmlinuz-hull"), initrd, timeout=BOOT_TIMEOUT)
    # "Power down" comes from the kernel's power-off path (ACPI S5 on microvm), not from a reset.
    assert_booted(r, "reboot: Power down")


def test_pvh_vmlinux_boots(kernel_dir, initrd):
    r = boottest.boot(str(kernel_dir / "vmlinux-hull"), initrd, timeout=BOOT_TIMEOUT)
    assert_booted(r, "reboot: Power down")


def test_virtio_mmio_device_from_command_line(kernel_dir, initrd, tmp_path):
    # acpi=off: QEMU names the virtio-mmio device on the kernel command line (virtio_mmio.device=),
    # as the built-in VMM and Firecracker do. Without ACPI the kernel cannot power off, so the init
    # resets the VM instead, and -no-reboot ends QEMU. microvm has no i8042, so the reset must be a
    # triple fault (reboot=t, which overrides the earlier reboot=k): the keyboard-controller attempt
    # falls back to jumping into the firmware, which boots the kernel again and QEMU never exits.
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    r = boottest.boot(str(kernel_dir / "vmlinuz-hull"), initrd, append=NOT_QUIET + " reboot=t hull_boottest=reset",
                      timeout=BOOT_TIMEOUT,
                      machine="microvm,x-option-roms=off,acpi=off",
                      extra_args=["-drive", "file=%s,if=none,id=d0,format=raw" % disk,
                                  "-device", "virtio-blk-device,drive=d0"])
    assert_booted(r, "virtio_mmio.device=", "[vda] 2048 512-byte logical blocks", "reboot: Restarting system")


def test_virtio_pci_on_q35(kernel_dir, initrd, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    r = boottest.boot(str(kernel_dir / "vmlinuz-hull"), initrd, append=NOT_QUIET, timeout=BOOT_TIMEOUT,
                      machine="q35", extra_args=["-drive", "file=%s,if=none,id=d0,format=raw" % disk,
                                                 "-device", "virtio-blk-pci,drive=d0"])
    assert_booted(r, "[vda] 2048 512-byte logical blocks", "reboot: Power down")


def test_cloud_kernel_boots_the_same_init(build_dir, initrd):
    # Debian's cloud kernel (guest/build-assets.py) stays the fallback: the same init, the same
    # command line, the same result.
    cloud = build_dir / "guest" / "vmlinuz"
    if not cloud.is_file():
        pytest.skip(f"Debian cloud kernel not unpacked: {cloud} is missing")
    r = boottest.boot(str(cloud), initrd, timeout=BOOT_TIMEOUT)
    assert_booted(r, "reboot: Power down")
