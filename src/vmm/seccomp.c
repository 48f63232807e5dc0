/* The VMM threads' seccomp filter: an allow list; anything else fails with EPERM rather than killing the process,
 * so a syscall the list misses shows up as an error in that VM, not as a dead shim. */
#include "vmm/seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macros.h"

static const int allowed[] = {
        /* I/O on descriptors the thread already has: guest console, images, sockets, eventfds, the tap */
        SYS_read,
        SYS_write,
        SYS_readv,
        SYS_writev,
        SYS_pread64,
        SYS_pwrite64,
        SYS_preadv,
        SYS_pwritev,
        SYS_fdatasync,
        SYS_fsync,
        SYS_close,
        SYS_recvfrom,
        SYS_sendto,
        SYS_recvmsg,
        SYS_sendmsg,
        SYS_accept4,
        SYS_shutdown,
        SYS_fcntl,
        /* the event loop */
        SYS_epoll_wait,
        SYS_epoll_pwait,
        SYS_epoll_ctl,
        SYS_poll,
        SYS_ppoll,
        SYS_timerfd_settime,
        SYS_timerfd_gettime,
        /* threads, signals (the kick), time */
        SYS_futex,
        SYS_rt_sigreturn,
        SYS_rt_sigprocmask,
        SYS_sigaltstack,
        SYS_tgkill,
        SYS_gettid,
        SYS_getpid,
        SYS_sched_yield,
        SYS_restart_syscall,
        SYS_clock_gettime,
        SYS_clock_nanosleep,
        SYS_nanosleep,
        SYS_gettimeofday,
        SYS_exit,
        /* malloc */
        SYS_mmap,
        SYS_munmap,
        SYS_mremap,
        SYS_mprotect,
        SYS_madvise,
        SYS_brk,
        /* virtio-rng */
        SYS_getrandom,
};

#define ALLOW SECCOMP_RET_ALLOW
#define DENY (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

int hull_vmm_seccomp_install(enum hull_vmm_thread_kind kind)
{
        struct sock_filter f[8 + 2 * ARRAY_SIZE(allowed) + 8];
        struct sock_fprog prog = { .filter = f };
        unsigned n = 0;

        (void)kind; /* one list for both kinds today; the vCPU threads need less and may get their own */
        f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
        for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
                f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)allowed[i], 0, 1);
                f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ALLOW);
        }
        /* ioctl: only running a vCPU and raising an interrupt line (the serial port, from a vCPU). */
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 1, 0);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, DENY);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)KVM_RUN, 2, 0);
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)KVM_IRQ_LINE, 1, 0);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, DENY);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ALLOW);
        prog.len = (unsigned short)n;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return -errno;
        return 0;
}
