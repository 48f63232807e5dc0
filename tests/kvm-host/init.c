/* PID 1 of the KVM test bed's outer VM (tests/kvm-host/run): loads the initramfs's modules, makes the host's
 * read-only / (virtio-fs "hostroot") writable under an overlay with a tmpfs upper, mounts the control and
 * shared directories at their host paths, chroots there and runs the command the run script wrote, with its
 * stdout and stderr on two virtio-serial ports, then writes its exit status and powers the VM off.
 *
 * Built statically by the run script (cc -static), outside meson: it is the test bed's, not hull's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <x86intrin.h>
#include <unistd.h>

#define SPEC_MAX (1 << 20)
#define ITEMS_MAX 4096

static void say(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        fputs("kvm-host-init: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

static void halt(void)
{
        sync();
        reboot(RB_POWER_OFF);
        for (;;)
                pause();
}

static void die(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        fputs("kvm-host-init: fatal: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        halt();
}

static void mkdir_p(const char *path)
{
        char buf[4096];

        if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
                die("path too long: %s", path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                mkdir(buf, 0755);
                *p = '/';
        }
        mkdir(buf, 0755);
}

static void do_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
        mkdir_p(dst);
        if (mount(src, dst, type, flags, data) < 0)
                die("mount %s (%s) on %s: %m", src, type, dst);
}

static void load_modules(void)
{
        FILE *f = fopen("/modules/order", "re");
        char line[256];

        if (!f)
                die("/modules/order: %m");
        while (fgets(line, sizeof(line), f)) {
                char path[512], *params;
                int fd;

                line[strcspn(line, "\n")] = 0;
                if (!line[0])
                        continue;
                /* "name [params]" */
                params = strchr(line, ' ');
                if (params)
                        *params++ = 0;
                snprintf(path, sizeof(path), "/modules/%s.ko", line);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        die("%s: %m", path);
                if (syscall(SYS_finit_module, fd, params ? params : "", 0) < 0 && errno != EEXIST)
                        say("load %s: %m", line); /* kvm_amd without SVM, say: the command will see it */
                close(fd);
        }
        fclose(f);
}

/* The value of key= on the kernel command line, or NULL. */
static char *cmdline_value(const char *key)
{
        static char buf[4096];
        size_t klen = strlen(key);
        ssize_t n;
        int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                die("/proc/cmdline: %m");
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
                if (strncmp(tok, key, klen) == 0 && tok[klen] == '=')
                        return strdup(tok + klen + 1);
        return NULL;
}

struct spec {
        char *cwd;
        char **argv;
        char **env;
        char **shares;
};

/* The spec file: NUL-terminated strings: cwd, then three counted lists (a decimal count, then the items):
 * argv, environment, shared directories (share<i> tags, mounted read-write at the same path). */
static char **read_list(char **p, char *end)
{
        char **list;
        long n;

        if (*p >= end)
                die("spec: truncated");
        n = strtol(*p, NULL, 10);
        if (n < 0 || n > ITEMS_MAX)
                die("spec: bad count %ld", n);
        *p += strlen(*p) + 1;
        list = calloc((size_t)n + 1, sizeof(char *));
        if (!list)
                die("out of memory");
        for (long i = 0; i < n; i++) {
                if (*p >= end)
                        die("spec: truncated");
                list[i] = *p;
                *p += strlen(*p) + 1;
        }
        return list;
}

static void read_spec(const char *path, struct spec *s)
{
        char *buf = malloc(SPEC_MAX + 1), *p, *end;
        ssize_t n;
        size_t len = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (!buf)
                die("out of memory");
        if (fd < 0)
                die("%s: %m", path);
        while (len < SPEC_MAX && (n = read(fd, buf + len, SPEC_MAX - len)) > 0)
                len += (size_t)n;
        close(fd);
        buf[len] = 0;
        end = buf + len;
        if (len == 0 || buf[len - 1] != 0)
                die("spec: not NUL-terminated");
        p = buf;
        s->cwd = p;
        p += strlen(p) + 1;
        s->argv = read_list(&p, end);
        s->env = read_list(&p, end);
        s->shares = read_list(&p, end);
        if (!s->argv[0])
                die("spec: no command");
}

/* The virtio-serial port named name (a plain character device, no tty line discipline in the way). Ports are
 * announced by the device after the driver probed: wait a little for it. */
static int open_port(const char *name)
{
        for (int i = 0; i < 500; i++) {
                char path[512], got[64];
                int idx, fd;

                for (idx = 0; idx < 16; idx++) {
                        ssize_t n;

                        snprintf(path, sizeof(path), "/sys/class/virtio-ports/vport0p%d/name", idx);
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                continue;
                        n = read(fd, got, sizeof(got) - 1);
                        close(fd);
                        if (n <= 0)
                                continue;
                        got[n] = 0;
                        got[strcspn(got, "\n")] = 0;
                        if (strcmp(got, name) != 0)
                                continue;
                        snprintf(path, sizeof(path), "/dev/vport0p%d", idx);
                        fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
                        if (fd >= 0)
                                return fd;
                }
                usleep(10000);
        }
        die("virtio-serial port %s did not appear", name);
        return -1;
}

