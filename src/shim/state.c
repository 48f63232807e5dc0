/* Where a sandbox's shim lives (socket, state directory), the two locks that make "one shim per sandbox" safe
 * against concurrent starts, deletes and exits, and the cleanup after a shim that died. */
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "error.h"
#include "fd.h"
#include "log.h"
#include "sandbox/network.h"
#include "sandbox/state.h"
#include "shim.h"

/* A killed process is gone within milliseconds; a process stuck in D state is reported, not waited for. */
#define KILL_WAIT_MS 5000

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                h ^= (uint8_t)s[i];
                h *= 0x100000001b3ull;
        }
        return h;
}

int hull_shim_paths_init(struct hull_shim_paths *p, const char *root, const char *containerd_address,
                         const char *namespace_, const char *sandbox_id, struct hull_error **err)
{
        const char *parts[] = { containerd_address ? containerd_address : "", namespace_, sandbox_id };
        /* Two FNV-1a 64 hashes with different offsets: 128 bits name the socket; a collision would need two
         * sandboxes of the same root hashing alike, and start checks the state lock of its own sandbox anyway. */
        uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
        struct sockaddr_un sa;

        memset(p, 0, sizeof(*p));
        if (!hull_shim_id_valid(namespace_))
                return hull_error_set(err, EINVAL, "invalid namespace \"%.80s\"", namespace_ ? namespace_ : "");
        if (!hull_shim_id_valid(sandbox_id))
                return hull_error_set(err, EINVAL, "invalid sandbox id \"%.80s\"", sandbox_id ? sandbox_id : "");
        for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
                h1 = fnv1a(h1, parts[i], strlen(parts[i]) + 1);
                h2 = fnv1a(h2, parts[i], strlen(parts[i]) + 1);
        }
        if (!root || !*root)
                root = HULL_SHIM_DEFAULT_ROOT;
        if (root[0] != '/')
                return hull_error_set(err, EINVAL, "shim root must be an absolute path: %s", root);
        if (!(p->root = strdup(root)) || asprintf(&p->state_dir, "%s/%s/%s", root, namespace_, sandbox_id) < 0 ||
            asprintf(&p->state_lock, "%s/lock", p->state_dir) < 0 ||
            asprintf(&p->socket, "%s/s/%016llx%016llx", root, (unsigned long long)h1, (unsigned long long)h2) < 0 ||
            asprintf(&p->start_lock, "%s.lock", p->socket) < 0) {
                hull_shim_paths_done(p);
                return hull_error_oom(err);
        }
        if (strlen(p->socket) >= sizeof(sa.sun_path)) {
                int r = hull_error_set(err, ENAMETOOLONG, "socket path too long: %s", p->socket);

                hull_shim_paths_done(p);
                return r;
        }
        return 0;
}

void hull_shim_paths_done(struct hull_shim_paths *p)
{
        free(p->root);
        free(p->state_dir);
        free(p->state_lock);
        free(p->socket);
        free(p->start_lock);
        memset(p, 0, sizeof(*p));
}

/* flock a file that others may unlink: retry until the locked inode is the one at path. */
static int lock_file(const char *path, int op, struct hull_error **err)
{
        for (;;) {
                _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                struct stat st_fd, st_path;

                if (fd < 0)
                        return hull_error_errno(err, errno, "open %s", path);
                while (flock(fd, op) < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EWOULDBLOCK)
                                return -EWOULDBLOCK;
                        return hull_error_errno(err, errno, "flock %s", path);
                }
                if (fstat(fd, &st_fd) < 0)
                        return hull_error_errno(err, errno, "stat %s", path);
                if (stat(path, &st_path) == 0 && st_path.st_dev == st_fd.st_dev && st_path.st_ino == st_fd.st_ino)
                        return TAKE_FD(fd);
                /* unlinked (or replaced) by its owner while we waited: take the new one */
        }
}

int hull_shim_start_lock(const struct hull_shim_paths *p, struct hull_error **err)
{
        _cleanup_free_ char *dir = NULL;
        int r;

        if (asprintf(&dir, "%s/s", p->root) < 0)
                return hull_error_oom(err);
        r = hull_mkdir_p(dir, 0711, err);
        if (r < 0)
                return r;
        return lock_file(p->start_lock, LOCK_EX, err);
}

int hull_shim_state_lock(const struct hull_shim_paths *p, struct hull_error **err)
{
        int r = -ENOENT;

        /* Another sandbox's exit may remove the (empty) namespace directory between mkdir and open: retry. */
        for (int i = 0; i < 3 && r == -ENOENT; i++) {
                hull_error_free(err ? TAKE_PTR(*err) : NULL);
                r = hull_mkdir_p(p->state_dir, 0700, err);
                if (r < 0)
                        return r;
                r = lock_file(p->state_lock, LOCK_EX | LOCK_NB, err);
        }
        return r;
}

