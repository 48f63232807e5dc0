/* A trivial /init for boot measurements: prints one line on the console and powers the VM off.
 * No libc (raw x86_64 system calls), so the initramfs is a few KiB and costs the same on every kernel. */
#define SYS_write 1
#define SYS_open 2
#define SYS_mkdir 83
#define SYS_mount 165
#define SYS_reboot 169
#define SYS_exit 60
#define O_WRONLY 01
#define LINUX_REBOOT_MAGIC1 0xfee1dead
#define LINUX_REBOOT_MAGIC2 672274793
#define LINUX_REBOOT_CMD_POWER_OFF 0x4321fedc

static long sys3(long n, long a, long b, long c)
{
        long r;
        __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
        return r;
}

static long sys5(long n, long a, long b, long c, long d, long e)
{
        long r;
        register long r10 __asm__("r10") = d;
        register long r8 __asm__("r8") = e;
        __asm__ volatile("syscall"
                         : "=a"(r)
                         : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                         : "rcx", "r11", "memory");
        return r;
}

static const char line[] = "hull-boottest: init reached\n";

void _start(void)
{
        /* The kernel opens /dev/console as fd 1 when the initramfs has it; otherwise mount devtmpfs
         * and open the console ourselves. */
        long fd = 1;
        if (sys3(SYS_write, fd, (long)"", 0) < 0) {
                sys3(SYS_mkdir, (long)"/dev", 0755, 0);
                sys5(SYS_mount, (long)"devtmpfs", (long)"/dev", (long)"devtmpfs", 0, 0);
                fd = sys3(SYS_open, (long)"/dev/console", O_WRONLY, 0);
        }
        sys3(SYS_write, fd, (long)line, sizeof(line) - 1);
        sys5(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_POWER_OFF, 0, 0);
        /* Power-off failed: exiting PID 1 panics the kernel, and panic=1 + -no-reboot ends QEMU. */
        for (;;)
                sys3(SYS_exit, 1, 0, 0);
}