static void write_status(const char *ctl, int status)
{
        char path[4096], tmp[4200], text[32];
        int fd, len;

        snprintf(path, sizeof(path), "%s/rc", ctl);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        len = snprintf(text, sizeof(text), "%d\n", status);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, (size_t)len) != len || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0)
                say("write %s: %m", path);
}

/* Host side: the TSC rate in kHz (the run script gives it to the guest as tsc_early_khz=). */
static int print_tsc_khz(void)
{
        unsigned long long best = 0;

        for (int i = 0; i < 3; i++) {
                struct timespec a, b, d = { 0, 10 * 1000 * 1000 };
                unsigned long long c0, c1, ns;

                clock_gettime(CLOCK_MONOTONIC_RAW, &a);
                c0 = __rdtsc();
                nanosleep(&d, NULL);
                c1 = __rdtsc();
                clock_gettime(CLOCK_MONOTONIC_RAW, &b);
                ns = (unsigned long long)(b.tv_sec - a.tv_sec) * 1000000000ULL + (unsigned long long)b.tv_nsec -
                        (unsigned long long)a.tv_nsec;
                if (ns && c1 > c0 && (c1 - c0) * 1000000ULL / ns > best)
                        best = (c1 - c0) * 1000000ULL / ns;
        }
        printf("%llu\n", best);
        return 0;
}

int main(int argc, char **argv)
{
        struct spec s = { 0 };
        char *ctl, path[4096];
        int out, errfd, status = 0;
        pid_t child;

        if (argc > 1 && strcmp(argv[1], "--tsc-khz") == 0)
                return print_tsc_khz();
        do_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        load_modules();

        ctl = cmdline_value("kvmhost.ctl");
        if (!ctl || ctl[0] != '/')
                die("no kvmhost.ctl= on the kernel command line");

        do_mount("hostroot", "/lower", "virtiofs", MS_RDONLY, NULL);
        do_mount("tmpfs", "/rw", "tmpfs", 0, "mode=0755");
        mkdir_p("/rw/upper");
        mkdir_p("/rw/work");
        do_mount("overlay", "/newroot", "overlay", 0, "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work");

        snprintf(path, sizeof(path), "/newroot%s", ctl);
        do_mount("ctl", path, "virtiofs", 0, NULL);
        snprintf(path, sizeof(path), "/newroot%s/spec", ctl);
        read_spec(path, &s);
        for (int i = 0; s.shares[i]; i++) {
                char tag[32];

                snprintf(tag, sizeof(tag), "share%d", i);
                snprintf(path, sizeof(path), "/newroot%s", s.shares[i]);
                do_mount(tag, path, "virtiofs", 0, NULL);
        }

        /* The host's /run holds its daemons' sockets and pid files: the guest starts with an empty one. */
        do_mount("tmpfs", "/newroot/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
        /* TMPDIR for the command (run sets it): a plain tmpfs, where an overlayfs upper directory may live (the
         * root overlay's cannot hold another overlay's upper: containerd's and podman's snapshots need this). */
        mkdir_p("/newroot/run/tmp");
        chmod("/newroot/run/tmp", 01777);
        do_mount("/proc", "/newroot/proc", NULL, MS_MOVE, NULL);
        do_mount("/sys", "/newroot/sys", NULL, MS_MOVE, NULL);
        do_mount("/dev", "/newroot/dev", NULL, MS_MOVE, NULL);
        do_mount("cgroup2", "/newroot/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        do_mount("devpts", "/newroot/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
        do_mount("tmpfs", "/newroot/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
        unlink("/newroot/dev/ptmx");
        symlink("pts/ptmx", "/newroot/dev/ptmx");

        if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0)
                die("switch to the new root: %m");
        if (chdir(s.cwd) < 0 && chdir("/") < 0)
                die("chdir: %m");

        out = open_port("kvmhost.stdout");
        errfd = open_port("kvmhost.stderr");

        child = fork();
        if (child < 0)
                die("fork: %m");
        if (child == 0) {
                int null = open("/dev/null", O_RDONLY);

                setsid();
                dup2(null, 0);
                dup2(out, 1);
                dup2(errfd, 2);
                execvpe(s.argv[0], s.argv, s.env);
                fprintf(stderr, "kvm-host-init: exec %s: %m\n", s.argv[0]);
                _exit(127);
        }
        /* PID 1 reaps everything; the command's end ends the run. */
        for (;;) {
                int st;
                pid_t pid = wait(&st);

                if (pid < 0 && errno == EINTR)
                        continue;
                if (pid < 0)
                        break;
                if (pid == child) {
                        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                        break;
                }
        }
        kill(-1, SIGKILL);
        while (wait(NULL) > 0)
                ;
        write_status(ctl, status);
        halt();
        return 0;
}
