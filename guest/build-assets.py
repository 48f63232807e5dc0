#!/usr/bin/python3
# Builds the guest assets from Debian's cloud kernel package: <outdir>/vmlinuz and <outdir>/hull-initrd.img
# (newc cpio, gzip), holding hull-agent as /init and the kernel modules it loads, without touching /boot.
# With --agent-only: only an initramfs holding hull-agent, for hull's trimmed kernel (guest/kernel/), which has
# everything built in.
"""Guest asset builder for hull.

The kernel package is fetched with `apt-get download` into a per-machine cache
(${HULL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hull}/debs) and unpacked there with
`dpkg-deb -x`, so it is downloaded once per machine and never installed on the host.
"""

import argparse
import glob
import gzip
import io
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

META_PACKAGE = "linux-image-cloud-amd64"
MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.gz", ".ko.zst")
# A sanity bound on what we read from the package: the largest module in Debian's kernel is ~10 MiB.
MAX_MODULE_SIZE = 64 << 20


class BuildError(Exception):
    pass


def log(msg):
    print("hull-guest: " + msg, flush=True)


def run(cmd, cwd=None, check=True):
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and proc.returncode != 0:
        raise BuildError("%s failed (status %d): %s" % (" ".join(cmd), proc.returncode, proc.stderr.strip()))
    return proc


def default_cache_dir():
    base = os.environ.get("HULL_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "hull")
    return os.path.join(base, "debs")


def apt_update():
    if os.geteuid() != 0:
        raise BuildError("the package lists are missing or stale; run `apt-get update` as root")
    log("apt-get update (package lists missing)")
    run(["apt-get", "update", "-qq"])


# ---- kernel package: resolve, download, unpack -------------------------------------------------


def resolve_package(meta):
    """The concrete linux-image-<abi>-cloud-amd64 package the metapackage depends on."""
    if re.match(r"^linux-image-\d", meta):
        return meta
    for attempt in range(2):
        proc = run(["apt-cache", "depends", "--important", meta], check=False)
        for line in proc.stdout.splitlines():
            m = re.match(r"^\s*(?:\|)?Depends:\s*<?(linux-image-\d[^\s>]*)>?", line)
            if m:
                return m.group(1)
        if attempt == 0:
            apt_update()
    raise BuildError("apt-cache knows no package %s, nor what it depends on" % meta)


def cached_debs(cache, pattern):
    debs = glob.glob(os.path.join(cache, pattern))
    return sorted(debs, key=os.path.getmtime, reverse=True)


def download(cache, package):
    debs = cached_debs(cache, package + "_*.deb")
    if debs:
        return debs[0]
    cmd = ["apt-get", "download", "-q"]
    if os.geteuid() == 0:
        # apt drops to user _apt for downloads, which cannot write to a root-owned cache in $HOME.
        cmd += ["-o", "APT::Sandbox::User=root"]
    cmd.append(package)
    for attempt in range(2):
        log("apt-get download %s -> %s" % (package, cache))
        proc = run(cmd, cwd=cache, check=False)
        debs = cached_debs(cache, package + "_*.deb")
        if proc.returncode == 0 and debs:
            return debs[0]
        if attempt == 0:
            apt_update()
    raise BuildError("apt-get download %s failed: %s" % (package, proc.stderr.strip()))


def fetch_kernel(cache, meta):
    os.makedirs(cache, exist_ok=True)
    try:
        deb = download(cache, resolve_package(meta))
    except BuildError as e:
        # Offline: a kernel fetched earlier still builds the assets.
        debs = cached_debs(cache, "linux-image-*.deb")
        if not debs:
            raise
        log("warning: %s; using the cached %s" % (e, os.path.basename(debs[0])))
        deb = debs[0]
    root = deb[: -len(".deb")]
    if not os.path.exists(os.path.join(root, ".hull-unpacked")):
        tmp = tempfile.mkdtemp(prefix=".unpack-", dir=cache)
        try:
            run(["dpkg-deb", "-x", deb, tmp])
            open(os.path.join(tmp, ".hull-unpacked"), "w").close()
            shutil.rmtree(root, ignore_errors=True)
            os.rename(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def kernel_tree(root):
    """(kernel version, modules dir, vmlinuz path) of an unpacked kernel package."""
    for libdir in ("lib/modules", "usr/lib/modules"):
        base = os.path.join(root, libdir)
        if not os.path.isdir(base):
            continue
        kvers = sorted(os.listdir(base))
        if len(kvers) != 1:
            raise BuildError("%s: expected one kernel version, found %s" % (base, kvers))
        kver = kvers[0]
        vmlinuz = os.path.join(root, "boot", "vmlinuz-" + kver)
        if not os.path.isfile(vmlinuz):
            raise BuildError("%s: no boot/vmlinuz-%s" % (root, kver))
        return kver, os.path.join(base, kver), vmlinuz
    raise BuildError("%s: no lib/modules directory" % root)


# ---- modules: index, .modinfo, dependency order ------------------------------------------------


def module_name(path):
    base = os.path.basename(path)
    for suffix in MODULE_SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)].replace("-", "_")
    return None


