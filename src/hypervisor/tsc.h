/* The host's TSC rate. Under QEMU's TCG the guest's TSC is the host's, and a guest told its rate (tsc_early_khz=)
 * needs no calibration against the PIT, which fails on a busy host and leaves a microvm guest without a timer. */
#pragma once

/* kHz, measured once per process (about 30 ms: three 10 ms windows against CLOCK_MONOTONIC_RAW, the fastest
 * kept, since preemption only ever lowers a sample). 0 when this is no x86 host. */
unsigned hull_hv_host_tsc_khz(void);
