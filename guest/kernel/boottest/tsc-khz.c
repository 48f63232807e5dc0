/* Prints the host's TSC rate in kHz (TSC ticks over 50 ms of CLOCK_MONOTONIC). Under QEMU TCG the guest's
 * TSC is the host's, and a guest told the rate (tsc_early_khz=) needs no calibration that load can break. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(void)
{
        uint64_t best = 0;

        /* The highest of three rates: a preemption between the two reads only lowers a sample. */
        for (int i = 0; i < 3; i++) {
                uint64_t t0 = now_ns(), c0 = __rdtsc();
                struct timespec d = { 0, 50 * 1000 * 1000 };

                nanosleep(&d, NULL);
                uint64_t c1 = __rdtsc(), t1 = now_ns();
                uint64_t khz = (c1 - c0) * 1000000u / (t1 - t0);

                if (khz > best)
                        best = khz;
        }
        printf("%llu\n", (unsigned long long)best);
        return 0;
}
