"""A private containerd for tests, demos and benchmarks: its own root, state, sockets and config under a temporary
directory, the shim's build directory first on PATH (containerd finds `containerd-shim-hull-v2` there for the
runtime io.containerd.hull.v2), and every shim it starts keeping its state under <tmp>/shim (HULL_SHIM_ROOT,
inherited from containerd's environment).

    with Containerd(tmp, shim_dir=build/"src/shim", env={"HULL_CONF_FILE": conf}) as c:
        c.ctr("run", "--rm", "--runtime", RUNTIME, image, "c1", "echo", "hi")

stop() ends containerd and whatever it left (shims and their VMMs, found by the HULL_SHIM_ROOT they inherited), so
a failing test leaves nothing running. leftovers() lists what a test should not have left.
"""
import contextlib
import os
import shutil
import signal
import subprocess
import time

RUNTIME = "io.containerd.hull.v2"
NAMESPACE = "hulltest"
START_TIMEOUT = 30


class Containerd:
    def __init__(self, tmp, shim_dir=None, env=None, namespace=NAMESPACE, debug=True):
        self.tmp = os.path.abspath(str(tmp))
        os.makedirs(self.tmp, exist_ok=True)
        self.sock = os.path.join(self.tmp, "containerd.sock")
        self.shim_root = os.path.join(self.tmp, "shim")
        self.namespace = namespace
        self.log_path = os.path.join(self.tmp, "containerd.log")
        self.config = os.path.join(self.tmp, "config.toml")
        with open(self.config, "w") as f:
            f.write('version = 2\nroot = "%s/root"\nstate = "%s/state"\n' % (self.tmp, self.tmp))
            # CRI is not needed (ctr drives containerd directly) and slows the start.
            f.write('disabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
            f.write('[grpc]\n  address = "%s"\n[ttrpc]\n  address = "%s.ttrpc"\n' % (self.sock, self.sock))
            f.write('[debug]\n  level = "%s"\n' % ("debug" if debug else "info"))
        self.env = dict(os.environ)
        self.env["PATH"] = ((str(shim_dir) + os.pathsep) if shim_dir else "") + self.env.get("PATH", "/usr/bin:/bin")
        self.env["HULL_SHIM_ROOT"] = self.shim_root
        self.env.update(env or {})
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["containerd", "--config", self.config], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("containerd exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.sock):
                r = subprocess.run(self.ctr_argv("version"), capture_output=True, timeout=10)
                if r.returncode == 0:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("containerd did not answer within %d s:\n%s" % (START_TIMEOUT, self.log_tail()))
            time.sleep(0.05)

    def ctr_argv(self, *args):
        return ["ctr", "--address", self.sock, "--namespace", self.namespace] + [str(a) for a in args]

    def ctr(self, *args, timeout=120, check=True, input=None, **kw):
        """Run ctr; returns the CompletedProcess (text). check: raise with ctr's and containerd's output."""
        r = subprocess.run(self.ctr_argv(*args), capture_output=True, text=True, timeout=timeout, input=input,
                           env=self.env, **kw)
        if check and r.returncode != 0:
            raise AssertionError("ctr %s: exit %d\nstdout: %s\nstderr: %s\ncontainerd log:\n%s" % (
                " ".join(map(str, args)), r.returncode, r.stdout, r.stderr, self.log_tail()))
        return r

    def popen(self, *args, **kw):
        return subprocess.Popen(self.ctr_argv(*args), env=self.env, **kw)

    def log_tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def tasks(self):
        out = self.ctr("task", "ls", "-q", check=False).stdout
        return [line for line in out.split() if line]

    def containers(self):
        out = self.ctr("containers", "ls", "-q", check=False).stdout
        return [line for line in out.split() if line]

    def remove_all(self):
        """Kill and delete every task and container (a failing test's leftovers), bounded."""
        for t in self.tasks():
            self.ctr("task", "kill", "-s", "SIGKILL", t, check=False, timeout=30)
        for t in self.tasks():
            self.ctr("task", "delete", "-f", t, check=False, timeout=60)
        for c in self.containers():
            self.ctr("containers", "delete", c, check=False, timeout=60)

    def processes(self):
        """(pid, comm) of live processes that carry this instance's HULL_SHIM_ROOT: its shims and their children
        (VMM, virtiofsd), never containerd itself."""
        marker = ("HULL_SHIM_ROOT=%s" % self.shim_root).encode()
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or (self.proc and int(d) == self.proc.pid):
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
                if stat[stat.rindex(")") + 2] == "Z":
                    continue
                with open("/proc/%s/environ" % d, "rb") as f:
                    env = f.read().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            if marker in env:
                found.append((int(d), stat[stat.index("(") + 1:stat.rindex(")")]))
        return found

    def mounts(self):
        """Mount points under this instance's directory in the host's mount table (hull mounts a container's rootfs
        in the shim's private mount namespace; runc's shim mounts it in the bundle while the task lives)."""
        with open("/proc/self/mountinfo") as f:
            return [line.split()[4] for line in f if line.split()[4].startswith(self.tmp + "/")]

    def state_left(self):
        """Files and directories the shims left under HULL_SHIM_ROOT (the socket directory itself is shared)."""
        sockets = os.path.join(self.shim_root, "s")
        left = []
        for dirpath, dirnames, filenames in os.walk(self.shim_root):
            left += [os.path.join(dirpath, n) for n in filenames]
            left += [os.path.join(dirpath, n) + "/" for n in dirnames if os.path.join(dirpath, n) != sockets]
        return sorted(left)

    def leftovers(self, wait=10.0):
        """What should be gone after a test: tasks, containers, shim processes, mounts, state. The shim exits
        right after the last delete, so this waits a little for it."""
        deadline = time.monotonic() + wait
        while True:
            left = {"tasks": self.tasks(), "containers": self.containers(), "processes": self.processes(),
                    "mounts": self.mounts(), "state": self.state_left()}
            if not any(left.values()) or time.monotonic() > deadline:
                return {k: v for k, v in left.items() if v}
            time.sleep(0.1)

    def shim_pids(self):
        return [pid for pid, comm in self.processes() if comm.startswith("containerd-shim")]

    def restart(self):
        """Stop containerd alone (SIGTERM; it leaves its shims running, as a service restart does) and start it
        again on the same root, state and sockets."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        self.logf.close()
        self.start()

    def stop(self):
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.remove_all()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Whatever the shims left (a failed test): shims first, then their children.
        for _ in range(2):
            for pid, _comm in self.processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        for m in sorted(self.mounts(), reverse=True):
            subprocess.run(["umount", "-l", m], check=False)
        self.logf.close()
        self.proc = None


@contextlib.contextmanager
def with_busybox(tmp, shim, conf):
    """A private containerd whose hull runtime uses the shim binary shim and the configuration conf, with the busybox
    test image imported (c.image, c.conf); stopped, with whatever it left, at the end."""
    import images

    c = Containerd(tmp, shim_dir=shim.parent, env={"HULL_CONF_FILE": str(conf)})
    c.conf = conf
    c.start()
    try:
        c.image = images.import_busybox(c.ctr_argv())
        yield c
    finally:
        c.stop()


def copy_log(c, dest):
    """Keep containerd's log next to a failing test's output."""
    try:
        shutil.copy(c.log_path, dest)
    except OSError:
        pass
