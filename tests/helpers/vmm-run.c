/* Runs a VM on the built-in VMM (src/vmm) from the command line: the guest's serial console on stdout, the reason
 * the VM ended on stderr. For the KVM test bed (tests/kvm-host) and for trying the VMM by hand. */
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
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
                { "until", required_argument, NULL, 'u' },
                { "vsock-uds", required_argument, NULL, 'V' },
                { "cid", required_argument, NULL, 'C' },
                { "rng", no_argument, NULL, 'R' },
                { "disk", required_argument, NULL, 'D' },
                { "tap", required_argument, NULL, 'T' },
                { NULL, 0, NULL, 0 },
        };
        struct hull_vmm_disk disks[8];
        struct hull_vmm_nic nic;
        unsigned n_disks = 0;
        struct hull_vmm_config cfg = { .vcpus = 1,
                                       .memory_mib = 256,
                                       .console_fd = STDOUT_FILENO,
                                       .cmdline = "console=ttyS0 reboot=k panic=1",
                                       .vsock_cid = 3 };
        _cleanup_(hull_vmm_freep) struct hull_vmm *vmm = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        const char *why = "", *until = NULL;
        double timeout = 60, t0, seen = 0;
        struct pollfd pfd[2];
        char tail[8192];
        size_t tail_len = 0;
        int c, kind, console[2];

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
                case 'u':
                        until = optarg;
                        break;
                case 'V':
                        cfg.vsock_uds = optarg;
                        break;
                case 'C':
                        cfg.vsock_cid = strtoull(optarg, NULL, 10);
                        break;
                case 'R':
                        cfg.rng = true;
                        break;
                case 'T': {
                        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
                        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

                        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", optarg);
                        if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
                                fprintf(stderr, "vmm-run: tap %s: %m\n", optarg);
                                return 1;
                        }
                        nic = (struct hull_vmm_nic){ .tap_fd = fd, .mac = { 0x02, 0x68, 0x75, 0x6C, 0, 0 } };
                        cfg.nics = &nic;
                        cfg.n_nics = 1;
                        break;
                }
                case 'D': {
                        char *comma = strchr(optarg, ',');
                        if (n_disks == 8) {
                                fprintf(stderr, "vmm-run: at most 8 disks\n");
                                return 2;
                        }
                        disks[n_disks].read_only = comma && streq(comma, ",ro");
                        if (comma)
                                *comma = 0;
                        disks[n_disks++].path = optarg;
                        break;
                }
                default:
                        fprintf(stderr,
                                "usage: vmm-run --kernel BZIMAGE [--initrd I] [--cmdline C] [--memory MIB] "
                                "[--vcpus N] [--timeout S] [--until TEXT] [--vsock-uds PATH] [--cid N] [--rng] "
                                "[--disk PATH[,ro]]... [--tap NAME]\n");
                        return 2;
                }
        }
        cfg.disks = disks;
        cfg.n_disks = n_disks;
        if (!cfg.kernel) {
                fprintf(stderr, "vmm-run: --kernel is required\n");
                return 2;
        }
        /* The console goes through a pipe that --until watches; a full pipe drops output, never stalls a vCPU.
         */
        if (pipe2(console, O_CLOEXEC) < 0 || fcntl(console[1], F_SETFL, O_NONBLOCK) < 0) {
                perror("vmm-run: pipe");
                return 1;
        }
        cfg.console_fd = console[1];
        t0 = now_s();
        if (hull_vmm_new(&cfg, &vmm, &e) < 0 || hull_vmm_start(vmm, &e) < 0) {
                fprintf(stderr, "vmm-run: %s\n", hull_error_message(e));
                return 1;
        }
        fprintf(stderr, "vmm-run: started in %.1f ms\n", (now_s() - t0) * 1000);
        pfd[0] = (struct pollfd){ .fd = hull_vmm_exit_fd(vmm), .events = POLLIN };
        pfd[1] = (struct pollfd){ .fd = console[0], .events = POLLIN };
        for (;;) {
                double left = t0 + timeout - now_s();
                ssize_t n;

                if (left <= 0 || poll(pfd, 2, (int)(left * 1000) + 1) == 0) {
                        hull_vmm_stop(vmm);
                        break;
                }
                if (pfd[1].revents & POLLIN) {
                        n = read(console[0], tail + tail_len, sizeof(tail) - 1 - tail_len);
                        if (n > 0) {
                                fwrite(tail + tail_len, 1, (size_t)n, stdout);
                                fflush(stdout);
                                tail_len += (size_t)n;
                                tail[tail_len] = 0;
                                if (until && !seen && memmem(tail, tail_len, until, strlen(until))) {
                                        seen = now_s() - t0;
                                        fprintf(stderr, "vmm-run: console showed \"%s\" after %.3f s\n", until, seen);
                                        hull_vmm_stop(vmm);
                                        break;
                                }
                                /* keep the last KiB for a match across reads */
                                if (tail_len > sizeof(tail) / 2) {
                                        memmove(tail, tail + tail_len - 1024, 1024);
                                        tail_len = 1024;
                                }
                        }
                }
                if (pfd[0].revents & POLLIN)
                        break;
        }
        kind = hull_vmm_exit_reason(vmm, &why);
        fprintf(stderr, "vmm-run: VM ended after %.3f s: %s\n", now_s() - t0, why);
        close(console[0]);
        close(console[1]);
        if (until)
                return seen ? 0 : 4;
        return kind == HULL_VMM_EXIT_ERROR ? 1 : kind == HULL_VMM_EXIT_STOPPED ? 3 : 0;
}
