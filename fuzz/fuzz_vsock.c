/* libFuzzer target for the virtio-vsock packet path (src/vmm/devices/virtio-vsock.c) as a hostile guest and a
 * hostile host client drive it, without KVM: the device runs detached (hull_virtio_vsock_new_detached) on a loop of
 * ours, with its three queues in a small guest RAM, and this file plays both the guest's driver and the host's
 * clients of the hybrid-vsock unix socket.
 *
 * The input is a script of steps; each starts with an opcode byte (mod 8), then its arguments (missing bytes read
 * as 0, integers little-endian):
 *   0 connect                    a new host client connects to the unix socket (at most MAX_CLIENTS)
 *   1 send   k mode ...          client k writes: mode&3 = 0: "CONNECT <u16>\n" (mode&4: lower case);
 *                                1: <u8 n> n raw bytes; 2: (<u8>+1) KiB of a pattern; 3: "OK\n" garbage line
 *   2 shut   k how               client k: how%3 = 0 shutdown(SHUT_WR), 1 close, 2 shutdown(SHUT_RD)
 *   3 recv   k                   client k reads whatever is there
 *   4 tx     mode ...            the guest sends one packet on the TX queue (see guest_tx)
 *   5 rx     n sizes...          the guest posts receive buffers on the RX queue (see guest_rx)
 *   6 reset  ok                  the guest's driver resets the device; ok&1: and brings it up again
 *   7 pump   w                   run the device's loop a few more times; w&0x80: first the device's retry timer
 *                                fires (it re-sends the REQUESTs that wait for a driver or a listener)
 * The first byte: bit 0 set leaves the driver down at the start (the CONNECT waits for it).
 * After every step the loop runs (non-blocking) and every buffer the device returned on RX is checked: a header from
 * the host (CID 2) to the guest, a length that matches what was written. A device that fails (what would end the VM)
 * ends the script. ASan/UBSan watch the rest; guest RAM is an exact-size mapping. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "loop.h"
#include "vmm/devices/virtio-vsock.h"
#include "vmm/memory.h"
#include "vmm/virtqueue.h"

#define RAM (4ULL << 20)
#define GUEST_CID 3
#define HOST_CID 2
#define HDR 44
#define MAX_PKT 65536u
#define MAX_CLIENTS 4
#define MAX_STEPS 256
#define FIRST_HOST_PORT (1u << 30)

#define Q_RX 0
#define Q_TX 1
#define Q_EVENT 2
#define RX_NUM 16 /* 8 slots of two descriptors */
#define RX_SLOTS (RX_NUM / 2)
#define TX_NUM 8
#define EVENT_NUM 4
#define RING_GPA(q) (0x1000ULL + (q)*0x3000ULL) /* desc, avail, used a page apart */
#define TX_BUF 0x10000ULL /* up to TX_BUF_LEN of packet bytes */
#define TX_BUF_LEN 0x30000ULL
#define RX_BUF 0x100000ULL
#define RX_SLOT_LEN 0x11000ULL /* a header and MAX_PKT */

#define F_NEXT 1
#define F_WRITE 2

struct hdr {
        uint64_t src_cid, dst_cid;
        uint32_t src_port, dst_port, len;
        uint16_t type, op;
        uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct hdr) == HDR, "virtio_vsock_hdr is 44 bytes");

struct input {
        const uint8_t *p;
        size_t n;
};

static uint8_t u8(struct input *in)
{
        if (!in->n)
                return 0;
        in->n--;
        return *in->p++;
}

static uint16_t u16(struct input *in)
{
        uint16_t lo = u8(in);
        return (uint16_t)(lo | (uint16_t)u8(in) << 8);
}

static uint32_t u32(struct input *in)
{
        uint32_t lo = u16(in);
        return lo | (uint32_t)u16(in) << 16;
}

static bool trace; /* FUZZ_VSOCK_TRACE=1: print what the device sends and how the script ends (for seeds) */

struct guest {
        struct hull_guest_mem mem;
        uint8_t *ram;
        struct hull_virtio_vsock *v;
        uint16_t avail_idx[3], used_seen[3];
        bool rx_posted[RX_SLOTS];
        struct hdr seen[8]; /* the last headers the device sent (a reply takes its ports from one) */
        unsigned n_seen;
        int clients[MAX_CLIENTS];
};

