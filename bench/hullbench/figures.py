"""The figures. Each group measures its rows (hull and its reference in the same run, interleaved per iteration
where both boot or start something) and fills them in; a group that cannot run marks its rows n/a with the reason.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from .common import (NA, Row, children, config_value, config_with, descendants, median, mem_available_kib, mib,
                     pss_kib, qemu_memory, rss_kib)
from . import ctrd as ctrd_mod
from .guest import AgentSandbox, need_agent_stack

# ---------------------------------------------------------------------------------------------------------------
# The rows, in table order. key -> Row. Every key is in the table and the JSON whatever happens.

PHASES = [
    ("front", "front end before the VMM (containerd, shim/monitor start, config)"),
    ("vmm", "VMM start (QEMU + virtiofsd spawned, QMP greeted)"),
    ("boot", "kernel boot to agent ready (console ready line + first Health.Check)"),
    ("create_sandbox", "CreateSandbox (virtio-fs mount, sandbox setup in the guest)"),
    ("create_container", "CreateContainer (rootfs, namespaces, cgroups in the guest)"),
    ("start_container", "StartContainer"),
    ("exit", "workload `true` runs and its exit is reported (WaitProcess)"),
    ("teardown", "teardown (VM stop, virtiofsd, sockets, front end exit)"),
]
DENSITY_N = (1, 5, 10, 20)
# hull's trimmed kernel + agent-only initramfs (hull column) vs Debian's cloud kernel + module initramfs (reference).
KERNEL_REF = "Debian cloud kernel"
KERNEL_ROWS = [
    ("kernel.boot", "boot to agent ready (VMM start to first Health.Check)", "s"),
    ("kernel.hull_run", "`hull run <bundle>` (true)", "s"),
    ("kernel.guest_used", "guest memory used after start (MemTotal - MemAvailable)", "MiB"),
    ("kernel.qemu_rss", "QEMU RSS after start", "MiB"),
    ("kernel.qemu_pss", "QEMU PSS excluding guest RAM after start", "MiB"),
    ("kernel.kernel_size", "kernel image size", "MiB"),
    ("kernel.initrd_size", "initramfs size", "KiB"),
]
HELPERS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers")


def make_rows():
    rows = [
        Row("start.ctr_vs_runc", "start to workload: `ctr run --rm busybox true`", "s", "runc"),
        Row("start.ctr_vs_floor", "start to workload: `ctr run --rm busybox true`", "s", "bare QEMU floor"),
        Row("start.hull_run_vs_floor", "start to workload: `hull run <bundle>` (true)", "s", "bare QEMU floor"),
        Row("start.stack_vs_floor", "start to workload: hull driver + agent, no front end (true)", "s",
            "bare QEMU floor"),
        Row("start.builtin_vs_floor", "start to workload: `hull run` on the built-in VMM (KVM)", "s",
            "bare QEMU+KVM floor"),
    ]
    for key, what in PHASES:
        rows.append(Row("phase." + key, "  phase: " + what, "s", ""))
    rows += [
        Row("mem.shim_pss", "memory: shim PSS per sandbox", "MiB", "containerd-shim-runc-v2"),
        Row("mem.monitor_pss", "memory: monitor PSS per sandbox (`hull create`)", "MiB", ""),
        Row("mem.vmm_pss", "memory: QEMU PSS excluding guest RAM", "MiB", ""),
        Row("mem.guest_ram", "memory: guest RAM resident on the host (QEMU memfd RSS)", "MiB", ""),
        Row("mem.virtiofsd_pss", "memory: virtiofsd PSS", "MiB", ""),
        Row("mem.agent_rss", "memory: hull-agent RSS in the guest", "KiB", ""),
        Row("mem.guest_used", "memory: guest memory used after start (MemTotal - MemAvailable)", "MiB", ""),
        Row("mem.total", "memory: host PSS per sandbox (front end + VMM incl. guest RAM + virtiofsd)", "MiB",
            "runc: shim + container"),
    ]
    for n in DENSITY_N:
        rows.append(Row("density.n%d.time" % n, "density: %d sandboxes started in parallel, wall time" % n, "s",
                        "runc"))
        rows.append(Row("density.n%d.mem" % n, "density: %d sandboxes, host PSS of their processes" % n,
                        "MiB", "runc"))
    rows += [
        Row("exec.ctr", "exec latency: `ctr task exec` of true", "ms", "runc"),
        Row("exec.agent", "exec latency: agent ExecProcess + WaitProcess of true (agent-ctl)", "ms", ""),
        Row("io.stdout", "I/O: container stdout throughput (dd to stdout, read by ctr)", "MiB/s", "runc",
            lower_is_better=False),
        Row("io.virtiofs_read", "I/O: file read through virtio-fs (1 MiB reads, guest cache cold)", "MiB/s",
            "host read (page cache)", lower_is_better=False),
        Row("rpc.health", "agent RPC: Health.Check round trip over the agent channel", "us",
            "C ttrpc on a host unix socket"),
    ]
    for key, what, unit in KERNEL_ROWS:
        rows.append(Row(key, "guest kernel: " + what, unit, KERNEL_REF))
    return {r.key: r for r in rows}


def fill(row, hull_samples=None, ref_samples=None, note=None):
    if hull_samples is not None:
        row.samples["hull"] = [round(v, 6) for v in hull_samples if v is not None]
        row.hull = median(hull_samples)
        row.runs = max(row.runs, len(row.samples["hull"]))
    if ref_samples is not None:
        row.samples["ref"] = [round(v, 6) for v in ref_samples if v is not None]
        row.ref = median(ref_samples)
        row.runs = max(row.runs, len(row.samples["ref"]))
    if note:
        row.note = (row.note + "; " if row.note else "") + note


def na(rows, keys, reason, ref=False):
    for k in keys:
        r = rows[k]
        if ref:
            if r.ref is None and not r.ref_na:
                r.ref_na = reason
        elif r.hull is None and not r.na:
            r.na = reason


def attempt(samples, fn, errors):
    """Run one measurement; a failure is kept (the first few) rather than ending the group."""
    try:
        v = fn()
        if v is not None:
            samples.append(v)
        return v
    except NA:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of a run becomes the figure's n/a reason
        errors.append(str(e).strip().splitlines()[-1][:200] if str(e).strip() else type(e).__name__)
        return None


# ---------------------------------------------------------------------------------------------------------------
# Log phases: the timestamps hull writes at debug level (`--debug --log-format json`), as {"level","msg","time"}.

# Marks in the order they happen: (name, regex on "msg"), as src/hypervisor and src/sandbox log them (the shim's and
# the monitor's logs alike):
#   vmm_begin        "sandbox <id>: starting the VM"                  (debug, before hull_hypervisor_start; without
#                    it, the time of vmm_up - <ms>)
#   vmm_up           "sandbox=<id> qemu: pid <n> up in <ms> ms ..."   (info)
#   agent_ready      "agent: SERVING after <n> tries"                 (debug; first Health.Check answered)
#   create_sandbox   "sandbox <id>: agent ready, <s> s after the VMM started"   (info; logged once CreateSandbox
#                    returned)
#   create_container "container <id>: CreateContainer done"           (debug; the agent's reply arrived)
#   start_container  "container <id>: StartContainer done"            (debug; the agent's reply arrived)
#   exit             "container <id>: exited with status <n>"         (info)
#   stopped          "sandbox <id>: done"                             (info; VM stopped, state removed)
LOG_MARKS = [
    ("vmm_begin", r"sandbox[ =]\S+:? starting the VM"),
    ("vmm_up", r"sandbox=\S+ qemu: pid \d+ up in (\d+) ms"),
    ("agent_ready", r"agent: SERVING after"),
    ("create_sandbox", r"(sandbox \S+: agent ready, |CreateSandbox done)"),
    ("create_container", r"container [^/\s]+: CreateContainer done"),
    ("start_container", r"container [^/\s]+: StartContainer done"),
    ("exit", r"container [^/\s]+: exited with status"),
    ("stopped", r"sandbox \S+: done"),
]
# The points between the phases of PHASES, in order: phase i runs from point i to point i+1.
PHASE_POINTS = ["begin", "vmm_begin", "vmm_up", "agent_ready", "create_sandbox", "create_container",
                "start_container", "exit", "end"]


def parse_time(s):
    """RFC 3339 with fractional seconds (hull writes microseconds, containerd nanoseconds) -> epoch seconds."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        return None
    import calendar
    base = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    frac = float(m.group(2)) if m.group(2) else 0.0
    tz = m.group(3)
    off = 0 if tz == "Z" else (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60) * (1 if tz[0] == "+" else -1)
    return base + frac - off


