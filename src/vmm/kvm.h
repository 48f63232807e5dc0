/* The KVM VM of the built-in VMM: /dev/kvm, the VM file descriptor, the in-kernel irqchip (PIC + IOAPIC + local
 * APICs) and PIT, and the ioctls the rest of src/vmm needs more than once. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct hull_error;
struct kvm_cpuid2;

struct hull_kvm {
        int kvm_fd;
        int vm_fd;
        size_t run_size; /* of each vCPU's struct kvm_run mapping */
};

/* Open dev (HULL_KVM_DEVICE when NULL), check the API and the capabilities the VMM relies on, create the VM with
 * its irqchip and PIT. On failure everything is closed again. */
int hull_kvm_open(struct hull_kvm *k, const char *dev, struct hull_error **err);
void hull_kvm_close(struct hull_kvm *k);
/* KVM_GET_SUPPORTED_CPUID into a fresh allocation (free()). */
int hull_kvm_supported_cpuid(const struct hull_kvm *k, struct kvm_cpuid2 **ret, struct hull_error **err);
/* Set an interrupt line of the in-kernel irqchip (GSI) to level. */
int hull_kvm_irq_line(const struct hull_kvm *k, uint32_t gsi, int level);
