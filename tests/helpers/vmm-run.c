/* Runs a VM on the built-in VMM (src/vmm) from the command line: the guest's serial console on stdout, the reason
 * the VM ended on stderr. For the KVM test bed (tests/kvm-host) and for trying the VMM by hand. */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "vmm/vmm.h"

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "kernel", required_argument, NULL, 'k' },
                { "initrd", required_argument, NULL, 'i' },
                { "cmdline", required_argument, NULL, 'c' },
                { "memory", required_argument, NULL, 'm' },
                { "vcpus", required_argument, NULL, 'n' },
                { "timeout", required_argument, NULL, 't' },
                { NULL, 0, NULL, 0 },
        };
        struct hull_vmm_config cfg = {
                .vcpus = 1, .memory_mib = 256, .console_fd = STDOUT_FILENO, .cmdline = "console=ttyS0 reboot=k panic=1"
        };
        _cleanup_(hull_vmm_freep) struct hull_vmm *vmm = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        const char *why = "";
        double timeout = 60, t0;
        struct pollfd pfd;
        int c, kind;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'k':
                        cfg.kernel = optarg;
                        break;
                case 'i':
                        cfg.initrd = optarg;
                        break;
                case 'c':
                        cfg.cmdline = optarg;
                        break;
                case 'm':
                        cfg.memory_mib = strtoull(optarg, NULL, 10);
                        break;
                case 'n':
                        cfg.vcpus = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 't':
                        timeout = strtod(optarg, NULL);
                        break;
                default:
                        fprintf(stderr,
                                "usage: vmm-run --kernel BZIMAGE [--initrd I] [--cmdline C] [--memory MIB] "
                                "[--vcpus N] [--timeout S]\n");
                        return 2;
                }
        }
        if (!cfg.kernel) {
                fprintf(stderr, "vmm-run: --kernel is required\n");
                return 2;
        }
        t0 = now_s();
        if (hull_vmm_new(&cfg, &vmm, &e) < 0 || hull_vmm_start(vmm, &e) < 0) {
                fprintf(stderr, "vmm-run: %s\n", hull_error_message(e));
                return 1;
        }
        fprintf(stderr, "vmm-run: started in %.1f ms\n", (now_s() - t0) * 1000);
        pfd = (struct pollfd){ .fd = hull_vmm_exit_fd(vmm), .events = POLLIN };
        if (poll(&pfd, 1, (int)(timeout * 1000)) == 0)
                hull_vmm_stop(vmm);
        kind = hull_vmm_exit_reason(vmm, &why);
        fprintf(stderr, "vmm-run: VM ended after %.3f s: %s\n", now_s() - t0, why);
        return kind == HULL_VMM_EXIT_ERROR ? 1 : kind == HULL_VMM_EXIT_STOPPED ? 3 : 0;
}
