/* The built-in VMM's VM object: assembles KVM, memory, boot, devices and vCPUs in order (each phase undone by
 * hull_vmm_free() when a later one fails), runs the vCPU threads, and records why the VM ended. */
#include "vmm/vmm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/boot.h"
#include "vmm/bus.h"
#include "loop.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/serial.h"
#include "vmm/devices/vhost-user-fs.h"
#include "vmm/devices/virtio-blk.h"
#include "vmm/devices/virtio-mmio.h"
#include "vmm/devices/virtio-net.h"
#include "vmm/devices/virtio-rng.h"
#include "vmm/devices/virtio-vsock.h"
#include "error.h"
#include "vmm/kvm.h"
#include "vmm/memory.h"
#include "vmm/vcpu.h"
#include "vmm/vmm-internal.h"

struct hull_vmm {
        struct hull_vmm_config cfg;
        struct hull_kvm kvm;
        struct hull_guest_mem mem;
        struct hull_bus io, mmio;
        struct hull_vcpu *vcpus;
        unsigned n_vcpus;
        struct hull_serial *serial;
        int exit_fd;

        /* The event thread: device work off the vCPUs. */
        struct hull_loop *loop;
        int loop_quit_fd;
        struct hull_loop_source *loop_quit_src;
        pthread_t loop_thread;
        bool loop_started;
        struct hull_virtio_vsock *vsock;
        struct hull_virtio_rng *rng;
        struct hull_vhost_user_fs *fs;
        struct hull_virtio_blk **disks;
        unsigned n_disks;
        struct hull_virtio_net **nics;
        unsigned n_nics;
        unsigned n_virtio; /* virtio-mmio slots handed out */
        char *cmdline; /* the kernel command line with the devices appended */

        pthread_mutex_t lock; /* guards the fields below */
        pthread_cond_t cond;
        enum hull_vmm_exit_kind exit_kind;
        char exit_message[256];
        bool paused;
        unsigned parked; /* vCPUs waiting in hull_vmm_vcpu_may_run() while paused */
        bool started;

        uint64_t exits_io, exits_mmio, exits_all;
};

/* virtio-mmio slots: 4 KiB windows from 0xd0000000 in the MMIO hole, and the GSIs they interrupt on (ISA-range
 * IOAPIC pins the MP table routes 1:1; 4 is the serial port, 8 the RTC). */
#define VIRTIO_MMIO_BASE 0xD0000000ULL
static const uint32_t virtio_gsis[] = { 5, 6, 7, 9, 10, 11, 12, 13, 14, 15 };

/* The next free slot; its virtio_mmio.device= entry goes on the kernel command line at once (a device that then
 * fails to come up fails the whole set-up, command line and all). */
static int next_slot(struct hull_vmm *vmm, uint64_t *ret_base, uint32_t *ret_gsi, struct hull_error **err)
{
        uint64_t base = VIRTIO_MMIO_BASE + (uint64_t)vmm->n_virtio * HULL_VIRTIO_MMIO_SIZE;
        uint32_t gsi;
        char *n;

        if (vmm->n_virtio >= ARRAY_SIZE(virtio_gsis))
                return hull_error_set(err, ENOSPC, "more than %zu virtio devices", ARRAY_SIZE(virtio_gsis));
        gsi = virtio_gsis[vmm->n_virtio];
        if (asprintf(&n, "%s virtio_mmio.device=4K@0x%llx:%u", vmm->cmdline, (unsigned long long)base, gsi) < 0)
                return hull_error_oom(err);
        free(vmm->cmdline);
        vmm->cmdline = n;
        vmm->n_virtio++;
        *ret_base = base;
        *ret_gsi = gsi;
        return 0;
}

