#!/usr/bin/env python3
"""Fill Kata's configuration templates (*.toml.in here) the way Kata's `make` does.

Kata's Makefiles run, for every variable V of GENERATED_VARS/USER_VARS,
    sed -e "s|@V@|$(V)|g" file.toml.in > file.toml
inside a shell, so a value written `[\\"a\\"]` in the Makefile reaches the file as `["a"]` and one
written `""` as nothing. The values below are the Makefile defaults for x86_64 (PREFIX=/usr), as
they stand in the Makefile text, after Make expanded the variables they refer to:

  Go runtime:  src/runtime/Makefile at fda095a4c92eface5f130b37411921a3ffa02a54
               src/runtime/arch/amd64-options.mk at 034a402911cfb08e48f3429ef5fa55925a63cf9c
  runtime-rs:  src/runtime-rs/Makefile at 012bf4b333215e9955f20bf0bb494085212c2a65
               src/runtime-rs/arch/x86_64-options.mk at 2aa7dfc38b0d8ab4ae051e9f23ec45b6ec5a6ae8

A variable the template names but the Makefile leaves undefined expands to nothing, as in Make
(DBPATH and DBCTLPATH of runtime-rs). Where a template is newer than the stored Makefile and names
a variable that Makefile version does not have yet, FALLBACKS gives the value Kata's other Makefile
uses for it; each is listed with where it comes from. An @VARIABLE@ left over is an error.

Usage: fill.py [--check] [DIR]   (DIR defaults to this file's directory)
  writes configuration-X.toml next to each configuration-X.toml.in; --check compares instead.
"""
import re
import sys
from pathlib import Path

PKGDATADIR = "/usr/share/kata-containers"

