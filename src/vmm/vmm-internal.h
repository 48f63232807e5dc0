/* What the VMM's own files (vCPUs, devices) see of struct hull_vmm beyond vmm.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmm/seccomp.h"
#include "vmm/vmm.h"

void hull_vmm_count_exit(struct hull_vmm *vmm, uint32_t exit_reason);
/* Called by a vCPU thread before each KVM_RUN: false once the VM ends; blocks while the VM is paused. */
bool hull_vmm_vcpu_may_run(struct hull_vmm *vmm);
/* Called first thing by each VMM thread: its seccomp filter unless the configuration says no. */
void hull_vmm_thread_confine(struct hull_vmm *vmm, enum hull_vmm_thread_kind kind);