static void put_desc(struct guest *g, uint16_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
        uint8_t *d = g->ram + RING_GPA(q) + 16ULL * i;

        memcpy(d, &addr, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
}

static void offer(struct guest *g, uint16_t q, uint16_t num, uint16_t head)
{
        uint8_t *avail = g->ram + RING_GPA(q) + 0x1000;
        uint16_t idx = g->avail_idx[q];

        memcpy(avail + 4 + 2 * (idx % num), &head, 2);
        idx++;
        __atomic_store_n((uint16_t *)(avail + 2), idx, __ATOMIC_RELEASE);
        g->avail_idx[q] = idx;
}

/* The driver's probe: rings zeroed, sizes and addresses programmed, queues ready; then DRIVER_OK when up. */
static void driver_setup(struct guest *g, bool up)
{
        static const uint16_t nums[3] = { RX_NUM, TX_NUM, EVENT_NUM };
        char why[160];

        memset(g->ram, 0, TX_BUF);
        memset(g->avail_idx, 0, sizeof(g->avail_idx));
        memset(g->used_seen, 0, sizeof(g->used_seen));
        memset(g->rx_posted, 0, sizeof(g->rx_posted));
        for (uint16_t i = 0; i < 3; i++) {
                struct hull_virtq *q = hull_virtio_vsock_detached_queue(g->v, i);

                q->num = nums[i];
                q->desc_gpa = RING_GPA(i);
                q->avail_gpa = RING_GPA(i) + 0x1000;
                q->used_gpa = RING_GPA(i) + 0x2000;
                if (hull_virtq_activate(q, &g->mem, why, sizeof(why)) < 0)
                        __builtin_trap(); /* our own layout */
                q->ready = true;
        }
        if (up)
                hull_virtio_vsock_detached_driver(g->v, true);
}

/* Take back what the device returned: TX chains are just counted, RX buffers checked and remembered. */
static void harvest(struct guest *g)
{
        uint8_t *used = g->ram + RING_GPA(Q_RX) + 0x2000;
        uint16_t idx = __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);

        while (g->used_seen[Q_RX] != idx) {
                uint32_t id, len;
                struct hdr h;
                unsigned slot;

                memcpy(&id, used + 4 + 8 * (g->used_seen[Q_RX] % RX_NUM), 4);
                memcpy(&len, used + 8 + 8 * (g->used_seen[Q_RX] % RX_NUM), 4);
                g->used_seen[Q_RX]++;
                slot = id / 2;
                /* The device returns only heads we offered, written with at least a header. */
                if (id % 2 || slot >= RX_SLOTS || !g->rx_posted[slot] || len < HDR || len > HDR + MAX_PKT)
                        __builtin_trap();
                g->rx_posted[slot] = false;
                memcpy(&h, g->ram + RX_BUF + slot * RX_SLOT_LEN, HDR);
                if (h.src_cid != HOST_CID || h.dst_cid != GUEST_CID || h.type != 1 || h.len != len - HDR)
                        __builtin_trap();
                if (trace)
                        fprintf(stderr, "rx: op %u %u->%u len %u flags %u fwd_cnt %u\n", h.op, h.src_port, h.dst_port,
                                h.len, h.flags, h.fwd_cnt);
                g->seen[g->n_seen++ % 8] = h;
        }
        /* TX: every chain comes back at once (the device handles a packet in the notify). */
        g->used_seen[Q_TX] = __atomic_load_n((uint16_t *)(g->ram + RING_GPA(Q_TX) + 0x2002), __ATOMIC_ACQUIRE);
}

static struct hull_loop *loop;

/* The device's event thread: accepts, host socket events, the reset kick, the retry timer. */
static void pump(int times)
{
        for (int i = 0; i < times; i++)
                hull_loop_run_once(loop, 0);
}

/* tx: mode, then the header's fields, the payload's size and bytes, and how the chain is cut.
 *   mode bit 0: reply to seen[<u8>] (its ports and CIDs swapped), else src_cid (bit 1: <u32>, else the guest's),
 *               dst_cid (bit 2: <u32>, else 2), src_port <u32>, dst_port (bit 4: FIRST_HOST_PORT + <u8>, else
 *               <u32>); type (bit 3: <u16>, else stream)
 *   then op <u8>, flags <u8>, buf_alloc <u32>, fwd_cnt <u32>, payload size <u16> (bit 5: + 1, so that 64 KiB is
 *   reachable; bit 6: doubled, beyond what a packet may carry), len (bit 7: <u32>, else the payload size),
 *   the payload (what the input has left, up to its size; the rest a pattern), then cut: <u8> c, c%4+1
 *   descriptors of <u16> bytes each (the last takes the rest), c&16: a device-writable descriptor at the end. */
