"""A private containerd for the benchmarks (its own root, state and socket under the work directory, debug log to a
file) with the busybox image imported, and `ctr` against it; shims it started are killed at the end whatever
happened."""
import os
import re
import signal
import subprocess
import time

from .common import NA, cmdline, kill_tree

NAMESPACE = "hull-bench"
RUNC = "io.containerd.runc.v2"
HULL = "io.containerd.hull.v2"


class Containerd:
    def __init__(self, ctx, workdir):
        self.ctx = ctx
        self.dir = workdir
        self.sock = os.path.join(workdir, "containerd.sock")
        self.log_path = os.path.join(workdir, "containerd.log")
        self.proc = None
        self.image = None

    def start(self):
        import shutil
        if not shutil.which("containerd") or not shutil.which("ctr"):
            raise NA("containerd/ctr missing (scripts/deps.txt)")
        try:
            import images  # tests/integration/images.py
        except ImportError:
            raise NA("tests/integration/images.py (the busybox image) is missing")
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, "config.toml")
        with open(conf, "w") as f:
            f.write('version = 2\nroot = "%s/root"\nstate = "%s/state"\n'
                    'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                    '[grpc]\n  address = "%s"\n[ttrpc]\n  address = "%s.ttrpc"\n'
                    '[debug]\n  level = "debug"\n' % (self.dir, self.dir, self.sock, self.sock))
        env = dict(os.environ)
        # containerd finds containerd-shim-hull-v2 on its PATH; the shim reads the build's configuration.
        env["PATH"] = self.ctx.shim_dir + ":" + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        env["HULL_CONF_FILE"] = self.ctx.config_path
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["containerd", "--config", conf], stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while subprocess.run(self.ctr_argv("version"), capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("private containerd did not start: %s" % self.log_tail())
            time.sleep(0.1)
        self.image = images.import_busybox(self.ctr_argv())
        return self

    def log_tail(self, n=1500):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def log_offset(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def ctr_argv(self, *args):
        return ["ctr", "--address", self.sock, "--namespace", NAMESPACE] + list(args)

    def ctr(self, *args, timeout=300, check=True, stdout=subprocess.PIPE, **kw):
        p = subprocess.run(self.ctr_argv(*args), stdout=stdout, stderr=subprocess.PIPE, timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise RuntimeError("ctr %s: %s" % (" ".join(args[:3]), p.stderr.decode(errors="replace").strip()[-400:]))
        return p

    def run_args(self, runtime, cid, args, detach=False, mounts=()):
        a = ["run", "--runtime", runtime]
        a += ["-d"] if detach else ["--rm"]
        for m in mounts:
            a += ["--mount", m]
        return a + [self.image, cid] + list(args)

    def run(self, runtime, cid, args, detach=False, mounts=(), timeout=300):
        """Time `ctr run`; returns (seconds, stdout bytes)."""
        t0 = time.monotonic()
        p = self.ctr(*self.run_args(runtime, cid, args, detach, mounts), timeout=timeout)
        return time.monotonic() - t0, p.stdout

    def remove(self, cid):
        """Kill and delete a container (detached ones); quiet when it is already gone."""
        self.ctr("task", "kill", "-s", "SIGKILL", cid, check=False, timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            p = self.ctr("task", "delete", cid, check=False, timeout=60)
            err = p.stderr.decode(errors="replace")
            if p.returncode == 0 or "not found" in err:
                break
            time.sleep(0.1)
        self.ctr("container", "delete", cid, check=False, timeout=60)

    def shim_pid(self, cid, runtime):
        """The shim process serving a container (containerd-shim-<runtime>-v2 -namespace NS -id <id|sandbox>)."""
        name = b"containerd-shim-" + runtime.split(".")[-2].encode() + b"-" + runtime.split(".")[-1].encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            argv = cmdline(int(entry))
            if argv and argv[0].endswith(name) and b"-id" in argv and cid.encode() in argv:
                if b"-address" not in argv or self.sock.encode() in argv:
                    return int(entry)
        return None

    def our_shims(self):
        """Every shim process this containerd started (by its -address argument)."""
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                argv = cmdline(int(entry))
                if argv and b"containerd-shim" in argv[0] and self.sock.encode() in argv:
                    out.append(int(entry))
        return out

    def cleanup(self):
        """Remove every container left in our namespace, stop containerd, kill any shim it left, unmount."""
        if self.proc and self.proc.poll() is None:
            try:
                p = self.ctr("container", "list", "-q", check=False, timeout=30)
                for cid in p.stdout.decode().split():
                    self.remove(cid)
            except Exception:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.our_shims():
            kill_tree(pid)
        # Snapshot mounts of a container whose delete failed.
        try:
            with open("/proc/self/mountinfo") as f:
                points = [line.split()[4] for line in f]
            for mp in sorted((p for p in points if p.startswith(self.dir + "/")), key=len, reverse=True):
                subprocess.run(["umount", "-l", mp], capture_output=True)
        except OSError:
            pass


def shim_log_lines(text):
    """The hull JSON log lines ({"level","msg","time"}) in containerd's log, which carries the shims' output."""
    return re.findall(r'\{"level":"[a-z]+","msg":.*?"time":"[^"]+"\}', text)
