/* Measuring the host's TSC rate for guests that cannot measure it themselves (TCG). */
#include "tsc.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>

static unsigned tsc_khz;
static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;

static uint64_t raw_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void measure(void)
{
        uint64_t best = 0;

        for (int i = 0; i < 3; i++) {
                struct timespec d = { 0, 10 * 1000 * 1000 };
                uint64_t t0 = raw_ns(), c0 = __rdtsc(), c1, t1;

                nanosleep(&d, NULL);
                c1 = __rdtsc();
                t1 = raw_ns();
                if (t1 > t0 && c1 > c0) {
                        uint64_t khz = (c1 - c0) * 1000000ULL / (t1 - t0);
                        if (khz > best)
                                best = khz;
                }
        }
        tsc_khz = best > UINT32_MAX ? 0 : (unsigned)best;
}

unsigned hull_hv_host_tsc_khz(void)
{
        pthread_once(&tsc_once, measure);
        return tsc_khz;
}
#else
unsigned hull_hv_host_tsc_khz(void)
{
        return 0;
}
#endif
