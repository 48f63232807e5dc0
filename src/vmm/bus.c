/* Port I/O and MMIO dispatch for the built-in VMM. */
#include "vmm/bus.h"

#include <errno.h>
#include <string.h>

#include "error.h"

void hull_bus_init(struct hull_bus *bus)
{
        memset(bus, 0, sizeof(*bus));
        pthread_mutex_init(&bus->lock, NULL);
}

void hull_bus_release(struct hull_bus *bus)
{
        pthread_mutex_destroy(&bus->lock);
}

int hull_bus_add(struct hull_bus *bus, uint64_t base, uint64_t len, const struct hull_vmm_dev_ops *ops, void *opaque,
                 struct hull_error **err)
{
        if (len == 0 || base + len < base)
                return hull_error_set(err, EINVAL, "bus range 0x%llx+0x%llx is empty or wraps",
                                      (unsigned long long)base, (unsigned long long)len);
        for (unsigned i = 0; i < bus->n; i++) {
                const struct hull_bus_range *r = &bus->ranges[i];
                if (base < r->base + r->len && r->base < base + len)
                        return hull_error_set(err, EEXIST, "bus range 0x%llx+0x%llx overlaps 0x%llx+0x%llx",
                                              (unsigned long long)base, (unsigned long long)len,
                                              (unsigned long long)r->base, (unsigned long long)r->len);
        }
        if (bus->n == HULL_BUS_MAX_RANGES)
                return hull_error_set(err, ENOSPC, "bus full (%d ranges)", HULL_BUS_MAX_RANGES);
        bus->ranges[bus->n++] = (struct hull_bus_range){ .base = base, .len = len, .ops = ops, .opaque = opaque };
        return 0;
}

bool hull_bus_access(struct hull_bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
        if (len == 0 || len > 8)
                return false;
        pthread_mutex_lock(&bus->lock);
        for (unsigned i = 0; i < bus->n; i++) {
                const struct hull_bus_range *r = &bus->ranges[i];
                if (addr < r->base || addr - r->base >= r->len || len > r->len - (addr - r->base))
                        continue;
                if (is_write) {
                        if (r->ops->write)
                                r->ops->write(r->opaque, addr - r->base, data, len);
                } else if (r->ops->read) {
                        r->ops->read(r->opaque, addr - r->base, data, len);
                } else {
                        memset(data, 0, len);
                }
                pthread_mutex_unlock(&bus->lock);
                return true;
        }
        bus->unhandled++;
        pthread_mutex_unlock(&bus->lock);
        if (!is_write)
                memset(data, 0xff, len);
        return false;
}