TEXT_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)) \S+\[\d+\] \w+: (.*)$")


def log_line(line):
    """(epoch seconds, msg) of one hull log line, JSON ({"level","msg","time"}) or text with a timestamp
    ("<time> <program>[<pid>] <level>: <msg>", what --debug writes); None for anything else."""
    line = line.strip()
    if line.startswith("{"):
        try:
            d = json.loads(line)
        except ValueError:
            return None
        if not isinstance(d, dict):
            return None
        t = parse_time(str(d.get("time", "")))
        return (t, str(d.get("msg", ""))) if t is not None else None
    m = TEXT_LINE.match(line)
    if m:
        t = parse_time(m.group(1))
        return (t, m.group(2)) if t is not None else None
    return None


def log_marks(lines):
    """{mark: epoch seconds} of the first line matching each mark."""
    marks = {}
    for line in lines:
        parsed = log_line(line)
        if not parsed:
            continue
        t, msg = parsed
        for name, rx in LOG_MARKS:
            m = re.search(rx, msg)
            if name not in marks and m:
                marks[name] = t
                if name == "vmm_up" and "vmm_begin" not in marks:
                    marks["vmm_begin"] = t - int(m.group(1)) / 1000.0
    return marks


def phases_from_marks(marks, t_begin, t_end):
    """Phase durations from log marks and the command's own start and end (epoch seconds): {phase: seconds}, and
    {phase: phase it is merged into} for phases whose end mark is missing (their time is counted in the next phase
    that has one)."""
    t = dict(marks, begin=t_begin, end=t_end)
    out, merged, pending = {}, {}, []
    start = "begin"
    for (key, _), end in zip(PHASES, PHASE_POINTS[1:]):
        pending.append(key)
        if t.get(end) is None:
            continue
        out[pending[0]] = t[end] - t[start]
        for k in pending[1:]:
            merged[k] = pending[0]
        pending, start = [], end
    return out, merged


# ---------------------------------------------------------------------------------------------------------------
# 1. start to workload


def floor_boot(ctx, initrd, kernel=None, accel="tcg"):
    import boottest  # guest/kernel/boottest/boottest.py
    r = boottest.boot(kernel or ctx.kernel, initrd, memory="%dM" % ctx.memory_mib, timeout=120, accel=accel)
    if r["timed_out"] or not r["saw_line"] or r["status"] != 0:
        raise RuntimeError("floor boot failed (status %s): %s" % (r["status"], r["console"][-300:]))
    return r["seconds"]


stack_uptimes = []  # the guest's own uptime at the agent's ready line, per driver + agent run


def stack_run(ctx, workdir):
    """hull's driver + agent, no front end: VM start, agent ready, CreateSandbox, one `true` container, stop."""
    with AgentSandbox(ctx, workdir) as sb:
        sb.start().ready().create_sandbox()
        status, _, _ = sb.run("c", ["true"])
        if status != 0:
            raise RuntimeError("true exited %s" % status)
        sb.stop()
        t = sb.t
        stack_uptimes.append(sb.uptime_at_ready)
        return t["stopped"] - t["begin"], {
            "front": 0.0, "vmm": t["vmm_up"] - t["begin"], "boot": t["agent_ready"] - t["vmm_up"],
            "create_sandbox": t["sandbox"] - t["agent_ready"], "create_container": t["create_c"] - t["sandbox"],
            "start_container": t["start_c"] - t["create_c"], "exit": t["exit_c"] - t["start_c"],
            "teardown": t["stopped"] - t["exit_c"]}


