#!/usr/bin/env python3
"""Build hull-agent against musl (Debian's musl-tools), or fall back to the glibc build.

The agent's static glibc build is 1.1 MB, three quarters of it glibc; against musl it is about a third of
that (docs/agent.md). libseccomp and protobuf-c must then be musl builds too: Debian ships them for glibc
only, so they are built here with musl-gcc from Debian's source packages, once per machine, into
${HULL_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/hull}/musl/:
  apt/        a private apt configuration and lists for deb.debian.org's bookworm source index
              (the host's /etc/apt is not touched; its sources carry no deb-src lines)
  src/        the .dsc/.orig/.debian files `apt-get source --download-only` fetched
  kernel-headers/  links to the host's linux/, asm/ and asm-generic/ (musl-gcc sees musl's headers only)
  prefix-<key>/    include/ and lib/ with libseccomp.a and libprotobuf-c.a (the key names both versions)
Then each agent source is compiled with musl-gcc (two at a time, objects kept, rebuilt when a source, a
header it includes or the flags change) and linked statically.

Where that cannot be done (no musl-gcc, gperf or dpkg-source; no network and no cached sources; a failed
build) and --mode is auto, the glibc agent given as --fallback is copied to --out and the reason is
printed: the build does not fail for want of musl. --mode musl makes it fail instead; --mode glibc copies.

Usage: build-musl.py --out OUT --depfile DEP --fallback GLIBC_AGENT --mode auto|musl|glibc
                     --objdir DIR -- CFLAGS... SOURCES.c...
"""
import argparse
import concurrent.futures
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEBIAN_SOURCES = "deb-src http://deb.debian.org/debian bookworm main\n"
PACKAGES = ("libseccomp", "protobuf-c")
LIBS_FLAGS = "-Os -ffunction-sections -fdata-sections"


class Unavailable(Exception):
    """musl cannot be used here; the message says why."""


def log(msg):
    print(f"hull-agent: {msg}", file=sys.stderr, flush=True)


def cache_dir():
    base = os.environ.get("HULL_CACHE_DIR")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hull")
    return Path(base) / "musl"


def run(cmd, cwd=None, logfile=None):
    with open(logfile, "ab") if logfile else open(os.devnull, "wb") as out:
        r = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        where = f" (log: {logfile})" if logfile else ""
        words = [str(c) for c in cmd if not str(c).startswith("-") and "::" not in str(c)]
        raise Unavailable(f"{' '.join(words[:4])} failed with status {r.returncode}{where}")


def apt_options(m):
    apt = m / "apt"
    for d in (apt / "lists" / "partial", apt / "cache" / "archives" / "partial", apt / "parts.d"):
        d.mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(DEBIAN_SOURCES)
    return ["-o", f"Dir::Etc::SourceList={apt / 'sources.list'}", "-o", f"Dir::Etc::SourceParts={apt / 'parts.d'}",
            "-o", f"Dir::State::Lists={apt / 'lists'}", "-o", f"Dir::Cache={apt / 'cache'}",
            "-o", "APT::Sandbox::User=root", "-q"]


def dsc_of(src, pkg):
    found = sorted(src.glob(f"{pkg}_*.dsc"))
    return found[-1] if found else None


def fetch_sources(m):
    src = m / "src"
    src.mkdir(parents=True, exist_ok=True)
    missing = [p for p in PACKAGES if not dsc_of(src, p)]
    if not missing:
        return src
    if not shutil.which("apt-get"):
        raise Unavailable("no apt-get to fetch the sources of " + ", ".join(missing))
    opts = apt_options(m)
    logfile = m / "fetch.log"
    log(f"fetching Debian sources of {', '.join(missing)} into {src}")
    run(["apt-get", *opts, "update"], logfile=logfile)
    run(["apt-get", *opts, "source", "--download-only", *missing], cwd=src, logfile=logfile)
    for p in missing:
        if not dsc_of(src, p):
            raise Unavailable(f"apt-get source fetched no {p}")
    return src


def kernel_headers(m):
    """musl-gcc searches musl's include directory only; the agent and libseccomp need linux/ and asm/."""
    kh = m / "kernel-headers"
    kh.mkdir(parents=True, exist_ok=True)
    for name, target in (("linux", "/usr/include/linux"), ("asm-generic", "/usr/include/asm-generic"),
                         ("asm", "/usr/include/x86_64-linux-gnu/asm")):
        if not os.path.isdir(target):
            raise Unavailable(f"{target} missing (linux-libc-dev)")
        link = kh / name
        if not link.is_symlink() or os.readlink(link) != target:
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)
    return kh


