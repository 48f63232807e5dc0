#!/usr/bin/python3
"""Counts test cases across meson test logs (TAP subtests count one each), pytest JUnit XML and
single-result files, prints a line per source and the final summary "N passed, N failed[, N skipped]".
Exits 1 when anything failed."""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

TAP_LINE = re.compile(r"^(not ok|ok)\b(.*)$")


def count_meson(path):
    passed = failed = skipped = 0
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            out = t.get("stdout") or ""
            tap = [TAP_LINE.match(l) for l in out.splitlines()]
            tap = [m for m in tap if m and not m.group(2).strip().startswith("- tests")]
            # cmocka's closing "# ok - tests" is a comment; keep only numbered results.
            tap = [m for m in tap if re.match(r"\s*\d+", m.group(2))]
            if tap:
                for m in tap:
                    if "# SKIP" in m.group(2).upper():
                        skipped += 1
                    elif m.group(1) == "ok":
                        passed += 1
                    else:
                        failed += 1
                if t["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(m.group(1) == "not ok" for m in tap):
                    failed += 1  # crashed or exited non-zero without reporting a failed case
            elif t["result"] in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif t["result"] == "SKIP":
                skipped += 1
            else:
                failed += 1
    return passed, failed, skipped


def count_junit(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = skipped = 0
    for s in suites:
        for case in s.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    return passed, failed, skipped


def count_result(path):
    with open(path) as f:
        r = f.read().strip()
    return (1, 0, 0) if r == "ok" else (0, 0, 1) if r == "skip" else (0, 1, 0)


def main(paths):
    total = [0, 0, 0]
    missing = 0
    for p in paths:
        if not os.path.exists(p):
            print(f"{p}: missing (the step did not run)")
            missing += 1
            continue
        if p.endswith(".json"):
            c = count_meson(p)
        elif p.endswith(".xml"):
            c = count_junit(p)
        else:
            c = count_result(p)
        print(f"{p}: {c[0]} passed, {c[1]} failed, {c[2]} skipped")
        total = [a + b for a, b in zip(total, c)]
    total[1] += missing
    line = f"{total[0]} passed, {total[1]} failed"
    if total[2]:
        line += f", {total[2]} skipped"
    print(line)
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
