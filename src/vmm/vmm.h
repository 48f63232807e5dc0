/* The built-in VMM: a KVM virtual machine run by threads of the calling process (one per vCPU), with Linux boot,
 * an 8250 serial console, i8042 reset and virtio-mmio devices. The hypervisor driver `builtin` sits on this. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macros.h"

struct hull_error;
struct hull_vmm;
struct hull_guest_mem;
struct hull_bus;

struct hull_vmm_disk {
        const char *path; /* raw image or block device */
        bool read_only;
};

struct hull_vmm_nic {
        int tap_fd; /* IFF_TAP | IFF_NO_PI | IFF_VNET_HDR; the caller's, kept open while the VM runs */
        uint8_t mac[6];
};

struct hull_vmm_config {
        const char *kvm_device; /* NULL: /dev/kvm */
        unsigned vcpus; /* 1..254 */
        uint64_t memory_mib;
        bool memfd; /* RAM in a memfd (vhost-user back ends map it) */
        /* Linux: a bzImage, an optional initrd, the command line. kernel NULL: a bare VM whose vCPUs start at
         * entry, in real mode (CS:IP = 0:entry) or, with long_mode, in 64-bit mode with the boot page tables; the
         * caller loads the code (tests). */
        const char *kernel;
        const char *initrd;
        const char *cmdline;
        uint64_t entry;
        bool long_mode;
        int console_fd; /* the serial port's output goes here; -1: discarded */
        bool no_seccomp; /* leave the VMM threads without their seccomp filter (debugging) */

        /* virtio-mmio devices, announced on the kernel command line (virtio_mmio.device=). */
        const char *vsock_uds; /* hybrid vsock: the unix socket to listen on; NULL: no vsock device */
        uint64_t vsock_cid; /* the guest's CID (>= 3) */
        bool rng; /* virtio-rng */
        const struct hull_vmm_disk *disks;
        unsigned n_disks;
        const struct hull_vmm_nic *nics;
        unsigned n_nics;
        /* virtio-fs: a vhost-user-fs back end's socket (virtiofsd, already listening) and the tag; NULL: none.
         * Makes the RAM a memfd. */
        const char *fs_socket;
        const char *fs_tag;
};

enum hull_vmm_exit_kind {
        HULL_VMM_RUNNING = 0,
        HULL_VMM_EXIT_RESET, /* the guest asked for a reset (i8042, triple fault): for hull, the VM's end */
        HULL_VMM_EXIT_POWEROFF, /* KVM_SYSTEM_EVENT_SHUTDOWN */
        HULL_VMM_EXIT_STOPPED, /* hull_vmm_stop() */
        HULL_VMM_EXIT_ERROR, /* an exit the VMM cannot handle, a malformed device request: the VM is dead */
};

int hull_vmm_new(const struct hull_vmm_config *cfg, struct hull_vmm **ret, struct hull_error **err);
/* Start the vCPU threads. */
int hull_vmm_start(struct hull_vmm *vmm, struct hull_error **err);
/* An eventfd that becomes readable once the VM has ended (any exit kind); the VMM keeps it. */
int hull_vmm_exit_fd(const struct hull_vmm *vmm);
/* What ended the VM, and one line saying why (valid while vmm lives); HULL_VMM_RUNNING while it runs. */
enum hull_vmm_exit_kind hull_vmm_exit_reason(struct hull_vmm *vmm, const char **ret_message);
/* Stop every vCPU and join the threads; idempotent. */
void hull_vmm_stop(struct hull_vmm *vmm);
int hull_vmm_pause(struct hull_vmm *vmm, struct hull_error **err);
int hull_vmm_resume(struct hull_vmm *vmm, struct hull_error **err);
/* End the VM from a device or vCPU thread with a reason (the first reason wins). */
void hull_vmm_fail(struct hull_vmm *vmm, enum hull_vmm_exit_kind kind, const char *fmt, ...) _printf_(3, 4);

/* For devices and tests. */
const struct hull_guest_mem *hull_vmm_memory(const struct hull_vmm *vmm);
struct hull_bus *hull_vmm_io_bus(struct hull_vmm *vmm);
struct hull_bus *hull_vmm_mmio_bus(struct hull_vmm *vmm);
int hull_vmm_vm_fd(const struct hull_vmm *vmm);
/* The event loop of the VMM's event thread (device work: notifications, sockets). Sources may be added before
 * hull_vmm_start() from any thread, afterwards only from the event thread itself. */
struct hull_loop *hull_vmm_loop(struct hull_vmm *vmm);
int hull_vmm_irq_line(struct hull_vmm *vmm, uint32_t gsi, int level);
/* Exits the vCPUs took, by KVM exit reason (for tests and logs): IO, MMIO, everything. */
void hull_vmm_exit_counts(struct hull_vmm *vmm, uint64_t *ret_io, uint64_t *ret_mmio, uint64_t *ret_all);

struct hull_vmm *hull_vmm_free(struct hull_vmm *vmm);
HULL_DEFINE_FREEP(struct hull_vmm, hull_vmm_free)
