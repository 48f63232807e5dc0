"""What every figure of the harness shares: the run context (build tree, components found, run count, time budget),
table rows, n/a reasons, medians, host process memory from /proc."""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.realpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
sys.path.insert(0, os.path.join(SOURCE, "guest", "kernel", "boottest"))

VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
BUSYBOX = "/bin/busybox"


class NA(Exception):
    """A figure that cannot be measured here: the message says why (shown as "n/a (why)")."""


class Row:
    """One line of the table: hull's figure, the reference it is compared with (measured in the same run), units."""

    def __init__(self, key, figure, unit, ref_label="", hull=None, ref=None, runs=0, na=None, ref_na=None,
                 lower_is_better=True, note=""):
        self.key, self.figure, self.unit, self.ref_label = key, figure, unit, ref_label
        self.hull, self.ref, self.runs = hull, ref, runs
        self.na, self.ref_na = na, ref_na
        self.lower_is_better = lower_is_better
        self.note = note
        self.samples = {"hull": [], "ref": []}

    def ratio(self):
        if self.hull is None or self.ref is None or self.ref == 0:
            return None
        return self.hull / self.ref

    def to_json(self):
        return {"key": self.key, "figure": self.figure, "unit": self.unit, "hull": self.hull,
                "reference": self.ref, "reference_label": self.ref_label, "ratio": self.ratio(), "runs": self.runs,
                "na": self.na, "reference_na": self.ref_na, "note": self.note, "samples": self.samples}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Ctx:
    """The run: where the build is, what exists in it, how many runs, the time budget, the work directory."""

    def __init__(self, build, runs, smoke, budget_s, workdir, verbose=False):
        self.build = os.path.realpath(build)
        self.runs = runs
        self.smoke = smoke
        self.started = time.monotonic()
        self.deadline = self.started + budget_s
        self.workdir = workdir
        self.verbose = verbose
        self.hull = os.path.join(self.build, "src", "cli", "hull")
        self.hv_boot = os.environ.get("HULL_HV_BOOT") or os.path.join(self.build, "tests", "helpers", "hv-boot")
        self.ttrpc_bench = os.path.join(self.build, "bench", "ttrpc-bench")
        self.shim_dir = os.path.join(self.build, "src", "shim")
        self.config_path = os.environ.get("HULL_BENCH_CONFIG") or os.path.join(
            self.build, "configs", "configuration-qemu.toml")
        self.qemu = shutil.which("qemu-system-x86_64")
        self.kernel = self.initrd = None
        self.memory_mib = 2048
        self._read_config()
        self._cli_commands = None
        self.run_config = self.config_path
        self.builtin_config = None

    def write_run_config(self):
        """The configuration hull runs with here: the build's, with `quiet` added to kernel_params. hull drops
        `quiet` from the guest's command line at debug level (the shim gets -debug from a containerd at debug level,
        `hull --debug` the same), and a verbose guest console costs about a second per boot under TCG: the phase
        split is read from debug logs, the timings must not pay for it. The same for the built-in VMM's."""
        self.run_config = quiet_config(self.config_path, "hypervisor.qemu",
                                       os.path.join(self.workdir, "configuration-qemu.toml")) or self.config_path
        builtin = os.path.join(self.build, "configs", "configuration-builtin.toml")
        self.builtin_config = quiet_config(builtin, "hypervisor.dragonball",
                                           os.path.join(self.workdir, "configuration-builtin.toml"))

    def _read_config(self):
        try:
            with open(self.config_path, "rb") as f:
                conf = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError):
            return
        q = conf.get("hypervisor", {}).get("qemu", {})
        self.kernel, self.initrd = q.get("kernel"), q.get("initrd")
        self.memory_mib = int(q.get("default_memory", self.memory_mib))
        if q.get("path"):
            self.qemu = q["path"]

    def kvm_usable(self):
        """(usable, why not) from `hull check --json` (src/host's KVM probe)."""
        try:
            p = subprocess.run([self.hull, "check", "--json"], capture_output=True, text=True, timeout=60)
            kvm = json.loads(p.stdout).get("kvm", {})
        except (OSError, ValueError, subprocess.TimeoutExpired) as e:
            return False, "hull check --json: %s" % e
        return bool(kvm.get("usable")), kvm.get("reason") or "not usable"

    def log(self, msg):
        elapsed = time.monotonic() - self.started
        print("[%6.1fs] %s" % (elapsed, msg), file=sys.stderr, flush=True)

    def left(self):
        return self.deadline - time.monotonic()

    def need_time(self, seconds, what):
        if self.left() < seconds:
            raise NA("time budget: %s needs ~%ds, %ds left" % (what, seconds, max(self.left(), 0)))

    def need_guest(self):
        for what, path in (("QEMU", self.qemu), ("guest kernel", self.kernel), ("guest initrd", self.initrd),
                           ("virtiofsd", VIRTIOFSD), ("busybox-static", BUSYBOX)):
            if not path or not os.path.exists(path):
                raise NA("%s missing (%s)" % (what, path or "not configured in %s" % self.config_path))

    def need_hv_boot(self):
        self.need_guest()
        for what, path in (("tests/helpers/hv-boot", self.hv_boot), ("hull", self.hull)):
            if not os.access(path, os.X_OK):
                raise NA("%s not built" % what)

    def shim_binary(self):
        return os.path.join(self.shim_dir, "containerd-shim-hull-v2")

    def need_shim(self):
        if not os.access(self.shim_binary(), os.X_OK):
            raise NA("containerd-shim-hull-v2 not built")
        self.need_guest()

    def cli_has(self, command):
        """Whether `hull` has a command (the OCI CLI lands command by command)."""
        if self._cli_commands is None:
            self._cli_commands = set()
            if os.access(self.hull, os.X_OK):
                out = subprocess.run([self.hull, "--help"], capture_output=True, text=True).stdout
                for line in out.splitlines():
                    words = line.split()
                    if line.startswith("  ") and words:
                        self._cli_commands.add(words[0])
        return command in self._cli_commands

    def size(self, full, smoke):
        return smoke if self.smoke else full


