/* The KVM usability probe: a one-vCPU VM in long mode runs a hand-assembled payload that reports
 * through port I/O ("ucalls"); any emulation failure, triple fault or hang means "not usable". */
#include "kvm-probe.h"

#include <assert.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macros.h"

/* KVM's only stable API version since Linux 2.6.22. */
#define KVM_API_VERSION_STABLE 12
/* Bounds so a misbehaving KVM cannot keep the probe busy: exits handled, CPUID entries asked for. */
#define PROBE_MAX_EXITS 256
#define PROBE_MAX_CPUID_ENTRIES 4096
/* After the deadline the timer keeps firing this often, in case one signal landed just before
 * KVM_RUN on a kernel without KVM_CAP_IMMEDIATE_EXIT. */
#define PROBE_TIMER_REPEAT_MS 50

/* One instruction per row: its bytes and the assembly they encode. Rows marked ring0 need CPL 0
 * (control registers, xsetbv, port I/O); everything else also runs in user mode, which is how
 * the unit test checks the encodings on the build machine. */
/* clang-format off */
#define PAYLOAD_INSN(is_ring0, is_xsave, asm_text, ...) \
        { .len = sizeof((const uint8_t[]){ __VA_ARGS__ }), .bytes = { __VA_ARGS__ }, .ring0 = is_ring0, \
          .xsave = is_xsave, .text = asm_text }
#define INSN(...) PAYLOAD_INSN(false, false, __VA_ARGS__)
#define RING0(...) PAYLOAD_INSN(true, false, __VA_ARGS__)
/* Rows left out when KVM offers guests no XSAVE (a guest must not use it then; Linux uses FXSAVE). */
#define XSAVE_INSN(...) PAYLOAD_INSN(false, true, __VA_ARGS__)
#define XSAVE_RING0(...) PAYLOAD_INSN(true, true, __VA_ARGS__)

/* A ucall: report a step number on the step port. dx is reloaded every time because cpuid,
 * rdtsc, cmpxchg16b and xsave all use edx. */
#define UCALL_STEP(n, name)                                     \
        INSN("mov al, " name, 0xB0, (n)),                       \
        INSN("mov dx, 0x0ff0", 0x66, 0xBA, 0xF0, 0x0F),         \
        RING0("out dx, al", 0xEE)
/* A ucall that reports eax on the data port. */
#define UCALL_DATA                                              \
        INSN("mov dx, 0x0ff4", 0x66, 0xBA, 0xF4, 0x0F),         \
        RING0("out dx, eax", 0xEF)
/* clang-format on */

static_assert(HULL_KVM_PROBE_PORT_STEP == 0x0FF0 && HULL_KVM_PROBE_PORT_DATA == 0x0FF4,
              "payload encodes the ucall ports");
static_assert(HULL_KVM_PROBE_DATA == 0x6000 && HULL_KVM_PROBE_XSAVE == 0x5000, "payload encodes its data addresses");
static_assert(HULL_KVM_STEP_DONE == 0x7F, "payload encodes the done step");

/* 64-bit code, entered with paging on, CR4.OSFXSR set, no IDT: any fault triple-faults into
 * KVM_EXIT_SHUTDOWN, which the host reports with the step it happened in. */
