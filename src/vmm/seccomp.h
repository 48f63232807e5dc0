/* A seccomp filter for the built-in VMM's own threads (vCPUs and the event thread), installed in each of them as it
 * starts (no TSYNC: the rest of the process is not affected). What a compromised device model or vCPU loop could do
 * shrinks to I/O on descriptors it already holds, memory management, futexes, clocks, KVM_RUN and KVM_IRQ_LINE. */
#pragma once

enum hull_vmm_thread_kind {
        HULL_VMM_THREAD_VCPU,
        HULL_VMM_THREAD_EVENT,
};

/* Returns 0 or a negative errno (the filter could not be installed: the thread runs without it). */
int hull_vmm_seccomp_install(enum hull_vmm_thread_kind kind);
