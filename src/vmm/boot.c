/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst) for the built-in VMM: bzImage loading, zero page,
 * e820, MP table, and the long-mode environment of the 64-bit entry point. */
#include "vmm/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "macros.h"
#include "vmm/memory.h"

/* Offsets into the setup header / boot_params ("zero page"). */
#define BP_E820_ENTRIES 0x1E8
#define BP_SETUP_SECTS 0x1F1
#define BP_HEADER_MAGIC 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21C
#define BP_HEAP_END_PTR 0x224
#define BP_CMD_LINE_PTR 0x228
#define BP_INITRD_ADDR_MAX 0x22C
#define BP_XLOADFLAGS 0x236
#define BP_CMDLINE_SIZE 0x238
#define BP_EXT_RAMDISK_IMAGE 0xC0
#define BP_EXT_RAMDISK_SIZE 0xC4
#define BP_EXT_CMD_LINE_PTR 0xC8
#define BP_E820_TABLE 0x2D0
#define BP_E820_MAX 128
#define HDRS_MAGIC 0x53726448 /* "HdrS" */
#define LOADFLAG_LOADED_HIGH 0x01
#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01
#define E820_RAM 1
#define E820_RESERVED 2
/* Image size bounds: a kernel is tens of MiB at most; an initrd may be large but must fit in RAM anyway. */
#define KERNEL_MAX (256ULL << 20)
#define INITRD_MAX (2ULL << 30)

static void put16(uint8_t *p, uint16_t v)
{
        memcpy(p, &v, sizeof(v));
}

static void put32(uint8_t *p, uint32_t v)
{
        memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
        memcpy(p, &v, sizeof(v));
}