def read_module(path):
    """The uncompressed ELF bytes of a module file."""
    if os.path.getsize(path) > MAX_MODULE_SIZE:
        raise BuildError("%s: larger than %d bytes" % (path, MAX_MODULE_SIZE))
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        data = lzma.decompress(data)
    elif path.endswith(".gz"):
        data = gzip.decompress(data)
    elif path.endswith(".zst"):
        data = run_bytes(["zstd", "-dc", path])
    return data


def run_bytes(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise BuildError("%s failed: %s" % (" ".join(cmd), proc.stderr.decode(errors="replace").strip()))
    return proc.stdout


def elf_section(data, wanted):
    """Contents of the ELF64 little-endian section named wanted, or None."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise BuildError("not a 64-bit little-endian ELF file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shentsize < 64 or shoff + shnum * shentsize > len(data) or shstrndx >= shnum:
        raise BuildError("bad ELF section table")

    def header(i):
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        if offset + size > len(data):
            raise BuildError("ELF section %d out of bounds" % i)
        return name, offset, size

    _, stroff, strsize = header(shstrndx)
    strtab = data[stroff : stroff + strsize]
    for i in range(shnum):
        name, offset, size = header(i)
        end = strtab.find(b"\0", name)
        if strtab[name:end].decode(errors="replace") == wanted:
            return data[offset : offset + size]
    return None


def modinfo(data):
    """key -> [values] from a module's .modinfo section."""
    section = elf_section(data, ".modinfo")
    info = {}
    if section is None:
        return info
    for entry in section.split(b"\0"):
        if b"=" not in entry:
            continue
        key, value = entry.split(b"=", 1)
        info.setdefault(key.decode(errors="replace"), []).append(value.decode(errors="replace"))
    return info


def module_deps(info):
    deps = []
    for value in info.get("depends", []):
        deps += [d.replace("-", "_") for d in value.split(",") if d]
    # "softdep=pre: crc32c post: x": the pre: modules must be there first, as modprobe would load them.
    for value in info.get("softdep", []):
        pre = False
        for word in value.split():
            if word.endswith(":"):
                pre = word == "pre:"
            elif pre:
                deps.append(word.replace("-", "_"))
    return deps


def index_modules(moddir):
    modules = {}
    for dirpath, _dirs, files in os.walk(moddir):
        for f in files:
            name = module_name(f)
            if name:
                modules.setdefault(name, os.path.join(dirpath, f))
    builtin = set()
    builtin_list = os.path.join(moddir, "modules.builtin")
    if os.path.exists(builtin_list):
        with open(builtin_list) as f:
            for line in f:
                name = module_name(line.strip())
                if name:
                    builtin.add(name)
    return modules, builtin


def resolve_modules(wanted, modules, builtin):
    """[(name, path, bytes)] for wanted and their dependencies, every module after what it needs."""
    order, done, visiting, skipped = [], set(), set(), []

    def visit(name, required_by):
        if name in done:
            return
        if name in builtin:
            done.add(name)
            skipped.append(name)
            return
        if name not in modules:
            if required_by:
                # A soft dependency the package does not ship is not fatal, as with modprobe.
                return
            raise BuildError("module %s: neither shipped nor built into the kernel" % name)
        if name in visiting:
            raise BuildError("module %s: dependency cycle" % name)
        visiting.add(name)
        data = read_module(modules[name])
        for dep in module_deps(modinfo(data)):
            visit(dep, name)
        visiting.discard(name)
        done.add(name)
        order.append((name, modules[name], data))

    for name in wanted:
        visit(name.replace("-", "_"), None)
    return order, skipped


def read_module_list(path):
    names = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


# ---- newc cpio ---------------------------------------------------------------------------------


class Cpio:
    """A newc ("070701") archive as the kernel's initramfs unpacker reads it; all mtimes 0 (reproducible)."""

    def __init__(self):
        self.out = io.BytesIO()
        self.ino = 0
        self.names = set()

    def _pad(self):
        self.out.write(b"\0" * (-self.out.tell() % 4))

    def _entry(self, name, mode, data=b"", rdev=(0, 0), nlink=1):
        name = name.lstrip("/")
        if name in self.names:
            raise BuildError("initramfs: %s added twice" % name)
        self.names.add(name)
        self.ino += 1
        encoded = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        self.out.write(b"070701" + b"".join(b"%08X" % v for v in fields))
        self.out.write(encoded)
        self._pad()
        self.out.write(data)
        self._pad()

    def directory(self, name, perm=0o755):
        self._entry(name, 0o040000 | perm, nlink=2)

    def file(self, name, data, perm=0o644):
        self._entry(name, 0o100000 | perm, data)

    def symlink(self, name, target):
        self._entry(name, 0o120000 | 0o777, target.encode())

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, 0o020000 | perm, rdev=(major, minor))

    def finish(self):
        self.ino = 0
        fields = (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, len(b"TRAILER!!!\0"), 0)
        self.out.write(b"070701" + b"".join(b"%08X" % v for v in fields) + b"TRAILER!!!\0")
        self._pad()
        # The kernel reads the archive in 512-byte blocks as cpio(1) writes it; pad the same way.
        self.out.write(b"\0" * (-self.out.tell() % 512))
        return self.out.getvalue()


