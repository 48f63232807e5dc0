/* virtio-blk (device 2) over a raw image file or block device: read, write, flush, get-id; read-only on request. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct hull_error;
struct hull_vmm;
struct hull_virtio_blk;

int hull_virtio_blk_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, const char *path, bool read_only,
                        struct hull_virtio_blk **ret, struct hull_error **err);
struct hull_virtio_blk *hull_virtio_blk_free(struct hull_virtio_blk *b);