static void guest_tx(struct guest *g, struct input *in)
{
        uint8_t mode = u8(in), cut;
        struct hdr h = { .src_cid = GUEST_CID, .dst_cid = HOST_CID, .type = 1 };
        uint32_t plen, total, off = 0;
        uint8_t *buf = g->ram + TX_BUF;
        uint16_t nd, i;

        if ((mode & 1) && g->n_seen) {
                const struct hdr *s = &g->seen[u8(in) % (g->n_seen < 8 ? g->n_seen : 8)];

                h.src_cid = s->dst_cid;
                h.dst_cid = s->src_cid;
                h.src_port = s->dst_port;
                h.dst_port = s->src_port;
        } else {
                if (mode & 2)
                        h.src_cid = u32(in);
                if (mode & 4)
                        h.dst_cid = u32(in);
                h.src_port = u32(in);
                h.dst_port = mode & 16 ? FIRST_HOST_PORT + u8(in) : u32(in);
                if (mode & 8)
                        h.type = u16(in);
        }
        h.op = u8(in);
        h.flags = u8(in);
        h.buf_alloc = u32(in);
        h.fwd_cnt = u32(in);
        plen = u16(in) + (mode & 32 ? 1u : 0u);
        if (mode & 64)
                plen *= 2;
        h.len = mode & 128 ? u32(in) : plen;
        total = HDR + plen;
        memcpy(buf, &h, HDR);
        for (uint32_t k = 0; k < plen; k++)
                buf[HDR + k] = in->n ? u8(in) : (uint8_t)k;
        cut = u8(in);
        nd = (uint16_t)(cut % 4 + 1);
        for (i = 0; i < nd; i++) {
                uint32_t len = i + 1 == nd ? total - off : u16(in);

                if (len > total - off)
                        len = total - off;
                put_desc(g, Q_TX, i, TX_BUF + off, len, i + 1 < nd || (cut & 16) ? F_NEXT : 0, (uint16_t)(i + 1));
                off += len;
        }
        if (cut & 16)
                put_desc(g, Q_TX, i, RX_BUF - 0x1000, 64, F_WRITE, 0);
        offer(g, Q_TX, TX_NUM, 0);
        hull_virtio_vsock_detached_notify(g->v, Q_TX);
}

/* rx: <u8> n, then n%8+1 buffers each with <u8> s: s%4 = 0, 1: one descriptor of a header and 64 KiB; 2: the header
 * and the data in two descriptors; 3: one descriptor of <u16> bytes (shorter than a header kills the device). */
static void guest_rx(struct guest *g, struct input *in)
{
        unsigned n = u8(in) % 8 + 1;

        for (unsigned slot = 0; slot < RX_SLOTS && n; slot++) {
                uint64_t gpa = RX_BUF + slot * RX_SLOT_LEN;
                uint16_t head = (uint16_t)(2 * slot);
                uint8_t s;

                if (g->rx_posted[slot])
                        continue;
                s = u8(in);
                switch (s % 4) {
                case 2:
                        put_desc(g, Q_RX, head, gpa, HDR, F_WRITE | F_NEXT, head + 1);
                        put_desc(g, Q_RX, head + 1, gpa + HDR, MAX_PKT, F_WRITE, 0);
                        break;
                case 3:
                        put_desc(g, Q_RX, head, gpa, u16(in) % (HDR + MAX_PKT + 1), F_WRITE, 0);
                        break;
                default:
                        put_desc(g, Q_RX, head, gpa, HDR + MAX_PKT, F_WRITE, 0);
                        break;
                }
                memset(g->ram + gpa, 0xa5, HDR);
                g->rx_posted[slot] = true;
                offer(g, Q_RX, RX_NUM, head);
                n--;
        }
        hull_virtio_vsock_detached_notify(g->v, Q_RX);
}

