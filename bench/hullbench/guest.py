"""A hull sandbox driven piece by piece: hull's own QEMU driver (tests/helpers/hv-boot: the same command line,
virtiofsd, memfd guest RAM and sockets the sandbox service uses) and hull-agent through `hull agent-ctl` on one
long-lived connection, as the shim keeps one. Every step is timed on the host clock, so the start-time split
exists before (and independently of) the shim's and the monitor's debug logs."""
import base64
import os
import re
import select
import subprocess
import time

import agentctl  # tests/integration/agentctl.py

from .common import NA, kill_tree

SHARED = "/run/hull/shared"
# Every capability of Linux 6.1: a probe container reads the agent's /proc/1/smaps_rollup, which needs a permitted
# set that covers the agent's (ptrace access mode read).
ALL_CAPS = ["CAP_" + c for c in (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE "
    "NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT "
    "SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
    "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE").split()]  # where the agent mounts the sandbox's virtio-fs share (tag kataShared)
READY_RX = re.compile(r"hull-agent\S* (?:info: )?ready: .*uptime=([0-9.]+)s")
BOOT_TIMEOUT = 180


class AgentSandbox:
    """One VM + agent. start() -> ready() -> create_sandbox() -> containers ... -> stop(); close() always kills."""

    def __init__(self, ctx, workdir, name="bench", rootfs=True, kernel=None, initrd=None):
        self.ctx = ctx
        # The guest: the configuration's (ctx.kernel, ctx.initrd) unless another kernel is compared.
        self.kernel = kernel or ctx.kernel
        self.initrd = initrd or ctx.initrd
        self.workdir = workdir
        self.name = name
        self.state = os.path.join(workdir, "state")
        self.shared = os.path.join(workdir, "shared")
        os.makedirs(self.state, exist_ok=True)
        os.makedirs(self.shared, exist_ok=True)
        if rootfs:
            agentctl.make_busybox_rootfs(os.path.join(self.shared, "rootfs"))
        self.proc = None
        self.ctl = None
        self.buf = b""
        self.t = {}
        self.pids = []

    # hv-boot's line protocol ---------------------------------------------------------------------------------
    def _readline(self, deadline):
        while b"\n" not in self.buf:
            r, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def _command(self, cmd, prefix, timeout=60):
        self.proc.stdin.write((cmd + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            if line is None:
                raise RuntimeError("hv-boot: no answer to %r within %ss (%s)" % (cmd, timeout, self._stderr()))
            if line.startswith("error"):
                raise RuntimeError("hv-boot %s: %s" % (cmd, line))
            if line.startswith(prefix):
                return line

    def _stderr(self):
        try:
            with open(os.path.join(self.workdir, "hv-boot.stderr")) as f:
                return f.read()[-600:]
        except OSError:
            return ""

    def console(self):
        try:
            with open(os.path.join(self.state, "console.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # lifecycle ------------------------------------------------------------------------------------------------
    def start(self):
        """Launch hv-boot and start the VM; returns once QEMU answered QMP (hull's `start` contract)."""
        c = self.ctx
        args = [c.hv_boot, "--kernel", self.kernel, "--initrd", self.initrd, "--state-dir", self.state,
                "--shared-dir", self.shared, "--memory", str(c.memory_mib), "--accel", "tcg", "--channel", "serial",
                "--id", self.name, "--append", ""]
        self.t["begin"] = time.monotonic()
        stderr = open(os.path.join(self.workdir, "hv-boot.stderr"), "w")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        stderr.close()
        deadline = time.monotonic() + 30
        line = self._readline(deadline)
        if not line or not line.startswith("created"):
            raise RuntimeError("hv-boot did not create the VM: %s %s" % (line, self._stderr()))
        self._command("start", "started", timeout=60)
        self.t["vmm_up"] = time.monotonic()
        self.pids = [int(p) for p in self._command("pids", "pids").split()[1:]]
        return self

    def ready(self):
        """Wait for the agent's ready line on the console, then its first Health.Check answer."""
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            m = READY_RX.search(self.console())
            if m:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("no agent ready line; console tail: %s" % self.console()[-1500:])
            time.sleep(0.005)
        self.t["console_ready"] = time.monotonic()
        self.uptime_at_ready = float(m.group(1))
        self.ctl = agentctl.AgentCtl(self.ctx.hull, "unix://" + os.path.join(self.state, "agent.sock"), timeout=120)
        self.ctl.ok("Check")
        self.t["agent_ready"] = time.monotonic()
        return self

    def create_sandbox(self):
        self.ctl.ok("CreateSandbox", {"sandbox_id": self.name, "hostname": "bench", "storages": [
            {"driver": "virtio-fs", "source": "kataShared", "fstype": "virtiofs", "mount_point": SHARED}]})
        self.t["sandbox"] = time.monotonic()
        return self

    def spec(self, args, pidns=True):
        s = agentctl.spec(SHARED + "/rootfs", args)
        if not pidns:
            # Without its own pid namespace the container sees the agent as pid 1 (and may read its smaps).
            s["Linux"]["Namespaces"] = [n for n in s["Linux"]["Namespaces"] if n["Type"] != "pid"]
            s["Process"]["Capabilities"] = {k: list(ALL_CAPS) for k in ("Bounding", "Effective", "Permitted")}
        return s

    def run(self, cid, args, pidns=True, wait=True, stdout=False, stderr=False):
        """Create + start a container; with wait, read its output and wait for its exit. Records phase times."""
        self.ctl.ok("CreateContainer", {"container_id": cid, "OCI": self.spec(args, pidns)})
        self.t["create_" + cid] = time.monotonic()
        self.ctl.ok("StartContainer", {"container_id": cid})
        self.t["start_" + cid] = time.monotonic()
        if not wait:
            return None
        out = self.ctl.read_all(cid) if stdout else b""
        err = self.ctl.read_all(cid, stream="ReadStderr") if stderr else b""
        status = self.ctl.ok("WaitProcess", {"container_id": cid}).get("status", 0)
        self.t["exit_" + cid] = time.monotonic()
        return status, out, err

    def exec(self, cid, eid, args, stdout=False, stderr=False):
        """ExecProcess + WaitProcess; returns (status, stdout, stderr) (the streams read only when asked)."""
        self.ctl.ok("ExecProcess", {"container_id": cid, "exec_id": eid, "process": agentctl.process(args)})
        out = self.ctl.read_all(cid, eid) if stdout else b""
        err = self.ctl.read_all(cid, eid, stream="ReadStderr") if stderr else b""
        status = self.ctl.ok("WaitProcess", {"container_id": cid, "exec_id": eid}).get("status", 0)
        return status, out, err

    def health_rtt(self, calls):
        """Mean round trip of sequential grpc.Health/Check calls (agent-ctl sends the next once one is answered)."""
        t0 = time.perf_counter()
        replies = self.ctl.batch([("Check", {})] * calls)
        dt = time.perf_counter() - t0
        bad = [r for r in replies if r.get("status") != "SERVING"]
        if bad:
            raise RuntimeError("Health.Check: %s" % bad[0])
        return dt / calls

    def stop(self):
        """hull's stop: QMP quit (the VM ends), virtiofsd gone, sockets removed; then hv-boot itself."""
        if self.ctl:
            self.ctl.close()
            self.ctl = None
        if self.proc and self.proc.poll() is None:
            self._command("stop", "stopped", timeout=60)
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        self.t["stopped"] = time.monotonic()

    def close(self):
        if self.ctl:
            try:
                self.ctl.close()
            except Exception:
                pass
            self.ctl = None
        if self.proc:
            if self.proc.poll() is None:
                kill_tree(self.proc.pid)
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except Exception:
                    pass
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def need_agent_stack(ctx):
    ctx.need_hv_boot()
    if not os.access(ctx.hull, os.X_OK):
        raise NA("hull not built")


def decode(data):
    return base64.b64decode(data) if isinstance(data, str) else data