def build_libs(m, kh):
    """libseccomp.a and libprotobuf-c.a built with musl-gcc into prefix-<versions>; returns the prefix."""
    for tool in ("dpkg-source", "make", "gperf"):
        if not shutil.which(tool):
            raise Unavailable(f"{tool} not found (needed to build libseccomp/protobuf-c for musl)")
    src = fetch_sources(m)
    dscs = [dsc_of(src, p) for p in PACKAGES]
    key = hashlib.sha256("".join(d.name for d in dscs).encode() + LIBS_FLAGS.encode()).hexdigest()[:12]
    prefix = m / f"prefix-{key}"
    stamp = prefix / ".complete"
    if stamp.exists():
        return prefix
    log(f"building {', '.join(d.stem for d in dscs)} with musl-gcc into {prefix}")
    shutil.rmtree(prefix, ignore_errors=True)
    logfile = m / "build.log"
    jobs = "-j2"
    with tempfile.TemporaryDirectory(prefix="hull-musl-") as tmp:
        tmp = Path(tmp)
        for dsc in dscs:
            run(["dpkg-source", "--no-check", "-x", str(dsc), str(tmp / dsc.stem)], logfile=logfile)
        common = ["CC=musl-gcc", f"CFLAGS={LIBS_FLAGS} -isystem {kh}", f"--prefix={prefix}", "--enable-static",
                  "--disable-shared"]
        seccomp = tmp / dscs[0].stem
        run(["./configure", *common], cwd=seccomp, logfile=logfile)
        run(["make", jobs, "-C", "src"], cwd=seccomp, logfile=logfile)
        for sub in ("src", "include"):
            run(["make", "-C", sub, "install"], cwd=seccomp, logfile=logfile)
        pbc = tmp / dscs[1].stem
        run(["./configure", *common, "--disable-protoc"], cwd=pbc, logfile=logfile)
        run(["make", jobs], cwd=pbc, logfile=logfile)
        run(["make", "install"], cwd=pbc, logfile=logfile)
    for lib in ("libseccomp.a", "libprotobuf-c.a"):
        if not (prefix / "lib" / lib).exists():
            raise Unavailable(f"{lib} was not installed into {prefix}")
    stamp.write_text("\n".join(d.name for d in dscs) + "\n")
    return prefix


def parse_depfile(path):
    try:
        text = path.read_text().replace("\\\n", " ")
    except OSError:
        return None
    _, _, deps = text.partition(":")
    return [d for d in deps.split() if d]


def compile_one(cc, flags, flags_key, src, objdir):
    name = src.replace("/", "_").replace("..", "_")
    obj = objdir / (name + ".o")
    dep = objdir / (name + ".d")
    key = objdir / (name + ".flags")
    deps = parse_depfile(dep)
    if obj.exists() and deps and key.exists() and key.read_text() == flags_key:
        mtime = obj.stat().st_mtime
        try:
            if all(os.stat(d).st_mtime <= mtime for d in deps):
                return obj, deps
        except OSError:
            pass
    r = subprocess.run([cc, *flags, "-MD", "-MF", str(dep), "-c", src, "-o", str(obj)], stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{src}:\n{r.stderr}")
    key.write_text(flags_key)
    return obj, parse_depfile(dep) or [src]


def build_musl(out, objdir, cflags, sources):
    if not shutil.which("musl-gcc"):
        raise Unavailable("musl-gcc not found (Debian's musl-tools)")
    m = cache_dir()
    m.mkdir(parents=True, exist_ok=True)
    with open(m / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two build trees may build the libraries at once
        kh = kernel_headers(m)
        prefix = build_libs(m, kh)
    flags = ["-isystem", str(kh), "-I", str(prefix / "include"), *cflags]
    objdir.mkdir(parents=True, exist_ok=True)
    flags_key = "\n".join(flags)
    objs, deps = [], set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for obj, d in pool.map(lambda s: compile_one("musl-gcc", flags, flags_key, s, objdir), sources):
            objs.append(str(obj))
            deps.update(d)
    tmp = out.with_name(out.name + ".tmp")
    r = subprocess.run(["musl-gcc", "-static", "-Wl,--gc-sections", *objs, "-L", str(prefix / "lib"),
                        "-lprotobuf-c", "-lseccomp", "-o", str(tmp)], stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"link:\n{r.stderr}")
    os.replace(tmp, out)
    return sorted(deps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--depfile", required=True, type=Path)
    ap.add_argument("--fallback", required=True)
    ap.add_argument("--mode", choices=("auto", "musl", "glibc"), default="auto")
    ap.add_argument("--objdir", required=True, type=Path)
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    rest = a.rest[1:] if a.rest and a.rest[0] == "--" else a.rest
    sources = [x for x in rest if x.endswith(".c")]
    cflags = [x for x in rest if not x.endswith(".c")]

    deps = []
    libc = "glibc"
    if a.mode != "glibc":
        try:
            deps = build_musl(a.out, a.objdir, cflags, sources)
            libc = "musl"
        except Unavailable as e:
            if a.mode == "musl":
                log(f"musl build impossible: {e}")
                return 1
            log(f"musl build impossible, using the glibc build: {e}")
        except RuntimeError as e:
            # A compile error is a bug in the agent, not a missing tool: fail, as the glibc build would.
            log(f"musl build failed: {e}")
            return 1
    if libc == "glibc":
        tmp = a.out.with_name(a.out.name + ".tmp")
        shutil.copy2(a.fallback, tmp)
        os.replace(tmp, a.out)
    all_deps = [a.fallback, *sources, *deps]
    a.depfile.write_text(f"{a.out}: " + " ".join(d.replace(" ", "\\ ") for d in dict.fromkeys(all_deps)) + "\n")
    (a.out.parent / (a.out.name + ".libc")).write_text(libc + "\n")
    log(f"{libc} build, {a.out.stat().st_size} bytes ({a.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