/* The pid in <state_dir>/shim.pid; -ENOENT: none readable, -EINVAL: not a pid. */
static pid_t recorded_shim_pid(const struct hull_shim_paths *p)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        long pid;

        if (asprintf(&path, "%s/shim.pid", p->state_dir) < 0 || hull_read_file(path, 64, &data, NULL, NULL) < 0)
                return -ENOENT;
        pid = strtol(data, NULL, 10);
        return pid <= 1 || pid >= (1 << 22) ? -EINVAL : (pid_t)pid;
}

int hull_shim_wait_dying(const struct hull_shim_paths *p, int timeout_ms)
{
        _cleanup_close_ int pidfd = -1;
        struct pollfd pfd;
        pid_t pid = recorded_shim_pid(p);

        if (pid < 0)
                return pid;
        if (pid == getpid())
                return -EINVAL;
        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0)
                return errno == ESRCH ? 0 : -errno;
        pfd = (struct pollfd){ .fd = pidfd, .events = POLLIN };
        if (poll(&pfd, 1, timeout_ms) <= 0)
                return -ETIMEDOUT;
        return 0;
}

bool hull_shim_exiting(const struct hull_shim_paths *p)
{
        _cleanup_free_ char *path = NULL, *stat = NULL;
        unsigned long flags = 0;
        char state = 0;
        const char *rp;
        pid_t pid = recorded_shim_pid(p);

        if (pid < 0)
                return false;
        if (asprintf(&path, "/proc/%d/stat", (int)pid) < 0 || hull_read_file(path, 4096, &stat, NULL, NULL) < 0)
                return false;
        /* After the comm's closing parenthesis: state (field 3) ... flags (field 9). */
        rp = strrchr(stat, ')');
        if (!rp || sscanf(rp + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
                return false;
        return state == 'Z' || state == 'X' || (flags & 0x4 /* PF_EXITING */);
}

void hull_shim_release(const struct hull_shim_paths *p)
{
        _cleanup_free_ char *ns_dir = strdup(p->state_dir);
        char *slash;

        unlink(p->start_lock);
        if (ns_dir && (slash = strrchr(ns_dir, '/')) && slash != ns_dir) {
                *slash = '\0';
                rmdir(ns_dir);
        }
}

/* SIGKILL pid when it is still the process that was recorded, and wait (on its pidfd) until it is gone. */
static void kill_recorded(const char *what, pid_t pid, uint64_t start_time)
{
        _cleanup_close_ int pidfd = -1;
        struct pollfd pfd;
        uint64_t now_start;

        if (pid <= 1 || pid == getpid())
                return;
        /* The pidfd pins the process: checking the start time after opening it rules out pid reuse. */
        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0)
                return;
        if (hull_proc_start_time(pid, &now_start) < 0 || (start_time && now_start != start_time))
                return;
        log_info("cleanup: killing %s pid %d", what, (int)pid);
        if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0)
                return;
        pfd = (struct pollfd){ .fd = pidfd, .events = POLLIN };
        if (poll(&pfd, 1, KILL_WAIT_MS) == 0)
                log_warn("cleanup: %s pid %d did not exit within %d ms", what, (int)pid, KILL_WAIT_MS);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        if (remove(path) < 0 && errno != ENOENT)
                log_warn("cleanup: remove %s: %s", path, strerror(errno));
        return 0;
}

int hull_shim_cleanup_dead(const struct hull_shim_paths *p, struct hull_error **err)
{
        struct hull_state rec;
        struct stat st;
        int r;

        /* state.json through the sandbox service's own reader (src/sandbox/state.h), read once for the processes
         * and the network it records. */
        r = hull_state_read(p->state_dir, &rec, err);
        if (r < 0) {
                if (r != -ENOENT)
                        log_warn("cleanup: %s", hull_error_message(err ? *err : NULL));
                hull_error_free(err ? TAKE_PTR(*err) : NULL);
        } else {
                /* The VMM and virtiofsd first (they die with the shim through PDEATHSIG; this catches the ones
                 * that did not), then a monitor if the service recorded one. */
                for (size_t i = 0; i < rec.n_processes; i++)
                        kill_recorded(rec.processes[i].what, rec.processes[i].pid, rec.processes[i].start_time);
                if (rec.monitor_pid > 0)
                        kill_recorded("monitor", rec.monitor_pid, rec.monitor_start_time);
                /* The tc filters (and taps) the sandbox made in the pod's network namespace (docs/sandbox.md). */
                if (hull_network_cleanup_recorded(&rec, err) < 0) {
                        log_warn("cleanup: %s", hull_error_message(err ? *err : NULL));
                        hull_error_free(err ? TAKE_PTR(*err) : NULL);
                }
                hull_state_clear(&rec);
        }
        /* FTW_MOUNT: never descend into a mount (the sandbox's mounts live in the dead shim's namespace). */
        if (lstat(p->state_dir, &st) == 0 && nftw(p->state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
                return hull_error_errno(err, errno, "remove %s", p->state_dir);
        if (unlink(p->socket) < 0 && errno != ENOENT)
                return hull_error_errno(err, errno, "remove %s", p->socket);
        return 0;
}
