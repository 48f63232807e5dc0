/* vCPUs of the built-in VMM: set-up (CPUID, MSRs, LAPIC, registers) and the KVM_RUN loop that hands port I/O and
 * MMIO exits to the buses. */
#include "vmm/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/boot.h"
#include "vmm/bus.h"
#include "error.h"
#include "vmm/kvm.h"
#include "vmm/vmm-internal.h"

#define CPUID_HYPERVISOR (1u << 31)
#define CPUID_HTT (1u << 28)
#define MSR_IA32_MISC_ENABLE 0x1A0
#define MSR_MTRR_DEF_TYPE 0x2FF
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 4
#define APIC_MODE_EXTINT 7

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void on_kick(int sig)
{
        (void)sig; /* immediate_exit, set before the signal, does the work */
}

static void install_kick_handler(void)
{
        struct sigaction sa = { .sa_handler = on_kick };

        sigemptyset(&sa.sa_mask);
        sigaction(HULL_VCPU_KICK_SIGNAL, &sa, NULL);
}

static void adapt_cpuid(struct kvm_cpuid2 *c, unsigned id, unsigned vcpus)
{
        for (uint32_t i = 0; i < c->nent; i++) {
                struct kvm_cpuid_entry2 *e = &c->entries[i];

                switch (e->function) {
                case 1:
                        e->ebx = (e->ebx & 0xFFFF) | (id << 24) | ((vcpus & 0xFF) << 16);
                        e->ecx |= CPUID_HYPERVISOR;
                        if (vcpus > 1)
                                e->edx |= CPUID_HTT;
                        else
                                e->edx &= ~CPUID_HTT;
                        break;
                case 0xB:
                case 0x1F:
                        e->edx = id; /* x2APIC id */
                        break;
                default:
                        break;
                }
        }
}

