/* Unit tests for the built-in VMM (src/vmm). Memory bounds, the bus and the MP table run anywhere; the VM tests run
 * tiny hand-assembled guests (real mode and long mode) that report through port I/O and MMIO, and need a KVM that
 * runs standard guests: they skip elsewhere and run in the KVM test bed (tests/kvm-host, see test_kvm_host.py). */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "host/kvm-probe.h"
#include "loop.h"
#include "vmm/boot.h"
#include "vmm/bus.h"
#include "vmm/devices/virtio-vsock.h"
#include "vmm/memory.h"
#include "vmm/virtqueue.h"
#include "vmm/vmm.h"

/* ---- memory and bus (no KVM) ---- */

static void test_guest_mem_ptr_checks_every_bound(void **state)
{
        struct hull_guest_mem m;

        assert_int_equal(hull_guest_mem_init(&m, 4ULL << 20, false, NULL), 0);
        assert_non_null(hull_guest_mem_ptr(&m, 0, 4ULL << 20));
        assert_non_null(hull_guest_mem_ptr(&m, (4ULL << 20) - 1, 1));
        assert_null(hull_guest_mem_ptr(&m, (4ULL << 20) - 1, 2)); /* runs past the end */
        assert_null(hull_guest_mem_ptr(&m, 4ULL << 20, 1));
        assert_null(hull_guest_mem_ptr(&m, 0, 0));
        assert_null(hull_guest_mem_ptr(&m, UINT64_MAX, 2)); /* gpa + len wraps */
        assert_null(hull_guest_mem_ptr(&m, 16, UINT64_MAX));
        assert_null(hull_guest_mem_ptr(&m, HULL_VMM_HIGH_RAM, 1)); /* no high RAM at 4 MiB */
        assert_int_equal(hull_guest_mem_write(&m, (4ULL << 20) - 2, "abc", 3), -EFAULT);
        hull_guest_mem_release(&m);
}

static void test_guest_mem_above_the_hole_continues_at_4g(void **state)
{
        struct hull_guest_mem m;
        uint8_t *low, *high;

        /* 3 GiB + 8 MiB, MAP_NORESERVE: nothing is touched but two bytes. */
        assert_int_equal(hull_guest_mem_init(&m, HULL_VMM_MMIO_HOLE + (8ULL << 20), false, NULL), 0);
        assert_int_equal(m.low_size, HULL_VMM_MMIO_HOLE);
        low = hull_guest_mem_ptr(&m, HULL_VMM_MMIO_HOLE - 1, 1);
        high = hull_guest_mem_ptr(&m, HULL_VMM_HIGH_RAM, 1);
        assert_non_null(low);
        assert_ptr_equal(high, low + 1);
        assert_null(hull_guest_mem_ptr(&m, HULL_VMM_MMIO_HOLE - 1, 2)); /* across the hole */
        assert_null(hull_guest_mem_ptr(&m, HULL_VMM_MMIO_HOLE, 1)); /* in the hole */
        assert_null(hull_guest_mem_ptr(&m, HULL_VMM_HIGH_RAM + (8ULL << 20), 1));
        assert_non_null(hull_guest_mem_ptr(&m, HULL_VMM_HIGH_RAM + (8ULL << 20) - 4, 4));
        hull_guest_mem_release(&m);
}

struct rec {
        unsigned n;
        uint64_t off[32];
        uint64_t val[32];
        uint32_t len[32];
        struct hull_vmm *vmm;
        int socket_errno; /* what socket() gave a device callback on a vCPU thread (port offset 6) */
};

static void rec_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct rec *r = opaque;
        uint64_t v = 0;

        memcpy(&v, data, len);
        if (r->n < 32) {
                r->off[r->n] = off;
                r->val[r->n] = v;
                r->len[r->n] = len;
                r->n++;
        }
        if (off == 6) {
                int fd = socket(AF_UNIX, SOCK_STREAM, 0);
                r->socket_errno = fd < 0 ? errno : 0;
                if (fd >= 0)
                        close(fd);
        }
        if (off == 7 && r->vmm) /* the guest's "done" port */
                hull_vmm_fail(r->vmm, HULL_VMM_EXIT_POWEROFF, "done");
}

static void rec_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        uint32_t v = off == 8 ? 0x55AA55AAu : 0x99999999u;

        (void)opaque;
        memcpy(data, &v, len > 4 ? 4 : len);
}

static const struct hull_vmm_dev_ops rec_ops = { .read = rec_read, .write = rec_write };