# src/runtime/Makefile (Go runtime), with arch/amd64-options.mk.
GO = {
    "PROJECT_TYPE": "kata",
    "PROJECT_NAME": "Kata Containers",
    "MACHINETYPE": "pc",  # amd64-options.mk
    "KERNELPARAMS": "",  # amd64-options.mk
    "MACHINEACCELERATORS": "",  # amd64-options.mk
    "CPUFEATURES": "pmu=off",  # amd64-options.mk
    "QEMUPATH": "/usr/bin/qemu-system-x86_64",  # $(QEMUBINDIR)/$(QEMUCMD)
    "QEMUVALIDHYPERVISORPATHS": '[\\"/usr/bin/qemu-system-x86_64\\"]',
    "CLHPATH": "/usr/bin/cloud-hypervisor",
    "CLHVALIDHYPERVISORPATHS": '[\\"/usr/bin/cloud-hypervisor\\"]',
    "FCPATH": "/usr/bin/firecracker",
    "FCVALIDHYPERVISORPATHS": '[\\"/usr/bin/firecracker\\"]',
    "FCJAILERPATH": "/usr/bin/jailer",
    "FCVALIDJAILERPATHS": '[\\"/usr/bin/jailer\\"]',
    "KERNELPATH": PKGDATADIR + "/vmlinux.container",  # KERNELTYPE = uncompressed
    "KERNELPATH_CLH": PKGDATADIR + "/vmlinux.container",
    "KERNELPATH_FC": PKGDATADIR + "/vmlinux.container",
    "KERNELPATH_STRATOVIRT": PKGDATADIR + "/vmlinuz.container",  # KERNELTYPE_STRATOVIRT = compressed on amd64
    "IMAGEPATH": PKGDATADIR + "/kata-containers.img",
    "INITRDPATH": PKGDATADIR + "/kata-containers-initrd.img",
    "DEFROOTFSTYPE": '\\"ext4\\"',
    "FIRMWAREPATH": "",
    "FIRMWAREVOLUMEPATH": "",
    "DEFENABLEANNOTATIONS": '[\\"enable_iommu\\", \\"virtio_fs_extra_args\\", \\"kernel_params\\"]',
    "DEFSECCOMPSANDBOXPARAM": "on,obsolete=deny,spawn=deny,resourcecontrol=deny",
    "DEFVCPUS": "1",
    "DEFMAXVCPUS": "0",
    "DEFMEMSZ": "2048",
    "DEFMEMSLOTS": "10",
    "DEFMAXMEMSZ": "0",
    "DEFBRIDGES": "1",
    "DEFDISABLEGUESTSECCOMP": "true",
    "DEFDISABLEGUESTEMPTYDIR": "false",
    "DEFAULTEXPFEATURES": "[]",
    "DEFDISABLESELINUX": "false",
    "DEFDISABLEGUESTSELINUX": "true",
    "DEFGUESTSELINUXLABEL": "system_u:system_r:container_t",
    "DEFENTROPYSOURCE": "/dev/urandom",
    "DEFVALIDENTROPYSOURCES": '[\\"/dev/urandom\\",\\"/dev/random\\",\\"\\"]',
    "DEFDISABLEBLOCK": "false",
    "DEFSHAREDFS_CLH_VIRTIOFS": "virtio-fs",
    "DEFSHAREDFS_QEMU_VIRTIOFS": "virtio-fs",
    "DEFSHAREDFS_STRATOVIRT_VIRTIOFS": "virtio-fs",
    "DEFVIRTIOFSDAEMON": "/usr/libexec/virtiofsd",  # $(LIBEXECDIR)/virtiofsd
    "DEFVALIDVIRTIOFSDAEMONPATHS": '[\\"/usr/libexec/virtiofsd\\"]',
    "DEFVIRTIOFSCACHESIZE": "0",
    "DEFVIRTIOFSCACHE": "auto",
    "DEFVIRTIOFSQUEUESIZE": "1024",
    "DEFVIRTIOFSEXTRAARGS": '[\\"--thread-pool-size=1\\", \\"--announce-submounts\\"]',
    "DEFENABLEIOTHREADS": "false",
    "DEFENABLEVHOSTUSERSTORE": "false",
    "DEFVHOSTUSERSTOREPATH": "/var/run/kata-containers/vhost-user",  # $(PKGRUNDIR)/vhost-user
    "DEFVALIDVHOSTUSERSTOREPATHS": '[\\"/var/run/kata-containers/vhost-user\\"]',
    "DEFFILEMEMBACKEND": '""',
    "DEFVALIDFILEMEMBACKENDS": '[\\"""\\"]',  # [\"$(DEFFILEMEMBACKEND)\"]
    "DEFMSIZE9P": "8192",
    "DEFVFIOMODE": "guest-kernel",
    "DEFSANDBOXCGROUPONLY": "false",
    "DEFSTATICRESOURCEMGMT": "false",
    "DEFBINDMOUNTS": "[]",
    "DEFCREATECONTAINERTIMEOUT": "60",
    "DEFDANCONF": "/run/kata-containers/dans",
    "DEFBLOCKSTORAGEDRIVER_QEMU": "virtio-scsi",
    "DEFBLOCKDEVICEAIO_QEMU": "io_uring",
    "DEFNETWORKMODEL_QEMU": "tcfilter",
    "DEFNETWORKMODEL_CLH": "tcfilter",
    "DEFMACHINETYPE_STRATOVIRT": "microvm",
    "DEFBLOCKSTORAGEDRIVER_STRATOVIRT": "virtio-mmio",
    "DEFNETWORKMODEL_STRATOVIRT": "tcfilter",
    "DEFSTATICRESOURCEMGMT_STRATOVIRT": "true",
    "DEFBLOCKSTORAGEDRIVER_FC": "virtio-mmio",
    "DEFNETWORKMODEL_FC": "tcfilter",
    "DEFSTATICRESOURCEMGMT_FC": "true",
    "CONFIG_QEMU_IN": "config/configuration-qemu.toml.in",
    "CONFIG_CLH_IN": "config/configuration-clh.toml.in",
    "CONFIG_FC_IN": "config/configuration-fc.toml.in",
    "CONFIG_STRATOVIRT_IN": "config/configuration-stratovirt.toml.in",
}

# Variables the Go templates name that the stored Go Makefile version does not define.
GO_FALLBACKS = {
    # runtime-rs Makefile: DEFDISABLEIMAGENVDIMM ?= false
    "DEFDISABLEIMAGENVDIMM": "false",
    # runtime-rs Makefile: DEFSTATICRESOURCEMGMT_CLH := false
    "DEFSTATICRESOURCEMGMT_CLH": "false",
    # the stored amd64-options.mk has no STRATOVIRTCMD (the Makefile then skips StratoVirt on amd64);
    # STRATOVIRTPATH = $(STRATOVIRTBINDIR)/$(STRATOVIRTCMD) with the binary's name
    "STRATOVIRTPATH": "/usr/bin/stratovirt",
    "STRATOVIRTVALIDHYPERVISORPATHS": '[\\"/usr/bin/stratovirt\\"]',
}

