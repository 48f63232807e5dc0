"""OCI bundles for the integration tests: a directory with config.json (runtime-spec 1.x, lowercase keys as runc
reads them) and a busybox rootfs built from Debian's busybox-static (no image, no registry).

    b = bundles.make_bundle(tmp_path / "b1", ["sh", "-c", "echo hi"])   # -> pathlib.Path of the bundle
    bundles.make_bundle(path, args, terminal=True, env=["A=1"], annotations={...}, mounts=[...], readonly=True,
                        netns="/var/run/netns/pod")

Used by the sandbox service's and the hull CLI's tests (and anything else that needs a bundle)."""
import json
import os
import pathlib
import shutil
import subprocess

BUSYBOX = "/bin/busybox"
DEFAULT_ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=xterm"]


def have_busybox():
    return os.path.exists(BUSYBOX)


def make_rootfs(rootfs):
    """/bin/busybox with every applet it lists as a symlink, /etc/passwd and group, the usual empty directories."""
    rootfs = pathlib.Path(rootfs)
    for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "run", "var", "mnt"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    os.chmod(rootfs, 0o755)
    os.chmod(rootfs / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout.split()
    for a in applets:
        link = rootfs / "bin" / a
        if a != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return rootfs


def default_mounts():
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755",
                                                                               "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
    ]


def spec(args, terminal=False, env=None, cwd="/", hostname="hull", readonly=False, annotations=None, mounts=None,
         netns=None):
    """A runtime-spec config.json document (a dict) for a rootfs at ./rootfs. netns: the path of an existing network
    namespace (a pod's, as CNI makes it) for the "network" entry; None: a fresh one (no path)."""
    caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
            "CAP_AUDIT_WRITE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": list(env) if env is not None else list(DEFAULT_ENV),
            "cwd": cwd,
            "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": readonly},
        "hostname": hostname,
        "mounts": default_mounts() + list(mounts or []),
        "annotations": dict(annotations or {}),
        "linux": {
            "namespaces": [dict({"type": t}, **({"path": str(netns)} if t == "network" and netns else {}))
                           for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def make_bundle(path, args, **kw):
    """Create the bundle directory path (rootfs + config.json); keyword arguments go to spec()."""
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    make_rootfs(path / "rootfs")
    write_config(path, spec(args, **kw))
    return path


def write_config(path, doc):
    (pathlib.Path(path) / "config.json").write_text(json.dumps(doc, indent=1))


def read_config(path):
    return json.loads((pathlib.Path(path) / "config.json").read_text())
