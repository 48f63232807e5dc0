"""The benchmarks' containerd: the tests' private containerd (tests/integration/ctrd.py: own root, state, sockets,
the build's shim first on PATH, HULL_SHIM_ROOT), debug log to a file, the busybox image of
tests/integration/images.py imported; timed `ctr run`, the shim process of a container, the shim's log lines."""
import os
import shutil
import subprocess
import time

from .common import NA, cmdline

NAMESPACE = "hull-bench"
RUNC = "io.containerd.runc.v2"
HULL = "io.containerd.hull.v2"


class Containerd:
    def __init__(self, ctx, workdir):
        self.ctx = ctx
        self.dir = workdir
        self.c = None
        self.image = None

    def start(self):
        if not shutil.which("containerd") or not shutil.which("ctr"):
            raise NA("containerd/ctr missing (scripts/deps.txt)")
        try:
            import ctrd  # tests/integration/ctrd.py
            import images  # tests/integration/images.py
        except ImportError as e:
            raise NA("tests/integration helper missing: %s" % e)
        self.c = ctrd.Containerd(self.dir, shim_dir=self.ctx.shim_dir, env={"HULL_CONF_FILE": self.ctx.run_config},
                                 namespace=NAMESPACE, debug=True)
        self.c.start()
        self.image = images.import_busybox(self.c.ctr_argv())
        return self

    @property
    def log_path(self):
        return self.c.log_path

    def log_offset(self):
        try:
            return os.path.getsize(self.c.log_path)
        except OSError:
            return 0

    def log_since(self, offset):
        with open(self.c.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def ctr_argv(self, *args):
        return self.c.ctr_argv(*args)

    def ctr(self, *args, timeout=300, check=True):
        p = subprocess.run(self.c.ctr_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           env=self.c.env)
        if check and p.returncode != 0:
            raise RuntimeError("ctr %s: %s" % (" ".join(args[:3]), p.stderr.decode(errors="replace").strip()[-300:]))
        return p

    def run(self, runtime, cid, args, detach=False, timeout=300):
        """Time `ctr run` (--rm, or -d); returns (seconds, stdout bytes)."""
        a = ["run", "--runtime", runtime] + (["-d"] if detach else ["--rm"]) + [self.image, cid] + list(args)
        t0 = time.monotonic()
        p = self.ctr(*a, timeout=timeout)
        return time.monotonic() - t0, p.stdout

    def remove(self, cid):
        """Kill and delete a (detached) container; quiet when it is already gone."""
        self.ctr("task", "kill", "-s", "SIGKILL", cid, check=False, timeout=60)
        self.ctr("task", "delete", "-f", cid, check=False, timeout=120)
        self.ctr("container", "delete", cid, check=False, timeout=60)

    def shim_pid(self, cid, runtime):
        """The shim process serving a container: containerd-shim-<name>-v2 ... -id <id> ... -address <ours>."""
        name = ("containerd-shim-%s-%s" % tuple(runtime.split(".")[-2:])).encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            argv = cmdline(int(entry))
            if argv and os.path.basename(argv[0]) == name and b"-id" in argv and cid.encode() in argv \
                    and self.c.sock.encode() in argv:
                return int(entry)
        return None

    def cleanup(self):
        if self.c:
            self.c.stop()

