/* Guest boot for hull-agent as PID 1: root switch, API filesystems, cgroup controllers, debug console, power off. */
#include "boot.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "error.h"
#include "fd.h"
#include "reaper.h"

#define ROOT_BIND_DIR "/.hull-root"

int hull_agent_boot_switch_root(struct hull_error **err)
{
        struct statfs sfs;

        if (statfs("/", &sfs) < 0)
                return hull_error_errno(err, errno, "statfs /");
        /* The initramfs is unpacked into rootfs (ramfs or tmpfs); a disk root is already a movable mount. */
        if (sfs.f_type != RAMFS_MAGIC && sfs.f_type != TMPFS_MAGIC)
                return 0;
        if (mkdir(ROOT_BIND_DIR, 0700) < 0 && errno != EEXIST)
                return hull_error_errno(err, errno, "switch root: mkdir %s", ROOT_BIND_DIR);
        if (mount("/", ROOT_BIND_DIR, NULL, MS_BIND, NULL) < 0)
                return hull_error_errno(err, errno, "switch root: bind / on %s", ROOT_BIND_DIR);
        if (chdir(ROOT_BIND_DIR) < 0)
                return hull_error_errno(err, errno, "switch root: chdir %s", ROOT_BIND_DIR);
        /* What switch_root(8) does: move the new root over "/", then chroot into it through the cwd. */
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                return hull_error_errno(err, errno, "switch root: move %s to /", ROOT_BIND_DIR);
        if (chroot(".") < 0)
                return hull_error_errno(err, errno, "switch root: chroot");
        if (chdir("/") < 0)
                return hull_error_errno(err, errno, "switch root: chdir /");
        (void)rmdir(ROOT_BIND_DIR);
        return 1;
}

struct basic_mount {
        const char *source, *target, *type;
        unsigned long flags;
        const char *data;
        mode_t mode;
};

static const struct basic_mount basic_mounts[] = {
        { "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555 },
        { "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555 },
        { "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0755 },
        { "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5", 0755 },
        { "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777 },
        { "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 0755 },
        { "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555 },
};

int hull_agent_boot_mount_basics(struct hull_error **err)
{
        for (size_t i = 0; i < ARRAY_SIZE(basic_mounts); i++) {
                const struct basic_mount *m = &basic_mounts[i];

                if (mkdir(m->target, m->mode) < 0 && errno != EEXIST)
                        return hull_error_errno(err, errno, "mkdir %s", m->target);
                if (mount(m->source, m->target, m->type, m->flags, m->data) < 0)
                        return hull_error_errno(err, errno, "mount %s on %s", m->type, m->target);
        }
        /* devtmpfs's ptmx is the initial devpts instance's; point it at ours. */
        (void)unlink("/dev/ptmx");
        if (symlink("pts/ptmx", "/dev/ptmx") < 0)
                return hull_error_errno(err, errno, "symlink /dev/ptmx");
        (void)symlink("/proc/self/fd", "/dev/fd");
        return 0;
}

int hull_agent_boot_enable_controllers(const char *cgroup_root, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL, *controllers = NULL, *request = NULL;
        size_t len = 0;
        char *word, *save = NULL;
        int r;

        if (asprintf(&path, "%s/cgroup.controllers", cgroup_root) < 0)
                return hull_error_oom(err);
        r = hull_read_file(path, 4096, &controllers, NULL, err);
        if (r < 0)
                return r;
        request = calloc(1, strlen(controllers) * 2 + 2);
        if (!request)
                return hull_error_oom(err);
        for (word = strtok_r(controllers, " \n", &save); word; word = strtok_r(NULL, " \n", &save))
                len += (size_t)sprintf(request + len, "%s+%s", len ? " " : "", word);
        if (!len)
                return 0;
        free(path);
        if (asprintf(&path, "%s/cgroup.subtree_control", cgroup_root) < 0)
                return hull_error_oom(err);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return hull_error_errno(err, errno, "open %s", path);
        if (write(fd, request, len) != (ssize_t)len)
                return hull_error_errno(err, errno, "write '%s' to %s", request, path);
        return 0;
}

pid_t hull_agent_boot_debug_console(struct hull_error **err)
{
        static const char *const shells[] = { "/bin/sh", "/bin/bash", "/usr/bin/sh" };
        const char *shell = NULL;
        pid_t pid;

        for (size_t i = 0; i < ARRAY_SIZE(shells) && !shell; i++)
                if (access(shells[i], X_OK) == 0)
                        shell = shells[i];
        if (!shell)
                return hull_error_set(err, ENOENT, "debug console: no shell in the image");
        pid = fork();
        if (pid < 0)
                return hull_error_errno(err, errno, "debug console: fork");
        if (pid == 0) {
                int fd;
                hull_agent_signals_reset();
                setsid();
                fd = open("/dev/console", O_RDWR | O_NOCTTY);
                if (fd >= 0) {
                        (void)ioctl(fd, TIOCSCTTY, 1);
                        dup2(fd, 0);
                        dup2(fd, 1);
                        dup2(fd, 2);
                        if (fd > 2)
                                close(fd);
                }
                execl(shell, shell, (char *)NULL);
                _exit(127);
        }
        return pid;
}

_Noreturn void hull_agent_boot_poweroff(void)
{
        sync();
        reboot(RB_POWER_OFF);
        /* Only reached outside a VM's PID 1, where reboot() is refused. */
        _exit(1);
}
