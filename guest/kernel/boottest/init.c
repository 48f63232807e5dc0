/* A trivial /init for boot measurements: prints one line on the console and powers the VM off (or resets
 * it when the kernel command line says hull_boottest=reset). No libc: raw x86_64 system calls. */
#define SYS_write 1
#define SYS_open 2
#define SYS_ioctl 16
#define SYS_exit 60
#define SYS_mkdir 83
#define SYS_mount 165
#define SYS_reboot 169
#define O_WRONLY 01
#define TCSBRK 0x5409
#define LINUX_REBOOT_MAGIC1 0xfee1dead
#define LINUX_REBOOT_MAGIC2 672274793
#define LINUX_REBOOT_CMD_RESTART 0x01234567
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

static int streq(const char *a, const char *b)
{
        while (*a && *a == *b) {
                a++;
                b++;
        }
        return *a == *b;
}

static const char line[] = "hull-boottest: init reached\n";

/* The kernel starts init with argc, argv[], NULL, envp[], NULL on the stack; unknown name=value
 * words of the kernel command line arrive in envp. */
void hull_boottest_main(long *sp)
{
        long argc = sp[0];
        char **envp = (char **)(sp + 1 + argc + 1);
        long cmd = LINUX_REBOOT_CMD_POWER_OFF;
        long fd = 1;

        for (; *envp; envp++)
                if (streq(*envp, "hull_boottest=reset"))
                        cmd = LINUX_REBOOT_CMD_RESTART;

        /* The kernel opens /dev/console as fd 1 when the initramfs has it; otherwise mount devtmpfs
         * and open the console ourselves. */
        if (sys3(SYS_write, fd, (long)"", 0) < 0) {
                sys3(SYS_mkdir, (long)"/dev", 0755, 0);
                sys5(SYS_mount, (long)"devtmpfs", (long)"/dev", (long)"devtmpfs", 0, 0);
                fd = sys3(SYS_open, (long)"/dev/console", O_WRONLY, 0);
        }
        sys3(SYS_write, fd, (long)line, sizeof(line) - 1);
        /* tcdrain(): the UART sends asynchronously; powering off at once would lose the line. */
        sys3(SYS_ioctl, fd, TCSBRK, 1);
        /* Without ACPI the kernel cannot power off and halts instead: such VMs end by a reset, which
         * reboot=k turns into a keyboard-controller or triple-fault reset and -no-reboot into QEMU's exit. */
        sys5(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, cmd, 0, 0);
        /* reboot failed: exiting PID 1 panics the kernel, and panic=1 + -no-reboot ends QEMU. */
        for (;;)
                sys3(SYS_exit, 1, 0, 0);
}

__asm__(".globl _start\n"
        "_start:\n"
        "        mov %rsp, %rdi\n"
        "        and $-16, %rsp\n"
        "        call hull_boottest_main\n"
        "        hlt\n");
