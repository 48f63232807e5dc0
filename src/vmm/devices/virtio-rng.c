/* virtio-rng: entropy for the guest's early boot (the agent needs getrandom() before the guest has its own). */
#include "vmm/devices/virtio-rng.h"

#include <stdlib.h>
#include <sys/random.h>

#include "error.h"
#include "vmm/devices/virtio-mmio.h"

#define VIRTIO_ID_RNG 4
/* What one request gets at most, so a guest cannot make the event thread fill 64 MiB at once. */
#define RNG_MAX_PER_REQUEST 4096

struct hull_virtio_rng {
        struct hull_virtio_mmio *t;
};

static void rng_notify(void *dev, uint16_t qi)
{
        struct hull_virtio_rng *r = dev;
        struct hull_virtq *q = hull_virtio_mmio_queue(r->t, qi);
        struct hull_virtq_chain c;
        char why[160];
        int got, n = 0;

        while ((got = hull_virtq_pop(q, &c, why, sizeof(why))) > 0) {
                uint8_t buf[RNG_MAX_PER_REQUEST];
                size_t want = c.writable < sizeof(buf) ? (size_t)c.writable : sizeof(buf);
                ssize_t k = want ? getrandom(buf, want, 0) : 0;
                size_t written = k > 0 ? hull_virtq_chain_write(&c, 0, buf, (size_t)k) : 0;

                hull_virtq_push(q, c.head, (uint32_t)written);
                n++;
        }
        if (got < 0)
                hull_virtio_mmio_fail(r->t, why);
        else if (n)
                hull_virtio_mmio_interrupt(r->t, qi);
}

static const struct hull_virtio_ops rng_ops = {
        .name = "rng",
        .device_id = VIRTIO_ID_RNG,
        .num_queues = 1,
        .queue_max = 64,
        .notify = rng_notify,
};

int hull_virtio_rng_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, struct hull_virtio_rng **ret,
                        struct hull_error **err)
{
        struct hull_virtio_rng *r = calloc(1, sizeof(*r));
        int e;

        if (!r)
                return hull_error_oom(err);
        e = hull_virtio_mmio_new(vmm, base, gsi, &rng_ops, r, &r->t, err);
        if (e < 0) {
                free(r);
                return e;
        }
        *ret = r;
        return 0;
}

struct hull_virtio_rng *hull_virtio_rng_free(struct hull_virtio_rng *r)
{
        if (r) {
                hull_virtio_mmio_free(r->t);
                free(r);
        }
        return NULL;
}