static int setup_virtio(struct hull_vmm *vmm, struct hull_error **err)
{
        const struct hull_vmm_config *cfg = &vmm->cfg;
        uint64_t base = 0;
        uint32_t gsi = 0;
        int r;

        vmm->cmdline = strdup(cfg->cmdline ? cfg->cmdline : "");
        if (!vmm->cmdline)
                return hull_error_oom(err);
        if (cfg->vsock_uds &&
            ((r = next_slot(vmm, &base, &gsi, err)) < 0 ||
             (r = hull_virtio_vsock_new(vmm, base, gsi, cfg->vsock_cid, cfg->vsock_uds, &vmm->vsock, err)) < 0))
                return r;
        if (cfg->rng &&
            ((r = next_slot(vmm, &base, &gsi, err)) < 0 ||
             (r = hull_virtio_rng_new(vmm, base, gsi, &vmm->rng, err)) < 0))
                return r;
        if (cfg->fs_socket &&
            ((r = next_slot(vmm, &base, &gsi, err)) < 0 ||
             (r = hull_vhost_user_fs_new(vmm, base, gsi, cfg->fs_socket, cfg->fs_tag ? cfg->fs_tag : "kataShared",
                                         &vmm->fs, err)) < 0))
                return r;
        if (cfg->n_disks) {
                vmm->disks = calloc(cfg->n_disks, sizeof(*vmm->disks));
                if (!vmm->disks)
                        return hull_error_oom(err);
                vmm->n_disks = cfg->n_disks; /* hull_vmm_free() skips the ones not made */
        }
        for (unsigned i = 0; i < cfg->n_disks; i++)
                if ((r = next_slot(vmm, &base, &gsi, err)) < 0 ||
                    (r = hull_virtio_blk_new(vmm, base, gsi, cfg->disks[i].path, cfg->disks[i].read_only,
                                             &vmm->disks[i], err)) < 0)
                        return r;
        if (cfg->n_nics) {
                vmm->nics = calloc(cfg->n_nics, sizeof(*vmm->nics));
                if (!vmm->nics)
                        return hull_error_oom(err);
                vmm->n_nics = cfg->n_nics;
        }
        for (unsigned i = 0; i < cfg->n_nics; i++)
                if ((r = next_slot(vmm, &base, &gsi, err)) < 0 ||
                    (r = hull_virtio_net_new(vmm, base, gsi, cfg->nics[i].tap_fd, cfg->nics[i].mac, &vmm->nics[i],
                                             err)) < 0)
                        return r;
        return 0;
}

static int vmm_setup(struct hull_vmm *vmm, struct hull_error **err)
{
        const struct hull_vmm_config *cfg = &vmm->cfg;
        _cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;
        struct hull_boot_info boot = { .entry = cfg->entry };
        int r;

        if ((r = hull_kvm_open(&vmm->kvm, cfg->kvm_device, err)) < 0)
                return r;
        if ((r = hull_guest_mem_init(&vmm->mem, cfg->memory_mib << 20, cfg->memfd || cfg->fs_socket, err)) < 0 ||
            (r = hull_guest_mem_register(&vmm->mem, vmm->kvm.vm_fd, err)) < 0)
                return r;
        if (cfg->kernel || cfg->long_mode)
                if ((r = hull_boot_setup_long_mode(&vmm->mem, err)) < 0)
                        return r;
        if ((r = setup_virtio(vmm, err)) < 0)
                return r;
        if (cfg->kernel) {
                if ((r = hull_boot_setup_mptable(&vmm->mem, cfg->vcpus, err)) < 0 ||
                    (r = hull_boot_load_linux(&vmm->mem, cfg->kernel, cfg->initrd, vmm->cmdline, &boot, err)) < 0)
                        return r;
        }
        if ((r = hull_serial_new(vmm, HULL_SERIAL_COM1, HULL_SERIAL_COM1_IRQ, cfg->console_fd, &vmm->serial, err)) <
                    0 ||
            (r = hull_i8042_add(vmm, err)) < 0)
                return r;

        if ((r = hull_kvm_supported_cpuid(&vmm->kvm, &cpuid, err)) < 0)
                return r;
        vmm->vcpus = calloc(cfg->vcpus, sizeof(*vmm->vcpus));
        if (!vmm->vcpus)
                return hull_error_oom(err);
        for (unsigned i = 0; i < cfg->vcpus; i++) {
                vmm->vcpus[i].fd = -1;
                r = hull_vcpu_init(&vmm->vcpus[i], vmm, &vmm->kvm, i, cfg->vcpus, cpuid, err);
                vmm->n_vcpus = i + 1;
                if (r < 0)
                        return r;
        }
        /* The boot processor starts at the entry; application processors wait for INIT/SIPI in the kernel's APIC
         * emulation (their state is KVM's reset state). */
        if (cfg->kernel)
                r = hull_vcpu_set_long_mode(&vmm->vcpus[0], boot.entry, boot.boot_params, err);
        else if (cfg->long_mode)
                r = hull_vcpu_set_long_mode(&vmm->vcpus[0], cfg->entry, 0, err);
        else
                r = hull_vcpu_set_real_mode(&vmm->vcpus[0], cfg->entry, err);
        return r;
}

