"""The benchmark harness's smoke run (`bench/run --smoke`: one iteration of each figure, small sizes): the table and
the JSON hold every figure's row, each with a value or an n/a reason, what can be measured on every machine that
passes `make check` is measured, and nothing is left behind."""
import json
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")
sys.path.insert(0, BENCH)
from hullbench import figures  # noqa: E402


def leftover_pids(marker):
    """Live (not zombie) processes whose command line holds marker."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = f.read()
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            if marker in argv and stat[stat.rindex(")") + 2] != "Z":
                out.append((int(entry), argv.split(b"\0")[0].decode(errors="replace")))
    return out


def test_bench_smoke_has_every_figure(build_dir, tmp_path):
    out = tmp_path / "bench.json"
    p = subprocess.run([os.path.join(BENCH, "run"), str(build_dir), "--smoke", "--out", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    print(p.stdout)  # shown by pytest when an assertion below fails
    doc = json.loads(out.read_text())
    assert doc["smoke"] is True and doc["runs"] == 1
    assert doc["columns"] == ["figure", "hull", "reference", "ratio", "unit", "runs"]
    want = figures.make_rows()
    got = {r["key"]: r for r in doc["rows"]}
    assert list(got) == list(want), "rows missing or out of order"
    table = p.stdout
    assert (tmp_path / "bench-smoke.md").read_text().count("\n| ") == len(want) + 1
    for key, r in got.items():
        # a value, or an n/a with its reason, for hull and (where there is one) the reference
        assert (r["hull"] is not None) != bool(r["na"]), (key, r)
        if r["reference_label"]:
            assert (r["reference"] is not None) != bool(r["reference_na"]), (key, r)
        assert want[key].figure.strip() in table, key
        if r["hull"] is not None:
            assert r["runs"] >= 1 and r["samples"]["hull"], (key, r)
    # The table has one line per row under its header.
    lines = table.split("\n")
    head = next(i for i, line in enumerate(lines) if line.startswith("figure "))
    assert len([line for line in lines[head + 2:head + 2 + len(want)] if line.strip()]) == len(want)

    # What every machine that passes make check can measure: the QEMU floor, the driver + agent stack and the agent
    # channel round trip, with positive values.
    if (build_dir / "tests" / "helpers" / "hv-boot").exists() and doc["kernel"] and os.path.exists(doc["kernel"]):
        for key in ("start.stack_vs_floor", "rpc.health", "mem.guest_used", "mem.vmm_pss", "io.virtiofs_read"):
            assert got[key]["hull"] and got[key]["hull"] > 0, (key, got[key])
        assert got["start.stack_vs_floor"]["reference"] > 0
        # The phases split one of the start rows' runs (the shim's, hull run's or the driver + agent one's).
        phases = sum(got["phase." + k]["hull"] or 0 for k, _ in figures.PHASES)
        longest = max(r["hull"] or 0 for k, r in got.items() if k.startswith("start."))
        assert 0 < phases <= longest * 1.2, (phases, longest)
        # A split read from a debug log (the shim's or hull run's) has every phase: src/sandbox logs a mark at the
        # end of each (none is counted in the next).
        if "debug log" in got["phase.front"]["note"] or "hull run" in got["phase.front"]["note"].split(";")[0]:
            for k, _ in figures.PHASES:
                assert got["phase." + k]["hull"] is not None, (k, got["phase." + k])
    # The guest kernel comparison: trimmed kernel (hull) vs Debian's cloud kernel (reference), both sides measured
    # where the build made both kernels and the configuration boots the trimmed one.
    guest = build_dir / "guest"
    if ((build_dir / "tests" / "helpers" / "hv-boot").exists() and (guest / "vmlinuz-hull").exists() and
            (guest / "hull-initrd-agent.img").exists() and (guest / "vmlinuz").exists() and
            (guest / "hull-initrd.img").exists() and doc["kernel"] and
            os.path.realpath(doc["kernel"]) == os.path.realpath(guest / "vmlinuz-hull")):
        for key, _, _ in figures.KERNEL_ROWS:
            r = got[key]
            if key == "kernel.hull_run" and r["na"] and "not built" in r["na"]:
                continue
            assert r["hull"] and r["hull"] > 0 and r["reference"] and r["reference"] > 0, (key, r)
            assert r["reference_label"] == figures.KERNEL_REF
        # The trimmed kernel is the smaller one (the point of building it).
        assert got["kernel.kernel_size"]["hull"] < got["kernel.kernel_size"]["reference"]
        assert got["kernel.initrd_size"]["hull"] < got["kernel.initrd_size"]["reference"]
    # Nothing left: no VM, containerd or shim started by the run (they all name its work directory), no directory.
    assert doc["workdir"].startswith("/tmp/hull-bench-")
    left = leftover_pids(doc["workdir"].encode() + b"/")
    assert not left, "processes left behind: %s" % left
    assert not os.path.exists(doc["workdir"])


def test_log_phase_parser():
    """The phase split from hull's JSON debug log: marks found by their messages, spans between them, a phase whose
    end mark is missing counted in the next one."""
    t = "2026-11-24T19:00:0%d.%06dZ"
    lines = [
        '{"level":"info","msg":"sandbox=a qemu: pid 5 up in 250 ms (QEMU 7.2)","time":"%s"}' % (t % (1, 250000)),
        '{"level":"debug","msg":"agent: SERVING after 3 tries","time":"%s"}' % (t % (3, 0)),
        'not json',
        '{"level":"info","msg":"sandbox a: agent ready, 2.1 s after the VMM started","time":"%s"}' % (t % (3, 100000)),
        '{"level":"info","msg":"container a/e1: exited with status 0","time":"%s"}' % (t % (3, 200000)),
        '{"level":"info","msg":"container a: exited with status 0","time":"%s"}' % (t % (3, 600000)),
    ]
    marks = figures.log_marks(lines)
    assert set(marks) == {"vmm_begin", "vmm_up", "agent_ready", "create_sandbox", "exit"}
    assert marks["vmm_begin"] == pytest.approx(marks["vmm_up"] - 0.25)
    begin = figures.parse_time(t % (0, 500000))
    ph, merged = figures.phases_from_marks(marks, begin, begin + 4)
    assert ph["front"] == pytest.approx(0.5)
    assert ph["vmm"] == pytest.approx(0.25)
    assert ph["boot"] == pytest.approx(1.75)
    assert ph["create_sandbox"] == pytest.approx(0.1)
    # CreateContainer, StartContainer and the run of `true` are one span until their marks are logged.
    assert ph["create_container"] == pytest.approx(0.5)
    assert merged == {"start_container": "create_container", "exit": "create_container"}
    assert ph["teardown"] == pytest.approx(0.9)
    assert sum(ph.values()) == pytest.approx(4)

    # With src/sandbox's debug marks every phase has its own span, for the shim's log and the monitor's alike; an
    # exec's exit and ExecProcess do not count as the container's.
    lines = [
        '{"level":"debug","msg":"sandbox a: starting the VM","time":"%s"}' % (t % (1, 0)),
    ] + lines[:4] + [
        '{"level":"debug","msg":"container a: CreateContainer done","time":"%s"}' % (t % (3, 300000)),
        '{"level":"debug","msg":"container a/e1: ExecProcess done","time":"%s"}' % (t % (3, 350000)),
        '{"level":"debug","msg":"container a: StartContainer done","time":"%s"}' % (t % (3, 400000)),
        '{"level":"info","msg":"container a/e1: exited with status 0","time":"%s"}' % (t % (3, 450000)),
        '{"level":"info","msg":"container a: exited with status 0","time":"%s"}' % (t % (3, 600000)),
    ]
    marks = figures.log_marks(lines)
    assert marks["vmm_begin"] == pytest.approx(figures.parse_time(t % (1, 0)), abs=1e-4)
    ph, merged = figures.phases_from_marks(marks, begin, begin + 4)
    assert merged == {}
    assert ph["vmm"] == pytest.approx(0.25, abs=1e-4)
    assert ph["create_container"] == pytest.approx(0.2, abs=1e-4)
    assert ph["start_container"] == pytest.approx(0.1, abs=1e-4)
    assert ph["exit"] == pytest.approx(0.2, abs=1e-4)
    assert sum(ph.values()) == pytest.approx(4, abs=1e-4)
