#!/usr/bin/python3
"""Runs toml-test's TOML 1.0 cases against a decoder (tests/toml-decode.c) and prints the pass counts.

usage: run.py DECODER [TESTDIR] [-v]
Valid cases must decode to JSON equal to the expected tagged JSON (compared as toml-test does: integers and
floats as numbers, date-times as instants); invalid cases must exit 1 with "<file>:<line>:<column>: ..." on stderr.
Exits 1 unless every valid case and at least 98% of the invalid ones pass; 77 (skip) without the test data.
"""
import datetime
import json
import math
import os
import re
import subprocess
import sys

TIMEOUT_S = 10
POSITION = re.compile(r":\d+:\d+: ")


def parse_datetime(kind, text):
    """A date-time as a comparable value; None when the text is not one."""
    text = text.upper().replace(" ", "T")
    m = None
    if kind in ("datetime", "datetime-local"):
        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?", text)
        if not m or (kind == "datetime") != (m.group(8) is not None):
            return None
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        # Compare fractions to the nanosecond, like Go's time package that toml-test uses.
        ns = int((m.group(7) or "0")[:9].ljust(9, "0"))
        base = datetime.datetime(y, mo, d, h, mi, min(s, 59))
        if kind == "datetime-local":
            return (base, s, ns)
        off = m.group(8)
        minutes = 0 if off == "Z" else (int(off[1:3]) * 60 + int(off[4:6])) * (1 if off[0] == "+" else -1)
        return (base - datetime.timedelta(minutes=minutes), s, ns)
    if kind == "date-local":
        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
        return datetime.date(*(int(g) for g in m.groups())) if m else None
    if kind == "time-local":
        m = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?", text)
        if not m:
            return None
        return (int(m.group(1)), int(m.group(2)), int(m.group(3)), int((m.group(4) or "0")[:9].ljust(9, "0")))
    return None


def parse_float(text):
    t = text.strip().lower()
    if t in ("nan", "+nan", "-nan"):
        return math.nan
    if t in ("inf", "+inf"):
        return math.inf
    if t == "-inf":
        return -math.inf
    return float(t.replace("_", ""))


def compare(want, have, path="$"):
    """None when equal, else a description of the first difference."""
    if isinstance(want, dict) and set(want) == {"type", "value"} and isinstance(want.get("value"), str):
        if not (isinstance(have, dict) and set(have) == {"type", "value"}):
            return f"{path}: want a {want['type']} value, have {json.dumps(have)[:80]}"
        kind, wv, hv = want["type"], want["value"], have["value"]
        if kind != have["type"]:
            return f"{path}: want type {kind}, have {have['type']}"
        if not isinstance(hv, str):
            return f"{path}: value is not a string: {hv!r}"
        try:
            if kind == "integer":
                ok = int(wv) == int(hv)
            elif kind == "float":
                a, b = parse_float(wv), parse_float(hv)
                ok = (math.isnan(a) and math.isnan(b)) or a == b
            elif kind in ("datetime", "datetime-local", "date-local", "time-local"):
                a, b = parse_datetime(kind, wv), parse_datetime(kind, hv)
                ok = a is not None and a == b
            elif kind in ("string", "bool"):
                ok = wv == hv
            else:
                return f"{path}: unknown type {kind}"
        except ValueError as e:
            return f"{path}: {kind} {hv!r}: {e}"
        return None if ok else f"{path}: want {kind} {wv!r}, have {hv!r}"
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return f"{path}: want a table, have {json.dumps(have)[:80]}"
        if set(want) != set(have):
            return f"{path}: keys differ: missing {sorted(set(want) - set(have))}, extra {sorted(set(have) - set(want))}"
        for k in want:
            d = compare(want[k], have[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(want, list):
        if not isinstance(have, list):
            return f"{path}: want an array, have {json.dumps(have)[:80]}"
        if len(want) != len(have):
            return f"{path}: want {len(want)} items, have {len(have)}"
        for i, (w, h) in enumerate(zip(want, have)):
            d = compare(w, h, f"{path}[{i}]")
            if d:
                return d
        return None
    return f"{path}: unexpected expected value {want!r}"


def run(decoder, path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        p = subprocess.run([decoder], input=data, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, b"", b"timed out"
    return p.returncode, p.stdout, p.stderr


def main(argv):
    verbose = "-v" in argv
    args = [a for a in argv[1:] if a != "-v"]
    if not args:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    decoder = os.path.abspath(args[0])
    testdir = args[1] if len(args) > 1 else os.path.join(os.environ.get("HULL_TEST_DATA", ""), "toml-test")
    listing = os.path.join(testdir, "files-toml-1.0.0")
    if not os.path.exists(listing):
        print(f"toml-test: no test data at {testdir}, skipped")
        return 77

    with open(listing) as f:
        names = [line.strip() for line in f if line.strip().endswith(".toml")]
    valid = [n for n in names if n.startswith("valid/")]
    invalid = [n for n in names if n.startswith("invalid/")]
    failures = []

    valid_ok = 0
    for name in valid:
        rc, out, errtext = run(decoder, os.path.join(testdir, name))
        if rc != 0:
            failures.append(f"valid {name}: exit {rc}: {errtext.decode(errors='replace').strip()[:200]}")
            continue
        with open(os.path.join(testdir, name[:-5] + ".json")) as f:
            want = json.load(f)
        try:
            have = json.loads(out)
        except ValueError as e:
            failures.append(f"valid {name}: decoder printed bad JSON: {e}")
            continue
        diff = compare(want, have)
        if diff:
            failures.append(f"valid {name}: {diff}")
            continue
        valid_ok += 1

    invalid_ok = 0
    for name in invalid:
        rc, out, errtext = run(decoder, os.path.join(testdir, name))
        message = errtext.decode(errors="replace").strip()
        if rc != 1:
            what = "accepted" if rc == 0 else "timed out" if rc is None else f"exit {rc}"
            failures.append(f"invalid {name}: {what}: {message[:200] or out.decode(errors='replace')[:200]}")
            continue
        if not POSITION.search(message):
            failures.append(f"invalid {name}: error names no line and column: {message[:200]}")
            continue
        if verbose:
            print(f"ok invalid {name}: {message[:200]}")
        invalid_ok += 1

    for line in failures:
        print("FAIL", line)
    print(f"toml-test: valid {valid_ok}/{len(valid)}, invalid {invalid_ok}/{len(invalid)}")
    if not valid or valid_ok < len(valid) or invalid_ok * 100 < len(invalid) * 98:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
