/* Guest RAM for the built-in VMM: one host mapping (anonymous, or a memfd that vhost-user back ends can map too),
 * laid out below the 32-bit MMIO hole and above 4 GiB; every guest-physical access goes through a bounds check. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct hull_error;

/* RAM ends at 3 GiB below 4 GiB; what does not fit continues at 4 GiB. The hole holds virtio-mmio, the IOAPIC and
 * the local APIC. */
#define HULL_VMM_MMIO_HOLE 0xC0000000ULL
#define HULL_VMM_HIGH_RAM 0x100000000ULL

struct hull_guest_mem {
        uint8_t *host; /* [0, low_size) is GPA 0..; [low_size, size) is GPA 4 GiB.. */
        uint64_t size;
        uint64_t low_size;
        int memfd; /* -1 unless asked for */
};

int hull_guest_mem_init(struct hull_guest_mem *m, uint64_t size, bool memfd, struct hull_error **err);
void hull_guest_mem_release(struct hull_guest_mem *m);
/* Tell KVM about the RAM (slots 0 and, with high RAM, 1). */
int hull_guest_mem_register(const struct hull_guest_mem *m, int vm_fd, struct hull_error **err);
/* The host address of [gpa, gpa + len) when all of it is RAM of one region, else NULL. len 0 is refused. */
void *hull_guest_mem_ptr(const struct hull_guest_mem *m, uint64_t gpa, uint64_t len);
/* Copy into / out of guest memory; -EFAULT when any byte is outside RAM. */
int hull_guest_mem_write(const struct hull_guest_mem *m, uint64_t gpa, const void *src, uint64_t len);
int hull_guest_mem_read(const struct hull_guest_mem *m, uint64_t gpa, void *dst, uint64_t len);