static uint16_t get16(const uint8_t *p)
{
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static uint32_t get32(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

int hull_boot_setup_long_mode(const struct hull_guest_mem *mem, struct hull_error **err)
{
        uint8_t *pml4 = hull_guest_mem_ptr(mem, HULL_BOOT_PML4, 0x6000);
        uint8_t *gdt = hull_guest_mem_ptr(mem, HULL_BOOT_GDT, 6 * 8);

        if (!pml4 || !gdt)
                return hull_error_set(err, EFAULT, "guest memory too small for the boot page tables");
        memset(pml4, 0, 0x6000);
        /* PML4[0] -> PDPT; PDPT[0..3] -> four PDs of 512 2 MiB pages each. */
        put64(pml4, (HULL_BOOT_PML4 + 0x1000) | 0x3);
        for (uint64_t i = 0; i < 4; i++) {
                put64(pml4 + 0x1000 + i * 8, (HULL_BOOT_PML4 + 0x2000 + i * 0x1000) | 0x3);
                for (uint64_t j = 0; j < 512; j++)
                        put64(pml4 + 0x2000 + i * 0x1000 + j * 8, ((i << 30) + (j << 21)) | 0x83);
        }
        memset(gdt, 0, 6 * 8);
        put64(gdt + HULL_BOOT_CS, 0x00AF9B000000FFFFULL); /* 64-bit code, DPL 0 */
        put64(gdt + HULL_BOOT_DS, 0x00CF93000000FFFFULL); /* data, 4 GiB */
        put64(gdt + HULL_BOOT_TSS, 0x00008B0000000067ULL); /* busy 64-bit TSS at 0, limit 0x67 */
        return 0;
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
        uint8_t sum = 0;

        for (size_t i = 0; i < len; i++)
                sum += p[i];
        return (uint8_t)(0 - sum);
}

int hull_boot_setup_mptable(const struct hull_guest_mem *mem, unsigned vcpus, struct hull_error **err)
{
        /* Floating pointer (16) + header (44) + processors (20 each) + bus (8) + IOAPIC (8) + 24 interrupts (8)
         * + 2 local interrupts (8). With 255 vCPUs that is 5.4 KiB: more than the last KiB of base memory, so the
         * table proper may run into the EBDA area, which the e820 map reserves up to 1 MiB. */
        size_t size = 16 + 44 + 20 * (size_t)vcpus + 8 + 8 + 24 * 8 + 2 * 8;
        uint8_t *base = hull_guest_mem_ptr(mem, HULL_BOOT_MPTABLE, size), *mpf, *hdr, *p;
        uint8_t ioapic_id = (uint8_t)(vcpus + 1);
        uint16_t entries = 0;

        if (vcpus == 0 || vcpus > 254 || !base)
                return hull_error_set(err, EINVAL, "MP table for %u vCPUs does not fit", vcpus);
        memset(base, 0, size);
        mpf = base;
        hdr = base + 16;
        memcpy(mpf, "_MP_", 4);
        put32(mpf + 4, (uint32_t)(HULL_BOOT_MPTABLE + 16));
        mpf[8] = 1; /* length in 16-byte units */
        mpf[9] = 4; /* spec revision 1.4 */
        mpf[10] = checksum(mpf, 16);

        p = hdr + 44;
        for (unsigned i = 0; i < vcpus; i++, p += 20, entries++) {
                p[0] = 0; /* processor */
                p[1] = (uint8_t)i; /* local APIC id */
                p[2] = 0x14; /* local APIC version */
                p[3] = 0x01 | (i == 0 ? 0x02 : 0); /* enabled, bootstrap processor */
                put32(p + 4, 0x600); /* signature: family 6 */
                put32(p + 8, 0x201); /* features: FPU, APIC */
        }
        p[0] = 1; /* bus */
        p[1] = 0;
        memcpy(p + 2, "ISA   ", 6);
        p += 8, entries++;
        p[0] = 2; /* IOAPIC */
        p[1] = ioapic_id;
        p[2] = 0x11;
        p[3] = 1; /* usable */
        put32(p + 4, (uint32_t)HULL_IOAPIC_ADDR);
        p += 8, entries++;
        for (unsigned irq = 0; irq < 24; irq++, p += 8, entries++) {
                p[0] = 3; /* I/O interrupt */
                p[1] = 0; /* INT */
                put16(p + 2, 0); /* conforming polarity and trigger */
                p[4] = 0; /* bus 0 */
                p[5] = (uint8_t)irq;
                p[6] = ioapic_id;
                p[7] = (uint8_t)irq;
        }
        for (unsigned i = 0; i < 2; i++, p += 8, entries++) {
                p[0] = 4; /* local interrupt */
                p[1] = i == 0 ? 3 : 1; /* ExtINT on LINT0, NMI on LINT1 */
                p[4] = 0;
                p[5] = 0;
                p[6] = 0xFF; /* every local APIC */
                p[7] = (uint8_t)i;
        }
        memcpy(hdr, "PCMP", 4);
        put16(hdr + 4, (uint16_t)(p - hdr));
        hdr[6] = 4;
        memcpy(hdr + 8, "HULL    ", 8);
        memcpy(hdr + 16, "BUILTIN VMM ", 12);
        put16(hdr + 34, entries);
        put32(hdr + 36, (uint32_t)HULL_LAPIC_ADDR);
        hdr[7] = checksum(hdr, (size_t)(p - hdr));
        return 0;
}

/* Read all of path into guest memory at gpa (the file must fit in [gpa, gpa + max)). */
static int load_file(const struct hull_guest_mem *mem, const char *path, uint64_t offset, uint64_t gpa, uint64_t max,
                     uint64_t *ret_size, struct hull_error **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        uint64_t size, done = 0;
        uint8_t *dst;

        if (fd < 0)
                return hull_error_errno(err, errno, "open %s", path);
        if (fstat(fd, &st) < 0)
                return hull_error_errno(err, errno, "stat %s", path);
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < offset)
                return hull_error_set(err, EINVAL, "%s: not a regular file of at least %llu bytes", path,
                                      (unsigned long long)offset);
        size = (uint64_t)st.st_size - offset;
        if (size == 0 || size > max)
                return hull_error_set(err, EFBIG, "%s: %llu bytes do not fit in %llu bytes of guest memory", path,
                                      (unsigned long long)size, (unsigned long long)max);
        dst = hull_guest_mem_ptr(mem, gpa, size);
        if (!dst)
                return hull_error_set(err, EFAULT, "%s: %llu bytes at 0x%llx are outside guest memory", path,
                                      (unsigned long long)size, (unsigned long long)gpa);
        while (done < size) {
                ssize_t n = pread(fd, dst + done, size - done, (off_t)(offset + done));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return hull_error_errno(err, n < 0 ? errno : EIO, "read %s", path);
                done += (uint64_t)n;
        }
        *ret_size = size;
        return 0;
}

static void e820_add(uint8_t *bp, uint64_t addr, uint64_t size, uint32_t type)
{
        uint8_t n = bp[BP_E820_ENTRIES];
        uint8_t *e = bp + BP_E820_TABLE + 20 * n;

        if (n >= BP_E820_MAX || size == 0)
                return;
        put64(e, addr);
        put64(e + 8, size);
        put32(e + 16, type);
        bp[BP_E820_ENTRIES] = (uint8_t)(n + 1);
}

/* An uncompressed ELF vmlinux: PT_LOAD segments at their physical addresses, entry at e_entry (vmlinux.lds.S makes
 * it phys_startup_64), and a setup header written by us since there is none in the file. */
static int load_elf(const struct hull_guest_mem *mem, int fd, const char *path, uint8_t *bp, uint64_t *ret_entry,
                    uint64_t *ret_end, struct hull_error **err)
{
        uint8_t eh[64];
        uint64_t phoff, entry, end = 0;
        uint16_t phentsize, phnum;
        struct stat st;

        if (fstat(fd, &st) < 0)
                return hull_error_errno(err, errno, "stat %s", path);
        if (pread(fd, eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || eh[4] != 2 /* 64-bit */ || eh[5] != 1 /* LE */ ||
            get16(eh + 16) != 2 /* ET_EXEC */ || get16(eh + 18) != 62 /* x86-64 */)
                return hull_error_set(err, ENOEXEC, "%s: not an x86-64 ELF executable", path);
        memcpy(&entry, eh + 24, 8);
        memcpy(&phoff, eh + 32, 8);
        phentsize = get16(eh + 54);
        phnum = get16(eh + 56);
        if (phentsize < 56 || phnum == 0 || phnum > 64 || phoff > (uint64_t)st.st_size ||
            (uint64_t)phentsize * phnum > (uint64_t)st.st_size - phoff)
                return hull_error_set(err, ENOEXEC, "%s: bad ELF program headers", path);
        for (uint16_t i = 0; i < phnum; i++) {
                uint8_t ph[56];
                uint64_t off, paddr, filesz, memsz;
                uint8_t *dst;

                if (pread(fd, ph, sizeof(ph), (off_t)(phoff + (uint64_t)i * phentsize)) != (ssize_t)sizeof(ph))
                        return hull_error_errno(err, EIO, "read %s", path);
                if (get32(ph) != 1 /* PT_LOAD */)
                        continue;
                memcpy(&off, ph + 8, 8);
                memcpy(&paddr, ph + 24, 8);
                memcpy(&filesz, ph + 32, 8);
                memcpy(&memsz, ph + 40, 8);
                if (filesz > memsz || off > (uint64_t)st.st_size || filesz > (uint64_t)st.st_size - off ||
                    memsz > KERNEL_MAX || paddr < HULL_BOOT_KERNEL)
                        return hull_error_set(err, ENOEXEC, "%s: bad ELF segment %u", path, i);
                dst = hull_guest_mem_ptr(mem, paddr, memsz);
                if (!dst)
                        return hull_error_set(err, EFBIG, "%s: segment %u (0x%llx+0x%llx) is outside guest memory",
                                              path, i, (unsigned long long)paddr, (unsigned long long)memsz);
                for (uint64_t done = 0; done < filesz;) {
                        ssize_t n = pread(fd, dst + done, filesz - done, (off_t)(off + done));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                return hull_error_errno(err, n < 0 ? errno : EIO, "read %s", path);
                        done += (uint64_t)n;
                }
                memset(dst + filesz, 0, memsz - filesz);
                end = MAX(end, paddr + memsz);
        }
        if (!end || !hull_guest_mem_ptr(mem, entry, 1))
                return hull_error_set(err, ENOEXEC, "%s: no loadable segment or entry 0x%llx outside them", path,
                                      (unsigned long long)entry);
        put16(bp + 0x1FE, 0xAA55); /* boot_flag */
        put32(bp + BP_HEADER_MAGIC, HDRS_MAGIC);
        put16(bp + BP_VERSION, 0x20C);
        put32(bp + 0x230, 0x1000000); /* kernel_alignment */
        put32(bp + BP_CMDLINE_SIZE, HULL_BOOT_CMDLINE_MAX - 1);
        put32(bp + BP_INITRD_ADDR_MAX, 0x7FFFFFFF);
        *ret_entry = entry;
        *ret_end = end;
        return 0;
}

/* A bzImage: the setup header from the file, the protected-mode kernel at 1 MiB, entry at its startup_64. */
static int load_bzimage(const struct hull_guest_mem *mem, const char *path, const uint8_t *hdr, size_t hdr_len,
                        uint8_t *bp, uint64_t *ret_entry, uint64_t *ret_end, struct hull_error **err)
{
        uint64_t setup_size, kernel_size;
        int r;

        if (hdr_len < 1024 || get32(hdr + BP_HEADER_MAGIC) != HDRS_MAGIC)
                return hull_error_set(err, ENOEXEC, "%s: neither a bzImage (no HdrS setup header) nor an ELF vmlinux",
                                      path);
        if (get16(hdr + BP_VERSION) < 0x20C || !(get16(hdr + BP_XLOADFLAGS) & XLF_KERNEL_64))
                return hull_error_set(err, ENOEXEC, "%s: boot protocol %#x without a 64-bit entry (need 2.12+)", path,
                                      get16(hdr + BP_VERSION));
        setup_size = ((uint64_t)(hdr[BP_SETUP_SECTS] ? hdr[BP_SETUP_SECTS] : 4) + 1) * 512;
        /* The setup header: from 0x1f1 to the end given by the byte at 0x201 (its length past 0x202). */
        memcpy(bp + BP_SETUP_SECTS, hdr + BP_SETUP_SECTS, MIN((size_t)(0x202 + hdr[0x201]), hdr_len) - 0x1F1);
        r = load_file(mem, path, setup_size, HULL_BOOT_KERNEL, MIN(mem->low_size - HULL_BOOT_KERNEL, KERNEL_MAX),
                      &kernel_size, err);
        if (r < 0)
                return r;
        *ret_entry = HULL_BOOT_KERNEL + 0x200; /* startup_64 of the protected-mode kernel */
        *ret_end = HULL_BOOT_KERNEL + kernel_size;
        return 0;
}

int hull_boot_load_linux(const struct hull_guest_mem *mem, const char *kernel_path, const char *initrd_path,
                         const char *cmdline, struct hull_boot_info *ret, struct hull_error **err)
{
        _cleanup_close_ int fd = -1;
        uint8_t hdr[1024], *bp;
        uint64_t entry = 0, kernel_end = 0, initrd_size = 0, cmdline_len = strlen(cmdline), initrd_max;
        uint32_t cmdline_size;
        ssize_t n;
        int r;

        fd = open(kernel_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return hull_error_errno(err, errno, "open kernel %s", kernel_path);
        n = pread(fd, hdr, sizeof(hdr), 0);
        if (n < 0)
                return hull_error_errno(err, errno, "read kernel %s", kernel_path);
        bp = hull_guest_mem_ptr(mem, HULL_BOOT_PARAMS, 4096);
        if (!bp || mem->low_size < 64ULL << 20)
                return hull_error_set(err, EFAULT, "guest memory too small to boot Linux (need 64 MiB)");
        memset(bp, 0, 4096);
        if (n >= 4 &&
            memcmp(hdr,
                   "\x7f"
                   "ELF",
                   4) == 0)
                r = load_elf(mem, fd, kernel_path, bp, &entry, &kernel_end, err);
        else
                r = load_bzimage(mem, kernel_path, hdr, (size_t)n, bp, &entry, &kernel_end, err);
        if (r < 0)
                return r;
        bp[BP_TYPE_OF_LOADER] = 0xFF;
        bp[BP_LOADFLAGS] |= LOADFLAG_LOADED_HIGH | LOADFLAG_CAN_USE_HEAP;
        put16(bp + BP_HEAP_END_PTR, 0xFE00);

        cmdline_size = get32(bp + BP_CMDLINE_SIZE);
        if (cmdline_len + 1 > MIN((uint64_t)cmdline_size + 1, (uint64_t)HULL_BOOT_CMDLINE_MAX))
                return hull_error_set(err, E2BIG, "kernel command line of %llu bytes, the kernel takes %u",
                                      (unsigned long long)cmdline_len, cmdline_size);
        if (hull_guest_mem_write(mem, HULL_BOOT_CMDLINE, cmdline, cmdline_len + 1) < 0)
                return hull_error_set(err, EFAULT, "no guest memory for the command line");
        put32(bp + BP_CMD_LINE_PTR, (uint32_t)HULL_BOOT_CMDLINE);

        if (initrd_path) {
                struct stat st;
                uint64_t addr;

                if (stat(initrd_path, &st) < 0)
                        return hull_error_errno(err, errno, "stat initrd %s", initrd_path);
                if (st.st_size <= 0 || (uint64_t)st.st_size > INITRD_MAX)
                        return hull_error_set(err, EFBIG, "initrd %s: %lld bytes", initrd_path, (long long)st.st_size);
                /* As high as the kernel allows, page aligned, below the MMIO hole, clear of the kernel and the
                 * room it decompresses into. */
                initrd_max = MIN((uint64_t)get32(bp + BP_INITRD_ADDR_MAX) + 1, mem->low_size);
                if ((uint64_t)st.st_size > initrd_max || initrd_max - (uint64_t)st.st_size < kernel_end + (16ULL << 20))
                        return hull_error_set(err, EFBIG, "initrd %s (%lld bytes) does not fit in guest memory",
                                              initrd_path, (long long)st.st_size);
                addr = (initrd_max - (uint64_t)st.st_size) & ~0xFFFULL;
                r = load_file(mem, initrd_path, 0, addr, initrd_max - addr, &initrd_size, err);
                if (r < 0)
                        return r;
                put32(bp + BP_RAMDISK_IMAGE, (uint32_t)addr);
                put32(bp + BP_RAMDISK_SIZE, (uint32_t)initrd_size);
        }

        e820_add(bp, 0, HULL_BOOT_MPTABLE, E820_RAM);
        e820_add(bp, HULL_BOOT_MPTABLE, 0x100000 - HULL_BOOT_MPTABLE, E820_RESERVED);
        e820_add(bp, 0x100000, mem->low_size - 0x100000, E820_RAM);
        if (mem->size > mem->low_size)
                e820_add(bp, HULL_VMM_HIGH_RAM, mem->size - mem->low_size, E820_RAM);

        ret->entry = entry;
        ret->boot_params = HULL_BOOT_PARAMS;
        return 0;
}