static const struct hull_kvm_probe_insn probe_insns[] = {
        /* Step 1: cpuid (leaf 0, then leaf 1; report leaf 1 ecx). */
        UCALL_STEP(HULL_KVM_STEP_CPUID, "1 (cpuid)"),
        INSN("xor eax, eax", 0x31, 0xC0),
        INSN("cpuid", 0x0F, 0xA2),
        INSN("mov eax, 1", 0xB8, 0x01, 0x00, 0x00, 0x00),
        INSN("cpuid", 0x0F, 0xA2),
        INSN("mov eax, ecx", 0x89, 0xC8),
        UCALL_DATA,

        /* Step 2: CR4.OSXSAVE, XCR0 = x87|SSE, and cpuid must now show OSXSAVE. */
        UCALL_STEP(HULL_KVM_STEP_XSETBV, "2 (xsetbv)"),
        XSAVE_RING0("mov rax, cr4", 0x0F, 0x20, 0xE0),
        XSAVE_INSN("or eax, 0x40000 (CR4.OSXSAVE)", 0x0D, 0x00, 0x00, 0x04, 0x00),
        XSAVE_RING0("mov cr4, rax", 0x0F, 0x22, 0xE0),
        XSAVE_INSN("xor ecx, ecx (XCR0)", 0x31, 0xC9),
        XSAVE_INSN("xor edx, edx", 0x31, 0xD2),
        XSAVE_INSN("mov eax, 3 (x87 | SSE)", 0xB8, 0x03, 0x00, 0x00, 0x00),
        XSAVE_RING0("xsetbv", 0x0F, 0x01, 0xD1),
        INSN("mov eax, 1", 0xB8, 0x01, 0x00, 0x00, 0x00),
        INSN("cpuid", 0x0F, 0xA2),
        INSN("mov eax, ecx", 0x89, 0xC8),
        UCALL_DATA,

        /* Step 3: rdtsc twice; report the low-word difference. */
        UCALL_STEP(HULL_KVM_STEP_RDTSC, "3 (rdtsc)"),
        INSN("rdtsc", 0x0F, 0x31),
        INSN("mov ebx, eax", 0x89, 0xC3),
        INSN("rdtsc", 0x0F, 0x31),
        INSN("sub eax, ebx", 0x29, 0xD8),
        UCALL_DATA,

        /* Step 4: lock cmpxchg16b on the zeroed data area; report ZF. */
        UCALL_STEP(HULL_KVM_STEP_CMPXCHG16B, "4 (cmpxchg16b)"),
        INSN("mov edi, 0x6000", 0xBF, 0x00, 0x60, 0x00, 0x00),
        INSN("xor eax, eax (expected low)", 0x31, 0xC0),
        INSN("xor edx, edx (expected high)", 0x31, 0xD2),
        INSN("mov rbx, 0x1122334455667788", 0x48, 0xBB, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11),
        INSN("mov rcx, 0x0123456789abcdef", 0x48, 0xB9, 0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01),
        INSN("lock cmpxchg16b [rdi]", 0xF0, 0x48, 0x0F, 0xC7, 0x0F),
        INSN("sete al", 0x0F, 0x94, 0xC0),
        INSN("movzx eax, al", 0x0F, 0xB6, 0xC0),
        UCALL_DATA,

        /* Step 5: SSE2: load the 16 bytes, double both quadwords, store at +0x10. */
        UCALL_STEP(HULL_KVM_STEP_SSE, "5 (sse2)"),
        INSN("movdqa xmm0, [rdi]", 0x66, 0x0F, 0x6F, 0x07),
        INSN("paddq xmm0, xmm0", 0x66, 0x0F, 0xD4, 0xC0),
        INSN("movdqa [rdi+0x10], xmm0", 0x66, 0x0F, 0x7F, 0x47, 0x10),

        /* Step 6: xsave x87|SSE, clobber xmm0, xrstor, store the restored xmm0 at +0x20. */
        UCALL_STEP(HULL_KVM_STEP_XSAVE, "6 (xsave)"),
        XSAVE_INSN("mov esi, 0x5000", 0xBE, 0x00, 0x50, 0x00, 0x00),
        XSAVE_INSN("mov eax, 3", 0xB8, 0x03, 0x00, 0x00, 0x00),
        XSAVE_INSN("xor edx, edx", 0x31, 0xD2),
        XSAVE_INSN("xsave [rsi]", 0x0F, 0xAE, 0x26),
        XSAVE_INSN("pxor xmm0, xmm0", 0x66, 0x0F, 0xEF, 0xC0),
        XSAVE_INSN("xrstor [rsi]", 0x0F, 0xAE, 0x2E),
        INSN("movdqa [rdi+0x20], xmm0", 0x66, 0x0F, 0x7F, 0x47, 0x20),

        /* Done. The host stops at this ucall; the jump only guards against running on. */
        UCALL_STEP(HULL_KVM_STEP_DONE, "0x7f (done)"),
        INSN("jmp $", 0xEB, 0xFE),
};

const struct hull_kvm_probe_insn *hull_kvm_probe_insns(size_t *ret_count)
{
        *ret_count = ARRAY_SIZE(probe_insns);
        return probe_insns;
}

size_t hull_kvm_probe_assemble(uint8_t *buf, size_t len, bool with_xsave)
{
        size_t pos = 0;

        for (size_t i = 0; i < ARRAY_SIZE(probe_insns); i++) {
                if (probe_insns[i].xsave && !with_xsave)
                        continue;
                if (pos + probe_insns[i].len > len)
                        return 0;
                memcpy(buf + pos, probe_insns[i].bytes, probe_insns[i].len);
                pos += probe_insns[i].len;
        }
        return pos;
}

const char *hull_kvm_probe_step_name(enum hull_kvm_probe_step step)
{
        switch (step) {
        case HULL_KVM_STEP_NONE:
                return "start-up";
        case HULL_KVM_STEP_CPUID:
                return "cpuid";
        case HULL_KVM_STEP_XSETBV:
                return "cr4.osxsave/xsetbv";
        case HULL_KVM_STEP_RDTSC:
                return "rdtsc";
        case HULL_KVM_STEP_CMPXCHG16B:
                return "cmpxchg16b";
        case HULL_KVM_STEP_SSE:
                return "sse2";
        case HULL_KVM_STEP_XSAVE:
                return "xsave/xrstor";
        case HULL_KVM_STEP_DONE:
                return "done";
        }
        return "unknown";
}

