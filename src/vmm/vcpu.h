/* One vCPU of the built-in VMM: its KVM file descriptor and run area, its CPUID/MSR/LAPIC set-up, its registers at
 * boot, and the thread that runs it. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct hull_error;
struct hull_vmm;
struct hull_kvm;
struct kvm_cpuid2;
struct kvm_run;

struct hull_vcpu {
        unsigned id;
        int fd;
        struct kvm_run *run;
        size_t run_size;
        pthread_t thread;
        bool started;
        struct hull_vmm *vmm;
};

/* Create vCPU id of vcpus with the supported CPUID (adapted: APIC id, topology, the hypervisor bit), the MSRs
 * Linux expects from firmware, LINT0 ExtINT / LINT1 NMI, a sane FPU. */
int hull_vcpu_init(struct hull_vcpu *v, struct hull_vmm *vmm, const struct hull_kvm *kvm, unsigned id, unsigned vcpus,
                   const struct kvm_cpuid2 *supported, struct hull_error **err);
/* Registers at boot: 64-bit mode with the boot page tables and GDT, rip = entry, rsi = rsi. */
int hull_vcpu_set_long_mode(struct hull_vcpu *v, uint64_t entry, uint64_t rsi, struct hull_error **err);
/* Registers at boot: real mode, CS = 0, IP = entry. */
int hull_vcpu_set_real_mode(struct hull_vcpu *v, uint64_t entry, struct hull_error **err);
void hull_vcpu_release(struct hull_vcpu *v);
/* The thread body: KVM_RUN until the VM ends. */
void *hull_vcpu_thread(void *arg);
/* Make the vCPU leave KVM_RUN soon (signal + immediate_exit). */
void hull_vcpu_kick(struct hull_vcpu *v);
/* The signal hull_vcpu_kick() sends; its handler is installed once by hull_vcpu_init(). */
#define HULL_VCPU_KICK_SIGNAL (SIGRTMIN + 1)