# src/runtime-rs/Makefile, with arch/x86_64-options.mk.
RS = {
    "PROJECT_TYPE": "kata",
    "PROJECT_NAME": "Kata Containers",
    "CONFIG_DB_IN": "config/configuration-dragonball.toml.in",
    "DBPATH": "",  # in USER_VARS, never assigned: the built-in VMM has no binary
    "DBCTLPATH": "",
    "DBVALIDHYPERVISORPATHS": "[]",
    "KERNELPATH_DB": PKGDATADIR + "/vmlinux-dragonball-experimental.container",
    "IMAGEPATH": PKGDATADIR + "/kata-containers.img",
    "INITRDPATH": PKGDATADIR + "/kata-containers-initrd.img",
    "DEFROOTFSTYPE": '\\"ext4\\"',
    "VMROOTFSDRIVER_DB": "virtio-blk-pci",
    "DEFENABLEANNOTATIONS": '[\\"enable_iommu\\", \\"virtio_fs_extra_args\\", \\"kernel_params\\", '
    '\\"kernel_verity_params\\", \\"default_vcpus\\", \\"default_memory\\"]',
    "KERNELPARAMS_DB": "console=ttyS1 agent.log_vport=1025",
    "FIRMWAREPATH": "",
    "DEFVCPUS": "1",
    "DEFMAXVCPUS_DB": "0",
    "DEFBRIDGES": "1",
    "DEFMEMSZ": "2048",
    "DEFMAXMEMSZ": "0",
    "DEFBLOCKSTORAGEDRIVER_DB": "virtio-blk-pci",
    "DBSHAREDFS": "inline-virtio-fs",
    "DEFVIRTIOFSCACHESIZE": "0",
    "DEFVIRTIOFSEXTRAARGS": '[\\"--thread-pool-size=1\\", \\"-o\\", \\"announce_submounts\\"]',
    "DEFVIRTIOFSCACHE": "auto",
    "PIPESIZE": "1",
    "DEFNETWORKMODEL_DB": "tcfilter",
    "RUNTIMENAME": "virt_container",
    "HYPERVISOR_DB": "dragonball",
    "DEFDISABLEGUESTSECCOMP": "true",
    "DEFSANDBOXCGROUPONLY_DB": "true",
    "DEFAULTEXPFEATURES": "[]",
    "DEFSTATICRESOURCEMGMT_DB": "false",
    "DEFBINDMOUNTS": "[]",
    "DEFDANCONF": "/run/kata-containers/dans",
}

