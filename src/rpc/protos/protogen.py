#!/usr/bin/env python3
"""Run protoc-c over .proto files and write flat-named outputs for meson.

Meson outputs cannot live in subdirectories, so a proto at a/b/c.proto becomes a_b_c.pb-c.{c,h} and the
generated #include lines are rewritten to match. Go-only options (gogoproto, containerd's fieldpath plugin)
are stripped from a staged copy first: they change Go code generation, never the wire format.

usage: protogen.py PROTOC_C OUTDIR -I DIR [-I DIR ...] -- PROTO [PROTO ...]
PROTO is a path relative to one of the -I directories.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

STRIP_PREFIX = "github.com/containerd/containerd/"
GO_OPTION = re.compile(r"^\s*\((gogoproto|containerd\.plugin)\.")


def flat_name(proto):
    stem = proto[:-len(".proto")]
    if stem.startswith(STRIP_PREFIX):
        stem = "containerd/" + stem[len(STRIP_PREFIX):]
    return stem.replace("/", "_")


def strip_field_options(text):
    """Drop gogoproto/fieldpath entries from [...] option lists; drop the brackets when nothing is left."""
    def fix(m):
        kept = [o for o in m.group(1).split(",") if o.strip() and not GO_OPTION.match(o)]
        return " [" + ", ".join(o.strip() for o in kept) + "]" if kept else ""
    return re.sub(r"\s*\[([^\[\]]*)\]", fix, text)


def strip_go_only(text):
    out = []
    for line in text.splitlines():
        if re.match(r'^\s*import\s+(weak\s+)?"(gogoproto/gogo\.proto|github\.com/containerd/containerd/protobuf/plugin/fieldpath\.proto)"\s*;', line):
            continue
        if re.match(r"^\s*option\s+\((gogoproto|containerd\.plugin)\.[^)]*\)\s*=.*;\s*$", line):
            continue
        if "import weak" in line:
            raise SystemExit("protogen: unexpected weak import: " + line.strip())
        out.append(line)
    return strip_field_options("\n".join(out) + "\n")


def main(argv):
    if len(argv) < 5 or "--" not in argv:
        raise SystemExit(__doc__)
    protoc, outdir = argv[1], argv[2]
    sep = argv.index("--")
    opts, protos = argv[3:sep], argv[sep + 1:]
    includes = [opts[i + 1] for i in range(0, len(opts), 2) if opts[i] == "-I"]
    with tempfile.TemporaryDirectory(prefix="protogen-") as tmp:
        stage, gen = os.path.join(tmp, "stage"), os.path.join(tmp, "gen")
        os.makedirs(gen)
        for proto in protos:
            src = next((os.path.join(d, proto) for d in includes if os.path.isfile(os.path.join(d, proto))), None)
            if not src:
                raise SystemExit("protogen: %s not found under %s" % (proto, " ".join(includes)))
            dst = os.path.join(stage, proto)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(src) as f:
                text = f.read()
            with open(dst, "w") as f:
                f.write(strip_go_only(text))
        # Inputs named by their staged path, so that no -I directory shadows them.
        cmd = [protoc, "--c_out=" + gen, "-I" + stage] + ["-I" + os.path.abspath(d) for d in includes]
        subprocess.run(cmd + [os.path.join(stage, p) for p in protos], check=True, cwd=tmp)
        rename = {p[:-len(".proto")] + ".pb-c.h": flat_name(p) + ".pb-c.h" for p in protos}
        for proto in protos:
            for ext in (".pb-c.c", ".pb-c.h"):
                with open(os.path.join(gen, proto[:-len(".proto")] + ext)) as f:
                    text = f.read()
                text = re.sub(r'#include "([^"]+\.pb-c\.h)"',
                              lambda m: '#include "%s"' % rename.get(m.group(1), m.group(1)), text)
                tmpout = os.path.join(outdir, flat_name(proto) + ext + ".tmp")
                with open(tmpout, "w") as f:
                    f.write(text)
                os.replace(tmpout, os.path.join(outdir, flat_name(proto) + ext))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
