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
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "host/kvm-probe.h"
#include "vmm/boot.h"
#include "vmm/bus.h"
#include "vmm/memory.h"
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

static void tiny_start(struct tiny *t, const uint8_t *code, size_t len, bool long_mode)
{
        struct hull_vmm_config cfg = { .vcpus = 1, .memory_mib = 4, .entry = CODE, .long_mode = long_mode };
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
        assert_int_equal(hull_bus_add(hull_vmm_mmio_bus(t->vmm), TEST_MMIO, 0x100, &rec_ops, &t->mmio, NULL), 0);
        dst = hull_guest_mem_ptr(hull_vmm_memory(t->vmm), CODE, len);
        assert_non_null(dst);
        memcpy(dst, code, len);
        assert_int_equal(hull_vmm_start(t->vmm, NULL), 0);
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_guest_mem_ptr_checks_every_bound),
                cmocka_unit_test(test_guest_mem_above_the_hole_continues_at_4g),
                cmocka_unit_test(test_bus_dispatches_inside_ranges_only),
                cmocka_unit_test(test_mptable_checksums_and_counts_processors),
                cmocka_unit_test(test_linux_loader_rejects_a_non_bzimage),
                cmocka_unit_test(test_vmm_real_mode_guest_does_port_io),
                cmocka_unit_test(test_vmm_long_mode_guest_does_mmio),
                cmocka_unit_test(test_vmm_serial_registers_as_linux_probes_them),
                cmocka_unit_test(test_vmm_triple_fault_ends_the_vm_as_reset),
                cmocka_unit_test(test_vmm_i8042_reset_ends_the_vm),
                cmocka_unit_test(test_vmm_stop_ends_a_spinning_guest),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