static void test_bus_dispatches_inside_ranges_only(void **state)
{
        struct hull_bus bus;
        struct rec r = { 0 };
        uint8_t data[8] = { 0x11, 0x22 };

        hull_bus_init(&bus);
        assert_int_equal(hull_bus_add(&bus, 0x100, 8, &rec_ops, &r, NULL), 0);
        assert_int_equal(hull_bus_add(&bus, 0x104, 8, &rec_ops, &r, NULL), -EEXIST);
        assert_int_equal(hull_bus_add(&bus, UINT64_MAX - 1, 4, &rec_ops, &r, NULL), -EINVAL);
        assert_true(hull_bus_access(&bus, 0x106, data, 2, true));
        assert_int_equal(r.n, 1);
        assert_int_equal(r.off[0], 6);
        assert_int_equal(r.val[0], 0x2211);
        assert_false(hull_bus_access(&bus, 0x107, data, 2, true)); /* straddles the end */
        assert_false(hull_bus_access(&bus, 0xFF, data, 1, false));
        assert_int_equal(data[0], 0xFF); /* unclaimed reads see all ones */
        assert_int_equal(r.n, 1);
        hull_bus_release(&bus);
}

static void test_mptable_checksums_and_counts_processors(void **state)
{
        struct hull_guest_mem m;
        const uint8_t *mpf, *hdr;
        uint8_t sum = 0;
        uint16_t len;

        assert_int_equal(hull_guest_mem_init(&m, 2ULL << 20, false, NULL), 0);
        assert_int_equal(hull_boot_setup_mptable(&m, 4, NULL), 0);
        mpf = hull_guest_mem_ptr(&m, HULL_BOOT_MPTABLE, 16);
        assert_memory_equal(mpf, "_MP_", 4);
        for (int i = 0; i < 16; i++)
                sum += mpf[i];
        assert_int_equal(sum, 0);
        hdr = hull_guest_mem_ptr(&m, HULL_BOOT_MPTABLE + 16, 44);
        assert_memory_equal(hdr, "PCMP", 4);
        memcpy(&len, hdr + 4, 2);
        hdr = hull_guest_mem_ptr(&m, HULL_BOOT_MPTABLE + 16, len);
        sum = 0;
        for (int i = 0; i < len; i++)
                sum += hdr[i];
        assert_int_equal(sum, 0);
        /* 4 processors, the bus, the IOAPIC, 24 + 2 interrupt entries */
        assert_int_equal(hdr[34] | (hdr[35] << 8), 4 + 1 + 1 + 24 + 2);
        assert_int_equal(hull_boot_setup_mptable(&m, 0, NULL), -EINVAL);
        hull_guest_mem_release(&m);
}

static void test_linux_loader_rejects_a_non_bzimage(void **state)
{
        struct hull_guest_mem m;
        struct hull_boot_info info;
        struct hull_error *e = NULL;
        char path[] = "/tmp/hull-vmm-test-XXXXXX";
        int fd = mkstemp(path);
        char junk[2048] = { 0 };

        assert_true(fd >= 0);
        assert_int_equal(write(fd, junk, sizeof(junk)), (int)sizeof(junk));
        close(fd);
        assert_int_equal(hull_guest_mem_init(&m, 128ULL << 20, false, NULL), 0);
        assert_int_equal(hull_boot_load_linux(&m, path, NULL, "", &info, &e), -ENOEXEC);
        assert_non_null(strstr(hull_error_message(e), "bzImage"));
        hull_error_free(e);
        unlink(path);
        hull_guest_mem_release(&m);
}

/* ---- virtqueues against guest memory (no KVM) ---- */

struct vq_fixture {
        struct hull_guest_mem m;
        struct hull_virtq q;
        uint8_t *ram;
};