static void host_send(struct guest *g, struct input *in)
{
        int fd = g->clients[u8(in) % MAX_CLIENTS];
        uint8_t mode = u8(in), buf[4096];
        size_t len = 0;

        switch (mode % 4) {
        case 0:
                len = (size_t)snprintf((char *)buf, sizeof(buf), "%s %u\n", mode & 4 ? "connect" : "CONNECT", u16(in));
                break;
        case 1:
                len = u8(in);
                for (size_t k = 0; k < len; k++)
                        buf[k] = u8(in);
                break;
        case 2:
                len = (size_t)u8(in) + 1;
                for (size_t k = 0; k < sizeof(buf); k++)
                        buf[k] = (uint8_t)k;
                /* len KiB, as much as the socket takes */
                for (size_t k = 0; k < len / 4 + 1 && fd >= 0; k++)
                        if (send(fd, buf, k < len / 4 ? sizeof(buf) : (len % 4) * 1024, MSG_NOSIGNAL | MSG_DONTWAIT) <
                            0)
                                break;
                return;
        default:
                memcpy(buf, "OK\n", 3);
                len = 3;
                break;
        }
        if (fd >= 0 && len)
                (void)!send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void host_connect(struct guest *g, const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int k, fd;

        for (k = 0; k < MAX_CLIENTS && g->clients[k] >= 0; k++)
                ;
        if (k == MAX_CLIENTS)
                return;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return;
        }
        g->clients[k] = fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct guest g;
        static char path[64];
        struct input in = { data, size };
        uint8_t buf[65536];

        if (!loop) {
                if (hull_loop_new(&loop, NULL) < 0 || hull_guest_mem_init(&g.mem, RAM, false, NULL) < 0)
                        return 0;
                g.ram = hull_guest_mem_ptr(&g.mem, 0, RAM);
                snprintf(path, sizeof(path), "/tmp/fuzz_vsock.%d.sock", (int)getpid());
                trace = getenv("FUZZ_VSOCK_TRACE") != NULL;
        }
        if (hull_virtio_vsock_new_detached(loop, GUEST_CID, path, &g.v, NULL) < 0)
                return 0;
        g.n_seen = 0;
        for (int k = 0; k < MAX_CLIENTS; k++)
                g.clients[k] = -1;
        driver_setup(&g, !(u8(&in) & 1));

        for (int step = 0; step < MAX_STEPS && in.n && !hull_virtio_vsock_detached_failed(g.v); step++) {
                uint8_t op = u8(&in) % 8;
                int k;

                switch (op) {
                case 0:
                        host_connect(&g, path);
                        break;
                case 1:
                        host_send(&g, &in);
                        break;
                case 2:
                        k = u8(&in) % MAX_CLIENTS;
                        if (g.clients[k] < 0)
                                break;
                        switch (u8(&in) % 3) {
                        case 0:
                                shutdown(g.clients[k], SHUT_WR);
                                break;
                        case 1:
                                close(g.clients[k]);
                                g.clients[k] = -1;
                                break;
                        default:
                                shutdown(g.clients[k], SHUT_RD);
                                break;
                        }
                        break;
                case 3: {
                        ssize_t n;

                        k = u8(&in) % MAX_CLIENTS;
                        while (g.clients[k] >= 0 && (n = recv(g.clients[k], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                                if (trace)
                                        fprintf(stderr, "client %d: %zd bytes: %.*s\n", k, n, (int)(n < 40 ? n : 40),
                                                buf);
                        break;
                }
                case 4:
                        guest_tx(&g, &in);
                        break;
                case 5:
                        guest_rx(&g, &in);
                        break;
                case 6:
                        hull_virtio_vsock_detached_driver(g.v, false);
                        pump(2); /* the reset reaches the event loop through an eventfd */
                        if (u8(&in) & 1)
                                driver_setup(&g, true);
                        break;
                default:
                        if (u8(&in) & 0x80)
                                hull_virtio_vsock_detached_retry(g.v);
                        pump(4);
                        break;
                }
                pump(2);
                harvest(&g);
        }
        if (trace)
                fprintf(stderr, "end: %s\n", hull_virtio_vsock_detached_failed(g.v) ?: "device fine");
        g.v = hull_virtio_vsock_free(g.v);
        for (int k = 0; k < MAX_CLIENTS; k++)
                if (g.clients[k] >= 0)
                        close(g.clients[k]);
        return 0;
}
