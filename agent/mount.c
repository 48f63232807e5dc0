/* Container filesystem setup inside the container's mount namespace: mounts, /dev, pivot_root, masks, sysctl. */
#include "mount.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "error.h"
#include "fd.h"
#include "spec.h"

static int openat2_in_root(int rootfd, const char *path, int flags)
{
        struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
                                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };

        return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

int hull_agent_open_in_root(int rootfd, const char *path, mode_t mkdir_mode, bool as_file, struct hull_error **err)
{
        _cleanup_free_ char *copy = NULL;
        _cleanup_close_ int dirfd = -1;
        char *comp, *next, *save = NULL;
        int fd;

        while (*path == '/')
                path++;
        if (!*path) {
                fd = openat2_in_root(rootfd, ".", O_PATH);
                return fd >= 0 ? fd : hull_error_errno(err, errno, "open the rootfs");
        }
        fd = openat2_in_root(rootfd, path, O_PATH);
        if (fd >= 0 || errno != ENOENT || !mkdir_mode)
                return fd >= 0 ? fd : hull_error_errno(err, errno, "open %s in the rootfs", path);

        /* Walk down, creating what is missing; every step resolves inside the root again. */
        copy = strdup(path);
        if (!copy)
                return hull_error_oom(err);
        dirfd = openat2_in_root(rootfd, ".", O_PATH | O_DIRECTORY);
        if (dirfd < 0)
                return hull_error_errno(err, errno, "open rootfs");
        for (comp = strtok_r(copy, "/", &save); comp; comp = next) {
                _cleanup_free_ char *sofar = NULL;
                int child;

                next = strtok_r(NULL, "/", &save);
                if (streq(comp, "."))
                        continue;
                if (streq(comp, ".."))
                        return hull_error_set(err, EINVAL, "path %s climbs with ..", path);
                sofar = strndup(path, (size_t)(comp - copy) + strlen(comp));
                if (!sofar)
                        return hull_error_oom(err);
                child = openat2_in_root(rootfd, sofar, O_PATH);
                if (child < 0 && errno == ENOENT) {
                        _cleanup_close_ int parent = -1;
                        /* mkdirat/openat need a real directory fd, not an O_PATH one. */
                        parent = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (parent < 0)
                                return hull_error_errno(err, errno, "open parent of %s", sofar);
                        if (!next && as_file) {
                                int f = openat(parent, comp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
                                if (f < 0 && errno != EEXIST)
                                        return hull_error_errno(err, errno, "create %s in the rootfs", sofar);
                                if (f >= 0)
                                        close(f);
                        } else if (mkdirat(parent, comp, mkdir_mode) < 0 && errno != EEXIST) {
                                return hull_error_errno(err, errno, "mkdir %s in the rootfs", sofar);
                        }
                        child = openat2_in_root(rootfd, sofar, O_PATH);
                }
                if (child < 0)
                        return hull_error_errno(err, errno, "open %s in the rootfs", sofar);
                close(dirfd);
                dirfd = child;
        }
        return TAKE_FD(dirfd);
}

static int fd_path(int fd, char buf[static 64])
{
        snprintf(buf, 64, "/proc/self/fd/%d", fd);
        return 0;
}

static bool source_is_dir(const char *source)
{
        struct stat st;

        return stat(source, &st) < 0 || S_ISDIR(st.st_mode);
}

static int mount_one(int rootfd, const Grpc__Mount *m, struct hull_error **err)
{
        struct hull_agent_mount_opts o;
        _cleanup_close_ int target = -1;
        char tpath[64];
        const char *type = m->type && *m->type ? m->type : NULL;
        bool bind;
        int r = 0;

        r = hull_agent_mount_opts_parse(m->options, m->n_options, &o, err);
        if (r < 0)
                return r;
        bind = o.bind || (type && streq(type, "bind"));
        if (bind)
                o.flags |= MS_BIND;
        /* In a cgroup v2 guest the OCI "cgroup" mount is the unified hierarchy. */
        if (type && streq(type, "cgroup"))
                type = "cgroup2";
        target = hull_agent_open_in_root(rootfd, m->destination, 0755, bind && !source_is_dir(m->source), err);
        if (target < 0) {
                r = target;
                goto out;
        }
        fd_path(target, tpath);
        if (bind) {
                if (mount(m->source, tpath, NULL, o.flags & (MS_BIND | MS_REC), NULL) < 0) {
                        r = hull_error_errno(err, errno, "bind %s", m->source);
                        goto out;
                }
                /* A bind ignores every other flag; they take a remount. */
                if (o.flags & ~(MS_BIND | MS_REC)) {
                        _cleanup_close_ int again = hull_agent_open_in_root(rootfd, m->destination, 0, false, err);
                        if (again < 0) {
                                r = again;
                                goto out;
                        }
                        fd_path(again, tpath);
                        if (mount(NULL, tpath, NULL, MS_REMOUNT | MS_BIND | (o.flags & ~MS_REC), NULL) < 0) {
                                r = hull_error_errno(err, errno, "remount bind %s with its options", m->source);
                                goto out;
                        }
                }
        } else if (mount(m->source && *m->source ? m->source : type, tpath, type, o.flags, *o.data ? o.data : NULL) <
                   0) {
                r = hull_error_errno(err, errno, "mount %s (%s)", type ? type : "?", m->source ? m->source : "");
                goto out;
        }
        if (o.propagation) {
                _cleanup_close_ int again = hull_agent_open_in_root(rootfd, m->destination, 0, false, err);
                if (again < 0) {
                        r = again;
                        goto out;
                }
                fd_path(again, tpath);
                if (mount(NULL, tpath, NULL, o.propagation, NULL) < 0)
                        r = hull_error_errno(err, errno, "set propagation");
        }
out:
        hull_agent_mount_opts_clear(&o);
        return r < 0 ? hull_error_prefix(err, "mount %s", m->destination) : 0;
}

static const struct {
        const char *name;
        unsigned major, minor;
        mode_t mode;
} default_devices[] = {
        { "null", 1, 3, 0666 },   { "zero", 1, 5, 0666 },    { "full", 1, 7, 0666 },
        { "random", 1, 8, 0666 }, { "urandom", 1, 9, 0666 }, { "tty", 5, 0, 0666 },
};

/* When the spec gives /dev its own tmpfs, fill it as runc does: the default nodes, the spec's devices, links. */
static int populate_dev(int rootfd, const Grpc__Spec *spec, struct hull_error **err)
{
        _cleanup_close_ int dev = -1, devdir = -1;
        static const char *const links[][2] = {
                { "/proc/self/fd", "fd" },       { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
                { "/proc/self/fd/2", "stderr" }, { "pts/ptmx", "ptmx" },         { "/proc/kcore", "core" },
        };
        char p[64];

        dev = hull_agent_open_in_root(rootfd, "/dev", 0, false, err);
        if (dev < 0)
                return dev;
        fd_path(dev, p);
        devdir = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (devdir < 0)
                return hull_error_errno(err, errno, "open /dev of the container");
        for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
                if (mknodat(devdir, default_devices[i].name, S_IFCHR | default_devices[i].mode,
                            makedev(default_devices[i].major, default_devices[i].minor)) < 0 &&
                    errno != EEXIST)
                        return hull_error_errno(err, errno, "mknod /dev/%s", default_devices[i].name);
                (void)fchmodat(devdir, default_devices[i].name, default_devices[i].mode, 0);
        }
        if (spec->linux)
                for (size_t i = 0; i < spec->linux->n_devices; i++) {
                        const Grpc__LinuxDevice *d = spec->linux->devices[i];
                        mode_t kind = d->type && streq(d->type, "b") ? S_IFBLK : S_IFCHR;
                        _cleanup_close_ int parent = -1;
                        char pp[64];
                        const char *base;
                        _cleanup_free_ char *dir = NULL;
                        if (!d->path || strncmp(d->path, "/dev/", 5) != 0 || strstr(d->path, ".."))
                                return hull_error_set(err, EINVAL, "device path '%s' is not under /dev",
                                                      d->path ? d->path : "");
                        base = strrchr(d->path, '/') + 1;
                        dir = strndup(d->path, (size_t)(base - d->path));
                        if (!dir)
                                return hull_error_oom(err);
                        parent = hull_agent_open_in_root(rootfd, dir, 0755, false, err);
                        if (parent < 0)
                                return parent;
                        fd_path(parent, pp);
                        _cleanup_close_ int pdir = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (pdir < 0 ||
                            (mknodat(pdir, base, kind | (d->filemode & 07777 ? d->filemode & 07777 : 0666),
                                     makedev((unsigned)d->major, (unsigned)d->minor)) < 0 &&
                             errno != EEXIST))
                                return hull_error_errno(err, errno, "mknod %s", d->path);
                        (void)fchownat(pdir, base, d->uid, d->gid, 0);
                }
        for (size_t i = 0; i < ARRAY_SIZE(links); i++)
                if (symlinkat(links[i][0], devdir, links[i][1]) < 0 && errno != EEXIST)
                        return hull_error_errno(err, errno, "symlink /dev/%s", links[i][1]);
        return 0;
}

static bool spec_mounts_dev(const Grpc__Spec *spec)
{
        for (size_t i = 0; i < spec->n_mounts; i++)
                if (streq(spec->mounts[i]->destination, "/dev") && spec->mounts[i]->type &&
                    streq(spec->mounts[i]->type, "tmpfs"))
                        return true;
        return false;
}

static int mask_path(const char *path, struct hull_error **err)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return errno == ENOENT ? 0 : hull_error_errno(err, errno, "masked path %s", path);
        if (S_ISDIR(st.st_mode)) {
                if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
                        return hull_error_errno(err, errno, "mask %s with a read-only tmpfs", path);
        } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
                return hull_error_errno(err, errno, "mask %s with /dev/null", path);
        }
        return 0;
}