def build_initramfs(agent, kver, mods, extra):
    """The cpio archive; agent is the bytes of /init. kver None: no modules at all (a kernel without modules)."""
    cpio = Cpio()
    dirs = ("dev", "proc", "sys", "run", "etc", "lib", "lib/modules", "lib/modules/" + kver) if kver else \
        ("dev", "proc", "sys", "run", "etc")
    for d in dirs:
        cpio.directory(d)
    cpio.directory("tmp", 0o1777)
    # The kernel opens /dev/console for init's stdio before init runs, so the node must be in the archive.
    cpio.chardev("dev/console", 5, 1, 0o600)
    cpio.chardev("dev/null", 1, 3, 0o666)
    cpio.file("init", agent, 0o755)
    if kver:
        for name, _path, data in mods:
            cpio.file("lib/modules/%s/%s.ko" % (kver, name), data)
        load_list = "".join(name + "\n" for name, _path, _data in mods)
        cpio.file("lib/modules/%s/modules.hull" % kver, load_list.encode())
    for src, dst in extra:
        parents = os.path.dirname(dst.strip("/"))
        for i, part in enumerate(parents.split("/") if parents else []):
            path = "/".join(parents.split("/")[: i + 1])
            if path not in cpio.names:
                cpio.directory(path)
        with open(src, "rb") as f:
            cpio.file(dst, f.read(), os.stat(src).st_mode & 0o7777)
    return cpio.finish()


def stripped(path):
    """The binary without symbols or debug info when binutils' strip is there (the build keeps them)."""
    with open(path, "rb") as f:
        data = f.read()
    strip = shutil.which("strip")
    if not strip:
        return data
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "init")
        if subprocess.run([strip, "--strip-all", "-o", out, path]).returncode != 0:
            return data
        with open(out, "rb") as f:
            return f.read()


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agent", required=True, help="the static hull-agent binary, installed as /init")
    p.add_argument("--outdir", required=True)
    p.add_argument("--modules", help="file listing the module names to load at boot (required unless --agent-only)")
    p.add_argument("--agent-only", action="store_true",
                   help="only the initramfs, holding hull-agent and no modules (for the trimmed kernel); no kernel")
    p.add_argument("--cache", default=default_cache_dir())
    p.add_argument("--package", default=os.environ.get("HULL_GUEST_KERNEL_PACKAGE", META_PACKAGE))
    p.add_argument("--kernel-root", help="an unpacked kernel package to use instead of downloading one")
    p.add_argument("--add", action="append", default=[], metavar="SRC=DST", help="extra file in the initramfs")
    p.add_argument("--initrd-name", default="hull-initrd.img")
    args = p.parse_args(argv)

    extra = []
    for item in args.add:
        if "=" not in item:
            raise BuildError("--add %s: expected SRC=DST" % item)
        extra.append(tuple(item.split("=", 1)))

    os.makedirs(args.outdir, exist_ok=True)
    if args.agent_only:
        agent = stripped(args.agent)
        archive = build_initramfs(agent, None, [], extra)
        initrd = gzip.compress(archive, compresslevel=9, mtime=0)
        initrd_path = os.path.join(args.outdir, args.initrd_name)
        write_atomic(initrd_path, initrd)
        log("%s: %d bytes (%.1f MiB; %d bytes uncompressed), /init (hull-agent, stripped) %d bytes, no modules"
            % (initrd_path, len(initrd), len(initrd) / 1048576.0, len(archive), len(agent)))
        return 0
    if not args.modules:
        raise BuildError("--modules is required (or --agent-only)")
    root = args.kernel_root or fetch_kernel(args.cache, args.package)
    kver, moddir, vmlinuz = kernel_tree(root)
    modules, builtin = index_modules(moddir)
    mods, skipped = resolve_modules(read_module_list(args.modules), modules, builtin)

    os.makedirs(args.outdir, exist_ok=True)
    with open(vmlinuz, "rb") as f:
        write_atomic(os.path.join(args.outdir, "vmlinuz"), f.read())
    agent = stripped(args.agent)
    archive = build_initramfs(agent, kver, mods, extra)
    initrd = gzip.compress(archive, compresslevel=9, mtime=0)
    initrd_path = os.path.join(args.outdir, args.initrd_name)
    write_atomic(initrd_path, initrd)

    log("kernel %s (%s)" % (kver, os.path.basename(root)))
    log("modules: %s%s" % (" ".join(n for n, _p, _d in mods), (" (built in: %s)" % " ".join(skipped)) if skipped else ""))
    log(
        "%s: %d bytes (%.1f MiB; %d bytes uncompressed), /init (hull-agent, stripped) %d bytes"
        % (initrd_path, len(initrd), len(initrd) / 1048576.0, len(archive), len(agent))
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (BuildError, OSError) as e:
        print("hull-guest: error: %s" % e, file=sys.stderr)
        sys.exit(1)
