/* The QEMU driver's command line, apart from the driver so that it can be checked without running anything:
 * what the driver decided at create time (a plan) plus the VM description give the argv and the guest cmdline. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hypervisor.h"

struct hull_error;

#define HULL_QEMU_BINARY "qemu-system-x86_64"
#define HULL_QEMU_CMDLINE_MAX 2048 /* x86 COMMAND_LINE_SIZE, the terminating NUL included */

enum hull_qemu_machine {
        HULL_QEMU_MICROVM = 0, /* virtio-mmio, no PCI, no firmware: the fastest boot */
        HULL_QEMU_Q35, /* virtio-pci behind SeaBIOS */
};

/* What the driver decided, with the fd numbers as QEMU will see them (hull_child_spawn() maps them from 3). */
struct hull_qemu_plan {
        const char *binary;
        enum hull_qemu_machine machine;
        bool kvm; /* else TCG */
        unsigned tsc_khz; /* TCG: the host's TSC rate for tsc_early_khz=, 0: leave the guest to calibrate */
        int qmp_fd; /* listening socket for the QMP monitor */
        enum hull_hv_capability channel; /* HULL_HV_CAP_VSOCK or HULL_HV_CAP_SERIAL_CHANNEL */
        uint32_t cid; /* VSOCK */
        int vhost_fd; /* VSOCK: the /dev/vhost-vsock fd holding cid; -1: QEMU opens the device itself */
        int agent_fd; /* SERIAL: listening socket for the agent's port */
        const char *console_log;
        const char *virtiofsd_socket; /* NULL: no shared file system */
        const int *net_fds; /* per device of desc->devices (only NET entries are read) */
};

/* machine_type: NULL, "" or "microvm"; "q35" (also "pc-q35-*" versions). -EINVAL otherwise. */
int hull_qemu_machine_from_string(const char *s, enum hull_qemu_machine *ret, struct hull_error **err);

/* The guest kernel's command line: hull's base for the machine, then desc->kernel_params. -E2BIG when it does not
 * fit HULL_QEMU_CMDLINE_MAX, -EINVAL for a newline in it. */
int hull_qemu_build_cmdline(const struct hull_hv_desc *desc, const struct hull_qemu_plan *plan, char **ret,
                            struct hull_error **err);

/* The whole argv (argv[0] = plan->binary). */
int hull_qemu_build_argv(const struct hull_hv_desc *desc, const struct hull_qemu_plan *plan, char ***ret_argv,
                         struct hull_error **err);