static int readonly_path(const char *path, struct hull_error **err)
{
        if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
                return errno == ENOENT ? 0 : hull_error_errno(err, errno, "read-only path %s: bind", path);
        if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_REC, NULL) < 0)
                return hull_error_errno(err, errno, "read-only path %s: remount", path);
        return 0;
}

int hull_agent_rootfs_prepare(const Grpc__Spec *spec, const char *rootfs, struct hull_error **err)
{
        _cleanup_close_ int rootfd = -1;
        unsigned long propagation = MS_SLAVE | MS_REC;
        int r;

        if (spec->linux && spec->linux->rootfspropagation && *spec->linux->rootfspropagation) {
                char *opt = spec->linux->rootfspropagation;
                struct hull_agent_mount_opts o;
                r = hull_agent_mount_opts_parse(&opt, 1, &o, err);
                if (r < 0)
                        return r;
                propagation = o.propagation ? o.propagation : propagation;
                hull_agent_mount_opts_clear(&o);
        }
        /* Nothing the container mounts may propagate back into the agent's namespace. */
        if (mount(NULL, "/", NULL, propagation, NULL) < 0)
                return hull_error_errno(err, errno, "rootfs: set / propagation");
        /* pivot_root wants the new root to be a mount point. */
        if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                return hull_error_errno(err, errno, "rootfs: bind %s", rootfs);
        rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return hull_error_errno(err, errno, "rootfs: open %s", rootfs);
        for (size_t i = 0; i < spec->n_mounts; i++) {
                r = mount_one(rootfd, spec->mounts[i], err);
                if (r < 0)
                        return r;
        }
        if (spec_mounts_dev(spec)) {
                r = populate_dev(rootfd, spec, err);
                if (r < 0)
                        return hull_error_prefix(err, "rootfs: /dev");
        }
        if (chdir(rootfs) < 0)
                return hull_error_errno(err, errno, "rootfs: chdir %s", rootfs);
        /* pivot_root(".", "."): the old root ends up stacked under the new one, then is detached. */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return hull_error_errno(err, errno, "pivot_root %s", rootfs);
        if (umount2(".", MNT_DETACH) < 0)
                return hull_error_errno(err, errno, "pivot_root: detach the old root");
        if (chdir("/") < 0)
                return hull_error_errno(err, errno, "chdir /");
        return 0;
}