# The runtime-rs QEMU file: the same Makefile, its QEMU block and x86_64-options.mk.
RS_QEMU = {
    **{k: RS[k] for k in ("PROJECT_TYPE", "PROJECT_NAME", "IMAGEPATH", "INITRDPATH", "DEFROOTFSTYPE",
                          "DEFENABLEANNOTATIONS", "FIRMWAREPATH", "DEFMEMSZ", "DEFMAXMEMSZ", "DEFBRIDGES",
                          "DEFVIRTIOFSCACHESIZE", "DEFVIRTIOFSEXTRAARGS", "DEFVIRTIOFSCACHE", "RUNTIMENAME",
                          "DEFDISABLEGUESTSECCOMP", "DEFAULTEXPFEATURES", "DEFBINDMOUNTS")},
    "CONFIG_QEMU_IN": "config/configuration-qemu-runtime-rs.toml.in",
    "QEMUPATH": "/usr/bin/qemu-system-x86_64",
    "QEMUVALIDHYPERVISORPATHS": '[\\"/usr/bin/qemu-system-x86_64\\"]',
    "KERNELPATH_QEMU": PKGDATADIR + "/vmlinux.container",  # KERNELTYPE_QEMU = uncompressed
    "MACHINETYPE": "q35",  # x86_64-options.mk
    "KERNELPARAMS": "",
    "MACHINEACCELERATORS": "",
    "CPUFEATURES": "pmu=off",
    "VMROOTFSDRIVER_QEMU": "virtio-pmem",  # x86_64
    "FIRMWAREVOLUMEPATH": "",
    "DEFSECCOMPSANDBOXPARAM": '""',
    "DEFVCPUS_QEMU": "1",
    "DEFMAXVCPUS_QEMU": "0",
    "DEFMEMSLOTS": "10",
    "DEFDISABLEBLOCK": "false",
    "DEFSHAREDFS_QEMU_VIRTIOFS": "virtio-fs",
    "DEFVIRTIOFSDAEMON": "/usr/libexec/virtiofsd",
    "DEFVALIDVIRTIOFSDAEMONPATHS": '[\\"/usr/libexec/virtiofsd\\"]',
    "DEFVIRTIOFSQUEUESIZE": "1024",
    "DEFBLOCKSTORAGEDRIVER_QEMU": "virtio-scsi",
    "DEFBLOCKDEVICEAIO_QEMU": "io_uring",
    "DEFENABLEIOTHREADS": "false",
    "DEFENABLEVHOSTUSERSTORE": "false",
    "DEFVHOSTUSERSTOREPATH": "/var/run/kata-containers/vhost-user",
    "DEFVALIDVHOSTUSERSTOREPATHS": '[\\"/var/run/kata-containers/vhost-user\\"]',
    "DEFFILEMEMBACKEND": '""',
    "DEFVALIDFILEMEMBACKENDS": '[\\"""\\"]',
    "DEFMSIZE9P": "8192",
    "DEFENTROPYSOURCE": "/dev/urandom",
    "DEFVALIDENTROPYSOURCES": '[\\"/dev/urandom\\",\\"/dev/random\\",\\"\\"]',
    "QEMUTDXQUOTEGENERATIONSERVICESOCKETPORT": "4050",
    "DEFDISABLESELINUX": "false",
    "DEFDISABLEGUESTSELINUX": "true",
    "DEFCREATECONTAINERTIMEOUT": "30",
    "DEFNETWORKMODEL_QEMU": "tcfilter",
    "HYPERVISOR_QEMU": "qemu",
    "DEFGUESTSELINUXLABEL": '""',
    "DEFSANDBOXCGROUPONLY_QEMU": "false",
    "DEFSTATICRESOURCEMGMT_QEMU": "false",
    "DEFVFIOMODE": "guest-kernel",
    "DEFDISABLEGUESTEMPTYDIR": "false",
}

TEMPLATES = {
    "configuration-qemu.toml.in": {**GO, **GO_FALLBACKS},
    "configuration-clh.toml.in": {**GO, **GO_FALLBACKS},
    "configuration-fc.toml.in": {**GO, **GO_FALLBACKS},
    "configuration-stratovirt.toml.in": {**GO, **GO_FALLBACKS},
    "configuration-dragonball.toml.in": RS,
    "configuration-qemu-runtime-rs.toml.in": RS_QEMU,
}


def shell_dquote(value):
    """What the shell makes of VALUE inside "...": \\" is a quote, a bare " ends/starts quoting."""
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value) and value[i + 1] in '"\\$`':
            out.append(value[i + 1])
            i += 2
            continue
        if c != '"':
            out.append(c)
        i += 1
    return "".join(out)


def fill(text, variables):
    def sub(m):
        name = m.group(1)
        if name not in variables:
            raise KeyError(name)
        return shell_dquote(variables[name])

    try:
        filled = re.sub(r"@([A-Z0-9_]+)@", sub, text)
    except KeyError as e:
        raise SystemExit(f"fill.py: no value for @{e.args[0]}@") from None
    return filled


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    here = Path(args[0]) if args else Path(__file__).resolve().parent
    bad = 0
    for name, variables in TEMPLATES.items():
        src = here / name
        dst = here / name[: -len(".in")]
        text = fill(src.read_text(), variables)
        text = ("# Generated by fill.py from %s: do not edit.\n" % name) + text
        if check:
            if not dst.exists() or dst.read_text() != text:
                print(f"fill.py: {dst} differs from what {name} fills to", file=sys.stderr)
                bad += 1
        else:
            dst.write_text(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