def hull_run_once(ctx, workdir, i, config=None):
    """`hull run` of a busybox bundle running true, with a JSON debug log; returns (seconds, phases)."""
    import bundles  # tests/integration/bundles.py
    b = os.path.join(workdir, "bundle")
    if not os.path.isdir(b):
        bundles.make_bundle(b, ["true"])
    root = os.path.join(workdir, "root")
    log = os.path.join(workdir, "hull-run-%d.log" % i)
    argv = [ctx.hull, "--root", root, "--debug", "--log-format", "json", "--log", log, "--config", config or ctx.run_config,
            "run", "--bundle", b, "bench-run-%d" % i]
    # Files, not pipes: the monitor takes over the container's stdio (a pipe would stay open while it lives).
    err_path = os.path.join(workdir, "hull-run-%d.stderr" % i)
    with open(err_path, "w") as err:
        t_wall = time.time()
        t0 = time.monotonic()
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=300)
        dt = time.monotonic() - t0
    if p.returncode != 0:
        with open(err_path, errors="replace") as f:
            raise RuntimeError("hull run exited %d: %s" % (p.returncode, f.read()[-300:]))
    lines = []
    for path in [log] + [os.path.join(root, d, "monitor.log") for d in (os.listdir(root) if os.path.isdir(root)
                                                                         else [])]:
        try:
            with open(path, errors="replace") as f:
                lines += f.read().splitlines()
        except OSError:
            pass
    return dt, phases_from_marks(log_marks(lines), t_wall, t_wall + dt)


def group_start(ctx, rows, cd):
    ctx.need_guest()
    import boottest
    tmp = tempfile.mkdtemp(prefix="floor-", dir=ctx.workdir)
    floor_initrd = boottest.make_initramfs(boottest.build_init(tmp), os.path.join(tmp, "initrd.img"))
    floor, stack, runc, shim, hrun, builtin, floor_kvm = [], [], [], [], [], [], []
    phases_stack, phases_shim, phases_hrun = [], [], []
    errs = {k: [] for k in ("floor", "stack", "runc", "shim", "hrun", "builtin", "floor_kvm")}
    why = {}
    try:
        need_agent_stack(ctx)
    except NA as e:
        why["stack"] = str(e)
    if cd is None or isinstance(cd, NA):
        why["runc"] = why["shim"] = str(cd) if cd else "no containerd"
    else:
        try:
            ctx.need_shim()
        except NA as e:
            why["shim"] = str(e)
    if not ctx.cli_has("run"):
        why["hrun"] = why["builtin"] = "`hull run` not built yet (OCI CLI)"
    else:
        usable, reason = ctx.kvm_usable()
        if not usable:
            why["builtin"] = why["floor_kvm"] = "KVM not usable here: " + reason
        elif not ctx.builtin_config:
            why["builtin"] = "no configs/configuration-builtin.toml in the build"
    builtin_kernel = config_value(ctx.builtin_config, "hypervisor.dragonball", "kernel") if ctx.builtin_config \
        else None
    for i in range(ctx.runs):
        ctx.need_time(40, "start-to-workload run %d" % (i + 1))
        ctx.log("start: run %d/%d" % (i + 1, ctx.runs))
        attempt(floor, lambda: floor_boot(ctx, floor_initrd), errs["floor"])
        if "stack" not in why:
            d = tempfile.mkdtemp(prefix="stack-", dir=ctx.workdir)
            r = attempt([], lambda: stack_run(ctx, d), errs["stack"])
            if r:
                stack.append(r[0])
                phases_stack.append(r[1])
            shutil.rmtree(d, ignore_errors=True)
        if "runc" not in why:
            attempt(runc, lambda: cd.run(ctrd_mod.RUNC, "st-runc-%d" % i, ["true"])[0], errs["runc"])
        if "shim" not in why:
            def one_shim():
                off = cd.log_offset()
                t_wall = time.time()
                dt, _ = cd.run(ctrd_mod.HULL, "st-hull-%d" % i, ["true"])
                marks = log_marks(cd.log_since(off).splitlines())
                phases_shim.append(phases_from_marks(marks, t_wall, t_wall + dt))
                return dt
            attempt(shim, one_shim, errs["shim"])
        if "hrun" not in why:
            d = os.path.join(ctx.workdir, "hull-run")
            os.makedirs(d, exist_ok=True)
            r = attempt([], lambda: hull_run_once(ctx, d, i), errs["hrun"])
            if r:
                hrun.append(r[0])
                phases_hrun.append(r[1])
        if "builtin" not in why:
            d = os.path.join(ctx.workdir, "hull-run-builtin")
            os.makedirs(d, exist_ok=True)
            r = attempt([], lambda: hull_run_once(ctx, d, i, config=ctx.builtin_config), errs["builtin"])
            if r:
                builtin.append(r[0])
            attempt(floor_kvm, lambda: floor_boot(ctx, floor_initrd, kernel=builtin_kernel, accel="kvm"),
                    errs["floor_kvm"])

    def reason(k):
        return why.get(k) or ("failed: " + errs[k][0] if errs[k] else None)

    fill(rows["start.ctr_vs_runc"], shim, runc)
    fill(rows["start.ctr_vs_floor"], shim, floor)
    fill(rows["start.hull_run_vs_floor"], hrun, floor)
    fill(rows["start.builtin_vs_floor"], builtin, floor_kvm)
    fill(rows["start.stack_vs_floor"], stack, floor,
         note="hv-boot (src/hypervisor) + hull agent-ctl: the sandbox service's steps without its front end")
    for k, key in (("shim", "start.ctr_vs_runc"), ("shim", "start.ctr_vs_floor"), ("hrun", "start.hull_run_vs_floor"),
                   ("stack", "start.stack_vs_floor"), ("builtin", "start.builtin_vs_floor")):
        if reason(k) and not rows[key].samples["hull"]:
            rows[key].na = reason(k)
    if reason("runc") and not runc:
        rows["start.ctr_vs_runc"].ref_na = reason("runc")
    if not floor_kvm:
        rows["start.builtin_vs_floor"].ref_na = reason("floor_kvm") or reason("builtin") or "not measured"
    if not floor:
        for key in ("start.ctr_vs_floor", "start.hull_run_vs_floor", "start.stack_vs_floor"):
            rows[key].ref_na = reason("floor") or "floor not measured"

    # Phase split: from hull's debug log through the shim (ctr run), else `hull run`'s, when it has the VMM and exit
    # marks; else the driver + agent run's host clock. Each phase is the median over the runs.
    MISSING = {"vmm_begin": "sandbox <id>: starting the VM", "create_container": "container <id>: CreateContainer "
               "done", "start_container": "container <id>: StartContainer done"}
    source, ph = None, None
    for name, cand in (("ctr run --rm true through containerd-shim-hull-v2, its debug log", phases_shim),
                       ("`hull run --debug --log-format json`", phases_hrun)):
        if cand and all("vmm" in p[0] and ("exit" in p[0] or "exit" in p[1]) for p in cand):
            source, ph = name, cand
            break
    if ph is None and phases_stack:
        source, ph = "hull driver + agent-ctl (no front end), host clock", [(p, {}) for p in phases_stack]
    stack_med = {k: median([p.get(k) for p in phases_stack]) for k, _ in PHASES} if phases_stack else {}
    for i, (key, _) in enumerate(PHASES):
        row = rows["phase." + key]
        if not ph:
            row.na = reason("stack") or "no phase source"
            continue
        into = ph[0][1].get(key)
        if into:
            end = PHASE_POINTS[i + 1]
            row.na = "counted in '%s': log line '%s' missing" % (into, MISSING.get(end, end))
        else:
            fill(row, [p[0].get(key) for p in ph])
        others = []
        if phases_hrun and not source.startswith("`hull"):
            v = median([p[0].get(key) for p in phases_hrun])
            others.append("hull run: " + ("%.3f s" % v if v is not None and key not in phases_hrun[0][1]
                                          else "-"))
        if not source.startswith("hull driver") and stack_med.get(key) is not None and key != "front":
            others.append("driver + agent only: %.3f s" % stack_med[key])
        if others:
            row.note = "; ".join(others)
    if stack_uptimes and phases_stack:
        up, boot = median(stack_uptimes), stack_med.get("boot")
        rows["phase.boot"].note = (rows["phase.boot"].note + "; " if rows["phase.boot"].note else "") + (
            "driver + agent: the guest's clock read %.3f s at the agent's ready line, %.3f s after QEMU was up "
            "(the rest: QEMU loading and the kernel decompressing before its clock starts)" % (up, boot or 0))
    if ph:
        rows["phase.front"].note = "source: " + source + ("; " + rows["phase.front"].note
                                                          if rows["phase.front"].note else "")