const char *hull_kvm_exit_reason_name(uint32_t exit_reason)
{
        static const char *const names[] = {
                [KVM_EXIT_UNKNOWN] = "KVM_EXIT_UNKNOWN",
                [KVM_EXIT_EXCEPTION] = "KVM_EXIT_EXCEPTION",
                [KVM_EXIT_IO] = "KVM_EXIT_IO",
                [KVM_EXIT_HYPERCALL] = "KVM_EXIT_HYPERCALL",
                [KVM_EXIT_DEBUG] = "KVM_EXIT_DEBUG",
                [KVM_EXIT_HLT] = "KVM_EXIT_HLT",
                [KVM_EXIT_MMIO] = "KVM_EXIT_MMIO",
                [KVM_EXIT_IRQ_WINDOW_OPEN] = "KVM_EXIT_IRQ_WINDOW_OPEN",
                [KVM_EXIT_SHUTDOWN] = "KVM_EXIT_SHUTDOWN",
                [KVM_EXIT_FAIL_ENTRY] = "KVM_EXIT_FAIL_ENTRY",
                [KVM_EXIT_INTR] = "KVM_EXIT_INTR",
                [KVM_EXIT_SET_TPR] = "KVM_EXIT_SET_TPR",
                [KVM_EXIT_TPR_ACCESS] = "KVM_EXIT_TPR_ACCESS",
                [KVM_EXIT_NMI] = "KVM_EXIT_NMI",
                [KVM_EXIT_INTERNAL_ERROR] = "KVM_EXIT_INTERNAL_ERROR",
                [KVM_EXIT_SYSTEM_EVENT] = "KVM_EXIT_SYSTEM_EVENT",
                [KVM_EXIT_IOAPIC_EOI] = "KVM_EXIT_IOAPIC_EOI",
                [KVM_EXIT_HYPERV] = "KVM_EXIT_HYPERV",
                [KVM_EXIT_X86_RDMSR] = "KVM_EXIT_X86_RDMSR",
                [KVM_EXIT_X86_WRMSR] = "KVM_EXIT_X86_WRMSR",
                [KVM_EXIT_DIRTY_RING_FULL] = "KVM_EXIT_DIRTY_RING_FULL",
                [KVM_EXIT_X86_BUS_LOCK] = "KVM_EXIT_X86_BUS_LOCK",
                [KVM_EXIT_NOTIFY] = "KVM_EXIT_NOTIFY",
        };

        if (exit_reason < ARRAY_SIZE(names) && names[exit_reason])
                return names[exit_reason];
        return "KVM_EXIT_(unknown)";
}

static const char *internal_suberror_name(uint32_t suberror)
{
        switch (suberror) {
        case KVM_INTERNAL_ERROR_EMULATION:
                return "emulation failure";
        case KVM_INTERNAL_ERROR_SIMUL_EX:
                return "simultaneous exceptions";
        case KVM_INTERNAL_ERROR_DELIVERY_EV:
                return "exit during event delivery";
        case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
                return "unexpected exit reason";
        }
        return "unknown suberror";
}

/* snprintf that appends at *pos and never runs past len. */
static void appendf(char *buf, size_t len, size_t *pos, const char *fmt, ...) _printf_(4, 5);
static void appendf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (*pos >= len)
                return;
        va_start(ap, fmt);
        n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
        va_end(ap);
        if (n > 0)
                *pos = MIN(len, *pos + (size_t)n);
}

char *hull_kvm_probe_describe_exit(const struct kvm_run *run, uint64_t rip, enum hull_kvm_probe_step step, char *buf,
                                   size_t len)
{
        size_t pos = 0;

        if (len == 0)
                return buf;
        buf[0] = '\0';
        appendf(buf, len, &pos, "%s", hull_kvm_exit_reason_name(run->exit_reason));
        switch (run->exit_reason) {
        case KVM_EXIT_INTERNAL_ERROR:
                appendf(buf, len, &pos, " suberror %u (%s)", run->internal.suberror,
                        internal_suberror_name(run->internal.suberror));
                if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && run->internal.ndata >= 2 &&
                    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
                        unsigned n = MIN(run->emulation_failure.insn_size,
                                         (unsigned)sizeof(run->emulation_failure.insn_bytes));

                        appendf(buf, len, &pos, " insn");
                        for (unsigned i = 0; i < n; i++)
                                appendf(buf, len, &pos, " %02x", run->emulation_failure.insn_bytes[i]);
                }
                break;
        case KVM_EXIT_FAIL_ENTRY:
                appendf(buf, len, &pos, " hardware reason 0x%llx on cpu %u",
                        (unsigned long long)run->fail_entry.hardware_entry_failure_reason, run->fail_entry.cpu);
                break;
        case KVM_EXIT_SHUTDOWN:
                appendf(buf, len, &pos, " (triple fault)");
                break;
        case KVM_EXIT_IO:
                appendf(buf, len, &pos, " %s port 0x%x size %u", run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
                        run->io.port, run->io.size);
                break;
        case KVM_EXIT_MMIO:
                appendf(buf, len, &pos, " %s gpa 0x%llx", run->mmio.is_write ? "write" : "read",
                        (unsigned long long)run->mmio.phys_addr);
                break;
        default:
                appendf(buf, len, &pos, " (exit reason %u)", run->exit_reason);
                break;
        }
        appendf(buf, len, &pos, " at rip=0x%llx during step %s", (unsigned long long)rip,
                hull_kvm_probe_step_name(step));
        return buf;
}

