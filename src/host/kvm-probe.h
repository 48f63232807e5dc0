/* Decide whether /dev/kvm can run a standard Linux guest: open it, create a VM and a vCPU in long
 * mode, and run a tiny payload that executes the instructions a Linux guest cannot do without. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HULL_KVM_DEVICE "/dev/kvm"
#define HULL_KVM_PROBE_TIMEOUT_MS 2000

/* Guest-physical layout of the probe VM (all inside one small memory slot at GPA 0). */
#define HULL_KVM_PROBE_MEM_SIZE 0x10000ULL
#define HULL_KVM_PROBE_GDT 0x1000ULL
#define HULL_KVM_PROBE_PML4 0x2000ULL
#define HULL_KVM_PROBE_PDPT 0x3000ULL
#define HULL_KVM_PROBE_PD 0x4000ULL
#define HULL_KVM_PROBE_XSAVE 0x5000ULL /* 64-byte aligned XSAVE area */
#define HULL_KVM_PROBE_DATA 0x6000ULL /* cmpxchg16b target and SSE results */
#define HULL_KVM_PROBE_TSS 0x7000ULL
#define HULL_KVM_PROBE_CODE 0x8000ULL
#define HULL_KVM_PROBE_STACK 0xF000ULL

/* Ucall ports: the payload reports progress with `out dx, al` and values with `out dx, eax`. */
#define HULL_KVM_PROBE_PORT_STEP 0x0FF0
#define HULL_KVM_PROBE_PORT_DATA 0x0FF4

/* The payload's steps, in the order it runs them; each is announced on the step port first. */
enum hull_kvm_probe_step {
        HULL_KVM_STEP_NONE = 0,
        HULL_KVM_STEP_CPUID = 1,
        HULL_KVM_STEP_XSETBV = 2, /* CR4.OSXSAVE, xsetbv, cpuid shows OSXSAVE */
        HULL_KVM_STEP_RDTSC = 3,
        HULL_KVM_STEP_CMPXCHG16B = 4,
        HULL_KVM_STEP_SSE = 5,
        HULL_KVM_STEP_XSAVE = 6, /* xsave, clobber xmm0, xrstor */
        HULL_KVM_STEP_DONE = 0x7F,
};

/* The values the payload writes and the host checks afterwards. */
#define HULL_KVM_PROBE_CX16_LO 0x1122334455667788ULL
#define HULL_KVM_PROBE_CX16_HI 0x0123456789ABCDEFULL

/* Where the probe stopped. */
enum hull_kvm_probe_stage {
        HULL_KVM_STAGE_OPEN = 0, /* /dev/kvm missing or not openable */
        HULL_KVM_STAGE_API, /* API version or a required extension */
        HULL_KVM_STAGE_VM, /* VM, irqchip, memory, vCPU set-up */
        HULL_KVM_STAGE_RUN, /* the payload failed or misbehaved */
        HULL_KVM_STAGE_PASSED,
};

struct hull_kvm_probe_result {
        bool present; /* the device node exists */
        bool usable; /* the whole payload ran and every result checked out */
        int api_version; /* -1 when not read */
        enum hull_kvm_probe_stage stage;
        enum hull_kvm_probe_step last_step; /* last step the payload announced */
        uint32_t exit_reason; /* last KVM exit, when the payload ran */
        uint64_t rip; /* guest rip at the failing exit, when known */
        char reason[384]; /* one line: why not usable, or what passed */
};

/* Run the probe against dev_path (HULL_KVM_DEVICE when NULL), giving the guest at most
 * timeout_ms (HULL_KVM_PROBE_TIMEOUT_MS when 0). Never fails: every outcome is a verdict in
 * *ret. Installs a handler for SIGRTMIN+0 in the calling thread while it runs and restores it. */
void hull_kvm_probe(const char *dev_path, unsigned timeout_ms, struct hull_kvm_probe_result *ret);

/* The guest payload, one instruction per entry (64-bit code, loaded at HULL_KVM_PROBE_CODE). */
struct hull_kvm_probe_insn {
        uint8_t len;
        uint8_t bytes[15];
        bool ring0; /* needs CPL 0: control registers, xsetbv, port I/O */
        bool xsave; /* part of the XSAVE steps, left out when KVM offers guests no XSAVE */
        const char *text; /* the instruction in Intel syntax */
};
const struct hull_kvm_probe_insn *hull_kvm_probe_insns(size_t *ret_count);
/* Write the payload into buf (without the XSAVE rows unless with_xsave); returns its length, 0 when len is too
 * small. */
size_t hull_kvm_probe_assemble(uint8_t *buf, size_t len, bool with_xsave);
/* Check what a finished payload left in its XSAVE area (at HULL_KVM_PROBE_XSAVE; NULL when it ran without the
 * XSAVE rows) and data area (at HULL_KVM_PROBE_DATA, 0x30 bytes). Returns true, or false with why filled in. */
bool hull_kvm_probe_check_memory(const uint8_t *xsave_area, const uint8_t *data_area, char *why, size_t why_len);

const char *hull_kvm_probe_step_name(enum hull_kvm_probe_step step);
const char *hull_kvm_exit_reason_name(uint32_t exit_reason);

struct kvm_run;
/* Describe an exit that ended the probe in one line into buf, e.g. "KVM_EXIT_INTERNAL_ERROR
 * suberror 1 (emulation failure) at rip=0x8012 during step cpuid". Returns buf. */
char *hull_kvm_probe_describe_exit(const struct kvm_run *run, uint64_t rip, enum hull_kvm_probe_step step, char *buf,
                                   size_t len);