static void desc(struct vq_fixture *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
        uint8_t *d = f->ram + 0x1000 + 16 * i;

        memcpy(d, &addr, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
}

static void offer(struct vq_fixture *f, uint16_t head)
{
        uint16_t idx;

        memcpy(&idx, f->ram + 0x2002, 2);
        memcpy(f->ram + 0x2004 + 2 * (idx % f->q.num), &head, 2);
        idx++;
        memcpy(f->ram + 0x2002, &idx, 2);
}

static void vq_setup(struct vq_fixture *f, uint16_t num)
{
        char why[160];

        memset(f, 0, sizeof(*f));
        assert_int_equal(hull_guest_mem_init(&f->m, 1ULL << 20, false, NULL), 0);
        f->ram = hull_guest_mem_ptr(&f->m, 0, 1ULL << 20);
        f->q.num = num;
        f->q.desc_gpa = 0x1000;
        f->q.avail_gpa = 0x2000;
        f->q.used_gpa = 0x3000;
        assert_int_equal(hull_virtq_activate(&f->q, &f->m, why, sizeof(why)), 0);
}

static void test_virtq_pops_a_chain_and_publishes_it_used(void **state)
{
        struct vq_fixture f;
        struct hull_virtq_chain c;
        char why[160], buf[8] = { 0 };
        uint16_t used_idx;
        uint32_t used_len;

        vq_setup(&f, 8);
        memcpy(f.ram + 0x8000, "request", 8);
        desc(&f, 3, 0x8000, 8, 1 /* NEXT */, 5);
        desc(&f, 5, 0x9000, 100, 2 /* WRITE */, 0);
        offer(&f, 3);
        assert_int_equal(hull_virtq_pop(&f.q, &c, why, sizeof(why)), 1);
        assert_int_equal(c.head, 3);
        assert_int_equal(c.readable, 8);
        assert_int_equal(c.writable, 100);
        assert_int_equal(hull_virtq_chain_read(&c, 0, buf, sizeof(buf)), 8);
        assert_string_equal(buf, "request");
        assert_int_equal(hull_virtq_chain_write(&c, 98, "xyz", 3), 2); /* clipped to the buffer */
        assert_int_equal(hull_virtq_pop(&f.q, &c, why, sizeof(why)), 0);
        hull_virtq_push(&f.q, 3, 42);
        memcpy(&used_idx, f.ram + 0x3002, 2);
        memcpy(&used_len, f.ram + 0x3008, 4);
        assert_int_equal(used_idx, 1);
        assert_int_equal(used_len, 42);
        hull_guest_mem_release(&f.m);
}

static void test_virtq_rejects_what_a_broken_driver_sends(void **state)
{
        struct vq_fixture f;
        struct hull_virtq_chain c;
        char why[160];

        /* a loop: 0 -> 1 -> 0 */
        vq_setup(&f, 8);
        desc(&f, 0, 0x8000, 8, 1, 1);
        desc(&f, 1, 0x8000, 8, 1, 0);
        offer(&f, 0);
        assert_int_equal(hull_virtq_pop(&f.q, &c, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "loops"));
        hull_guest_mem_release(&f.m);

        /* next outside the queue */
        vq_setup(&f, 8);
        desc(&f, 0, 0x8000, 8, 1, 9);
        offer(&f, 0);
        assert_int_equal(hull_virtq_pop(&f.q, &c, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "next 9"));
        hull_guest_mem_release(&f.m);

        /* a buffer that runs past the end of RAM */
        vq_setup(&f, 8);
        desc(&f, 0, (1ULL << 20) - 4, 8, 0, 0);
        offer(&f, 0);
        assert_int_equal(hull_virtq_pop(&f.q, &c, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "outside guest memory"));
        hull_guest_mem_release(&f.m);

        /* an indirect table (never offered) */
        vq_setup(&f, 8);
        desc(&f, 0, 0x8000, 16, 4, 0);
        offer(&f, 0);
        assert_int_equal(hull_virtq_pop(&f.q, &c, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "indirect"));
        hull_guest_mem_release(&f.m);

        /* the available index racing more than a queue ahead */
        vq_setup(&f, 8);
        {
                uint16_t idx = 9;
                memcpy(f.ram + 0x2002, &idx, 2);
        }
        assert_int_equal(hull_virtq_pop(&f.q, &c, why, sizeof(why)), -EINVAL);
        hull_guest_mem_release(&f.m);

        /* set-up: a size that is no power of 2, rings outside RAM */
        memset(&f, 0, sizeof(f));
        assert_int_equal(hull_guest_mem_init(&f.m, 1ULL << 20, false, NULL), 0);
        f.q.num = 6;
        assert_int_equal(hull_virtq_activate(&f.q, &f.m, why, sizeof(why)), -EINVAL);
        f.q.num = 8;
        f.q.used_gpa = (1ULL << 20) - 8;
        assert_int_equal(hull_virtq_activate(&f.q, &f.m, why, sizeof(why)), -EINVAL);
        hull_guest_mem_release(&f.m);
}

/* ---- virtio-vsock, detached from a VM (no KVM): this file plays the guest driver and the host client ---- */

#define VS_CID 3
#define VS_RX_BUF 0x10000
#define VS_TX_BUF 0x40000

struct vsock_hdr {
        uint64_t src_cid, dst_cid;
        uint32_t src_port, dst_port, len;
        uint16_t type, op;
        uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct vs_fixture {
        struct hull_guest_mem m;
        uint8_t *ram;
        struct hull_loop *loop;
        struct hull_virtio_vsock *v;
        char dir[64], path[96];
        uint16_t avail[2], used[2];
        int client;
};

/* Queue q's rings at 0x1000 + q * 0x3000 (desc, avail, used a page apart), 8 entries. */
static void vs_desc(struct vs_fixture *f, uint16_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next)
{
        uint8_t *d = f->ram + 0x1000 + q * 0x3000 + 16 * i;

        memcpy(d, &addr, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
}

static void vs_offer(struct vs_fixture *f, uint16_t q, uint16_t head)
{
        uint8_t *avail = f->ram + 0x2000 + q * 0x3000;

        memcpy(avail + 4 + 2 * (f->avail[q] % 8), &head, 2);
        f->avail[q]++;
        memcpy(avail + 2, &f->avail[q], 2);
        hull_virtio_vsock_detached_notify(f->v, q);
}

static void vs_pump(struct vs_fixture *f)
{
        for (int i = 0; i < 5; i++)
                hull_loop_run_once(f->loop, 10);
}

static void vs_setup(struct vs_fixture *f)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char why[160];

        memset(f, 0, sizeof(*f));
        assert_int_equal(hull_guest_mem_init(&f->m, 1ULL << 20, false, NULL), 0);
        f->ram = hull_guest_mem_ptr(&f->m, 0, 1ULL << 20);
        assert_int_equal(hull_loop_new(&f->loop, NULL), 0);
        strcpy(f->dir, "/tmp/hull-vsock-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/vsock.sock", f->dir);
        assert_int_equal(hull_virtio_vsock_new_detached(f->loop, VS_CID, f->path, &f->v, NULL), 0);
        for (uint16_t q = 0; q < 3; q++) {
                struct hull_virtq *vq = hull_virtio_vsock_detached_queue(f->v, q);

                vq->num = 8;
                vq->desc_gpa = 0x1000 + q * 0x3000;
                vq->avail_gpa = vq->desc_gpa + 0x1000;
                vq->used_gpa = vq->desc_gpa + 0x2000;
                assert_int_equal(hull_virtq_activate(vq, &f->m, why, sizeof(why)), 0);
                vq->ready = true;
        }
        hull_virtio_vsock_detached_driver(f->v, true);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
        f->client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->client >= 0);
        assert_int_equal(connect(f->client, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void vs_teardown(struct vs_fixture *f)
{
        close(f->client);
        hull_virtio_vsock_free(f->v);
        hull_loop_free(f->loop);
        rmdir(f->dir);
        hull_guest_mem_release(&f->m);
}

/* Post one 4 KiB receive buffer and return the packet the device put there (0 when it put nothing). */
static uint32_t vs_receive(struct vs_fixture *f, struct vsock_hdr *h, void *data, size_t len)
{
        uint8_t *used = f->ram + 0x3000;
        uint16_t idx;
        uint32_t written;

        vs_desc(f, 0, 0, VS_RX_BUF, 4096, 2 /* WRITE */, 0);
        vs_offer(f, 0, 0);
        vs_pump(f);
        memcpy(&idx, used + 2, 2);
        if (idx == f->used[0]) {
                /* nothing yet: take the buffer back from the available ring for the next try */
                f->avail[0]--;
                memcpy(f->ram + 0x2002, &f->avail[0], 2);
                return 0;
        }
        memcpy(&written, used + 8 + 8 * (f->used[0] % 8), 4);
        f->used[0]++;
        memcpy(h, f->ram + VS_RX_BUF, sizeof(*h));
        memcpy(data, f->ram + VS_RX_BUF + sizeof(*h), h->len < len ? h->len : len);
        return written;
}

/* Send one packet from the guest, the header and the payload in two descriptors; claim: the len field. */
static void vs_send(struct vs_fixture *f, const struct vsock_hdr *reply_to, uint16_t op, const char *payload,
                    uint32_t claim)
{
        struct vsock_hdr h = {
                .src_cid = VS_CID,
                .dst_cid = 2,
                .src_port = reply_to->dst_port,
                .dst_port = reply_to->src_port,
                .len = claim,
                .type = 1,
                .op = op,
                .buf_alloc = 65536,
        };
        size_t n = strlen(payload);

        memcpy(f->ram + VS_TX_BUF, &h, sizeof(h));
        memcpy(f->ram + VS_TX_BUF + 0x1000, payload, n);
        vs_desc(f, 1, 0, VS_TX_BUF, sizeof(h), n ? 1 /* NEXT */ : 0, 1);
        vs_desc(f, 1, 1, VS_TX_BUF + 0x1000, (uint32_t)n, 0, 0);
        vs_offer(f, 1, 0);
}

static void test_vsock_relays_a_hybrid_connection_without_kvm(void **state)
{
        struct vs_fixture f;
        struct vsock_hdr req, h;
        char buf[64] = { 0 };
        ssize_t n;

        vs_setup(&f);
        assert_int_equal(send(f.client, "CONNECT 1024\n", 13, MSG_NOSIGNAL), 13);
        vs_pump(&f);
        /* The device asks the guest's port 1024 for a connection ... */
        assert_int_equal(vs_receive(&f, &req, buf, sizeof(buf)), sizeof(req));
        assert_int_equal(req.op, 1 /* REQUEST */);
        assert_int_equal(req.src_cid, 2);
        assert_int_equal(req.dst_cid, VS_CID);
        assert_int_equal(req.dst_port, 1024);
        assert_true(req.src_port >= 1u << 30);
        /* ... and tells the host client once the guest accepted. */
        vs_send(&f, &req, 2 /* RESPONSE */, "", 0);
        assert_null(hull_virtio_vsock_detached_failed(f.v));
        n = recv(f.client, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        assert_true(n > 0);
        buf[n] = 0;
        assert_true(strncmp(buf, "OK ", 3) == 0 && strtoul(buf + 3, NULL, 10) == req.src_port);
        /* Guest to host. */
        vs_send(&f, &req, 5 /* RW */, "ping", 4);
        n = recv(f.client, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        assert_int_equal(n, 4);
        assert_memory_equal(buf, "ping", 4);
        /* Host to guest (the device may first send the credit it owes for "ping"). */
        assert_int_equal(send(f.client, "pong", 4, MSG_NOSIGNAL), 4);
        vs_pump(&f);
        for (int i = 0; i < 4; i++) {
                memset(buf, 0, sizeof(buf));
                if (vs_receive(&f, &h, buf, sizeof(buf)) && h.op == 5 /* RW */)
                        break;
        }
        assert_int_equal(h.op, 5);
        assert_int_equal(h.len, 4);
        assert_memory_equal(buf, "pong", 4);
        assert_int_equal(h.dst_port, 1024);
        assert_null(hull_virtio_vsock_detached_failed(f.v));
        vs_teardown(&f);
}

static void test_vsock_packet_longer_than_its_chain_fails_the_device(void **state)
{
        struct vs_fixture f;
        struct vsock_hdr peer = { .src_port = 1u << 30, .dst_port = 1024 };

        vs_setup(&f);
        /* 4 bytes in the chain, 100 claimed: what would end the VM. */
        vs_send(&f, &peer, 5 /* RW */, "ping", 100);
        assert_non_null(hull_virtio_vsock_detached_failed(f.v));
        assert_non_null(strstr(hull_virtio_vsock_detached_failed(f.v), "claims 100 bytes"));
        vs_teardown(&f);
}

/* ---- tiny guests on KVM ---- */

static bool kvm_usable(void)
{
        static int usable = -1;

        if (usable < 0) {
                struct hull_kvm_probe_result res;
                hull_kvm_probe(NULL, 0, &res);
                usable = res.usable;
        }
        return usable;
}

#define TEST_PORT 0x10
#define TEST_MMIO 0xD0000000ULL
#define CODE 0x1000

struct tiny {
        struct hull_vmm *vmm;
        struct rec io, mmio;
        int console[2];
};

static void tiny_start_rng(struct tiny *t, const uint8_t *code, size_t len, bool long_mode, bool rng,
                           void (*prepare)(uint8_t *ram))
{
        struct hull_vmm_config cfg = { .vcpus = 1, .memory_mib = 4, .entry = CODE, .long_mode = long_mode, .rng = rng };
        struct hull_error *e = NULL;
        uint8_t *dst;
        int r;

        if (!kvm_usable())
                skip();
        memset(t, 0, sizeof(*t));
        assert_int_equal(pipe(t->console), 0);
        cfg.console_fd = t->console[1];
        r = hull_vmm_new(&cfg, &t->vmm, &e);
        if (r < 0)
                fail_msg("hull_vmm_new: %s", hull_error_message(e));
        t->io.vmm = t->mmio.vmm = t->vmm;
        assert_int_equal(hull_bus_add(hull_vmm_io_bus(t->vmm), TEST_PORT, 8, &rec_ops, &t->io, NULL), 0);
        if (!rng) /* the rng takes the first virtio-mmio slot, where the test device would go */
                assert_int_equal(hull_bus_add(hull_vmm_mmio_bus(t->vmm), TEST_MMIO, 0x100, &rec_ops, &t->mmio, NULL),
                                 0);
        dst = hull_guest_mem_ptr(hull_vmm_memory(t->vmm), CODE, len);
        assert_non_null(dst);
        memcpy(dst, code, len);
        if (prepare)
                prepare(hull_guest_mem_ptr(hull_vmm_memory(t->vmm), 0, 4ULL << 20));
        assert_int_equal(hull_vmm_start(t->vmm, NULL), 0);
}

static void tiny_start(struct tiny *t, const uint8_t *code, size_t len, bool long_mode)
{
        tiny_start_rng(t, code, len, long_mode, false, NULL);
}

static enum hull_vmm_exit_kind tiny_wait(struct tiny *t, const char **why)
{
        struct pollfd p = { .fd = hull_vmm_exit_fd(t->vmm), .events = POLLIN };

        assert_int_equal(poll(&p, 1, 10000), 1);
        hull_vmm_stop(t->vmm);
        return hull_vmm_exit_reason(t->vmm, why);
}

static void tiny_end(struct tiny *t)
{
        t->vmm = hull_vmm_free(t->vmm);
        close(t->console[0]);
        close(t->console[1]);
}

static void test_vmm_real_mode_guest_does_port_io(void **state)
{
        static const uint8_t code[] = {
                0xB0, 0x42, /* mov al, 0x42 */
                0xE6, 0x10, /* out 0x10, al */
                0xBA, 0x12, 0x00, /* mov dx, 0x12 */
                0xB8, 0x34, 0x12, /* mov ax, 0x1234 */
                0xEF, /* out dx, ax */
                0xE4, 0x14, /* in al, 0x14 */
                0xE6, 0x11, /* out 0x11, al */
                0xE6, 0x17, /* out 0x17, al: done */
                0xEB, 0xFE, /* jmp $ */
        };
        struct tiny t;
        const char *why;

        tiny_start(&t, code, sizeof(code), false);
        assert_int_equal(tiny_wait(&t, &why), HULL_VMM_EXIT_POWEROFF);
        assert_string_equal(why, "done");
        assert_int_equal(t.io.n, 4);
        assert_int_equal(t.io.off[0], 0);
        assert_int_equal(t.io.val[0], 0x42);
        assert_int_equal(t.io.off[1], 2);
        assert_int_equal(t.io.len[1], 2);
        assert_int_equal(t.io.val[1], 0x1234);
        assert_int_equal(t.io.off[2], 1);
        assert_int_equal(t.io.val[2], 0x99); /* what the device answered to in al, 0x14 */
        tiny_end(&t);
}

static void test_vmm_long_mode_guest_does_mmio(void **state)
{
        static const uint8_t code[] = {
                0xB8, 0x00, 0x00, 0x00, 0xD0, /* mov eax, 0xd0000000 */
                0xC7, 0x00, 0x0D, 0xF0, 0xFE, 0xCA, /* mov dword [rax], 0xcafef00d */
                0x8B, 0x58, 0x08, /* mov ebx, [rax + 8] */
                0x89, 0x58, 0x04, /* mov [rax + 4], ebx */
                0x48, 0xB9, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* mov rcx, 0x1122334455667788 */
                0x48, 0x89, 0x48, 0x10, /* mov [rax + 0x10], rcx */
                0xE6, 0x17, /* out 0x17, al: done */
                0xEB, 0xFE, /* jmp $ */
        };
        struct tiny t;
        const char *why;

        tiny_start(&t, code, sizeof(code), true);
        assert_int_equal(tiny_wait(&t, &why), HULL_VMM_EXIT_POWEROFF);
        assert_int_equal(t.mmio.n, 3);
        assert_int_equal(t.mmio.off[0], 0);
        assert_int_equal(t.mmio.len[0], 4);
        assert_int_equal(t.mmio.val[0], 0xCAFEF00D);
        assert_int_equal(t.mmio.off[1], 4);
        assert_int_equal(t.mmio.val[1], 0x55AA55AA); /* read from offset 8, written back at 4 */
        assert_int_equal(t.mmio.off[2], 0x10);
        assert_int_equal(t.mmio.len[2], 8);
        assert_int_equal(t.mmio.val[2], 0x1122334455667788ULL);
        tiny_end(&t);
}

static void test_vmm_serial_registers_as_linux_probes_them(void **state)
{
        static const uint8_t code[] = {
                0xBA, 0xF8, 0x03, 0xB0, 'H',  0xEE, 0xB0, 'i',  0xEE, /* THR: "Hi" */
                0xBA, 0xFD, 0x03, 0xEC, 0xE6, 0x10, /* LSR -> port 0x10 */
                0xBA, 0xFC, 0x03, 0xB0, 0x1A, 0xEE, /* MCR = loop | OUT2 | RTS */
                0xBA, 0xFE, 0x03, 0xEC, 0xE6, 0x11, /* MSR -> port 0x11 */
                0xBA, 0xF8, 0x03, 0xB0, 'x',  0xEE, /* THR in loopback: not on the console */
                0xBA, 0xFC, 0x03, 0xB0, 0x00, 0xEE, /* MCR = 0 */
                0xBA, 0xFB, 0x03, 0xB0, 0x80, 0xEE, /* LCR = DLAB */
                0xBA, 0xF8, 0x03, 0xB0, 0x0C, 0xEE, 0xEC, 0xE6, 0x12, /* DLL = 12, read back -> port 0x12 */
                0xBA, 0xFB, 0x03, 0xB0, 0x03, 0xEE, /* LCR = 8N1 */
                0xBA, 0xF9, 0x03, 0xB0, 0x02, 0xEE, /* IER = THRI */
                0xBA, 0xFA, 0x03, 0xEC, 0xE6, 0x13, /* IIR (THRE pending) -> port 0x13 */
                0xEC, 0xE6, 0x14, /* IIR again (acknowledged) -> port 0x14 */
                0xE6, 0x17, 0xEB, 0xFE, /* done */
        };
        struct tiny t;
        const char *why;
        char out[8] = { 0 };

        tiny_start(&t, code, sizeof(code), false);
        assert_int_equal(tiny_wait(&t, &why), HULL_VMM_EXIT_POWEROFF);
        assert_int_equal(t.io.n, 6);
        assert_int_equal(t.io.val[0], 0x60); /* THRE | TEMT */
        assert_int_equal(t.io.val[1], 0x90); /* loopback: RTS -> CTS, OUT2 -> DCD */
        assert_int_equal(t.io.val[2], 0x0C); /* the divisor latch reads back */
        assert_int_equal(t.io.val[3], 0x02); /* THRE interrupt */
        assert_int_equal(t.io.val[4], 0x01); /* none left */
        assert_int_equal(read(t.console[0], out, sizeof(out) - 1), 2);
        assert_string_equal(out, "Hi");
        tiny_end(&t);
}

static void test_vmm_threads_are_confined_by_seccomp(void **state)
{
        static const uint8_t code[] = {
                0xE6, 0x16, /* out 0x16, al: the device tries socket() on this vCPU thread */
                0xE6, 0x17, 0xEB, 0xFE, /* done */
        };
        struct tiny t;
        const char *why;
        int fd;

        tiny_start(&t, code, sizeof(code), false);
        assert_int_equal(tiny_wait(&t, &why), HULL_VMM_EXIT_POWEROFF);
        assert_int_equal(t.io.socket_errno, EPERM);
        /* The filter is the VMM threads' only: this thread may still make sockets. */
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        close(fd);
        tiny_end(&t);
}

static void test_vmm_triple_fault_ends_the_vm_as_reset(void **state)
{
        static const uint8_t code[] = { 0x0F, 0x0B }; /* ud2 with no IDT: #UD, #DF, shutdown */
        struct tiny t;
        const char *why;

        tiny_start(&t, code, sizeof(code), true);
        assert_int_equal(tiny_wait(&t, &why), HULL_VMM_EXIT_RESET);
        assert_non_null(strstr(why, "triple fault"));
        tiny_end(&t);
}

static void test_vmm_i8042_reset_ends_the_vm(void **state)
{
        static const uint8_t code[] = { 0xB0, 0xFE, 0xE6, 0x64, 0xEB, 0xFE }; /* mov al, 0xfe; out 0x64, al */
        struct tiny t;
        const char *why;

        tiny_start(&t, code, sizeof(code), false);
        assert_int_equal(tiny_wait(&t, &why), HULL_VMM_EXIT_RESET);
        assert_non_null(strstr(why, "i8042"));
        tiny_end(&t);
}

static void test_vmm_stop_ends_a_spinning_guest(void **state)
{
        static const uint8_t code[] = { 0xEB, 0xFE }; /* jmp $ */
        struct tiny t;
        const char *why;

        tiny_start(&t, code, sizeof(code), false);
        assert_int_equal(hull_vmm_pause(t.vmm, NULL), 0);
        assert_int_equal(hull_vmm_resume(t.vmm, NULL), 0);
        hull_vmm_stop(t.vmm);
        assert_int_equal(hull_vmm_exit_reason(t.vmm, &why), HULL_VMM_EXIT_STOPPED);
        tiny_end(&t);
}

/* A driver in 40 bytes: VERSION_1, FEATURES_OK, queue 0 of 8 entries at 0x10000 (descriptors), 0x11000 (available),
 * 0x12000 (used), DRIVER_OK, notify; then wait for the used index to move and say done. The test writes the rings. */
static const uint8_t rng_driver[] = {
        0xB8, 0x00, 0x00, 0x00, 0xD0, /* mov eax, 0xd0000000: the first virtio-mmio slot */
        0xC7, 0x40, 0x24, 0x01, 0x00, 0x00, 0x00, /* DriverFeaturesSel = 1 */
        0xC7, 0x40, 0x20, 0x01, 0x00, 0x00, 0x00, /* DriverFeatures = VERSION_1 (bit 32) */
        0xC7, 0x40, 0x70, 0x0B, 0x00, 0x00, 0x00, /* Status = ACKNOWLEDGE | DRIVER | FEATURES_OK */
        0xC7, 0x40, 0x30, 0x00, 0x00, 0x00, 0x00, /* QueueSel = 0 */
        0xC7, 0x40, 0x38, 0x08, 0x00, 0x00, 0x00, /* QueueNum = 8 */
        0xC7, 0x80, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, /* QueueDescLow = 0x10000 */
        0xC7, 0x80, 0x90, 0x00, 0x00, 0x00, 0x00, 0x10, 0x01, 0x00, /* QueueDriverLow = 0x11000 */
        0xC7, 0x80, 0xA0, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, /* QueueDeviceLow = 0x12000 */
        0xC7, 0x40, 0x44, 0x01, 0x00, 0x00, 0x00, /* QueueReady = 1 */
        0xC7, 0x40, 0x70, 0x0F, 0x00, 0x00, 0x00, /* Status |= DRIVER_OK */
        0xC7, 0x40, 0x50, 0x00, 0x00, 0x00, 0x00, /* QueueNotify = 0 (an ioeventfd) */
        0xBB, 0x02, 0x20, 0x01, 0x00, /* mov ebx, 0x12002: used->idx */
        0x0F, 0xB7, 0x0B, /* 1: movzx ecx, word [rbx] */
        0x85, 0xC9, /* test ecx, ecx */
        0x74, 0xF9, /* jz 1b */
        0xE6, 0x17, /* out 0x17, al: done */
        0xEB, 0xFE,
};

static void rings_good(uint8_t *ram)
{
        uint64_t addr = 0x13000;
        uint32_t len = 32;
        uint16_t flags = 2 /* WRITE */, idx = 1, head = 0;

        memcpy(ram + 0x10000, &addr, 8);
        memcpy(ram + 0x10008, &len, 4);
        memcpy(ram + 0x1000C, &flags, 2);
        memcpy(ram + 0x11004, &head, 2);
        memcpy(ram + 0x11002, &idx, 2);
}

static void rings_bad_head(uint8_t *ram)
{
        uint16_t idx = 1, head = 200; /* outside the queue of 8 */

        memcpy(ram + 0x11004, &head, 2);
        memcpy(ram + 0x11002, &idx, 2);
}

static void test_vmm_virtio_mmio_rng_serves_a_guest_driver(void **state)
{
        struct tiny t;
        const char *why;
        const uint8_t *ram;
        uint32_t id, len;
        uint8_t zero[32] = { 0 };

        tiny_start_rng(&t, rng_driver, sizeof(rng_driver), true, true, rings_good);
        assert_int_equal(tiny_wait(&t, &why), HULL_VMM_EXIT_POWEROFF);
        ram = hull_guest_mem_ptr(hull_vmm_memory(t.vmm), 0, 4ULL << 20);
        memcpy(&id, ram + 0x12004, 4);
        memcpy(&len, ram + 0x12008, 4);
        assert_int_equal(id, 0);
        assert_int_equal(len, 32);
        assert_memory_not_equal(ram + 0x13000, zero, 32); /* 32 random bytes are not all zero */
        tiny_end(&t);
}

static void test_vmm_malformed_virtqueue_ends_only_that_vm(void **state)
{
        static const uint8_t spin[] = { 0xEB, 0xFE };
        struct tiny bad, good;
        const char *why;

        tiny_start(&good, spin, sizeof(spin), false);
        tiny_start_rng(&bad, rng_driver, sizeof(rng_driver), true, true, rings_bad_head);
        assert_int_equal(tiny_wait(&bad, &why), HULL_VMM_EXIT_ERROR);
        assert_non_null(strstr(why, "virtio-rng"));
        assert_non_null(strstr(why, "chain head 200"));
        /* The other VM of this process runs on. */
        assert_int_equal(hull_vmm_exit_reason(good.vmm, NULL), HULL_VMM_RUNNING);
        tiny_end(&bad);
        hull_vmm_stop(good.vmm);
        assert_int_equal(hull_vmm_exit_reason(good.vmm, NULL), HULL_VMM_EXIT_STOPPED);
        tiny_end(&good);
}

int main(void)
{
        /* The tests that run a guest (the last KVM_TESTS) need a KVM that runs standard guests. Without one they are
         * not registered (cmocka's TAP output reports a skip as "not ok", which meson counts as a failure); the KVM
         * test bed runs them all, and tests/integration/test_kvm_host.py checks that none is missing there. */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_guest_mem_ptr_checks_every_bound),
                cmocka_unit_test(test_guest_mem_above_the_hole_continues_at_4g),
                cmocka_unit_test(test_bus_dispatches_inside_ranges_only),
                cmocka_unit_test(test_mptable_checksums_and_counts_processors),
                cmocka_unit_test(test_linux_loader_rejects_a_non_bzimage),
                cmocka_unit_test(test_virtq_pops_a_chain_and_publishes_it_used),
                cmocka_unit_test(test_virtq_rejects_what_a_broken_driver_sends),
                cmocka_unit_test(test_vsock_relays_a_hybrid_connection_without_kvm),
                cmocka_unit_test(test_vsock_packet_longer_than_its_chain_fails_the_device),
                /* KVM_TESTS from here */
                cmocka_unit_test(test_vmm_real_mode_guest_does_port_io),
                cmocka_unit_test(test_vmm_long_mode_guest_does_mmio),
                cmocka_unit_test(test_vmm_serial_registers_as_linux_probes_them),
                cmocka_unit_test(test_vmm_threads_are_confined_by_seccomp),
                cmocka_unit_test(test_vmm_triple_fault_ends_the_vm_as_reset),
                cmocka_unit_test(test_vmm_i8042_reset_ends_the_vm),
                cmocka_unit_test(test_vmm_stop_ends_a_spinning_guest),
                cmocka_unit_test(test_vmm_virtio_mmio_rng_serves_a_guest_driver),
                cmocka_unit_test(test_vmm_malformed_virtqueue_ends_only_that_vm),
        };
        const size_t kvm_tests = 9;
        size_t n = ARRAY_SIZE(tests);

        if (!kvm_usable()) {
                struct hull_kvm_probe_result res;

                hull_kvm_probe(NULL, 0, &res);
                printf("# %zu tests with guests not run, KVM is not usable here: %s\n", kvm_tests, res.reason);
                n -= kvm_tests;
        }
        return _cmocka_run_group_tests("vmm", tests, n, NULL, NULL);
}