static int on_loop_quit(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_vmm *vmm = userdata;

        (void)src;
        (void)fd;
        (void)events;
        hull_loop_quit(vmm->loop, 0);
        return 0;
}

void hull_vmm_thread_confine(struct hull_vmm *vmm, enum hull_vmm_thread_kind kind)
{
        int r;

        if (vmm->cfg.no_seccomp)
                return;
        r = hull_vmm_seccomp_install(kind);
        if (r < 0)
                hull_vmm_fail(vmm, HULL_VMM_EXIT_ERROR, "seccomp filter for a VMM thread: %s", strerror(-r));
}

static void *event_thread(void *arg)
{
        struct hull_vmm *vmm = arg;
        int r;

        hull_vmm_thread_confine(vmm, HULL_VMM_THREAD_EVENT);
        r = hull_loop_run(vmm->loop);

        if (r < 0)
                hull_vmm_fail(vmm, HULL_VMM_EXIT_ERROR, "event loop: %s", strerror(-r));
        return NULL;
}

int hull_vmm_new(const struct hull_vmm_config *cfg, struct hull_vmm **ret, struct hull_error **err)
{
        _cleanup_(hull_vmm_freep) struct hull_vmm *vmm = NULL;
        int r;

        if (cfg->vcpus < 1 || cfg->vcpus > 254)
                return hull_error_set(err, EINVAL, "builtin VMM: %u vCPUs (1..254)", cfg->vcpus);
        vmm = calloc(1, sizeof(*vmm));
        if (!vmm)
                return hull_error_oom(err);
        vmm->cfg = *cfg;
        vmm->kvm.kvm_fd = vmm->kvm.vm_fd = -1;
        vmm->mem.memfd = -1;
        vmm->exit_fd = vmm->loop_quit_fd = -1;
        hull_bus_init(&vmm->io);
        hull_bus_init(&vmm->mmio);
        pthread_mutex_init(&vmm->lock, NULL);
        pthread_cond_init(&vmm->cond, NULL);
        vmm->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        vmm->loop_quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (vmm->exit_fd < 0 || vmm->loop_quit_fd < 0)
                return hull_error_errno(err, errno, "eventfd");
        if ((r = hull_loop_new(&vmm->loop, err)) < 0 ||
            (r = hull_loop_add_fd(vmm->loop, vmm->loop_quit_fd, EPOLLIN, on_loop_quit, vmm, &vmm->loop_quit_src, err)) <
                    0)
                return r;
        /* The configuration's strings belong to the caller; only set-up reads them. */
        r = vmm_setup(vmm, err);
        vmm->cfg.kernel = vmm->cfg.initrd = vmm->cfg.cmdline = vmm->cfg.kvm_device = vmm->cfg.vsock_uds = NULL;
        vmm->cfg.fs_socket = vmm->cfg.fs_tag = NULL;
        vmm->cfg.disks = NULL;
        vmm->cfg.nics = NULL;
        if (r < 0)
                return hull_error_prefix(err, "builtin VMM");
        *ret = TAKE_PTR(vmm);
        return 0;
}

