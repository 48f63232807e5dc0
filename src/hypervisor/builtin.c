/* The builtin driver ([hypervisor.dragonball]): hull's own VMM (src/vmm) on threads of this process, the agent over
 * hybrid vsock (<state_dir>/vsock.sock), the serial console into the console log. No external binary, no API round
 * trips: start returns once the vCPUs run. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "driver.h"
#include "error.h"
#include "host/kvm-probe.h"
#include "log.h"
#include "loop.h"
#include "virtiofsd.h"
#include "vmm/vmm.h"

/* The guest's CID on its virtio-vsock device. Hybrid vsock never shows it to the host: every VM can have the same. */
#define BUILTIN_GUEST_CID 3

struct builtin {
        char *vsock_path, *console_log, *vfs_path, *vfs_log;
        struct hull_virtiofsd *vfs;
        int console_fd;
        struct hull_vmm *vmm;
        struct hull_loop_source *watch;
        struct hull_vmm_disk *disks;
        unsigned n_disks;
        struct hull_vmm_nic *nics;
        unsigned n_nics;
};

static int builtin_create(struct hull_hypervisor *hv, struct hull_error **err)
{
        const struct hull_hv_desc *d = &hv->desc;
        struct builtin *b = calloc(1, sizeof(*b));
        int r;

        if (!b)
                return hull_error_oom(err);
        hv->priv = b;
        b->console_fd = -1;
        if (d->accel == HULL_HV_ACCEL_TCG)
                return hull_error_set(err, EOPNOTSUPP, "builtin: the built-in VMM runs on KVM only, not TCG");
        if (d->accel == HULL_HV_ACCEL_AUTO) {
                const struct hull_kvm_probe_result *kvm = hull_hv_kvm_probe();
                if (!kvm->usable)
                        return hull_error_set(err, ENODEV, "builtin: KVM is not usable: %s", kvm->reason);
        }
        if (d->channel == HULL_HV_CHANNEL_SERIAL)
                return hull_error_set(err, EOPNOTSUPP, "builtin: the agent channel is hybrid vsock, not virtio-serial");
        if (d->shared_dir) {
                r = hull_hv_check_fs_daemon(hv, err);
                if (r < 0)
                        return hull_error_prefix(err, "builtin"), r;
                if (asprintf(&b->vfs_path, "%s/virtiofsd.sock", d->state_dir) < 0 ||
                    asprintf(&b->vfs_log, "%s/virtiofsd.log", d->state_dir) < 0)
                        return hull_error_oom(err);
        }
        if (d->vcpus > 254)
                return hull_error_set(err, EINVAL, "builtin: %u vCPUs, at most 254", d->vcpus);
        if (d->n_devices) {
                b->disks = calloc(d->n_devices, sizeof(*b->disks));
                b->nics = calloc(d->n_devices, sizeof(*b->nics));
                if (!b->disks || !b->nics)
                        return hull_error_oom(err);
        }
        for (size_t i = 0; i < d->n_devices; i++) {
                const struct hull_hv_device *dev = &d->devices[i];

                if (dev->kind == HULL_HV_DEVICE_BLOCK) {
                        b->disks[b->n_disks].path = dev->block.path;
                        b->disks[b->n_disks++].read_only = dev->block.read_only;
                } else if (dev->kind == HULL_HV_DEVICE_NET) {
                        struct hull_vmm_nic *n = &b->nics[b->n_nics++];
                        unsigned m[6];

                        n->tap_fd = dev->net.tap_fd; /* desc's copy: open as long as hv lives */
                        if (dev->net.mac[0] &&
                            sscanf(dev->net.mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6) {
                                for (int k = 0; k < 6; k++)
                                        n->mac[k] = (uint8_t)m[k];
                        } else {
                                /* Locally administered, unicast, unique within the VM. */
                                uint8_t mac[6] = { 0x02, 0x68, 0x75, 0x6C, (uint8_t)(i >> 8), (uint8_t)i };
                                memcpy(n->mac, mac, 6);
                        }
                } else {
                        return hull_error_set(err, EOPNOTSUPP, "builtin: device %s: unknown kind", dev->id);
                }
        }
        if (asprintf(&b->vsock_path, "%s/vsock.sock", d->state_dir) < 0) {
                b->vsock_path = NULL;
                return hull_error_oom(err);
        }
        if (strlen(b->vsock_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                return hull_error_set(err, ENAMETOOLONG, "builtin: socket path %s is too long", b->vsock_path);
        if (d->console_log ? !(b->console_log = strdup(d->console_log))
                           : asprintf(&b->console_log, "%s/console.log", d->state_dir) < 0) {
                b->console_log = NULL;
                return hull_error_oom(err);
        }
        if (d->console == HULL_HV_CONSOLE_VIRTIO)
                log_debug("sandbox=%s builtin: no virtio-console, the console is the serial port", hull_hv_id(hv));
        return 0;
}

static int on_vmm_exit(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_hypervisor *hv = userdata;
        struct builtin *b = hv->priv;
        const char *why = "";
        enum hull_vmm_exit_kind kind;
        struct hull_hv_event ev = { .kind = HULL_HV_EVENT_EXITED, .pid = getpid() };
        char msg[320];

        (void)fd;
        (void)events;
        hull_loop_source_remove(src);
        b->watch = NULL;
        hull_vmm_stop(b->vmm); /* joins the vCPU and event threads */
        kind = hull_vmm_exit_reason(b->vmm, &why);
        ev.guest = kind == HULL_VMM_EXIT_RESET || kind == HULL_VMM_EXIT_POWEROFF;
        ev.status = kind == HULL_VMM_EXIT_ERROR ? 1 << 8 : 0;
        snprintf(msg, sizeof(msg), "builtin VMM: %s", why);
        ev.message = msg;
        if (kind == HULL_VMM_EXIT_ERROR)
                log_error("sandbox=%s builtin: the VM died: %s", hull_hv_id(hv), why);
        else
                log_info("sandbox=%s builtin: the VM ended: %s", hull_hv_id(hv), why);
        if (ev.guest) {
                struct hull_hv_event sd = { .kind = HULL_HV_EVENT_SHUTDOWN,
                                            .guest = true,
                                            .message = "guest-shutdown" };
                hull_hypervisor_emit(hv, &sd);
        }
        hull_hypervisor_emit(hv, &ev); /* last: the callback may free hv */
        return 0;
}

static void on_vfs_exit(struct hull_virtiofsd *v, pid_t pid, int status, const char *message, void *userdata)
{
        struct hull_hypervisor *hv = userdata;
        struct hull_hv_event ev = {
                .kind = HULL_HV_EVENT_DAEMON_EXITED, .pid = pid, .status = status, .message = message
        };

        (void)v;
        hull_hypervisor_emit(hv, &ev);
}

static int builtin_start(struct hull_hypervisor *hv, struct hull_error **err)
{
        const struct hull_hv_desc *d = &hv->desc;
        struct builtin *b = hv->priv;
        _cleanup_buf_ struct hull_buf cmdline = HULL_BUF_INIT;
        struct hull_vmm_config cfg = {
                .vcpus = d->vcpus ? d->vcpus : 1,
                .memory_mib = d->memory_mib,
                .kernel = d->kernel,
                .initrd = d->initrd,
                .vsock_uds = b->vsock_path,
                .vsock_cid = BUILTIN_GUEST_CID,
                .rng = true,
                .disks = b->disks,
                .n_disks = b->n_disks,
                .nics = b->nics,
                .n_nics = b->n_nics,
        };
        uint64_t t0 = hull_now_usec();
        int r;

        /* Like the QEMU driver's line, for a machine with no PCI, no ACPI and an i8042 that only resets. */
        r = hull_buf_puts(&cmdline, "console=ttyS0 reboot=k panic=1 pci=off acpi=off rcupdate.rcu_expedited=1");
        r |= hull_buf_puts(&cmdline, " i8042.noaux=1 i8042.nomux=1 i8042.nopnp=1 i8042.dumbkbd=1");
        if (!d->debug)
                r |= hull_buf_puts(&cmdline, " quiet");
        if (d->kernel_params && *d->kernel_params)
                r |= hull_buf_printf(&cmdline, " %s", d->kernel_params);
        if (r < 0)
                return hull_error_oom(err);
        cfg.cmdline = cmdline.data;

        b->console_fd = open(b->console_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0640);
        if (b->console_fd < 0)
                return hull_error_errno(err, errno, "builtin: console log %s", b->console_log);
        cfg.console_fd = b->console_fd;
        if (d->shared_dir) {
                r = hull_hv_start_virtiofsd(hv, b->vfs_path, b->vfs_log, on_vfs_exit, &b->vfs, err);
                if (r < 0)
                        return r;
                cfg.fs_socket = b->vfs_path;
                cfg.fs_tag = d->shared_tag ? d->shared_tag : HULL_HV_SHARED_TAG;
        }
        r = hull_vmm_new(&cfg, &b->vmm, err);
        if (r < 0)
                return r;
        r = hull_loop_add_fd(hv->loop, hull_vmm_exit_fd(b->vmm), EPOLLIN, on_vmm_exit, hv, &b->watch, err);
        if (r < 0)
                return r;
        r = hull_vmm_start(b->vmm, err);
        if (r < 0)
                return r;
        log_info("sandbox=%s builtin: VM up in %llu ms (%u vCPUs, %llu MiB, agent over hybrid vsock %s)",
                 hull_hv_id(hv), (unsigned long long)((hull_now_usec() - t0) / 1000), cfg.vcpus,
                 (unsigned long long)cfg.memory_mib, b->vsock_path);
        return 0;
}

static void release_runtime(struct builtin *b)
{
        hull_loop_source_remove(b->watch);
        b->watch = NULL;
        b->vmm = hull_vmm_free(b->vmm); /* stops the threads, closes and unlinks the vsock socket */
        /* The VMM's vhost-user connection is gone: the daemon leaves by itself. */
        b->vfs = hull_hv_stop_virtiofsd(b->vfs);
        if (b->console_fd >= 0)
                close(b->console_fd);
        b->console_fd = -1;
}

static int builtin_stop(struct hull_hypervisor *hv, unsigned timeout_ms, int *ret_status, struct hull_error **err)
{
        struct builtin *b = hv->priv;

        (void)timeout_ms; /* the vCPUs leave KVM_RUN at once: there is nothing to wait for */
        (void)err;
        release_runtime(b);
        if (ret_status)
                *ret_status = 0;
        return 0;
}

/* Pause or resume the vCPUs, then report it: no QMP event will. */
static int vcpu_op(struct hull_hypervisor *hv, int (*op)(struct hull_vmm *, struct hull_error **),
                   enum hull_hv_event_kind kind, struct hull_error **err)
{
        struct builtin *b = hv->priv;
        struct hull_hv_event ev = { .kind = kind };
        int r;

        if (!b->vmm)
                return hull_error_set(err, ENOTCONN, "builtin: not running");
        r = op(b->vmm, err);
        if (r >= 0)
                hull_hypervisor_emit(hv, &ev);
        return r;
}

static int builtin_pause(struct hull_hypervisor *hv, struct hull_error **err)
{
        return vcpu_op(hv, hull_vmm_pause, HULL_HV_EVENT_PAUSED, err);
}

static int builtin_resume(struct hull_hypervisor *hv, struct hull_error **err)
{
        return vcpu_op(hv, hull_vmm_resume, HULL_HV_EVENT_RESUMED, err);
}

static int builtin_agent_channel(struct hull_hypervisor *hv, struct hull_hv_channel *ret, struct hull_error **err)
{
        struct builtin *b = hv->priv;
        struct hull_hv_channel c = { .kind = HULL_HV_CAP_HYBRID_VSOCK };

        (void)err;
        c.port = hv->desc.agent_port ? hv->desc.agent_port : HULL_HV_AGENT_PORT;
        snprintf(c.path, sizeof(c.path), "%s", b->vsock_path);
        *ret = c;
        return 0;
}

static uint32_t builtin_capabilities(struct hull_hypervisor *hv)
{
        (void)hv;
        return HULL_HV_CAP_SHARED_FS | HULL_HV_CAP_BLOCK_DEVICES | HULL_HV_CAP_NET_DEVICES | HULL_HV_CAP_PAUSE |
                HULL_HV_CAP_HYBRID_VSOCK;
}

static size_t builtin_pids(struct hull_hypervisor *hv, pid_t *ret, size_t max)
{
        struct builtin *b = hv->priv;
        size_t n;

        /* The VMM is this process; then virtiofsd. */
        if (!b->vmm)
                return 0;
        n = hull_hv_add_pid(ret, max, 0, getpid());
        return hull_hv_add_pid(ret, max, n, b->vfs ? hull_virtiofsd_pid(b->vfs) : 0);
}

static void builtin_destroy(struct hull_hypervisor *hv)
{
        struct builtin *b = hv->priv;

        if (!b)
                return;
        release_runtime(b);
        free(b->vsock_path);
        free(b->console_log);
        free(b->vfs_path);
        free(b->vfs_log);
        free(b->disks);
        free(b->nics);
        free(b);
        hv->priv = NULL;
}

const struct hull_hypervisor_ops hull_builtin_ops = {
        .name = "builtin",
        .create = builtin_create,
        .start = builtin_start,
        .stop = builtin_stop,
        .pause = builtin_pause,
        .resume = builtin_resume,
        .agent_channel = builtin_agent_channel,
        .capabilities = builtin_capabilities,
        .pids = builtin_pids,
        .destroy = builtin_destroy,
};
