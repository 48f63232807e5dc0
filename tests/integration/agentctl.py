"""Helpers to drive a hull agent with `hull agent-ctl`: calls as (method, request) pairs, replies as dicts, one
connection per batch; and an OCI spec for a busybox rootfs."""
import base64
import json
import os
import shutil
import subprocess

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "sleep", "true", "mkdir", "touch", "id", "ls", "grep", "hostname", "test", "tr", "wc", "head")


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
    def __init__(self, hull_bin, addr, timeout=120):
        self.hull_bin = hull_bin
        self.addr = addr
        self.timeout = timeout

    def batch(self, calls, call_timeout=60):
        """[(method, request dict)] on one connection -> [reply dict] (errors as {"error":..., "code":...})."""
        script = "".join("%s %s\n" % (m, json.dumps(r, separators=(",", ":"))) for m, r in calls)
        proc = subprocess.run([self.hull_bin, "agent-ctl", "--addr", self.addr, "--timeout", str(call_timeout), "-"],
                              input=script.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=self.timeout)
        lines = proc.stdout.decode().splitlines()
        assert len(lines) == len(calls), "agent-ctl answered %d of %d calls (status %d): %s" % (
            len(lines), len(calls), proc.returncode, proc.stderr.decode())
        return [json.loads(line) for line in lines]

    def call(self, method, request=None, call_timeout=60):
        return self.batch([(method, request or {})], call_timeout)[0]

    def ok(self, method, request=None, call_timeout=60):
        reply = self.call(method, request, call_timeout)
        assert "error" not in reply, "%s failed: %s" % (method, reply)
        return reply

    def read_all(self, cid, eid="", stream="ReadStdout", limit=100):
        """Everything a process writes to one stream, until EOF."""
        data = b""
        for _ in range(limit):
            reply = self.ok(stream, {"container_id": cid, "exec_id": eid, "len": 65536})
            if not reply.get("data"):
                return data
            data += base64.b64decode(reply["data"])
        raise AssertionError("no EOF on %s of %s/%s after %d reads" % (stream, cid, eid, limit))