def quiet_config(src, section, dest):
    """Copy the configuration file src to dest with `quiet` added to [section] kernel_params; dest, or None when src
    cannot be read."""
    try:
        with open(src) as f:
            text = f.read()
    except OSError:
        return None
    out, cur, done = [], None, False
    for line in text.splitlines():
        m = re.match(r"^\s*\[([^\]]+)\]", line)
        if m:
            if cur == section and not done:
                out.append('kernel_params = "quiet"')
                done = True
            cur = m.group(1)
        m = re.match(r'^(\s*kernel_params\s*=\s*)"(.*)"\s*$', line)
        if m and cur == section and not done:
            line = '%s"%s"' % (m.group(1), (m.group(2) + " quiet").strip())
            done = True
        out.append(line)
    if cur == section and not done:
        out.append('kernel_params = "quiet"')
    with open(dest, "w") as f:
        f.write("\n".join(out) + "\n")
    return dest


def config_with(src, section, changes, dest):
    """Copy the configuration file src to dest with string keys of [section] set (changes = {key: value}; a key the
    section lacks is added to it); dest, or None when src cannot be read."""
    try:
        with open(src) as f:
            text = f.read()
    except OSError:
        return None
    left = dict(changes)
    out, cur = [], None

    def flush():
        for k, v in left.items():
            out.append("%s = %s" % (k, json.dumps(str(v))))
        left.clear()
    for line in text.splitlines():
        m = re.match(r"^\s*\[([^\]]+)\]", line)
        if m:
            if cur == section:
                flush()
            cur = m.group(1)
        m = re.match(r"^\s*([A-Za-z0-9_]+)\s*=", line)
        if m and cur == section and m.group(1) in left:
            line = "%s = %s" % (m.group(1), json.dumps(str(left.pop(m.group(1)))))
        out.append(line)
    if cur == section:
        flush()
    if left:
        out.append("[%s]" % section)
        flush()
    with open(dest, "w") as f:
        f.write("\n".join(out) + "\n")
    return dest


def config_value(path, section, key):
    try:
        with open(path, "rb") as f:
            return tomllib.load(f).get(section.split(".")[0], {}).get(section.split(".")[1], {}).get(key)
    except (OSError, tomllib.TOMLDecodeError):
        return None


# ---------------------------------------------------------------------------------------------------------------
# Host process memory


def read_kib_fields(path, fields):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, rest = line.partition(":")
                if k in fields:
                    out[k] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def pss_kib(pid):
    """Proportional set size of a process (its share of every page it maps), KiB; None when it is gone."""
    return read_kib_fields("/proc/%d/smaps_rollup" % pid, ("Pss",)).get("Pss")


def rss_kib(pid):
    return read_kib_fields("/proc/%d/smaps_rollup" % pid, ("Rss",)).get("Rss")


def qemu_memory(pid, guest_mib):
    """A VMM's memory split into guest RAM and the rest, from /proc/<pid>/smaps: the guest RAM mapping is the memfd
    (or anonymous) mapping of exactly the guest's size; returns dict(pss_total, pss_vmm, rss_guest) in KiB."""
    want = guest_mib * 1024
    total = vmm = guest_rss = 0
    cur_guest = False
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                first = line.split(None, 1)[0]
                if "-" in first and not first.endswith(":"):
                    lo, hi = (int(x, 16) for x in first.split("-"))
                    cur_guest = (hi - lo) // 1024 == want
                elif first == "Pss:":
                    kib = int(line.split()[1])
                    total += kib
                    if not cur_guest:
                        vmm += kib
                elif first == "Rss:" and cur_guest:
                    guest_rss += int(line.split()[1])
    except OSError:
        return None
    return {"pss_total": total, "pss_vmm": vmm, "rss_guest": guest_rss}


def children(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for k in children(p):
            out.append(k)
            todo.append(k)
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def mem_available_kib():
    return read_kib_fields("/proc/meminfo", ("MemAvailable",)).get("MemAvailable")


def kill_tree(pid, sig=9):
    """SIGKILL a process we started and everything below it."""
    for p in [pid] + descendants(pid):
        try:
            os.kill(p, sig)
        except OSError:
            pass


def mib(kib):
    return None if kib is None else kib / 1024.0
