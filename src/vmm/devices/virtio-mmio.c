/* virtio-mmio register file, feature negotiation, queue set-up, ioeventfd notifications and irqfd interrupts. */
#include "vmm/devices/virtio-mmio.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "error.h"
#include "loop.h"
#include "vmm/bus.h"
#include "vmm/vmm.h"

#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_VENDOR_ID 0x00C
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK 0x064
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LOW 0x080
#define REG_QUEUE_DESC_HIGH 0x084
#define REG_QUEUE_DRIVER_LOW 0x090
#define REG_QUEUE_DRIVER_HIGH 0x094
#define REG_QUEUE_DEVICE_LOW 0x0A0
#define REG_QUEUE_DEVICE_HIGH 0x0A4
#define REG_CONFIG_GENERATION 0x0FC
#define REG_CONFIG 0x100
#define MAGIC 0x74726976 /* "virt" */
#define VENDOR_ID 0x4C4C5548 /* "HULL" */
#define STATUS_FEATURES_OK 8
#define STATUS_DRIVER_OK 4
#define STATUS_NEEDS_RESET 0x40
#define INT_VRING 1

struct hull_virtio_mmio {
        struct hull_vmm *vmm;
        uint64_t base;
        uint32_t gsi;
        const struct hull_virtio_ops *ops;
        void *dev;
        pthread_mutex_t lock;
        int irqfd;
        int notify_fd[HULL_VIRTIO_MAX_QUEUES];
        struct hull_loop_source *notify_src[HULL_VIRTIO_MAX_QUEUES];
        uint32_t device_features_sel, driver_features_sel, queue_sel, status, interrupt_status;
        uint64_t driver_features;
        bool active, failed;
        struct hull_virtq queues[HULL_VIRTIO_MAX_QUEUES];
};

static uint64_t offered(const struct hull_virtio_mmio *t)
{
        return t->ops->features | HULL_VIRTIO_F_VERSION_1;
}

static void reset_locked(struct hull_virtio_mmio *t)
{
        t->device_features_sel = t->driver_features_sel = t->queue_sel = 0;
        t->status = t->interrupt_status = 0;
        t->driver_features = 0;
        t->active = false;
        for (unsigned i = 0; i < HULL_VIRTIO_MAX_QUEUES; i++)
                hull_virtq_reset(&t->queues[i]);
        if (t->ops->reset)
                t->ops->reset(t->dev);
}

void hull_virtio_mmio_fail(struct hull_virtio_mmio *t, const char *why)
{
        t->failed = true;
        t->active = false;
        t->status |= STATUS_NEEDS_RESET;
        hull_vmm_fail(t->vmm, HULL_VMM_EXIT_ERROR, "virtio-%s at 0x%llx: %s", t->ops->name, (unsigned long long)t->base,
                      why);
}

static struct hull_virtq *selected(struct hull_virtio_mmio *t)
{
        return t->queue_sel < t->ops->num_queues ? &t->queues[t->queue_sel] : NULL;
}

static void set_status(struct hull_virtio_mmio *t, uint32_t v)
{
        if (v == 0) {
                reset_locked(t);
                return;
        }
        if ((v & STATUS_FEATURES_OK) && !(t->status & STATUS_FEATURES_OK)) {
                /* The driver may only take what was offered, and a modern device needs VERSION_1. */
                if ((t->driver_features & ~offered(t)) || !(t->driver_features & HULL_VIRTIO_F_VERSION_1))
                        v &= ~(uint32_t)STATUS_FEATURES_OK;
        }
        if ((v & STATUS_DRIVER_OK) && !t->active && !t->failed) {
                if (!(v & STATUS_FEATURES_OK)) {
                        hull_virtio_mmio_fail(t, "DRIVER_OK without FEATURES_OK");
                        return;
                }
                t->active = true;
                if (t->ops->activate)
                        t->ops->activate(t->dev, t->driver_features);
        }
        t->status = v | (t->status & STATUS_NEEDS_RESET);
}

static void set_queue_ready(struct hull_virtio_mmio *t, uint32_t v)
{
        struct hull_virtq *q = selected(t);
        char why[160];

        if (!q)
                return;
        if (!v) {
                q->ready = false;
                return;
        }
        if (hull_virtq_activate(q, hull_vmm_memory(t->vmm), why, sizeof(why)) < 0) {
                char msg[200];
                snprintf(msg, sizeof(msg), "queue %u: %s", t->queue_sel, why);
                hull_virtio_mmio_fail(t, msg);
                return;
        }
        q->ready = true;
}

/* The driver notified queue q: the device hears of it while it is live and the queue ready. */
static void notify_locked(struct hull_virtio_mmio *t, uint32_t q)
{
        if (q < t->ops->num_queues && t->active && t->queues[q].ready && t->ops->notify)
                t->ops->notify(t->dev, (uint16_t)q);
}

