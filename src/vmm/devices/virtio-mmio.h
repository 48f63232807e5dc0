/* The virtio-mmio transport (virtio 1.1, section 4.2, version 2 "modern" registers) for the built-in VMM's virtio
 * devices. A device implements struct hull_virtio_ops and never sees the transport's registers; queue notifications
 * arrive through ioeventfds on the VMM's event thread, interrupts leave through an irqfd. The guest finds the
 * device through virtio_mmio.device=4K@<base>:<gsi> on the kernel command line. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmm/virtqueue.h"

struct hull_error;
struct hull_vmm;
struct hull_virtio_mmio;

#define HULL_VIRTIO_MMIO_SIZE 0x1000
#define HULL_VIRTIO_F_VERSION_1 (1ULL << 32)
#define HULL_VIRTIO_MAX_QUEUES 8

struct hull_virtio_ops {
        const char *name; /* "vsock", for messages */
        uint32_t device_id;
        uint16_t num_queues;
        uint16_t queue_max; /* at most HULL_VIRTQ_MAX_SIZE */
        uint64_t features; /* device feature bits (VERSION_1 is the transport's) */
        uint32_t config_size;
        /* The transport has checked that off + len lies inside config_size. */
        void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
        void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len);
        /* The driver notified queue q (event thread, transport lock held). */
        void (*notify)(void *dev, uint16_t q);
        /* DRIVER_OK: the negotiated features are final and the queues are live (transport lock held). */
        void (*activate)(void *dev, uint64_t features);
        /* The driver reset the device (vCPU thread, transport lock held). */
        void (*reset)(void *dev);
};

int hull_virtio_mmio_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, const struct hull_virtio_ops *ops,
                         void *dev, struct hull_virtio_mmio **ret, struct hull_error **err);
struct hull_virtio_mmio *hull_virtio_mmio_free(struct hull_virtio_mmio *t);

/* For the device: its queues, the used-buffer interrupt, and ending the VM when the driver broke the protocol. */
struct hull_virtq *hull_virtio_mmio_queue(struct hull_virtio_mmio *t, uint16_t q);
bool hull_virtio_mmio_active(const struct hull_virtio_mmio *t);
void hull_virtio_mmio_interrupt(struct hull_virtio_mmio *t, uint16_t q);
/* The used-buffer interrupt without asking the ring (a vhost-user back end has decided already). */
void hull_virtio_mmio_interrupt_now(struct hull_virtio_mmio *t);
void hull_virtio_mmio_fail(struct hull_virtio_mmio *t, const char *why);
/* Device work started outside notify (socket events on the event thread) takes the transport lock itself. */
void hull_virtio_mmio_lock(struct hull_virtio_mmio *t);
void hull_virtio_mmio_unlock(struct hull_virtio_mmio *t);

#include "macros.h"
HULL_DEFINE_FREEP(struct hull_virtio_mmio, hull_virtio_mmio_free)