/* Everything one probe owns; released by probe_release() whatever stage it reached. */
struct probe {
        int kvm_fd;
        int vm_fd;
        int vcpu_fd;
        uint8_t *mem;
        struct kvm_run *run;
        size_t run_size;
        struct hull_kvm_probe_result *res;
        uint32_t data[8]; /* the value each step reported on the data port */
        bool have_data[8];
        char cpuid_gap[96]; /* what KVM_GET_SUPPORTED_CPUID lacks, "" when nothing */
        bool xsave; /* KVM offers XSAVE with x87/SSE state: the payload's XSAVE rows run */
};

static void probe_release(struct probe *p)
{
        if (p->run)
                munmap(p->run, p->run_size);
        if (p->mem)
                munmap(p->mem, HULL_KVM_PROBE_MEM_SIZE);
        hull_closep(&p->vcpu_fd);
        hull_closep(&p->vm_fd);
        hull_closep(&p->kvm_fd);
}

static bool probe_fail(struct probe *p, enum hull_kvm_probe_stage stage, const char *fmt, ...) _printf_(3, 4);
static bool probe_fail(struct probe *p, enum hull_kvm_probe_stage stage, const char *fmt, ...)
{
        va_list ap;

        p->res->usable = false;
        p->res->stage = stage;
        va_start(ap, fmt);
        vsnprintf(p->res->reason, sizeof(p->res->reason), fmt, ap);
        va_end(ap);
        return false;
}

