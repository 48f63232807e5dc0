/* Split virtqueues (virtio 1.1, section 2.6) as the device side sees them: set-up checked against guest memory, and
 * descriptor chains popped into a preallocated scatter list with every index, address and length bounds-checked.
 * A malformed queue is reported as an error; the caller ends the VM. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hull_guest_mem;
struct iovec;

#define HULL_VIRTQ_MAX_SIZE 256
/* A chain longer than this many bytes in total is malformed (no device here needs more). */
#define HULL_VIRTQ_MAX_CHAIN_BYTES (64ULL << 20)

struct hull_virtq_buf {
        uint8_t *base; /* host address, inside guest RAM */
        uint32_t len;
        bool device_writes; /* VIRTQ_DESC_F_WRITE: the device fills it */
};

struct hull_virtq_chain {
        uint16_t head;
        uint16_t n;
        struct hull_virtq_buf *bufs; /* points into the queue's array of size num */
        uint64_t readable, writable; /* total bytes of driver->device and device->driver buffers */
};

struct hull_virtq {
        /* What the driver programmed through the transport. */
        uint16_t num;
        uint64_t desc_gpa, avail_gpa, used_gpa;
        bool ready;
        /* Mapped at activation. */
        const struct hull_guest_mem *mem;
        uint8_t *desc, *avail, *used;
        uint16_t last_avail;
        uint16_t used_idx;
        struct hull_virtq_buf bufs[HULL_VIRTQ_MAX_SIZE];
};

/* Check num (a power of 2, 1..HULL_VIRTQ_MAX_SIZE), the alignment and the guest memory of the three rings and map
 * them. Returns 0 or -EINVAL with why (at least 128 bytes) filled in. */
int hull_virtq_activate(struct hull_virtq *q, const struct hull_guest_mem *mem, char *why, size_t why_len);
void hull_virtq_reset(struct hull_virtq *q);
/* The next available chain: 1 and *chain filled, 0 when none, -EINVAL (why filled in) when the driver broke the
 * queue: a head or next index >= num, a loop, a buffer outside RAM, a readable buffer after a writable one, an
 * indirect descriptor (not offered), or more than HULL_VIRTQ_MAX_CHAIN_BYTES. */
int hull_virtq_pop(struct hull_virtq *q, struct hull_virtq_chain *chain, char *why, size_t why_len);
/* Put back the chain just popped, unused (nothing was pushed since). */
void hull_virtq_unpop(struct hull_virtq *q);
/* Return a chain to the driver with the number of bytes written into it. */
void hull_virtq_push(struct hull_virtq *q, uint16_t head, uint32_t written);
/* Whether the driver asked for no interrupt (VRING_AVAIL_F_NO_INTERRUPT). */
bool hull_virtq_wants_interrupt(const struct hull_virtq *q);

/* Copy from the chain's readable buffers starting at byte offset; returns the bytes copied. */
size_t hull_virtq_chain_read(const struct hull_virtq_chain *c, uint64_t offset, void *dst, size_t len);
/* Copy into the chain's writable buffers starting at byte offset (counted over writable buffers only). */
size_t hull_virtq_chain_write(const struct hull_virtq_chain *c, uint64_t offset, const void *src, size_t len);
/* iovecs (at most c->n) over the chain's writable or readable buffers, skipping skip bytes of them and taking at most
 * len bytes: for readv()/writev() straight between guest memory and a file. Returns how many. */
int hull_virtq_chain_iov(const struct hull_virtq_chain *c, bool writable, uint64_t skip, uint64_t len,
                         struct iovec *iov);