static void set_addr(uint64_t *a, bool high, uint32_t v)
{
        *a = high ? (*a & 0xFFFFFFFFULL) | ((uint64_t)v << 32) : (*a & ~0xFFFFFFFFULL) | v;
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct hull_virtio_mmio *t = opaque;
        struct hull_virtq *q;
        uint32_t v = 0;

        pthread_mutex_lock(&t->lock);
        if (off >= REG_CONFIG) {
                if (t->ops->config_write && off - REG_CONFIG < t->ops->config_size &&
                    len <= t->ops->config_size - (off - REG_CONFIG))
                        t->ops->config_write(t->dev, (uint32_t)(off - REG_CONFIG), data, len);
                goto out;
        }
        /* Registers below the configuration space are 32 bits wide and aligned (4.2.2.2). */
        if (len != 4 || (off & 3))
                goto out;
        memcpy(&v, data, 4);
        q = selected(t);
        switch (off) {
        case REG_DEVICE_FEATURES_SEL:
                t->device_features_sel = v;
                break;
        case REG_DRIVER_FEATURES:
                if (t->driver_features_sel < 2 && !(t->status & STATUS_FEATURES_OK))
                        set_addr(&t->driver_features, t->driver_features_sel == 1, v);
                break;
        case REG_DRIVER_FEATURES_SEL:
                t->driver_features_sel = v;
                break;
        case REG_QUEUE_SEL:
                t->queue_sel = v;
                break;
        case REG_QUEUE_NUM:
                if (q && !q->ready)
                        q->num = v > 0xFFFF ? 0 : (uint16_t)v; /* checked when the queue goes ready */
                break;
        case REG_QUEUE_READY:
                set_queue_ready(t, v);
                break;
        case REG_QUEUE_NOTIFY:
                /* Normally caught by the ioeventfd in the kernel; a notify that reaches us is handled here. */
                notify_locked(t, v);
                break;
        case REG_INTERRUPT_ACK:
                t->interrupt_status &= ~v;
                break;
        case REG_STATUS:
                set_status(t, v);
                break;
        case REG_QUEUE_DESC_LOW:
        case REG_QUEUE_DESC_HIGH:
                if (q && !q->ready)
                        set_addr(&q->desc_gpa, off == REG_QUEUE_DESC_HIGH, v);
                break;
        case REG_QUEUE_DRIVER_LOW:
        case REG_QUEUE_DRIVER_HIGH:
                if (q && !q->ready)
                        set_addr(&q->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, v);
                break;
        case REG_QUEUE_DEVICE_LOW:
        case REG_QUEUE_DEVICE_HIGH:
                if (q && !q->ready)
                        set_addr(&q->used_gpa, off == REG_QUEUE_DEVICE_HIGH, v);
                break;
        default:
                break;
        }
out:
        pthread_mutex_unlock(&t->lock);
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        struct hull_virtio_mmio *t = opaque;
        struct hull_virtq *q;
        uint32_t v = 0;

        memset(data, 0, len);
        pthread_mutex_lock(&t->lock);
        if (off >= REG_CONFIG) {
                if (t->ops->config_read && off - REG_CONFIG < t->ops->config_size &&
                    len <= t->ops->config_size - (off - REG_CONFIG))
                        t->ops->config_read(t->dev, (uint32_t)(off - REG_CONFIG), data, len);
                goto out;
        }
        if (len != 4 || (off & 3))
                goto out;
        q = selected(t);
        switch (off) {
        case REG_MAGIC:
                v = MAGIC;
                break;
        case REG_VERSION:
                v = 2;
                break;
        case REG_DEVICE_ID:
                v = t->ops->device_id;
                break;
        case REG_VENDOR_ID:
                v = VENDOR_ID;
                break;
        case REG_DEVICE_FEATURES:
                v = t->device_features_sel == 0       ? (uint32_t)offered(t)
                        : t->device_features_sel == 1 ? (uint32_t)(offered(t) >> 32)
                                                      : 0;
                break;
        case REG_QUEUE_NUM_MAX:
                v = q ? t->ops->queue_max : 0;
                break;
        case REG_QUEUE_READY:
                v = q ? q->ready : 0;
                break;
        case REG_INTERRUPT_STATUS:
                v = t->interrupt_status;
                break;
        case REG_STATUS:
                v = t->status;
                break;
        case REG_CONFIG_GENERATION:
                v = 0;
                break;
        default:
                break;
        }
        memcpy(data, &v, 4);
out:
        pthread_mutex_unlock(&t->lock);
}

static const struct hull_vmm_dev_ops mmio_ops = { .read = mmio_read, .write = mmio_write };