static bool probe_api(struct probe *p, const char *dev_path)
{
        static const struct {
                int cap;
                const char *name;
        } required[] = {
                { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },     { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
                { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" }, { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
                { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" }, { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
                { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
        };
        int r;

        p->kvm_fd = open(dev_path, O_RDWR | O_CLOEXEC);
        if (p->kvm_fd < 0)
                return probe_fail(p, HULL_KVM_STAGE_OPEN, "open %s: %s", dev_path, strerror(errno));

        r = ioctl(p->kvm_fd, KVM_GET_API_VERSION, 0);
        if (r < 0)
                return probe_fail(p, HULL_KVM_STAGE_API, "KVM_GET_API_VERSION: %s", strerror(errno));
        p->res->api_version = r;
        if (r != KVM_API_VERSION_STABLE)
                return probe_fail(p, HULL_KVM_STAGE_API, "KVM API version %d, need %d", r, KVM_API_VERSION_STABLE);

        for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
                r = ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, required[i].cap);
                if (r <= 0)
                        return probe_fail(p, HULL_KVM_STAGE_API, "KVM lacks %s", required[i].name);
        }
        return true;
}

/* KVM_GET_SUPPORTED_CPUID, growing the buffer while KVM says E2BIG (bounded). */
static struct kvm_cpuid2 *get_supported_cpuid(int kvm_fd, int *ret_errno)
{
        for (unsigned n = 64; n <= PROBE_MAX_CPUID_ENTRIES; n *= 2) {
                struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

                if (!c) {
                        *ret_errno = ENOMEM;
                        return NULL;
                }
                c->nent = n;
                if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
                        return c;
                *ret_errno = errno;
                free(c);
                if (*ret_errno != E2BIG)
                        return NULL;
        }
        return NULL;
}

static const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
        for (uint32_t i = 0; i < c->nent; i++)
                if (c->entries[i].function == function &&
                    (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || c->entries[i].index == index))
                        return &c->entries[i];
        return NULL;
}

#define CPUID1_ECX_CX16 (1u << 13)
#define CPUID1_ECX_XSAVE (1u << 26)
#define CPUID1_ECX_OSXSAVE (1u << 27)
#define CPUID1_EDX_SSE2 (1u << 26)

/* Give the vCPU everything KVM supports, and note (in p->cpuid_gap) any instruction set the
 * payload needs that KVM does not offer: the payload still runs, so that the verdict names the
 * first thing that really breaks, and the gap is reported with it. */
static bool probe_cpuid(struct probe *p)
{
        _cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;
        const struct kvm_cpuid_entry2 *leaf1, *leafd;
        size_t pos = 0;
        int e = 0;

        cpuid = get_supported_cpuid(p->kvm_fd, &e);
        if (!cpuid)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
        leaf1 = cpuid_find(cpuid, 1, 0);
        if (!leaf1)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM offers no CPUID leaf 1 to guests");
        leafd = cpuid_find(cpuid, 0xD, 0);
        if (!(leaf1->edx & CPUID1_EDX_SSE2))
                appendf(p->cpuid_gap, sizeof(p->cpuid_gap), &pos, "%sSSE2", pos ? ", " : "");
        if (!(leaf1->ecx & CPUID1_ECX_CX16))
                appendf(p->cpuid_gap, sizeof(p->cpuid_gap), &pos, "%sCMPXCHG16B", pos ? ", " : "");
        /* XSAVE is optional (guests then use FXSAVE: QEMU's TCG, for one, must hide it from the nested KVM of
         * tests/kvm-host, whose XSETBV it does not intercept); when offered, it must work. */
        p->xsave = leaf1->ecx & CPUID1_ECX_XSAVE;
        if (p->xsave && (!leafd || (leafd->eax & 3) != 3))
                appendf(p->cpuid_gap, sizeof(p->cpuid_gap), &pos, "%sx87/SSE XSAVE state", pos ? ", " : "");
        /* A VMM saves and restores a guest's XSAVE state with these. */
        if (p->xsave &&
            (ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) <= 0 ||
             ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) <= 0))
                appendf(p->cpuid_gap, sizeof(p->cpuid_gap), &pos, "%sKVM_CAP_XSAVE/KVM_CAP_XCRS", pos ? ", " : "");
        if (ioctl(p->vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_SET_CPUID2: %s", strerror(errno));
        if (hull_kvm_probe_assemble(p->mem + HULL_KVM_PROBE_CODE, HULL_KVM_PROBE_STACK - HULL_KVM_PROBE_CODE,
                                    p->xsave) == 0)
                return probe_fail(p, HULL_KVM_STAGE_VM, "probe payload does not fit its code area");
        return true;
}

/* A 64-bit TSS descriptor (SDM vol. 3, 8.2.3): two GDT slots. */
static void tss_descriptor(uint64_t base, uint64_t ret[2])
{
        ret[0] = 0x67 | ((base & 0xFFFFFF) << 16) | (0x89ULL << 40) | (((base >> 24) & 0xFF) << 56);
        ret[1] = base >> 32;
}

/* Page tables identity-mapping the first 2 MiB with one large page, a flat GDT with a 64-bit
 * code segment, and the payload. */
static bool probe_fill_memory(struct probe *p)
{
        uint64_t *pml4 = (uint64_t *)(p->mem + HULL_KVM_PROBE_PML4);
        uint64_t *pdpt = (uint64_t *)(p->mem + HULL_KVM_PROBE_PDPT);
        uint64_t *pd = (uint64_t *)(p->mem + HULL_KVM_PROBE_PD);
        uint64_t *gdt = (uint64_t *)(p->mem + HULL_KVM_PROBE_GDT);
        const uint64_t present_rw = 0x3, large = 0x80;

        pml4[0] = HULL_KVM_PROBE_PDPT | present_rw;
        pdpt[0] = HULL_KVM_PROBE_PD | present_rw;
        pd[0] = present_rw | large; /* the 2 MiB page at GPA 0 */

        gdt[0] = 0;
        gdt[1] = 0x00AF9B000000FFFFULL; /* 0x08: code, DPL 0, L=1, present */
        gdt[2] = 0x00CF93000000FFFFULL; /* 0x10: data, read/write, 4 GiB, present */
        /* 0x18: 64-bit available TSS, limit 0x67 (a 16-byte descriptor) */
        tss_descriptor(HULL_KVM_PROBE_TSS, &gdt[3]);

        return hull_kvm_probe_assemble(p->mem + HULL_KVM_PROBE_CODE, HULL_KVM_PROBE_STACK - HULL_KVM_PROBE_CODE, true) >
                0;
}

static void set_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, bool code)
{
        memset(s, 0, sizeof(*s));
        s->base = 0;
        s->limit = 0xFFFFFFFF;
        s->selector = selector;
        s->type = type;
        s->present = 1;
        s->s = 1;
        s->g = 1;
        s->l = code;
        s->db = !code;
}

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

