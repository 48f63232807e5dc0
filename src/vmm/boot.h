/* Loading a Linux x86-64 kernel into guest memory: the bzImage boot protocol (setup header, boot_params, e820
 * map, command line, initrd), the MP table that names the vCPUs and the IOAPIC, and the page tables and GDT of a
 * 64-bit entry. Also used by the unit tests to enter their own long-mode payloads. */
#pragma once

#include <stdint.h>

struct hull_error;
struct hull_guest_mem;

/* Fixed guest-physical layout of the boot structures (all below 1 MiB). */
#define HULL_BOOT_GDT 0x500ULL
#define HULL_BOOT_STACK 0x8FF0ULL
#define HULL_BOOT_PARAMS 0x7000ULL
#define HULL_BOOT_PML4 0x9000ULL /* then the PDPT at 0xA000, four PDs at 0xB000..0xEFFF: 4 GiB identity mapped */
#define HULL_BOOT_CMDLINE 0x20000ULL
#define HULL_BOOT_CMDLINE_MAX 4096
#define HULL_BOOT_MPTABLE 0x9FC00ULL /* the last KiB of base memory, where Linux looks for the MP table */
#define HULL_BOOT_KERNEL 0x100000ULL /* the protected-mode kernel: 1 MiB */
#define HULL_BOOT_CS 0x10 /* __BOOT_CS */
#define HULL_BOOT_DS 0x18 /* __BOOT_DS */
#define HULL_BOOT_TSS 0x20

#define HULL_IOAPIC_ADDR 0xFEC00000ULL
#define HULL_LAPIC_ADDR 0xFEE00000ULL

struct hull_boot_info {
        uint64_t entry; /* 64-bit entry point */
        uint64_t boot_params; /* rsi at entry */
};

/* Identity page tables for the first 4 GiB and the boot GDT (code 0x10, data 0x18, TSS 0x20). */
int hull_boot_setup_long_mode(const struct hull_guest_mem *mem, struct hull_error **err);
/* An MP table (spec 1.4) for vcpus processors, an ISA bus and the IOAPIC with IRQs 0-23 routed 1:1. */
int hull_boot_setup_mptable(const struct hull_guest_mem *mem, unsigned vcpus, struct hull_error **err);
/* Load the bzImage in kernel_path (and initrd_path, may be NULL) with cmdline; fill boot_params and the e820 map.
 * Every size read from the image is checked against the file and guest memory. */
int hull_boot_load_linux(const struct hull_guest_mem *mem, const char *kernel_path, const char *initrd_path,
                         const char *cmdline, struct hull_boot_info *ret, struct hull_error **err);
