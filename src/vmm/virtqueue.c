/* Split virtqueue, device side. Guest memory is shared with a running guest: every field is read once into a local
 * and checked before use, and the ring indices are read with acquire and published with release ordering. */
#include "vmm/virtqueue.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "macros.h"
#include "vmm/memory.h"

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1

static int broken(char *why, size_t len, const char *fmt, ...) _printf_(3, 4);
static int broken(char *why, size_t len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int hull_virtq_activate(struct hull_virtq *q, const struct hull_guest_mem *mem, char *why, size_t why_len)
{
        uint64_t n = q->num;

        if (n == 0 || n > HULL_VIRTQ_MAX_SIZE || (n & (n - 1)))
                return broken(why, why_len, "queue size %u (need a power of 2 up to %u)", q->num, HULL_VIRTQ_MAX_SIZE);
        if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
                return broken(why, why_len, "misaligned ring address (queue size %u)", q->num);
        q->desc = hull_guest_mem_ptr(mem, q->desc_gpa, 16 * n);
        q->avail = hull_guest_mem_ptr(mem, q->avail_gpa, 6 + 2 * n);
        q->used = hull_guest_mem_ptr(mem, q->used_gpa, 6 + 8 * n);
        if (!q->desc || !q->avail || !q->used)
                return broken(why, why_len, "ring outside guest memory (queue size %u)", q->num);
        q->mem = mem;
        q->last_avail = 0;
        q->used_idx = 0;
        return 0;
}

void hull_virtq_reset(struct hull_virtq *q)
{
        q->num = 0;
        q->desc_gpa = q->avail_gpa = q->used_gpa = 0;
        q->ready = false;
        q->desc = q->avail = q->used = NULL;
        q->last_avail = q->used_idx = 0;
}

static uint16_t load16(const uint8_t *p)
{
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
}

int hull_virtq_pop(struct hull_virtq *q, struct hull_virtq_chain *c, char *why, size_t why_len)
{
        uint16_t avail_idx, head, idx;
        bool seen_writable = false;

        if (!q->avail)
                return 0;
        avail_idx = __atomic_load_n((uint16_t *)(q->avail + 2), __ATOMIC_ACQUIRE);
        if (avail_idx == q->last_avail)
                return 0;
        /* The driver can only be up to num entries ahead. */
        if ((uint16_t)(avail_idx - q->last_avail) > q->num)
                return broken(why, why_len, "available index %u runs %u entries ahead", avail_idx,
                              (uint16_t)(avail_idx - q->last_avail));
        head = load16(q->avail + 4 + 2 * (q->last_avail % q->num));
        if (head >= q->num)
                return broken(why, why_len, "chain head %u outside queue of %u", head, q->num);
        memset(c, 0, sizeof(*c));
        c->head = head;
        c->bufs = q->bufs;
        idx = head;
        for (;;) {
                const uint8_t *d = q->desc + 16 * (size_t)idx;
                uint64_t addr;
                uint32_t len;
                uint16_t flags, next;

                memcpy(&addr, d, 8);
                memcpy(&len, d + 8, 4);
                flags = load16(d + 12);
                next = load16(d + 14);
                if (c->n == q->num)
                        return broken(why, why_len, "descriptor chain from %u loops (queue size %u)", head, q->num);
                if (flags & VIRTQ_DESC_F_INDIRECT)
                        return broken(why, why_len, "indirect descriptor %u (not offered)", idx);
                c->bufs[c->n] = (struct hull_virtq_buf){ 0 };
                if (len) {
                        uint8_t *p = hull_guest_mem_ptr(q->mem, addr, len);
                        if (!p)
                                return broken(why, why_len, "descriptor %u: %u bytes outside guest memory", idx, len);
                        if (flags & VIRTQ_DESC_F_WRITE) {
                                seen_writable = true;
                                c->writable += len;
                        } else {
                                if (seen_writable)
                                        return broken(why, why_len, "descriptor %u: readable after writable", idx);
                                c->readable += len;
                        }
                        if (c->readable + c->writable > HULL_VIRTQ_MAX_CHAIN_BYTES)
                                return broken(why, why_len, "chain from %u longer than %u MiB", head,
                                              (unsigned)(HULL_VIRTQ_MAX_CHAIN_BYTES >> 20));
                        c->bufs[c->n].base = p;
                        c->bufs[c->n].len = len;
                        c->bufs[c->n].device_writes = flags & VIRTQ_DESC_F_WRITE;
                }
                c->n++;
                if (!(flags & VIRTQ_DESC_F_NEXT))
                        break;
                if (next >= q->num)
                        return broken(why, why_len, "descriptor %u: next %u outside queue", idx, next);
                idx = next;
        }
        /* Zero-length descriptors are counted for loop detection but not kept. */
        {
                uint16_t kept = 0;
                for (uint16_t i = 0; i < c->n; i++)
                        if (c->bufs[i].base && c->bufs[i].len)
                                c->bufs[kept++] = c->bufs[i];
                c->n = kept;
        }
        q->last_avail++;
        return 1;
}

void hull_virtq_unpop(struct hull_virtq *q)
{
        q->last_avail--;
}

void hull_virtq_push(struct hull_virtq *q, uint16_t head, uint32_t written)
{
        uint8_t *e;
        uint32_t id = head;

        if (!q->used)
                return;
        e = q->used + 4 + 8 * (size_t)(q->used_idx % q->num);
        memcpy(e, &id, 4);
        memcpy(e + 4, &written, 4);
        q->used_idx++;
        __atomic_store_n((uint16_t *)(q->used + 2), q->used_idx, __ATOMIC_RELEASE);
}

bool hull_virtq_wants_interrupt(const struct hull_virtq *q)
{
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return !q->avail || !(load16(q->avail) & VRING_AVAIL_F_NO_INTERRUPT);
}

size_t hull_virtq_chain_read(const struct hull_virtq_chain *c, uint64_t offset, void *dst, size_t len)
{
        size_t done = 0;

        for (uint16_t i = 0; i < c->n && done < len; i++) {
                const struct hull_virtq_buf *b = &c->bufs[i];
                size_t take;

                if (b->device_writes)
                        break;
                if (offset >= b->len) {
                        offset -= b->len;
                        continue;
                }
                take = MIN(b->len - offset, len - done);
                memcpy((uint8_t *)dst + done, b->base + offset, take);
                done += take;
                offset = 0;
        }
        return done;
}

size_t hull_virtq_chain_write(const struct hull_virtq_chain *c, uint64_t offset, const void *src, size_t len)
{
        size_t done = 0;

        for (uint16_t i = 0; i < c->n && done < len; i++) {
                const struct hull_virtq_buf *b = &c->bufs[i];
                size_t take;

                if (!b->device_writes)
                        continue;
                if (offset >= b->len) {
                        offset -= b->len;
                        continue;
                }
                take = MIN(b->len - offset, len - done);
                memcpy(b->base + offset, (const uint8_t *)src + done, take);
                done += take;
                offset = 0;
        }
        return done;
}

int hull_virtq_chain_iov(const struct hull_virtq_chain *c, bool writable, uint64_t skip, uint64_t len,
                         struct iovec *iov)
{
        int n = 0;

        for (uint16_t i = 0; i < c->n && len; i++) {
                const struct hull_virtq_buf *b = &c->bufs[i];
                uint64_t take;

                if (b->device_writes != writable)
                        continue;
                if (skip >= b->len) {
                        skip -= b->len;
                        continue;
                }
                take = MIN(b->len - skip, len);
                iov[n].iov_base = b->base + skip;
                iov[n].iov_len = (size_t)take;
                n++;
                len -= take;
                skip = 0;
        }
        return n;
}