static bool probe_vcpu_long_mode(struct probe *p)
{
        struct kvm_sregs sregs;
        struct kvm_regs regs;

        if (ioctl(p->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_GET_SREGS: %s", strerror(errno));
        sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
        sregs.cr3 = HULL_KVM_PROBE_PML4;
        sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
        sregs.efer = EFER_LME | EFER_LMA;
        set_segment(&sregs.cs, 0x08, 0xB, true);
        set_segment(&sregs.ds, 0x10, 0x3, false);
        sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
        memset(&sregs.tr, 0, sizeof(sregs.tr));
        sregs.tr.base = HULL_KVM_PROBE_TSS;
        sregs.tr.limit = 0x67;
        sregs.tr.selector = 0x18;
        sregs.tr.type = 0xB; /* busy 64-bit TSS, as VM entry requires */
        sregs.tr.present = 1;
        sregs.gdt.base = HULL_KVM_PROBE_GDT;
        sregs.gdt.limit = 5 * 8 - 1;
        sregs.idt.base = 0;
        sregs.idt.limit = 0; /* no IDT: a fault becomes a triple fault, i.e. KVM_EXIT_SHUTDOWN */
        if (ioctl(p->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_SET_SREGS (long mode): %s", strerror(errno));

        memset(&regs, 0, sizeof(regs));
        regs.rip = HULL_KVM_PROBE_CODE;
        regs.rsp = HULL_KVM_PROBE_STACK;
        regs.rflags = 0x2; /* reserved bit 1; interrupts off */
        if (ioctl(p->vcpu_fd, KVM_SET_REGS, &regs) < 0)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_SET_REGS: %s", strerror(errno));
        return true;
}

static bool probe_vm(struct probe *p)
{
        struct kvm_userspace_memory_region region;
        int mmap_size;

        p->vm_fd = ioctl(p->kvm_fd, KVM_CREATE_VM, 0);
        if (p->vm_fd < 0)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_CREATE_VM: %s", strerror(errno));
        /* Intel needs three pages for the real-mode TSS; the address QEMU uses, below 4 GiB. */
        if (ioctl(p->vm_fd, KVM_SET_TSS_ADDR, 0xFFFBD000UL) < 0)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_SET_TSS_ADDR: %s", strerror(errno));
        if (ioctl(p->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_CREATE_IRQCHIP: %s", strerror(errno));

        p->mem = mmap(NULL, HULL_KVM_PROBE_MEM_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p->mem == MAP_FAILED) {
                p->mem = NULL;
                return probe_fail(p, HULL_KVM_STAGE_VM, "mmap guest memory: %s", strerror(errno));
        }
        if (!probe_fill_memory(p))
                return probe_fail(p, HULL_KVM_STAGE_VM, "probe payload does not fit its code area");
        region = (struct kvm_userspace_memory_region){
                .slot = 0,
                .guest_phys_addr = 0,
                .memory_size = HULL_KVM_PROBE_MEM_SIZE,
                .userspace_addr = (uintptr_t)p->mem,
        };
        if (ioctl(p->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));

        p->vcpu_fd = ioctl(p->vm_fd, KVM_CREATE_VCPU, 0);
        if (p->vcpu_fd < 0)
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_CREATE_VCPU: %s", strerror(errno));
        mmap_size = ioctl(p->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (mmap_size < (int)sizeof(struct kvm_run))
                return probe_fail(p, HULL_KVM_STAGE_VM, "KVM_GET_VCPU_MMAP_SIZE: %s",
                                  mmap_size < 0 ? strerror(errno) : "too small");
        p->run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->vcpu_fd, 0);
        if (p->run == MAP_FAILED) {
                p->run = NULL;
                return probe_fail(p, HULL_KVM_STAGE_VM, "mmap kvm_run: %s", strerror(errno));
        }
        p->run_size = (size_t)mmap_size;

        return probe_cpuid(p) && probe_vcpu_long_mode(p);
}

/* The deadline: a per-thread POSIX timer sends SIGRTMIN to this thread, whose handler sets
 * immediate_exit so that KVM_RUN returns -EINTR even if the signal beat it into the kernel. */
static __thread struct kvm_run *volatile timer_run;
static __thread volatile sig_atomic_t timer_fired;

static void on_timer(int sig)
{
        struct kvm_run *run = timer_run;

        timer_fired = 1;
        if (run)
                run->immediate_exit = 1;
}

struct probe_timer {
        timer_t id;
        bool created;
        bool handler_installed;
        bool mask_changed;
        struct sigaction old_action;
        sigset_t old_mask;
};

static int timer_arm(struct probe_timer *t, struct kvm_run *run, unsigned timeout_ms)
{
        struct sigaction sa = { .sa_handler = on_timer };
        struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN };
        struct itimerspec its = {
                .it_value = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L },
                .it_interval = { .tv_sec = 0, .tv_nsec = PROBE_TIMER_REPEAT_MS * 1000000L },
        };
        sigset_t set;

        timer_run = run;
        timer_fired = 0;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGRTMIN, &sa, &t->old_action) < 0)
                return -errno;
        t->handler_installed = true;
        sigemptyset(&set);
        sigaddset(&set, SIGRTMIN);
        if (pthread_sigmask(SIG_UNBLOCK, &set, &t->old_mask) != 0)
                return -EINVAL;
        t->mask_changed = true;
        sev._sigev_un._tid = gettid();
        if (timer_create(CLOCK_MONOTONIC, &sev, &t->id) < 0)
                return -errno;
        t->created = true;
        if (timer_settime(t->id, 0, &its, NULL) < 0)
                return -errno;
        return 0;
}

/* Stop the timer, swallow a signal still pending for it, then put the old handler back:
 * restoring first could let a late SIGRTMIN hit the default action and kill the process. */
static void timer_disarm(struct probe_timer *t)
{
        const struct timespec zero = { 0, 0 };
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, SIGRTMIN);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        if (t->created)
                timer_delete(t->id);
        t->created = false;
        while (sigtimedwait(&set, NULL, &zero) > 0)
                ;
        timer_run = NULL;
        if (t->handler_installed)
                sigaction(SIGRTMIN, &t->old_action, NULL);
        if (t->mask_changed)
                pthread_sigmask(SIG_SETMASK, &t->old_mask, NULL);
}

static uint64_t guest_rip(const struct probe *p)
{
        struct kvm_regs regs;

        if (ioctl(p->vcpu_fd, KVM_GET_REGS, &regs) < 0)
                return 0;
        return regs.rip;
}

static int64_t elapsed_ms(const struct timespec *start)
{
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)(now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Handle one port-I/O exit. Returns 1 when the payload said it is done, 0 to go on, -1 on a
 * failure already recorded in the result. */
static int probe_ucall(struct probe *p)
{
        const struct kvm_run *run = p->run;
        const uint8_t *data = (const uint8_t *)run + run->io.data_offset;
        char what[160];

        if (run->io.direction != KVM_EXIT_IO_OUT || run->io.count != 1 ||
            run->io.data_offset + run->io.size > p->run_size) {
                probe_fail(p, HULL_KVM_STAGE_RUN, "unexpected %s",
                           hull_kvm_probe_describe_exit(run, guest_rip(p), p->res->last_step, what, sizeof(what)));
                return -1;
        }
        if (run->io.port == HULL_KVM_PROBE_PORT_STEP && run->io.size == 1) {
                uint8_t step = data[0];
                bool next = step == p->res->last_step + 1 ||
                        (step == HULL_KVM_STEP_DONE && p->res->last_step == HULL_KVM_STEP_XSAVE);

                if (!next) {
                        probe_fail(p, HULL_KVM_STAGE_RUN, "payload reported step %u after step %s", step,
                                   hull_kvm_probe_step_name(p->res->last_step));
                        return -1;
                }
                p->res->last_step = step;
                return step == HULL_KVM_STEP_DONE;
        }
        if (run->io.port == HULL_KVM_PROBE_PORT_DATA && run->io.size == 4 && p->res->last_step < ARRAY_SIZE(p->data)) {
                memcpy(&p->data[p->res->last_step], data, sizeof(uint32_t));
                p->have_data[p->res->last_step] = true;
                return 0;
        }
        probe_fail(p, HULL_KVM_STAGE_RUN, "unexpected %s",
                   hull_kvm_probe_describe_exit(run, guest_rip(p), p->res->last_step, what, sizeof(what)));
        return -1;
}

static bool fail_why(char *why, size_t len, const char *fmt, ...) _printf_(3, 4);
static bool fail_why(char *why, size_t len, const char *fmt, ...)
{
        va_list ap;

        if (len == 0)
                return false;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
        return false;
}

bool hull_kvm_probe_check_memory(const uint8_t *xsave_area, const uint8_t *data_area, char *why, size_t why_len)
{
        const uint64_t lo2 = HULL_KVM_PROBE_CX16_LO * 2, hi2 = HULL_KVM_PROBE_CX16_HI * 2;
        uint64_t d[6], xstate_bv, saved_xmm0[2];

        memcpy(d, data_area, sizeof(d));
        if (d[0] != HULL_KVM_PROBE_CX16_LO || d[1] != HULL_KVM_PROBE_CX16_HI)
                return fail_why(why, why_len, "cmpxchg16b did not store its operand");
        if (d[2] != lo2 || d[3] != hi2)
                return fail_why(why, why_len, "SSE2 paddq gave 0x%016llx%016llx", (unsigned long long)d[3],
                                (unsigned long long)d[2]);
        if (xsave_area) {
                /* XSAVE legacy area: XMM0 at byte 160; XSAVE header: XSTATE_BV at byte 512 (SDM vol. 1, 13.4). */
                memcpy(saved_xmm0, xsave_area + 160, sizeof(saved_xmm0));
                memcpy(&xstate_bv, xsave_area + 512, sizeof(xstate_bv));
                if (!(xstate_bv & 2) || saved_xmm0[0] != lo2 || saved_xmm0[1] != hi2)
                        return fail_why(why, why_len, "xsave did not save xmm0 (XSTATE_BV=0x%llx)",
                                        (unsigned long long)xstate_bv);
        }
        if (d[4] != lo2 || d[5] != hi2)
                return fail_why(why, why_len, "xrstor did not restore xmm0");
        return true;
}

/* The payload finished: check what it reported and what it left in memory. */
static bool probe_check_results(struct probe *p)
{
        char why[160];

        for (unsigned s = HULL_KVM_STEP_CPUID; s <= HULL_KVM_STEP_CMPXCHG16B; s++)
                if (!p->have_data[s])
                        return probe_fail(p, HULL_KVM_STAGE_RUN, "payload reported no value in step %s",
                                          hull_kvm_probe_step_name(s));
        if ((p->data[HULL_KVM_STEP_CPUID] & CPUID1_ECX_CX16) != CPUID1_ECX_CX16)
                return probe_fail(p, HULL_KVM_STAGE_RUN, "guest CPUID leaf 1 ecx=0x%08x lacks CMPXCHG16B",
                                  p->data[HULL_KVM_STEP_CPUID]);
        if (p->xsave && !(p->data[HULL_KVM_STEP_XSETBV] & CPUID1_ECX_OSXSAVE))
                return probe_fail(p, HULL_KVM_STAGE_RUN, "guest CPUID does not show OSXSAVE after CR4.OSXSAVE was set");
        if ((int32_t)p->data[HULL_KVM_STEP_RDTSC] < 0)
                return probe_fail(p, HULL_KVM_STAGE_RUN, "guest TSC went backwards");
        if (p->data[HULL_KVM_STEP_CMPXCHG16B] != 1)
                return probe_fail(p, HULL_KVM_STAGE_RUN, "cmpxchg16b did not report success (ZF clear)");
        if (!hull_kvm_probe_check_memory(p->xsave ? p->mem + HULL_KVM_PROBE_XSAVE : NULL, p->mem + HULL_KVM_PROBE_DATA,
                                         why, sizeof(why)))
                return probe_fail(p, HULL_KVM_STAGE_RUN, "%s", why);
        return true;
}

static bool probe_run(struct probe *p, unsigned timeout_ms)
{
        struct probe_timer t = { .created = false, .handler_installed = false, .mask_changed = false };
        struct timespec start;
        char what[200];
        bool ok = false;
        int r;

        clock_gettime(CLOCK_MONOTONIC, &start);
        r = timer_arm(&t, p->run, timeout_ms);
        if (r < 0) {
                timer_disarm(&t);
                return probe_fail(p, HULL_KVM_STAGE_RUN, "arm probe timer: %s", strerror(-r));
        }
        for (unsigned exits = 0;; exits++) {
                if (exits >= PROBE_MAX_EXITS) {
                        probe_fail(p, HULL_KVM_STAGE_RUN, "payload made more than %d exits (stuck in step %s)",
                                   PROBE_MAX_EXITS, hull_kvm_probe_step_name(p->res->last_step));
                        break;
                }
                if (timer_fired || elapsed_ms(&start) > (int64_t)timeout_ms) {
                        p->res->exit_reason = KVM_EXIT_INTR;
                        probe_fail(p, HULL_KVM_STAGE_RUN, "guest did not finish within %u ms (step %s, rip=0x%llx)",
                                   timeout_ms, hull_kvm_probe_step_name(p->res->last_step),
                                   (unsigned long long)guest_rip(p));
                        break;
                }
                r = ioctl(p->vcpu_fd, KVM_RUN, 0);
                if (r < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        probe_fail(p, HULL_KVM_STAGE_RUN, "KVM_RUN: %s (step %s)", strerror(errno),
                                   hull_kvm_probe_step_name(p->res->last_step));
                        break;
                }
                p->res->exit_reason = p->run->exit_reason;
                if (p->run->exit_reason == KVM_EXIT_IO) {
                        r = probe_ucall(p);
                        if (r < 0)
                                break;
                        if (r > 0) {
                                ok = true;
                                break;
                        }
                        continue;
                }
                if (p->run->exit_reason == KVM_EXIT_INTR)
                        continue;
                p->res->rip = guest_rip(p);
                probe_fail(p, HULL_KVM_STAGE_RUN, "%s",
                           hull_kvm_probe_describe_exit(p->run, p->res->rip, p->res->last_step, what, sizeof(what)));
                break;
        }
        timer_disarm(&t);
        return ok && probe_check_results(p);
}

void hull_kvm_probe(const char *dev_path, unsigned timeout_ms, struct hull_kvm_probe_result *ret)
{
        struct probe p = { .kvm_fd = -1, .vm_fd = -1, .vcpu_fd = -1, .res = ret };
        struct stat st;
        bool ran;

        if (!dev_path)
                dev_path = HULL_KVM_DEVICE;
        if (timeout_ms == 0)
                timeout_ms = HULL_KVM_PROBE_TIMEOUT_MS;
        memset(ret, 0, sizeof(*ret));
        ret->api_version = -1;
        ret->stage = HULL_KVM_STAGE_OPEN;
        if (stat(dev_path, &st) < 0) {
                probe_fail(&p, HULL_KVM_STAGE_OPEN, "%s: %s", dev_path, strerror(errno));
                return;
        }
        if (!S_ISCHR(st.st_mode)) {
                probe_fail(&p, HULL_KVM_STAGE_OPEN, "%s: not a character device", dev_path);
                return;
        }
        ret->present = true;
        ran = probe_api(&p, dev_path) && probe_vm(&p) && probe_run(&p, timeout_ms);
        if (ran && !p.cpuid_gap[0]) {
                ret->usable = true;
                ret->stage = HULL_KVM_STAGE_PASSED;
                snprintf(ret->reason, sizeof(ret->reason),
                         "KVM API %d; long-mode guest ran cpuid, %srdtsc, cmpxchg16b, SSE2%s", ret->api_version,
                         p.xsave ? "xsetbv, " : "", p.xsave ? ", xsave/xrstor" : " (KVM offers no XSAVE: not tried)");
        } else if (p.cpuid_gap[0]) {
                size_t pos = ran ? 0 : strlen(ret->reason);

                if (ran)
                        ret->stage = HULL_KVM_STAGE_RUN;
                appendf(ret->reason, sizeof(ret->reason), &pos, "%sKVM does not offer %s to guests",
                        pos ? "; and " : "", p.cpuid_gap);
        }
        probe_release(&p);
}