# ---------------------------------------------------------------------------------------------------------------
# 2., 4., 5., 6. in one booted guest per run: memory (agent level), exec (agent), virtio-fs read, Health.Check RTT

READRATE_RX = re.compile(r"bytes=(\d+) seconds=([0-9.]+)")


def readrate_binary(ctx):
    """bench/helpers/readrate.c built static once per run: the same reader on the host and in the guest."""
    exe = os.path.join(ctx.workdir, "readrate")
    if not os.path.exists(exe):
        p = subprocess.run(["gcc", "-O2", "-static", "-o", exe, os.path.join(HELPERS, "readrate.c")],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise NA("building bench/helpers/readrate.c failed: %s" % p.stderr.strip()[-200:])
    return exe


def read_rate(text, expect_bytes):
    m = READRATE_RX.search(text)
    if not m or int(m.group(1)) != expect_bytes:
        raise RuntimeError("readrate: %r" % text[-200:])
    return expect_bytes / 1048576.0 / max(float(m.group(2)), 1e-6)


def host_read_rate(ctx, path, expect_bytes):
    p = subprocess.run([readrate_binary(ctx), path], capture_output=True, text=True)
    return read_rate(p.stdout + p.stderr, expect_bytes)


def write_file(path, mib_):
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(mib_):
            f.write(chunk)


def ttrpc_reference(ctx, calls):
    """Median round trip (us) of a small unary call, hull's C ttrpc client -> C server on a host unix socket."""
    if not os.access(ctx.ttrpc_bench, os.X_OK):
        raise NA("bench/ttrpc-bench not built")
    sock = os.path.join(ctx.workdir, "ttrpc-ref.sock")
    srv = subprocess.Popen([ctx.ttrpc_bench, "server", sock], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        if srv.stdout.readline().strip() != b"READY":
            raise RuntimeError("ttrpc-bench server did not start")
        out = subprocess.run([ctx.ttrpc_bench, "client", sock, str(calls), "1"], capture_output=True, text=True,
                             timeout=120).stdout
        m = re.search(r"median_us=([0-9.]+)", out)
        if not m:
            raise RuntimeError("ttrpc-bench client: %r" % out)
        return float(m.group(1))
    finally:
        srv.terminate()
        srv.wait()
        srv.stdout.close()


def group_guest(ctx, rows):
    need_agent_stack(ctx)
    calls = ctx.size(200, 20)
    size = ctx.size(64, 8)
    rtt, rtt_ref, execs, vfs, host, agent_rss, used, vmm, gram, vfsd = ([] for _ in range(10))
    errs = []
    for i in range(ctx.runs):
        ctx.need_time(40, "guest run %d" % (i + 1))
        ctx.log("guest: run %d/%d (memory, Health.Check, exec, virtio-fs read)" % (i + 1, ctx.runs))
        d = tempfile.mkdtemp(prefix="guest-", dir=ctx.workdir)
        try:
            with AgentSandbox(ctx, d) as sb:
                sb.start().ready().create_sandbox()
                # Memory once the sandbox runs a container: the probe container shares the agent's pid namespace.
                # smaps_rollup, not VmRSS: the guest kernel's split RSS counters leave VmRSS of an idle agent
                # at a few KiB until the page tables are walked.
                status, out, _ = sb.run("probe", ["sh", "-c", "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo; "
                                                              "grep -E '^Rss:' /proc/1/smaps_rollup"], pidns=False,
                                        stdout=True)
                kb = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", out.decode(), re.M)}
                if "Rss" in kb and "MemTotal" in kb:
                    agent_rss.append(kb["Rss"])
                    used.append((kb["MemTotal"] - kb["MemAvailable"]) / 1024.0)
                qm = qemu_memory(sb.pids[0], ctx.memory_mib) if sb.pids else None
                if qm:
                    vmm.append(mib(qm["pss_vmm"]))
                    gram.append(mib(qm["rss_guest"]))
                if len(sb.pids) > 1:
                    vfsd.append(mib(sum(pss_kib(p) or 0 for p in [sb.pids[1]] + descendants(sb.pids[1]))))
                # Health.Check round trips, then the same on the host (interleaved per run).
                attempt(rtt, lambda: sb.health_rtt(calls) * 1e6, errs)
                attempt(rtt_ref, lambda: ttrpc_reference(ctx, calls * 10), errs)
                # Exec latency at the agent: a long-running container, ExecProcess + WaitProcess of true.
                sb.run("idle", ["sleep", "100000"], wait=False)
                for j in range(3):
                    t0 = time.monotonic()
                    st, _, _ = sb.exec("idle", "e%d" % j, ["true"])
                    if st == 0:
                        execs.append((time.monotonic() - t0) * 1000)
                # virtio-fs read: a fresh file (cold in the guest), warm in the host's page cache; host reads its
                # own fresh file with the same reader.
                data = os.path.join(sb.shared, "rootfs", "data")
                os.makedirs(data, exist_ok=True)
                write_file(os.path.join(data, "f"), size)
                shutil.copy2(readrate_binary(ctx), os.path.join(sb.shared, "rootfs", "bin", "readrate"))
                _, out, err = sb.exec("idle", "rd", ["/bin/readrate", "/data/f"], stdout=True, stderr=True)
                attempt(vfs, lambda: read_rate((out + err).decode(errors="replace"), size << 20), errs)
                write_file(os.path.join(d, "hostfile"), size)
                attempt(host, lambda: host_read_rate(ctx, os.path.join(d, "hostfile"), size << 20), errs)
                sb.stop()
        except NA:
            raise
        except Exception as e:  # noqa: BLE001
            errs.append(str(e).strip().splitlines()[-1][:200] if str(e).strip() else type(e).__name__)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    src = "guest booted by hull's driver (hv-boot), agent driven by agent-ctl"
    fill(rows["rpc.health"], rtt, rtt_ref, note="%d sequential calls per run, agent-ctl batch; virtio-serial "
         "channel (no vhost-vsock here); ref: bench/ttrpc-bench client, 1 in flight" % calls)
    fill(rows["exec.agent"], execs, note="3 per run")
    fill(rows["io.virtiofs_read"], vfs, host, note="%d MiB file, virtiofsd cache=auto, 1 MiB blocks" % size)
    fill(rows["mem.agent_rss"], agent_rss)
    fill(rows["mem.guest_used"], used, note="guest of %d MiB" % ctx.memory_mib)
    for key, vals in (("mem.vmm_pss", vmm), ("mem.guest_ram", gram), ("mem.virtiofsd_pss", vfsd)):
        if not rows[key].samples["hull"]:
            fill(rows[key], vals, note=src)
    if errs:
        why = "failed: " + errs[0]
        for k in ("rpc.health", "exec.agent", "io.virtiofs_read", "mem.agent_rss", "mem.guest_used", "mem.vmm_pss",
                  "mem.guest_ram", "mem.virtiofsd_pss"):
            if rows[k].hull is None:
                rows[k].na = why
        if rows["rpc.health"].ref is None:
            rows["rpc.health"].ref_na = why
        if rows["io.virtiofs_read"].ref is None:
            rows["io.virtiofs_read"].ref_na = why


# ---------------------------------------------------------------------------------------------------------------
# 2. memory, 4. exec and 5. stdout through containerd: hull's shim vs runc's, interleaved


def sandbox_memory(cd, runtime, cid, memory_mib):
    """PSS of the shim and what runs under it (hull: QEMU, virtiofsd; runc: the container's processes)."""
    shim = cd.shim_pid(cid, runtime)
    if shim is None:
        raise RuntimeError("no shim process found for %s" % cid)
    out = {"shim": mib(pss_kib(shim)), "vmm": None, "guest_ram": None, "virtiofsd": None, "rest": 0.0}
    for kid in children(shim):
        tree = [kid] + descendants(kid)
        name = open("/proc/%d/comm" % kid).read().strip() if os.path.exists("/proc/%d/comm" % kid) else ""
        if name.startswith("qemu"):
            qm = qemu_memory(kid, memory_mib)
            if qm:
                out["vmm"], out["guest_ram"] = mib(qm["pss_vmm"]), mib(qm["rss_guest"])
                out["rest"] += mib(qm["pss_total"])
        elif name.startswith("virtiofsd"):
            out["virtiofsd"] = mib(sum(pss_kib(p) or 0 for p in tree))
            out["rest"] += out["virtiofsd"]
        else:
            out["rest"] += mib(sum(pss_kib(p) or 0 for p in tree))
    out["total"] = out["shim"] + out["rest"]
    return out


def read_stdout_rate(cd, argv, expect_bytes, timeout=300):
    """Run a ctr command whose stdout carries expect_bytes; rate (MiB/s) from the first byte to the last."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got, first, last = 0, None, None
    deadline = time.monotonic() + timeout
    fd = p.stdout.fileno()
    while True:
        if time.monotonic() > deadline:
            p.kill()
            break
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        now = time.monotonic()
        if first is None:
            first = now
        last = now
        got += len(chunk)
    p.wait()
    p.stdout.close()
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if got != expect_bytes or first is None or last == first:
        raise RuntimeError("stdout: %d of %d bytes (%s)" % (got, expect_bytes, err.strip()[-200:]))
    return expect_bytes / 1048576.0 / (last - first)


def group_ctr(ctx, rows, cd):
    if cd is None or isinstance(cd, NA):
        raise NA(str(cd) if cd else "no containerd")
    runtimes = [("runc", ctrd_mod.RUNC)]
    try:
        ctx.need_shim()
        runtimes.insert(0, ("hull", ctrd_mod.HULL))
        shim_why = None
    except NA as e:
        shim_why = str(e)
    size = ctx.size(200, 8)
    execs = {"hull": [], "runc": []}
    rates = {"hull": [], "runc": []}
    mem = {"hull": [], "runc": []}
    errs = {"hull": [], "runc": []}
    started = {}
    try:
        for name, rt in runtimes:
            ctx.need_time(60, "containers for exec/stdout")
            cid = "ex-" + name
            try:
                cd.run(rt, cid, ["sleep", "100000"], detach=True)
                started[name] = cid
            except Exception as e:  # noqa: BLE001
                errs[name].append(str(e)[-200:])
        for i in range(ctx.runs):
            ctx.need_time(30, "exec/stdout run %d" % (i + 1))
            ctx.log("ctr: run %d/%d (exec, stdout, memory)" % (i + 1, ctx.runs))
            for name, rt in runtimes:
                cid = started.get(name)
                if not cid:
                    continue

                def one_exec():
                    t0 = time.monotonic()
                    cd.ctr("task", "exec", "--exec-id", "x%d" % i, cid, "true", timeout=120)
                    return (time.monotonic() - t0) * 1000
                attempt(execs[name], one_exec, errs[name])
                attempt(mem[name], lambda: sandbox_memory(cd, rt, cid, ctx.memory_mib), errs[name])
                argv = cd.ctr_argv("task", "exec", "--exec-id", "dd%d" % i, cid, "sh", "-c",
                                   "dd if=/dev/zero bs=1M count=%d 2>/dev/null" % size)
                attempt(rates[name], lambda: read_stdout_rate(cd, argv, size << 20), errs[name])
    finally:
        for cid in started.values():
            try:
                cd.remove(cid)
            except Exception:  # noqa: BLE001
                pass
    fill(rows["exec.ctr"], execs["hull"], execs["runc"])
    fill(rows["io.stdout"], rates["hull"], rates["runc"], note="%d MiB via `ctr task exec` (rate from first to "
         "last byte)" % size)
    hm, rm = mem["hull"], mem["runc"]
    fill(rows["mem.shim_pss"], [m["shim"] for m in hm], [m["shim"] for m in rm])
    fill(rows["mem.total"], [m["total"] for m in hm], [m["total"] for m in rm],
         note="a running container (sleep); hull adds QEMU (guest RAM included) and virtiofsd")
    if hm:
        # The shim's own sandbox replaces the agent-level stand-in for the host-side process figures.
        for key, field in (("mem.vmm_pss", "vmm"), ("mem.guest_ram", "guest_ram"), ("mem.virtiofsd_pss", "virtiofsd")):
            rows[key].samples["hull"] = []
            rows[key].note = "sandbox started by containerd-shim-hull-v2"
            fill(rows[key], [m[field] for m in hm])
    for name, ref in (("hull", False), ("runc", True)):
        why = shim_why if name == "hull" and shim_why else ("failed: " + errs[name][0] if errs[name] else None)
        if why:
            na(rows, ["exec.ctr", "io.stdout", "mem.shim_pss", "mem.total"], why, ref=ref)


# ---------------------------------------------------------------------------------------------------------------
# 2. the monitor (`hull create`)


def group_monitor(ctx, rows):
    if not (ctx.cli_has("create") and ctx.cli_has("delete")):
        raise NA("`hull create` not built yet (OCI CLI)")
    import bundles
    d = tempfile.mkdtemp(prefix="monitor-", dir=ctx.workdir)
    b = bundles.make_bundle(os.path.join(d, "bundle"), ["sleep", "100000"])
    root = os.path.join(d, "root")
    vals, errs = [], []
    base = [ctx.hull, "--root", root, "--config", ctx.run_config]
    try:
        for i in range(min(ctx.runs, 3)):
            ctx.need_time(30, "monitor run")
            cid = "mon-%d" % i
            pidf = os.path.join(d, "%s.pid" % cid)

            def one():
                err_path = os.path.join(d, "%s.stderr" % cid)
                with open(err_path, "w") as err:
                    p = subprocess.run(base + ["create", "--bundle", str(b), "--pid-file", pidf, cid],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=300)
                if p.returncode != 0:
                    with open(err_path, errors="replace") as f:
                        raise RuntimeError("hull create: %s" % f.read()[-200:])
                p = subprocess.run(base + ["start", cid], stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
                if p.returncode != 0:
                    raise RuntimeError("hull start: %s" % p.stderr.decode(errors="replace")[-200:])
                with open(pidf) as f:
                    pid = int(f.read().strip())
                return mib(pss_kib(pid))
            try:
                attempt(vals, one, errs)
            finally:
                subprocess.run(base + ["delete", "--force", cid], stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=120)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    fill(rows["mem.monitor_pss"], vals, note="monitor of a running container; QEMU and virtiofsd are its children")
    if errs and not vals:
        rows["mem.monitor_pss"].na = "failed: " + errs[0]


# ---------------------------------------------------------------------------------------------------------------
# 3. density


def parallel(fns, timeout):
    """Run fns in threads at once; returns (wall seconds, [result or exception])."""
    res = [None] * len(fns)

    def wrap(i, fn):
        try:
            res[i] = fn()
        except Exception as e:  # noqa: BLE001
            res[i] = e
    threads = [threading.Thread(target=wrap, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, timeout - (time.monotonic() - t0)))
    return time.monotonic() - t0, res


def settle():
    """Let the host's memory counters settle (freed pages of the previous round)."""
    subprocess.run(["sync"])
    time.sleep(0.5)


def group_density(ctx, rows, cd):
    have_cd = cd is not None and not isinstance(cd, NA)
    try:
        ctx.need_shim()
        if not have_cd:
            raise NA(str(cd) if cd else "no containerd")
        hull_mode = "shim"
    except NA as e:
        try:
            need_agent_stack(ctx)
            hull_mode = "stack"
            stack_note = "hull: driver + agent (%s)" % e
        except NA:
            hull_mode = None
            hull_why = str(e)
    ns = (1,) if ctx.smoke else DENSITY_N
    per_n_timeout = 240
    runs = 1 if ctx.smoke else int(os.environ.get("HULL_BENCH_DENSITY_RUNS", "1"))
    t_one = None
    stop_scaling = None
    cpus = os.cpu_count() or 1
    for n in DENSITY_N:
        if n not in ns:
            for k in ("density.n%d.time" % n, "density.n%d.mem" % n):
                rows[k].na = rows[k].na or "smoke run: N = %s only" % ", ".join(map(str, ns))
                rows[k].ref_na = rows[k].ref_na or rows[k].na
    for n in ns:
        keys = ("density.n%d.time" % n, "density.n%d.mem" % n)
        try:
            ctx.need_time(min(per_n_timeout, 20 + 12 * n), "density N=%d" % n)
        except NA as e:
            na(rows, keys, str(e))
            na(rows, keys, str(e), ref=True)
            continue
        free_gib = (mem_available_kib() or 0) / 1048576.0
        if free_gib < n * 0.6:
            na(rows, keys, "not enough memory for %d sandboxes (%.1f GiB available)" % (n, free_gib))
            continue
        ctx.log("density: N=%d" % n)
        times = {"hull": [], "runc": []}
        mems = {"hull": [], "runc": []}
        avail = {"hull": [], "runc": []}
        errs = {"hull": [], "runc": []}
        for r in range(runs):
            sides = []
            if have_cd:
                sides.append("runc")
            if hull_mode:
                sides.append("hull")
            for side in sides:
                settle()
                before = mem_available_kib()
                cleanup = []
                if side == "runc" or hull_mode == "shim":
                    rt = ctrd_mod.RUNC if side == "runc" else ctrd_mod.HULL
                    ids = ["dn-%s-%d-%d-%d" % (side, n, r, k) for k in range(n)]
                    fns = [lambda c=c: cd.run(rt, c, ["sleep", "100000"], detach=True, timeout=per_n_timeout)
                           for c in ids]
                    cleanup = [lambda c=c: cd.remove(c) for c in ids]
                else:
                    boxes = []

                    def start_box(k, n=n, r=r):
                        d = tempfile.mkdtemp(prefix="dn-%d-%d-%d-" % (n, r, k), dir=ctx.workdir)
                        sb = AgentSandbox(ctx, d, name="dn%d" % k)
                        boxes.append((sb, d))
                        sb.start().ready().create_sandbox()
                        sb.run("c", ["sleep", "100000"], wait=False)
                    fns = [lambda k=k: start_box(k) for k in range(n)]

                    def close_all():
                        for sb, d in boxes:
                            sb.close()
                            shutil.rmtree(d, ignore_errors=True)
                    cleanup = [close_all]
                try:
                    wall, res = parallel(fns, per_n_timeout)
                    bad = [x for x in res if isinstance(x, Exception)]
                    if bad:
                        errs[side].append("%d of %d failed: %s" % (len(bad), n, str(bad[0])[-200:]))
                    elif wall >= per_n_timeout:
                        errs[side].append("not all %d started within %ds" % (n, per_n_timeout))
                    else:
                        times[side].append(wall)
                        after = mem_available_kib()
                        if before and after:
                            avail[side].append((before - after) / 1024.0)
                        if side == "runc" or hull_mode == "shim":
                            mems[side].append(sum(sandbox_memory(cd, rt, c, ctx.memory_mib)["total"] for c in ids))
                        else:
                            mems[side].append(sum(mib(sum(pss_kib(p) or 0 for p in [sb.proc.pid] +
                                                          descendants(sb.proc.pid))) for sb, _ in boxes))
                finally:
                    for fn in cleanup:
                        try:
                            fn()
                        except Exception:  # noqa: BLE001
                            pass
        fill(rows[keys[0]], times["hull"], times["runc"])
        fill(rows[keys[1]], mems["hull"], mems["runc"])
        if avail["hull"] or avail["runc"]:
            rows[keys[1]].note = "MemAvailable drop: hull %s, runc %s MiB" % tuple(
                "%.0f" % median(avail[k]) if avail[k] else "-" for k in ("hull", "runc"))
        if hull_mode == "stack":
            rows[keys[0]].note = stack_note
        elif hull_mode is None:
            na(rows, keys, hull_why)
        for side, ref in (("hull", False), ("runc", True)):
            if errs[side]:
                na(rows, keys, "failed: " + errs[side][0], ref=ref)
            elif side == "runc" and not have_cd:
                na(rows, keys, str(cd) if cd else "no containerd", ref=True)
        if times["hull"] and mems["hull"]:
            t, m = median(times["hull"]), median(mems["hull"])
            if n == 1:
                t_one = {"t": t, "m": m}
            note = "per sandbox %.2f s, %.0f MiB" % (t / n, m / n)
            if t_one and n > 1:
                speedup = n * t_one["t"] / t
                note += "; parallel speedup %.1f (N x t(1) / t(N); ideal min(N, CPUs) = %d)" % (
                    speedup, min(n, cpus))
                if speedup < 0.75 * min(n, cpus) and stop_scaling is None:
                    stop_scaling = n
            rows[keys[0]].note = (rows[keys[0]].note + "; " if rows[keys[0]].note else "") + note
    if t_one:
        avail = (mem_available_kib() or 0) / 1024.0
        rows["density.n1.time"].note = (rows["density.n1.time"].note + "; " if rows["density.n1.time"].note else "") + (
            "start throughput is bound by the %d CPUs (TCG boots are CPU-bound): past N = %d the wall time grows "
            "linearly%s; memory (%.0f MiB available, ~%.0f MiB per sandbox) would allow ~%d sandboxes" % (
                cpus, cpus, ", speedup below 75%% of ideal from N = %d" % stop_scaling if stop_scaling else "",
                avail, t_one["m"], avail / t_one["m"] if t_one["m"] else 0))


# ---------------------------------------------------------------------------------------------------------------
# 7. the guest kernel: hull's trimmed kernel (guest/kernel/) + agent-only initramfs, what the shipped configurations
# boot, vs Debian's cloud kernel + module initramfs (the documented fallback), interleaved per run


def kernel_pair(ctx):
    """((trimmed kernel, initrd), (cloud kernel, initrd)) as the build made them (tests/integration/guestvm.py)."""
    import pathlib
    import guestvm  # tests/integration/guestvm.py
    found = guestvm.guest_kernels(pathlib.Path(ctx.build))
    for name, what in (("hull", "trimmed kernel (vmlinuz-hull + hull-initrd-agent.img; make kernel)"),
                       ("debian", "Debian cloud kernel (vmlinuz + hull-initrd.img)")):
        if name not in found:
            raise NA("%s not in %s/guest" % (what, ctx.build))
    return tuple(tuple(str(p) for p in found[n]) for n in ("hull", "debian"))


def kernel_boot(ctx, workdir, kernel, initrd):
    """One sandbox on a given kernel (hull's driver + agent): seconds from the VMM's start to the first
    Health.Check, then, once a probe container ran, guest memory used and QEMU's memory."""
    with AgentSandbox(ctx, workdir, kernel=kernel, initrd=initrd) as sb:
        sb.start().ready()
        out = {"boot": sb.t["agent_ready"] - sb.t["begin"]}
        sb.create_sandbox()
        status, text, _ = sb.run("probe", ["grep", "-E", "^(MemTotal|MemAvailable):", "/proc/meminfo"], stdout=True)
        kb = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", text.decode(), re.M)}
        if status != 0 or "MemAvailable" not in kb:
            raise RuntimeError("probe container: status %s, %r" % (status, text[-200:]))
        out["guest_used"] = (kb["MemTotal"] - kb["MemAvailable"]) / 1024.0
        qemu = sb.pids[0] if sb.pids else None
        qm = qemu_memory(qemu, ctx.memory_mib) if qemu else None
        if not qm:
            raise RuntimeError("no QEMU process to read")
        out["qemu_rss"] = mib(rss_kib(qemu))
        out["qemu_pss"] = mib(qm["pss_vmm"])
        sb.stop()
        return out


def group_kernels(ctx, rows):
    need_agent_stack(ctx)
    (hk, hi), (dk, di) = kernel_pair(ctx)
    if os.path.realpath(ctx.kernel) != os.path.realpath(hk):
        raise NA("the configuration boots %s, not the trimmed kernel %s" % (ctx.kernel, hk))
    sides = {"hull": (hk, hi), "ref": (dk, di)}
    for key, idx, scale in (("kernel.kernel_size", 0, 1048576.0), ("kernel.initrd_size", 1, 1024.0)):
        fill(rows[key], [os.path.getsize(sides["hull"][idx]) / scale], [os.path.getsize(sides["ref"][idx]) / scale])
    rows["kernel.kernel_size"].note = "%s vs %s" % (os.path.basename(hk), os.path.basename(dk))
    rows["kernel.initrd_size"].note = "%s vs %s" % (os.path.basename(hi), os.path.basename(di))
    # `hull run` on the cloud kernel: the run configuration (quiet added) with kernel and initrd changed.
    cloud_config = config_with(ctx.run_config, "hypervisor.qemu", {"kernel": dk, "initrd": di},
                               os.path.join(ctx.workdir, "configuration-qemu-cloud.toml"))
    hrun_why = None if ctx.cli_has("run") else "`hull run` not built yet (OCI CLI)"
    if not cloud_config:
        hrun_why = "cannot read %s" % ctx.run_config
    boots = {"hull": [], "ref": []}
    hruns = {"hull": [], "ref": []}
    errs = {"hull": [], "ref": []}
    runs = ctx.runs
    for i in range(runs):
        ctx.need_time(45, "kernel comparison run %d" % (i + 1))
        ctx.log("kernels: run %d/%d (trimmed vs cloud: boot + memory, hull run)" % (i + 1, runs))
        # Interleaved, the side that goes first alternating, so a load swing does not favour one kernel.
        order = ("hull", "ref") if i % 2 == 0 else ("ref", "hull")
        for side in order:
            d = tempfile.mkdtemp(prefix="kernel-%s-" % side, dir=ctx.workdir)
            try:
                attempt(boots[side], lambda: kernel_boot(ctx, d, *sides[side]), errs[side])
            finally:
                shutil.rmtree(d, ignore_errors=True)
        if hrun_why:
            continue
        for side in order:
            d = os.path.join(ctx.workdir, "kernel-hull-run-" + side)
            os.makedirs(d, exist_ok=True)
            r = attempt([], lambda: hull_run_once(ctx, d, i, config=ctx.run_config if side == "hull" else
                                                  cloud_config), errs[side])
            if r:
                hruns[side].append(r[0])
    for field in ("boot", "guest_used", "qemu_rss", "qemu_pss"):
        fill(rows["kernel." + field], [b[field] for b in boots["hull"]], [b[field] for b in boots["ref"]])
    fill(rows["kernel.hull_run"], hruns["hull"], hruns["ref"])
    rows["kernel.boot"].note = ("hull's driver (hv-boot) + agent-ctl, microvm, TCG, %d MiB; from hv-boot's launch "
                                "(virtiofsd + QEMU spawned) to the first Health.Check answered" % ctx.memory_mib)
    rows["kernel.hull_run"].note = "the run configuration with kernel/initrd set to the cloud kernel's"
    rows["kernel.qemu_rss"].note = ("QEMU's Rss (smaps_rollup, guest RAM included) once a probe container ran; "
                                    "PSS excluding guest RAM as for mem.vmm_pss")
    for side, ref in (("hull", False), ("ref", True)):
        why = "failed: " + errs[side][0] if errs[side] else None
        if why:
            na(rows, [k for k, _, _ in KERNEL_ROWS], why, ref=ref)
        if hrun_why:
            na(rows, ["kernel.hull_run"], hrun_why, ref=ref)
