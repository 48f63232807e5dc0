"""bench/run: measure every figure, print one table, write it as JSON (and the same table as Markdown)."""
import argparse
import json
import os
import platform
import shutil
import signal
import sys
import time

from . import figures
from .common import NA, Ctx
from .ctrd import Containerd

COLUMNS = ("figure", "hull", "reference", "ratio", "unit", "runs")


def fmt(v, unit):
    if v is None:
        return None
    if unit in ("s",):
        return "%.3f" % v
    if unit in ("ms", "us"):
        return "%.0f" % v if v >= 100 else "%.1f" % v
    if unit == "KiB":
        return "%.0f" % v
    return "%.1f" % v if v < 1000 else "%.0f" % v


def cell(v, unit, why, width=None):
    s = fmt(v, unit)
    if s is not None:
        return s
    why = why or "not measured"
    if width and len(why) > width:
        why = why[:width - 3] + "..."
    return "n/a (%s)" % why


def table_rows(rows, width=None):
    """The cells of every row; width bounds an n/a reason (the JSON keeps it whole)."""
    out = []
    for r in rows.values():
        ratio = r.ratio()
        hull = cell(r.hull, r.unit, r.na, width)
        if r.ref_label:
            ref = "%s: %s" % (r.ref_label, cell(r.ref, r.unit, r.ref_na, width))
        else:
            ref = "-"
        out.append((r.figure, hull, ref, "%.2fx" % ratio if ratio is not None else "-", r.unit, str(r.runs)))
    return out


def render_text(rows):
    body = table_rows(rows, width=48)
    widths = [max(len(c[i]) for c in body + [COLUMNS]) for i in range(len(COLUMNS))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip())
    return "\n".join(lines)


def render_markdown(rows):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for b in table_rows(rows, width=100):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in b) + " |")
    return "\n".join(lines)


def notes(rows):
    out = []
    for r in rows.values():
        if r.note:
            out.append("- %s: %s" % (r.key, r.note))
    return "\n".join(out)


def reap_leftovers(workdir, wait=15.0):
    """Every process this run started names its work directory on its command line (containerd's config, the shims'
    -address, QEMU's and virtiofsd's sockets, the monitors' --root): wait for them to be gone, SIGKILL stragglers."""
    marker = workdir.encode() + b"/"
    deadline = time.monotonic() + wait
    kills = 0
    while True:
        left = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = f.read()
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            if marker in argv and stat[stat.rindex(")") + 2] != "Z":
                left.append(int(entry))
        if not left:
            return
        if time.monotonic() > deadline:
            if kills == 2:
                print("bench: processes left behind: %s" % left, file=sys.stderr)
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            kills += 1
            deadline = time.monotonic() + 5
        time.sleep(0.1)


def host_facts():
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "kernel": platform.release(), "load": [round(x, 2) for x in load],
            "python": platform.python_version()}