int hull_vmm_start(struct hull_vmm *vmm, struct hull_error **err)
{
        sigset_t all, old;
        int r = 0;

        if (vmm->started)
                return hull_error_set(err, EALREADY, "builtin VMM: already started");
        vmm->started = true;
        /* vCPU threads take no process signals but their kick. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(&vmm->loop_thread, NULL, event_thread, vmm);
        vmm->loop_started = r == 0;
        for (unsigned i = 0; i < vmm->n_vcpus && r == 0; i++) {
                r = pthread_create(&vmm->vcpus[i].thread, NULL, hull_vcpu_thread, &vmm->vcpus[i]);
                if (r != 0)
                        break;
                vmm->vcpus[i].started = true;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                hull_vmm_stop(vmm);
                return hull_error_errno(err, r, "builtin VMM: start vCPU threads");
        }
        return 0;
}

int hull_vmm_exit_fd(const struct hull_vmm *vmm)
{
        return vmm->exit_fd;
}

enum hull_vmm_exit_kind hull_vmm_exit_reason(struct hull_vmm *vmm, const char **ret_message)
{
        enum hull_vmm_exit_kind k;

        pthread_mutex_lock(&vmm->lock);
        k = vmm->exit_kind;
        pthread_mutex_unlock(&vmm->lock);
        if (ret_message)
                *ret_message = vmm->exit_message;
        return k;
}

static void kick_all(struct hull_vmm *vmm)
{
        for (unsigned i = 0; i < vmm->n_vcpus; i++)
                hull_vcpu_kick(&vmm->vcpus[i]);
}

void hull_vmm_fail(struct hull_vmm *vmm, enum hull_vmm_exit_kind kind, const char *fmt, ...)
{
        bool first = false;
        va_list ap;

        pthread_mutex_lock(&vmm->lock);
        if (vmm->exit_kind == HULL_VMM_RUNNING) {
                first = true;
                vmm->exit_kind = kind;
                va_start(ap, fmt);
                vsnprintf(vmm->exit_message, sizeof(vmm->exit_message), fmt, ap);
                va_end(ap);
                pthread_cond_broadcast(&vmm->cond);
        }
        pthread_mutex_unlock(&vmm->lock);
        if (first) {
                uint64_t one = 1;
                ssize_t n = write(vmm->exit_fd, &one, sizeof(one));
                (void)n;
                kick_all(vmm);
        }
}

void hull_vmm_stop(struct hull_vmm *vmm)
{
        hull_vmm_fail(vmm, HULL_VMM_EXIT_STOPPED, "stopped");
        if (vmm->loop_started) {
                uint64_t one = 1;
                ssize_t n = write(vmm->loop_quit_fd, &one, sizeof(one));
                (void)n;
                pthread_join(vmm->loop_thread, NULL);
                vmm->loop_started = false;
        }
        for (unsigned i = 0; i < vmm->n_vcpus; i++) {
                struct hull_vcpu *v = &vmm->vcpus[i];
                if (v->started) {
                        hull_vcpu_kick(v);
                        pthread_join(v->thread, NULL);
                        v->started = false;
                }
        }
}

bool hull_vmm_vcpu_may_run(struct hull_vmm *vmm)
{
        bool run;

        pthread_mutex_lock(&vmm->lock);
        if (vmm->paused && vmm->exit_kind == HULL_VMM_RUNNING) {
                vmm->parked++;
                pthread_cond_broadcast(&vmm->cond);
                while (vmm->paused && vmm->exit_kind == HULL_VMM_RUNNING)
                        pthread_cond_wait(&vmm->cond, &vmm->lock);
                vmm->parked--;
        }
        run = vmm->exit_kind == HULL_VMM_RUNNING;
        pthread_mutex_unlock(&vmm->lock);
        return run;
}

int hull_vmm_pause(struct hull_vmm *vmm, struct hull_error **err)
{
        pthread_mutex_lock(&vmm->lock);
        if (vmm->exit_kind != HULL_VMM_RUNNING) {
                pthread_mutex_unlock(&vmm->lock);
                return hull_error_set(err, ESRCH, "builtin VMM: the VM has ended");
        }
        vmm->paused = true;
        pthread_mutex_unlock(&vmm->lock);
        kick_all(vmm);
        pthread_mutex_lock(&vmm->lock);
        while (vmm->started && vmm->parked < vmm->n_vcpus && vmm->exit_kind == HULL_VMM_RUNNING)
                pthread_cond_wait(&vmm->cond, &vmm->lock);
        pthread_mutex_unlock(&vmm->lock);
        return 0;
}

int hull_vmm_resume(struct hull_vmm *vmm, struct hull_error **err)
{
        (void)err;
        pthread_mutex_lock(&vmm->lock);
        vmm->paused = false;
        pthread_cond_broadcast(&vmm->cond);
        pthread_mutex_unlock(&vmm->lock);
        return 0;
}

void hull_vmm_count_exit(struct hull_vmm *vmm, uint32_t exit_reason)
{
        __atomic_add_fetch(&vmm->exits_all, 1, __ATOMIC_RELAXED);
        if (exit_reason == KVM_EXIT_IO)
                __atomic_add_fetch(&vmm->exits_io, 1, __ATOMIC_RELAXED);
        else if (exit_reason == KVM_EXIT_MMIO)
                __atomic_add_fetch(&vmm->exits_mmio, 1, __ATOMIC_RELAXED);
}

void hull_vmm_exit_counts(struct hull_vmm *vmm, uint64_t *ret_io, uint64_t *ret_mmio, uint64_t *ret_all)
{
        *ret_io = __atomic_load_n(&vmm->exits_io, __ATOMIC_RELAXED);
        *ret_mmio = __atomic_load_n(&vmm->exits_mmio, __ATOMIC_RELAXED);
        *ret_all = __atomic_load_n(&vmm->exits_all, __ATOMIC_RELAXED);
}

const struct hull_guest_mem *hull_vmm_memory(const struct hull_vmm *vmm)
{
        return &vmm->mem;
}

struct hull_bus *hull_vmm_io_bus(struct hull_vmm *vmm)
{
        return &vmm->io;
}

struct hull_bus *hull_vmm_mmio_bus(struct hull_vmm *vmm)
{
        return &vmm->mmio;
}

struct hull_loop *hull_vmm_loop(struct hull_vmm *vmm)
{
        return vmm->loop;
}

int hull_vmm_vm_fd(const struct hull_vmm *vmm)
{
        return vmm->kvm.vm_fd;
}

int hull_vmm_irq_line(struct hull_vmm *vmm, uint32_t gsi, int level)
{
        return hull_kvm_irq_line(&vmm->kvm, gsi, level);
}

struct hull_vmm *hull_vmm_free(struct hull_vmm *vmm)
{
        if (!vmm)
                return NULL;
        hull_vmm_stop(vmm);
        for (unsigned i = 0; i < vmm->n_vcpus; i++)
                hull_vcpu_release(&vmm->vcpus[i]);
        free(vmm->vcpus);
        hull_virtio_vsock_free(vmm->vsock);
        hull_virtio_rng_free(vmm->rng);
        hull_vhost_user_fs_free(vmm->fs);
        for (unsigned i = 0; i < vmm->n_disks; i++)
                hull_virtio_blk_free(vmm->disks[i]);
        free(vmm->disks);
        for (unsigned i = 0; i < vmm->n_nics; i++)
                hull_virtio_net_free(vmm->nics[i]);
        free(vmm->nics);
        free(vmm->cmdline);
        hull_loop_source_remove(vmm->loop_quit_src);
        hull_loop_free(vmm->loop);
        if (vmm->loop_quit_fd >= 0)
                close(vmm->loop_quit_fd);
        hull_serial_free(vmm->serial);
        hull_guest_mem_release(&vmm->mem);
        hull_kvm_close(&vmm->kvm);
        hull_bus_release(&vmm->io);
        hull_bus_release(&vmm->mmio);
        if (vmm->exit_fd >= 0)
                close(vmm->exit_fd);
        pthread_cond_destroy(&vmm->cond);
        pthread_mutex_destroy(&vmm->lock);
        free(vmm);
        return NULL;
}
