/* virtio-net on a tap: rx fills the guest's buffers straight from readv() on the tap (no copy through the VMM), tx
 * writev()s each chain's readable buffers. While the guest has no rx buffers the tap is not watched. */
#include "vmm/devices/virtio-net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "error.h"
#include "loop.h"
#include "vmm/devices/virtio-mmio.h"
#include "vmm/vmm.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_F_MAC (1ULL << 5)
#define VIRTIO_NET_F_STATUS (1ULL << 16)
#define VIRTIO_NET_S_LINK_UP 1
#define Q_RX 0
#define Q_TX 1
#define NET_HDR 12 /* struct virtio_net_hdr_v1 */
/* A frame without offloads: 64 KiB is more than any MTU the guest may set. */
#define MAX_FRAME (64u * 1024u + NET_HDR)
#define CONFIG_SIZE 8 /* mac[6], status */

struct hull_virtio_net {
        struct hull_virtio_mmio *t;
        int tap;
        struct hull_loop_source *src;
        bool rx_waiting; /* the tap has frames, the guest no buffers */
        uint8_t config[CONFIG_SIZE];
        struct iovec iov[HULL_VIRTQ_MAX_SIZE];
};

static void watch_tap(struct hull_virtio_net *n, bool on)
{
        hull_loop_source_set_events(n->src, on ? EPOLLIN : 0, NULL);
}

static void rx(struct hull_virtio_net *n)
{
        struct hull_virtq *q = hull_virtio_mmio_queue(n->t, Q_RX);
        struct hull_virtq_chain c;
        char why[160];
        int got, done = 0;

        if (!hull_virtio_mmio_active(n->t) || !q->ready)
                return;
        for (;;) {
                ssize_t k;

                got = hull_virtq_pop(q, &c, why, sizeof(why));
                if (got < 0) {
                        hull_virtio_mmio_fail(n->t, why);
                        return;
                }
                if (got == 0) {
                        /* No buffers: stop watching until the guest posts some (its rx notify). */
                        n->rx_waiting = true;
                        watch_tap(n, false);
                        break;
                }
                if (c.writable < NET_HDR) {
                        hull_virtio_mmio_fail(n->t, "rx buffer shorter than the net header");
                        return;
                }
                k = readv(n->tap, n->iov, hull_virtq_chain_iov(&c, true, 0, c.writable, n->iov));
                if (k < 0) {
                        hull_virtq_unpop(q);
                        n->rx_waiting = false;
                        watch_tap(n, true);
                        break; /* EAGAIN: nothing more; other errors: the tap went away, try again on the next event */
                }
                hull_virtq_push(q, c.head, (uint32_t)k);
                done++;
        }
        if (done)
                hull_virtio_mmio_interrupt(n->t, Q_RX);
}

static void tx(struct hull_virtio_net *n)
{
        struct hull_virtq *q = hull_virtio_mmio_queue(n->t, Q_TX);
        struct hull_virtq_chain c;
        char why[160];
        int got, done = 0;

        while ((got = hull_virtq_pop(q, &c, why, sizeof(why))) > 0) {
                if (c.readable < NET_HDR || c.readable > MAX_FRAME) {
                        hull_virtio_mmio_fail(n->t, "tx frame shorter than its header or longer than 64 KiB");
                        return;
                }
                /* A tap that cannot take the frame drops it, as a NIC would. */
                ssize_t w = writev(n->tap, n->iov, hull_virtq_chain_iov(&c, false, 0, c.readable, n->iov));
                (void)w;
                hull_virtq_push(q, c.head, 0);
                done++;
        }
        if (got < 0)
                hull_virtio_mmio_fail(n->t, why);
        else if (done)
                hull_virtio_mmio_interrupt(n->t, Q_TX);
}

static void net_notify(void *dev, uint16_t q)
{
        struct hull_virtio_net *n = dev;

        if (q == Q_TX)
                tx(n);
        else if (q == Q_RX && n->rx_waiting) {
                n->rx_waiting = false;
                rx(n);
        }
}

static int on_tap(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_virtio_net *n = userdata;

        (void)src;
        (void)fd;
        (void)events;
        hull_virtio_mmio_lock(n->t);
        if (hull_virtio_mmio_active(n->t))
                rx(n);
        else
                watch_tap(n, false); /* frames wait in the tap until the driver is up */
        hull_virtio_mmio_unlock(n->t);
        return 0;
}

static void net_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
        struct hull_virtio_net *n = dev;

        memcpy(data, n->config + off, len);
}

static void net_reset(void *dev)
{
        struct hull_virtio_net *n = dev;

        /* The next driver's first rx notify starts reading again. */
        n->rx_waiting = true;
}

static const struct hull_virtio_ops net_ops = {
        .name = "net",
        .device_id = VIRTIO_ID_NET,
        .num_queues = 2,
        .queue_max = 256,
        .features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS,
        .config_size = CONFIG_SIZE,
        .config_read = net_config_read,
        .notify = net_notify,
        .reset = net_reset,
};

int hull_virtio_net_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, int tap_fd, const uint8_t mac[6],
                        struct hull_virtio_net **ret, struct hull_error **err)
{
        struct hull_virtio_net *n;
        int hdr = NET_HDR, fl, r;
        uint16_t status = VIRTIO_NET_S_LINK_UP;

        if (ioctl(tap_fd, TUNSETVNETHDRSZ, &hdr) < 0)
                return hull_error_errno(err, errno, "virtio-net: TUNSETVNETHDRSZ (is this a tap with IFF_VNET_HDR?)");
        if (ioctl(tap_fd, TUNSETOFFLOAD, 0) < 0)
                return hull_error_errno(err, errno, "virtio-net: TUNSETOFFLOAD");
        fl = fcntl(tap_fd, F_GETFL);
        if (fl < 0 || fcntl(tap_fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return hull_error_errno(err, errno, "virtio-net: non-blocking tap");
        n = calloc(1, sizeof(*n));
        if (!n)
                return hull_error_oom(err);
        n->tap = tap_fd;
        n->rx_waiting = true;
        memcpy(n->config, mac, 6);
        memcpy(n->config + 6, &status, 2);
        r = hull_loop_add_fd(hull_vmm_loop(vmm), tap_fd, 0, on_tap, n, &n->src, err);
        if (r >= 0)
                r = hull_virtio_mmio_new(vmm, base, gsi, &net_ops, n, &n->t, err);
        if (r < 0) {
                hull_virtio_net_free(n);
                return r;
        }
        *ret = n;
        return 0;
}

struct hull_virtio_net *hull_virtio_net_free(struct hull_virtio_net *n)
{
        if (!n)
                return NULL;
        hull_loop_source_remove(n->src);
        hull_virtio_mmio_free(n->t);
        free(n);
        return NULL;
}