static int on_notify(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_virtio_mmio *t = userdata;
        uint64_t n;
        uint16_t q;

        (void)src;
        (void)events;
        if (read(fd, &n, sizeof(n)) < 0)
                return 0;
        for (q = 0; q < t->ops->num_queues; q++)
                if (t->notify_fd[q] == fd)
                        break;
        pthread_mutex_lock(&t->lock);
        notify_locked(t, q);
        pthread_mutex_unlock(&t->lock);
        return 0;
}

int hull_virtio_mmio_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, const struct hull_virtio_ops *ops,
                         void *dev, struct hull_virtio_mmio **ret, struct hull_error **err)
{
        _cleanup_(hull_virtio_mmio_freep) struct hull_virtio_mmio *t = NULL;
        struct kvm_irqfd irqfd = { .gsi = gsi };
        int r;

        if (ops->num_queues == 0 || ops->num_queues > HULL_VIRTIO_MAX_QUEUES || ops->queue_max == 0 ||
            ops->queue_max > HULL_VIRTQ_MAX_SIZE)
                return hull_error_set(err, EINVAL, "virtio-%s: bad queue layout", ops->name);
        t = calloc(1, sizeof(*t));
        if (!t)
                return hull_error_oom(err);
        t->vmm = vmm;
        t->base = base;
        t->gsi = gsi;
        t->ops = ops;
        t->dev = dev;
        t->irqfd = -1;
        for (unsigned i = 0; i < HULL_VIRTIO_MAX_QUEUES; i++)
                t->notify_fd[i] = -1;
        pthread_mutex_init(&t->lock, NULL);

        t->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (t->irqfd < 0)
                return hull_error_errno(err, errno, "virtio-%s: eventfd", ops->name);
        irqfd.fd = (uint32_t)t->irqfd;
        if (ioctl(hull_vmm_vm_fd(vmm), KVM_IRQFD, &irqfd) < 0)
                return hull_error_errno(err, errno, "virtio-%s: KVM_IRQFD gsi %u", ops->name, gsi);
        for (uint16_t q = 0; q < ops->num_queues; q++) {
                struct kvm_ioeventfd io = {
                        .datamatch = q,
                        .addr = base + REG_QUEUE_NOTIFY,
                        .len = 4,
                        .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
                };
                t->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (t->notify_fd[q] < 0)
                        return hull_error_errno(err, errno, "virtio-%s: eventfd", ops->name);
                io.fd = t->notify_fd[q];
                if (ioctl(hull_vmm_vm_fd(vmm), KVM_IOEVENTFD, &io) < 0)
                        return hull_error_errno(err, errno, "virtio-%s: KVM_IOEVENTFD", ops->name);
                r = hull_loop_add_fd(hull_vmm_loop(vmm), t->notify_fd[q], EPOLLIN, on_notify, t, &t->notify_src[q],
                                     err);
                if (r < 0)
                        return r;
        }
        r = hull_bus_add(hull_vmm_mmio_bus(vmm), base, HULL_VIRTIO_MMIO_SIZE, &mmio_ops, t, err);
        if (r < 0)
                return hull_error_prefix(err, "virtio-%s", ops->name);
        *ret = TAKE_PTR(t);
        return 0;
}

struct hull_virtio_mmio *hull_virtio_mmio_free(struct hull_virtio_mmio *t)
{
        if (!t)
                return NULL;
        for (unsigned i = 0; i < HULL_VIRTIO_MAX_QUEUES; i++) {
                hull_loop_source_remove(t->notify_src[i]);
                if (t->notify_fd[i] >= 0)
                        close(t->notify_fd[i]);
        }
        /* The VM's file descriptor goes with the VM, and with it the irqfd and ioeventfd bindings. */
        if (t->irqfd >= 0)
                close(t->irqfd);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
}

struct hull_virtq *hull_virtio_mmio_queue(struct hull_virtio_mmio *t, uint16_t q)
{
        return q < t->ops->num_queues ? &t->queues[q] : NULL;
}

bool hull_virtio_mmio_active(const struct hull_virtio_mmio *t)
{
        return t->active && !t->failed;
}

void hull_virtio_mmio_interrupt_now(struct hull_virtio_mmio *t)
{
        uint64_t one = 1;
        ssize_t n;

        t->interrupt_status |= INT_VRING;
        n = write(t->irqfd, &one, sizeof(one));
        (void)n;
}

void hull_virtio_mmio_interrupt(struct hull_virtio_mmio *t, uint16_t q)
{
        if (q < t->ops->num_queues && !hull_virtq_wants_interrupt(&t->queues[q]))
                return;
        hull_virtio_mmio_interrupt_now(t);
}

void hull_virtio_mmio_lock(struct hull_virtio_mmio *t)
{
        pthread_mutex_lock(&t->lock);
}

void hull_virtio_mmio_unlock(struct hull_virtio_mmio *t)
{
        pthread_mutex_unlock(&t->lock);
}