def main(argv):
    ap = argparse.ArgumentParser(prog="bench/run", description="hull's benchmarks: one table (docs/performance.md)")
    ap.add_argument("build", nargs="?", default=os.environ.get("HULL_BUILD_DIR", "build"))
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("HULL_BENCH_SMOKE") == "1",
                    help="one iteration of each figure, small sizes (make check runs this)")
    ap.add_argument("--runs", type=int, default=None, help="runs per figure (HULL_BENCH_RUNS, default 5)")
    ap.add_argument("--only", default=os.environ.get("HULL_BENCH_ONLY", ""),
                    help="comma-separated groups: start,guest,ctr,monitor,kernels,density (default all)")
    ap.add_argument("--budget", type=float, default=float(os.environ.get("HULL_BENCH_BUDGET", "0") or 0),
                    help="seconds for the whole run (default 840, smoke 420); figures past it are n/a")
    ap.add_argument("--out", help="JSON output (default BUILD/bench/bench[-smoke].json)")
    args = ap.parse_args(argv)

    runs = 1 if args.smoke else (args.runs or int(os.environ.get("HULL_BENCH_RUNS", "5")))
    budget = args.budget or (420 if args.smoke else 840)
    build = os.path.realpath(args.build)
    outdir = os.path.join(build, "bench")
    os.makedirs(outdir, exist_ok=True)
    # Work files (VM state, containerd root) live under /tmp: short socket paths, nothing left in the build.
    workdir = os.path.join("/tmp", "hull-bench-%d" % os.getpid())
    os.makedirs(workdir)
    try:
        ctx = Ctx(build, runs, args.smoke, budget, workdir)
        ctx.write_run_config()
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    rows = figures.make_rows()
    only = set(x for x in args.only.split(",") if x)

    def on_term(signo, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)

    cd = None
    t0 = time.monotonic()
    ctx.log("bench: build %s, %d run(s) per figure%s, budget %ds" % (build, runs, " (smoke)" if args.smoke else "",
                                                                      budget))
    try:
        if not only or only & {"start", "ctr", "density"}:
            try:
                cd = Containerd(ctx, os.path.join(workdir, "ctrd")).start()
            except NA as e:
                cd = e
            except Exception as e:  # noqa: BLE001
                cd = NA("private containerd: %s" % str(e)[-200:])
        groups = [
            ("start", lambda: figures.group_start(ctx, rows, cd),
             [k for k in rows if k.startswith(("start.", "phase."))]),
            ("guest", lambda: figures.group_guest(ctx, rows),
             ["rpc.health", "exec.agent", "io.virtiofs_read", "mem.agent_rss", "mem.guest_used", "mem.vmm_pss",
              "mem.guest_ram", "mem.virtiofsd_pss"]),
            ("ctr", lambda: figures.group_ctr(ctx, rows, cd), ["exec.ctr", "io.stdout", "mem.shim_pss", "mem.total"]),
            ("monitor", lambda: figures.group_monitor(ctx, rows), ["mem.monitor_pss"]),
            ("kernels", lambda: figures.group_kernels(ctx, rows), [k for k in rows if k.startswith("kernel.")]),
            ("density", lambda: figures.group_density(ctx, rows, cd), [k for k in rows if k.startswith("density.")]),
        ]
        for name, fn, keys in groups:
            if only and name not in only:
                figures.na(rows, keys, "not selected (--only)")
                figures.na(rows, keys, "not selected (--only)", ref=True)
                continue
            g0 = time.monotonic()
            try:
                fn()
            except NA as e:
                figures.na(rows, keys, str(e))
                figures.na(rows, [k for k in keys if rows[k].ref_label], str(e), ref=True)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - a broken group must not take the table with it
                import traceback
                traceback.print_exc()
                figures.na(rows, keys, "error: %s" % (str(e).strip().splitlines() or [type(e).__name__])[-1][:200])
            ctx.log("bench: %s done in %.0fs" % (name, time.monotonic() - g0))
    except KeyboardInterrupt:
        figures.na(rows, list(rows), "interrupted")
    finally:
        if isinstance(cd, Containerd):
            cd.cleanup()
        reap_leftovers(workdir)
        shutil.rmtree(workdir, ignore_errors=True)

    for r in rows.values():
        if r.ref_label and r.ref is None and not r.ref_na:
            r.ref_na = r.na or "not measured"
    elapsed = time.monotonic() - t0
    text = render_text(rows)
    header = ("hull benchmarks: %s, %d run(s) per figure (median), QEMU TCG, guest %d MiB, kernel %s; %.0fs" % (
        "smoke" if args.smoke else "full", runs, ctx.memory_mib, os.path.basename(ctx.kernel or "?"), elapsed))
    print(header)
    print(text)
    n = notes(rows)
    if n:
        print("\nnotes:\n" + n)
    doc = {"version": 1, "smoke": args.smoke, "runs": runs, "elapsed_s": round(elapsed, 1), "host": host_facts(),
           "config": ctx.config_path, "run_config_kernel_params": "+quiet", "workdir": workdir,
           "kernel": ctx.kernel, "initrd": ctx.initrd, "guest_memory_mib": ctx.memory_mib,
           "columns": list(COLUMNS), "rows": [r.to_json() for r in rows.values()]}
    name = "bench-smoke" if args.smoke else "bench"
    out = args.out or os.path.join(outdir, name + ".json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(os.path.dirname(out), name + ".md"), "w") as f:
        f.write(header + "\n\n" + render_markdown(rows) + "\n\n" + (n + "\n" if n else ""))
    print("\nwritten: %s (and %s.md)" % (out, name))
    return 0