static int set_lapic(struct hull_vcpu *v, struct hull_error **err)
{
        struct kvm_lapic_state s;
        uint32_t lvt;

        if (ioctl(v->fd, KVM_GET_LAPIC, &s) < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_GET_LAPIC", v->id);
        memcpy(&lvt, s.regs + APIC_LVT0, 4);
        lvt = (lvt & ~0x700u) | (APIC_MODE_EXTINT << 8);
        memcpy(s.regs + APIC_LVT0, &lvt, 4);
        memcpy(&lvt, s.regs + APIC_LVT1, 4);
        lvt = (lvt & ~0x700u) | (APIC_MODE_NMI << 8);
        memcpy(s.regs + APIC_LVT1, &lvt, 4);
        if (ioctl(v->fd, KVM_SET_LAPIC, &s) < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_SET_LAPIC", v->id);
        return 0;
}

static int set_msrs(struct hull_vcpu *v, struct hull_error **err)
{
        struct {
                struct kvm_msrs h;
                struct kvm_msr_entry e[2];
        } m = { .h.nmsrs = 2 };
        int r;

        m.e[0] = (struct kvm_msr_entry){ .index = MSR_IA32_MISC_ENABLE, .data = 1 /* fast strings */ };
        m.e[1] = (struct kvm_msr_entry){ .index = MSR_MTRR_DEF_TYPE, .data = (1u << 11) | 6 /* on, write-back */ };
        r = ioctl(v->fd, KVM_SET_MSRS, &m);
        if (r < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_SET_MSRS", v->id);
        if (r != 2)
                return hull_error_set(err, EINVAL, "vcpu %u: KVM_SET_MSRS set %d of 2 MSRs", v->id, r);
        return 0;
}

int hull_vcpu_init(struct hull_vcpu *v, struct hull_vmm *vmm, const struct hull_kvm *kvm, unsigned id, unsigned vcpus,
                   const struct kvm_cpuid2 *supported, struct hull_error **err)
{
        size_t csize = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
        _cleanup_free_ struct kvm_cpuid2 *c = malloc(csize);
        struct kvm_fpu fpu = { .fcw = 0x37F, .mxcsr = 0x1F80 };
        int r;

        pthread_once(&kick_once, install_kick_handler);
        memset(v, 0, sizeof(*v));
        v->id = id;
        v->vmm = vmm;
        v->fd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
        if (v->fd < 0)
                return hull_error_errno(err, errno, "KVM_CREATE_VCPU %u", id);
        v->run_size = kvm->run_size;
        v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
        if (v->run == MAP_FAILED) {
                v->run = NULL;
                return hull_error_errno(err, errno, "vcpu %u: mmap kvm_run", id);
        }
        if (!c)
                return hull_error_oom(err);
        memcpy(c, supported, csize);
        adapt_cpuid(c, id, vcpus);
        if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_SET_CPUID2", id);
        if ((r = set_msrs(v, err)) < 0 || (r = set_lapic(v, err)) < 0)
                return r;
        if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_SET_FPU", id);
        return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, bool code)
{
        *s = (struct kvm_segment){
                .base = 0,
                .limit = 0xFFFFFFFF,
                .selector = selector,
                .type = type,
                .present = 1,
                .dpl = 0,
                .db = code ? 0 : 1,
                .s = 1,
                .l = code ? 1 : 0,
                .g = 1,
        };
}

int hull_vcpu_set_long_mode(struct hull_vcpu *v, uint64_t entry, uint64_t rsi, struct hull_error **err)
{
        struct kvm_sregs s;
        struct kvm_regs regs = {
                .rflags = 2, .rip = entry, .rsp = HULL_BOOT_STACK, .rbp = HULL_BOOT_STACK, .rsi = rsi
        };

        if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_GET_SREGS", v->id);
        flat_segment(&s.cs, HULL_BOOT_CS, 11, true);
        flat_segment(&s.ds, HULL_BOOT_DS, 3, false);
        s.es = s.fs = s.gs = s.ss = s.ds;
        s.tr = (struct kvm_segment){ .selector = HULL_BOOT_TSS, .limit = 0x67, .type = 11, .present = 1 };
        s.gdt.base = HULL_BOOT_GDT;
        s.gdt.limit = 6 * 8 - 1;
        s.idt.base = 0;
        s.idt.limit = 0;
        s.cr3 = HULL_BOOT_PML4;
        s.cr4 |= 1u << 5; /* PAE */
        s.cr0 |= 0x80000001u | 0x10u; /* PG, PE, ET */
        s.efer |= 0x500; /* LME, LMA */
        if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_SET_SREGS", v->id);
        if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_SET_REGS", v->id);
        return 0;
}

int hull_vcpu_set_real_mode(struct hull_vcpu *v, uint64_t entry, struct hull_error **err)
{
        struct kvm_sregs s;
        struct kvm_regs regs = { .rflags = 2, .rip = entry, .rsp = 0x7000 };

        if (entry > 0xFFFF)
                return hull_error_set(err, EINVAL, "real-mode entry 0x%llx is above 64 KiB", (unsigned long long)entry);
        if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_GET_SREGS", v->id);
        s.cs.selector = 0;
        s.cs.base = 0;
        if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_SET_SREGS", v->id);
        if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
                return hull_error_errno(err, errno, "vcpu %u: KVM_SET_REGS", v->id);
        return 0;
}

void hull_vcpu_release(struct hull_vcpu *v)
{
        if (v->run)
                munmap(v->run, v->run_size);
        v->run = NULL;
        hull_closep(&v->fd);
}

void hull_vcpu_kick(struct hull_vcpu *v)
{
        if (v->run)
                __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        if (v->started)
                pthread_kill(v->thread, HULL_VCPU_KICK_SIGNAL);
}

static bool handle_io(struct hull_vcpu *v)
{
        struct kvm_run *run = v->run;
        uint64_t size = run->io.size, count = run->io.count;
        uint8_t *data = (uint8_t *)run + run->io.data_offset;

        /* The data area is KVM's, but check it as if it were not: size and count come from the guest's insn. */
        if ((size != 1 && size != 2 && size != 4) || count == 0 || run->io.data_offset > v->run_size ||
            size * count > v->run_size - run->io.data_offset) {
                hull_vmm_fail(v->vmm, HULL_VMM_EXIT_ERROR, "vcpu %u: port I/O exit with size %llu count %llu", v->id,
                              (unsigned long long)size, (unsigned long long)count);
                return false;
        }
        for (uint64_t i = 0; i < count; i++, data += size)
                hull_bus_access(hull_vmm_io_bus(v->vmm), run->io.port, data, (uint32_t)size,
                                run->io.direction == KVM_EXIT_IO_OUT);
        return true;
}

static bool handle_exit(struct hull_vcpu *v)
{
        struct kvm_run *run = v->run;

        hull_vmm_count_exit(v->vmm, run->exit_reason);
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
                return handle_io(v);
        case KVM_EXIT_MMIO:
                if (run->mmio.len == 0 || run->mmio.len > 8) {
                        hull_vmm_fail(v->vmm, HULL_VMM_EXIT_ERROR, "vcpu %u: MMIO exit of %u bytes", v->id,
                                      run->mmio.len);
                        return false;
                }
                hull_bus_access(hull_vmm_mmio_bus(v->vmm), run->mmio.phys_addr, run->mmio.data, run->mmio.len,
                                run->mmio.is_write);
                return true;
        case KVM_EXIT_INTR:
                return true;
        case KVM_EXIT_HLT:
                hull_vmm_fail(v->vmm, HULL_VMM_EXIT_POWEROFF, "vcpu %u halted", v->id);
                return false;
        case KVM_EXIT_SHUTDOWN:
                hull_vmm_fail(v->vmm, HULL_VMM_EXIT_RESET, "vcpu %u: triple fault (reset)", v->id);
                return false;
        case KVM_EXIT_SYSTEM_EVENT:
                if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
                        hull_vmm_fail(v->vmm, HULL_VMM_EXIT_POWEROFF, "guest power-off");
                else
                        hull_vmm_fail(v->vmm, HULL_VMM_EXIT_RESET, "guest system event %u", run->system_event.type);
                return false;
        case KVM_EXIT_FAIL_ENTRY:
                hull_vmm_fail(v->vmm, HULL_VMM_EXIT_ERROR, "vcpu %u: VM entry failed (reason 0x%llx)", v->id,
                              (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
                return false;
        case KVM_EXIT_INTERNAL_ERROR:
                hull_vmm_fail(v->vmm, HULL_VMM_EXIT_ERROR, "vcpu %u: KVM internal error, suberror %u", v->id,
                              run->internal.suberror);
                return false;
        default:
                hull_vmm_fail(v->vmm, HULL_VMM_EXIT_ERROR, "vcpu %u: unhandled KVM exit %u", v->id, run->exit_reason);
                return false;
        }
}

void *hull_vcpu_thread(void *arg)
{
        struct hull_vcpu *v = arg;
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, HULL_VCPU_KICK_SIGNAL);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        hull_vmm_thread_confine(v->vmm, HULL_VMM_THREAD_VCPU);
        for (;;) {
                if (!hull_vmm_vcpu_may_run(v->vmm))
                        break;
                if (ioctl(v->fd, KVM_RUN, 0) < 0) {
                        if (errno == EINTR || errno == EAGAIN) {
                                __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                                continue;
                        }
                        hull_vmm_fail(v->vmm, HULL_VMM_EXIT_ERROR, "vcpu %u: KVM_RUN: %s", v->id, strerror(errno));
                        break;
                }
                if (!handle_exit(v))
                        break;
        }
        return NULL;
}