int hull_agent_rootfs_finalize(const Grpc__Spec *spec, struct hull_error **err)
{
        int r;

        if (spec->linux) {
                for (size_t i = 0; i < spec->linux->n_maskedpaths; i++)
                        if ((r = mask_path(spec->linux->maskedpaths[i], err)) < 0)
                                return r;
                for (size_t i = 0; i < spec->linux->n_readonlypaths; i++)
                        if ((r = readonly_path(spec->linux->readonlypaths[i], err)) < 0)
                                return r;
        }
        if (spec->root->readonly && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
                return hull_error_errno(err, errno, "rootfs: remount read-only");
        return 0;
}

int hull_agent_sysctl_apply(const Grpc__Linux *l, struct hull_error **err)
{
        if (!l)
                return 0;
        for (size_t i = 0; i < l->n_sysctl; i++) {
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int fd = -1;
                const char *key = l->sysctl[i]->key, *value = l->sysctl[i]->value ? l->sysctl[i]->value : "";
                if (!key || !*key || strstr(key, "..") || strchr(key, '/'))
                        return hull_error_set(err, EINVAL, "sysctl '%s': bad name", key ? key : "");
                if (asprintf(&path, "/proc/sys/%s", key) < 0)
                        return hull_error_oom(err);
                for (char *c = path + 10; *c; c++)
                        if (*c == '.')
                                *c = '/';
                fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        return hull_error_errno(err, errno, "sysctl %s", key);
                if (write(fd, value, strlen(value)) < 0)
                        return hull_error_errno(err, errno, "sysctl %s=%s", key, value);
        }
        return 0;
}
