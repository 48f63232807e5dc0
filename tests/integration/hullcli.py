"""Drive the `hull` OCI runtime CLI in the integration tests: a private --root and a configuration written from the
build tree's configuration-qemu.toml (keys can be changed), plus an inventory of what a sandbox leaves on the host
(processes, mounts, unix sockets, state directories) so that tests can check that nothing is left.

    h = hullcli.Hull(hull_bin, build_dir, tmp_path)             # tmp_path/root, tmp_path/configuration.toml
    h.run("run", "-b", bundle, "c1")                              # subprocess.CompletedProcess (text)
    before = h.inventory(); ...; assert h.inventory() == before
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

QEMU = shutil.which("qemu-system-x86_64")
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
# Create boots a VM under TCG on a shared 2-core machine: minutes in the worst case, seconds normally.
CREATE_TIMEOUT = 300


def config_text(build_dir, changes=None):
    """The build tree's configuration-qemu.toml with some keys changed: changes = {"section": {"key": value}},
    value a Python str/int/bool/list (written as TOML); a key not in the section is appended to it."""
    src = (build_dir / "configs" / "configuration-qemu.toml").read_text()
    changes = {s: dict(kv) for s, kv in (changes or {}).items()}

    def toml(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(toml(x) for x in v) + "]"
        return json.dumps(str(v))

    out, section = [], None

    def flush(sec):
        for k, v in changes.pop(sec, {}).items():
            out.append("%s = %s" % (k, toml(v)))

    for line in src.splitlines():
        m = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if m:
            flush(section)
            section = m.group(1)
        else:
            m = re.match(r"^\s*([A-Za-z0-9_]+)\s*=", line)
            if m and section in changes and m.group(1) in changes[section]:
                line = "%s = %s" % (m.group(1), toml(changes[section].pop(m.group(1))))
        out.append(line)
    flush(section)
    for sec, kv in changes.items():
        out.append("[%s]" % sec)
        for k, v in kv.items():
            out.append("%s = %s" % (k, toml(v)))
    return "\n".join(out) + "\n"


def short_tmpdir(prefix="hull-t-"):
    """A short directory under /tmp: <root>/<id>/monitor.sock and friends must fit in a unix socket path."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


class Hull:
    def __init__(self, hull_bin, build_dir, workdir, changes=None):
        self.bin = hull_bin
        self.build_dir = build_dir
        self.workdir = str(workdir)
        self.root = os.path.join(self.workdir, "root")
        self.config = os.path.join(self.workdir, "configuration.toml")
        with open(self.config, "w") as f:
            f.write(config_text(build_dir, changes))

    def argv(self, *args):
        return [self.bin, "--root", self.root, "--config", self.config] + [str(a) for a in args]

    def run(self, *args, timeout=CREATE_TIMEOUT, input=None):
        """Run hull to its end; stdout and stderr go through files, not pipes: a container made by `create` or
        `run -d` keeps them (the monitor holds the same open files), as runc's container would, so a pipe's reader
        would wait for the container's end."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            kw = {"input": input.encode()} if input is not None else {"stdin": subprocess.DEVNULL}
            p = subprocess.run(self.argv(*args), timeout=timeout, stdout=out, stderr=err, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout = out.read().decode(errors="replace")
            p.stderr = err.read().decode(errors="replace")
        return p

    def ok(self, *args, **kw):
        p = self.run(*args, **kw)
        assert p.returncode == 0, "hull %s failed (%d): %s%s" % (" ".join(map(str, args)), p.returncode, p.stdout,
                                                                   p.stderr)
        return p

    def popen(self, *args, **kw):
        return subprocess.Popen(self.argv(*args), **kw)

    def state(self, cid):
        return json.loads(self.ok("state", cid).stdout)

    def wait_status(self, cid, status, timeout=60):
        """Poll `hull state` until the status is reached (a container still being made may not exist yet)."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.run("state", cid)
            now = json.loads(p.stdout)["status"] if p.returncode == 0 else p.stderr.strip()
            if now == status:
                return json.loads(p.stdout)
            assert time.monotonic() < deadline, "container %s: %s, never %s" % (cid, now, status)
            time.sleep(0.2)

    def ids(self):
        try:
            return sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []

    def cleanup(self):
        """Delete every container left under the root (a failed test), then kill whatever still mentions the root."""
        for cid in self.ids():
            try:
                self.run("delete", "--force", cid, timeout=120)
            except subprocess.TimeoutExpired:
                pass
        for pid, _ in processes_mentioning(self.root):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)

    def inventory(self):
        return inventory(self.root)


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def processes_mentioning(text):
    """(pid, cmdline) of the live processes whose command line contains text (our root, our sockets), zombies too."""
    found = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        cmd = _cmdline(int(d))
        if cmd and text in cmd:
            found.append((int(d), cmd.strip()))
        elif cmd == "":
            # A zombie has no command line: count it when its parent is one of ours is not knowable; skip.
            pass
    return sorted(found)


def kind_of(cmdline):
    base = os.path.basename(cmdline.split(" ", 1)[0])
    if "qemu" in base:
        return "qemu"
    if "virtiofsd" in base:
        return "virtiofsd"
    if "hull" in base:
        return "hull"
    return base


def inventory(root):
    """What a sandbox under root would leave on the host: processes (hull, QEMU, virtiofsd whose command line names
    the root), mounts under the root (host mount table), unix sockets bound under the root, state directories."""
    procs = {}
    for _, cmd in processes_mentioning(root):
        k = kind_of(cmd)
        procs[k] = procs.get(k, 0) + 1
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(line.split()[4] for line in f if line.split()[4].startswith(root))
    with open("/proc/net/unix") as f:
        sockets = sorted(line.split()[-1] for line in f.readlines()[1:]
                         if len(line.split()) >= 8 and line.split()[-1].startswith(root))
    try:
        dirs = sorted(os.listdir(root))
    except FileNotFoundError:
        dirs = []
    return {"processes": procs, "mounts": mounts, "sockets": sockets, "state_dirs": dirs}


EMPTY_INVENTORY = {"processes": {}, "mounts": [], "sockets": [], "state_dirs": []}


def wait_empty(root, timeout=30):
    """Wait (bounded) until nothing of root is left; return the last inventory."""
    deadline = time.monotonic() + timeout
    while True:
        inv = inventory(root)
        if inv == EMPTY_INVENTORY or time.monotonic() > deadline:
            return inv
        time.sleep(0.2)


def recv_fd(sock):
    """Receive one fd sent with SCM_RIGHTS (runc's --console-socket protocol)."""
    import array
    import socket
    fds = array.array("i")
    msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    assert len(fds) == 1, "no fd in the console socket message (%r)" % (msg,)
    return fds[0]


def read_until_eof(fd, timeout=120, limit=1 << 20):
    """Read a pty master until EOF/EIO (its slave side closed) or timeout; bounded."""
    import select
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out
