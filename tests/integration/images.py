"""A busybox container image built locally (no registry): Debian's busybox-static as the rootfs, turned into an OCI
image layout by umoci and packed as an OCI archive that `ctr images import` takes.

    archive = images.busybox_archive()            # cached per busybox binary, built once
    subprocess.run(ctr + ["images", "import", "--base-name", images.BUSYBOX_REF_BASE, archive])
    # -> the image images.BUSYBOX_REF ("hull.test/busybox:latest")

Used by the containerd shim's integration tests, scripts/demo-containerd.sh and the benchmarks.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

BUSYBOX = "/bin/busybox"
BUSYBOX_REF_BASE = "hull.test/busybox"
BUSYBOX_REF = BUSYBOX_REF_BASE + ":latest"
DEFAULT_CACHE = os.environ.get("HULL_IMAGE_CACHE", "/var/tmp/hull-images")


def _busybox_digest():
    h = hashlib.sha256()
    with open(BUSYBOX, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _fill_rootfs(rootfs):
    """/bin/busybox, every applet it lists as a symlink in /bin, and the directories a container expects."""
    for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "var", "run"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout.split()
    for a in applets:
        link = os.path.join(rootfs, "bin", a)
        if a != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")


def build_busybox_archive(dest):
    """Build the image into the OCI archive dest (a tar of an OCI image layout whose index names the tag
    "latest"). Needs umoci; runs as root or not (--rootless)."""
    if shutil.which("umoci") is None:
        raise RuntimeError("umoci is missing (scripts/deps.txt)")
    with tempfile.TemporaryDirectory(prefix="hull-img-") as tmp:
        layout = os.path.join(tmp, "oci")
        bundle = os.path.join(tmp, "bundle")
        image = layout + ":latest"

        def umoci(*args):
            subprocess.run(["umoci"] + list(args), check=True, capture_output=True)

        umoci("init", "--layout", layout)
        umoci("new", "--image", image)
        umoci("unpack", "--rootless", "--image", image, bundle)
        _fill_rootfs(os.path.join(bundle, "rootfs"))
        umoci("repack", "--image", image, bundle)
        umoci("config", "--image", image, "--config.cmd", "/bin/sh", "--config.env", "PATH=/bin",
              "--config.workingdir", "/", "--os", "linux", "--architecture", "amd64")
        umoci("gc", "--layout", layout)
        tmp_dest = dest + ".tmp"
        with tarfile.open(tmp_dest, "w") as tar:
            for name in sorted(os.listdir(layout)):
                tar.add(os.path.join(layout, name), arcname=name)
        os.replace(tmp_dest, dest)
    return dest


def busybox_archive(cache_dir=DEFAULT_CACHE):
    """The busybox OCI archive, built once per busybox binary and kept in cache_dir."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, "busybox-%s.oci.tar" % _busybox_digest())
    if not os.path.isfile(path):
        build_busybox_archive(path)
    return path


def import_busybox(ctr_cmd, cache_dir=DEFAULT_CACHE):
    """Import the image with ctr_cmd (the `ctr` argv prefix, e.g. ["ctr", "--address", sock]); returns its ref."""
    subprocess.run(list(ctr_cmd) + ["images", "import", "--base-name", BUSYBOX_REF_BASE, busybox_archive(cache_dir)],
                   check=True, capture_output=True)
    return BUSYBOX_REF


if __name__ == "__main__":
    # `python3 tests/integration/images.py [DEST]`: print the path of the (built or cached) archive.
    print(build_busybox_archive(sys.argv[1]) if len(sys.argv) > 1 else busybox_archive())
