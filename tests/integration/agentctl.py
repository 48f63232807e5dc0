"""Helpers to drive a hull agent with `hull agent-ctl`: calls as (method, request) pairs, replies as dicts, all on
one connection; and an OCI spec for a busybox rootfs."""
import base64
import json
import os
import select
import shutil
import subprocess
import time

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "sleep", "true", "mkdir", "touch", "id", "ls", "grep", "hostname", "test", "tr", "wc", "head",
           "date")


def make_busybox_rootfs(path):
    """A minimal rootfs from Debian's busybox-static: /bin/busybox and its applets as symlinks."""
    for d in ("bin", "proc", "dev", "tmp", "etc", "sys"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(path, 0o755)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        link = os.path.join(path, "bin", a)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    return path


def busybox_guest(build_dir, workdir, **kw):
    """The shipped configurations' guest (guestvm.default_guest) booted with a busybox rootfs under its shared
    directory (<workdir>/shared/rootfs) and the agent at debug level; skips the test when something is missing.
    Keyword arguments go to guestvm.GuestVM."""
    import pytest
    import guestvm

    found = guestvm.default_guest(build_dir)
    if not found:
        pytest.skip("guest assets not built in %s/guest" % build_dir)
    for need in (guestvm.qemu_binary(), guestvm.VIRTIOFSD, BUSYBOX):
        if not need or not os.path.exists(need):
            pytest.skip("missing %s" % need)
    shared = workdir / "shared"
    make_busybox_rootfs(str(shared / "rootfs"))
    return guestvm.GuestVM(found[0], found[1], workdir, append="agent.log=debug", shared_dir=shared, **kw)


def spec(rootfs, args, terminal=False, readonly=False, seccomp=None, hostname="hull"):
    linux = {"Namespaces": [{"Type": t} for t in ("pid", "mount", "ipc", "uts")],
             "MaskedPaths": ["/proc/kcore"], "ReadonlyPaths": ["/proc/sys"]}
    if seccomp:
        linux["Seccomp"] = seccomp
    return {
        "Process": {"Args": list(args), "Env": ["PATH=/bin"], "Cwd": "/", "Terminal": terminal,
                    "NoNewPrivileges": True},
        "Root": {"Path": rootfs, "Readonly": readonly},
        "Hostname": hostname,
        "Mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
        ],
        "Linux": linux,
    }


def process(args, terminal=False):
    return {"Args": list(args), "Env": ["PATH=/bin"], "Cwd": "/", "Terminal": terminal}


class AgentCtl:
    """One long-lived `hull agent-ctl -` process: one connection for every call, as the shim keeps one."""

    def __init__(self, hull_bin, addr, timeout=120):
        self.hull_bin = hull_bin
        self.addr = addr
        self.timeout = timeout
        self.ctl_proc = None
        self.pending = b""

    def _ensure(self):
        if self.ctl_proc is None or self.ctl_proc.poll() is not None:
            self.pending = b""
            self.ctl_proc = subprocess.Popen(
                [self.hull_bin, "agent-ctl", "--addr", self.addr, "--timeout", str(self.timeout), "-"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return self.ctl_proc

    def close(self):
        if self.ctl_proc:
            self.ctl_proc.stdin.close()
            try:
                self.ctl_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.ctl_proc.kill()
                self.ctl_proc.wait()
            self.ctl_proc.stdout.close()
            self.ctl_proc.stderr.close()
            self.ctl_proc = None

    def _readline(self, deadline):
        # Our own line buffer over os.read(): select() knows nothing of a buffered reader's data.
        proc = self.ctl_proc
        while b"\n" not in self.pending:
            ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                self.close()
                raise AssertionError("agent-ctl gave no reply within %ss" % self.timeout)
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                err = proc.stderr.read().decode()
                self.ctl_proc = None
                raise AssertionError("agent-ctl ended: %s" % err)
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def batch(self, calls, call_timeout=None):
        """[(method, request dict)] -> [reply dict] (errors as {"error":..., "code":...})."""
        proc = self._ensure()
        script = "".join("%s %s\n" % (m, json.dumps(r, separators=(",", ":"))) for m, r in calls)
        proc.stdin.write(script.encode())
        proc.stdin.flush()
        deadline = time.monotonic() + self.timeout * max(1, len(calls))
        return [self._readline(deadline) for _ in calls]

    def call(self, method, request=None, call_timeout=None):
        return self.batch([(method, request or {})])[0]

    def ok(self, method, request=None, call_timeout=None):
        reply = self.call(method, request)
        assert "error" not in reply, "%s failed: %s" % (method, reply)
        return reply

    def read_all(self, cid, eid="", stream="ReadStdout", batch=8, limit=12):
        """Everything a process writes to one stream, until EOF."""
        data = b""
        for _ in range(limit):
            replies = self.batch([(stream, {"container_id": cid, "exec_id": eid, "len": 65536})] * batch)
            for reply in replies:
                assert "error" not in reply, "%s failed: %s" % (stream, reply)
                if not reply.get("data"):
                    return data
                data += base64.b64decode(reply["data"])
        raise AssertionError("no EOF on %s of %s/%s after %d reads" % (stream, cid, eid, batch * limit))
