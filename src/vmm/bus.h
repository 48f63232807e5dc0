/* The built-in VMM's I/O buses: port I/O and MMIO ranges mapped to device callbacks. A vCPU thread that exits on
 * an access dispatches it here; devices never see an address outside the range they registered. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct hull_error;

struct hull_vmm_dev_ops {
        /* offset is relative to the range's base; len is 1, 2, 4 or 8 and offset + len lies inside the range. */
        void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
        void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

#define HULL_BUS_MAX_RANGES 64

struct hull_bus_range {
        uint64_t base, len;
        const struct hull_vmm_dev_ops *ops;
        void *opaque;
};

struct hull_bus {
        struct hull_bus_range ranges[HULL_BUS_MAX_RANGES];
        unsigned n;
        /* Device callbacks run under this lock: devices need no locking of their own against vCPUs. */
        pthread_mutex_t lock;
        uint64_t unhandled; /* accesses nobody claimed (reads see all ones) */
};

void hull_bus_init(struct hull_bus *bus);
void hull_bus_release(struct hull_bus *bus);
/* -EEXIST when the range overlaps one already there, -ENOSPC when full, -EINVAL for an empty or wrapping range. */
int hull_bus_add(struct hull_bus *bus, uint64_t base, uint64_t len, const struct hull_vmm_dev_ops *ops, void *opaque,
                 struct hull_error **err);
/* Dispatch one access. Returns false when no range holds all of [addr, addr + len) (reads then see 0xff bytes). */
bool hull_bus_access(struct hull_bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);
