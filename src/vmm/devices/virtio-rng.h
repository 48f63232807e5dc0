/* virtio-rng (device 4): one queue the guest fills with buffers, answered from getrandom(). */
#pragma once

#include <stdint.h>

struct hull_error;
struct hull_vmm;
struct hull_virtio_rng;

int hull_virtio_rng_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, struct hull_virtio_rng **ret,
                        struct hull_error **err);
struct hull_virtio_rng *hull_virtio_rng_free(struct hull_virtio_rng *r);
