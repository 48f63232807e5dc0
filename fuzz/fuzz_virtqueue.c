/* libFuzzer target for what a hostile guest driver writes into a split virtqueue: the input becomes the queue size,
 * the descriptor table and the available ring in a small guest RAM; every chain popped is read and written through
 * in full. Nothing may touch memory outside guest RAM (ASan would see it: RAM is an exact-size mapping). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmm/memory.h"
#include "vmm/virtqueue.h"

#define RAM (1ULL << 20)
#define DESC 0x1000
#define AVAIL 0x3000
#define USED 0x4000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct hull_guest_mem mem;
        static uint8_t scratch[1 << 16];
        struct hull_virtq q = { 0 };
        struct hull_virtq_chain c;
        char why[160];
        uint8_t *ram;
        size_t desc_len;

        if (size < 3)
                return 0;
        if (!mem.host && hull_guest_mem_init(&mem, RAM, false, NULL) < 0)
                return 0;
        ram = hull_guest_mem_ptr(&mem, 0, RAM);
        memset(ram, 0, 0x10000);
        /* Byte 0: the queue size as a power of 2 (sizes that are not, or too large, must be refused at activation);
         * byte 1: where the used ring goes (inside or at the very end of RAM). */
        q.num = (uint16_t)(1u << (data[0] % 10));
        q.desc_gpa = DESC;
        q.avail_gpa = AVAIL;
        q.used_gpa = data[1] & 1 ? RAM - 6 - 8 * (uint64_t)q.num + (data[1] >> 1) : USED;
        data += 2;
        size -= 2;
        /* The rest: the descriptor table, then the available ring. */
        desc_len = size < 0x2000 ? size : 0x2000;
        memcpy(ram + DESC, data, desc_len);
        if (size > desc_len)
                memcpy(ram + AVAIL, data + desc_len, size - desc_len < 0x1000 ? size - desc_len : 0x1000);
        if (hull_virtq_activate(&q, &mem, why, sizeof(why)) < 0)
                return 0;
        for (int i = 0; i < 512; i++) {
                int r = hull_virtq_pop(&q, &c, why, sizeof(why));
                size_t n = 0;

                if (r <= 0)
                        break;
                for (uint64_t off = 0; off < c.readable; off += n) {
                        n = hull_virtq_chain_read(&c, off, scratch, sizeof(scratch));
                        if (n == 0)
                                break;
                }
                for (uint64_t off = 0; off < c.writable; off += n) {
                        n = hull_virtq_chain_write(&c, off, scratch, sizeof(scratch));
                        if (n == 0)
                                break;
                }
                hull_virtq_push(&q, c.head, (uint32_t)c.writable);
        }
        return 0;
}
