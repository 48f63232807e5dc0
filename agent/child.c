/* Final setup of a container process in its child, and its exec. */
#include "child.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "error.h"
#include "fd.h"
#include "spec.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_Noreturn void hull_agent_child_fail(int report_fd, const struct hull_error *e, int code)
{
        const char *msg = hull_error_message(e);

        if (report_fd >= 0)
                (void)!write(report_fd, msg, strlen(msg));
        _exit(code);
}

void hull_agent_child_close_fds(const int *keep, size_t n_keep)
{
        unsigned int from = 3;

        /* keep is tiny; walk the gaps between the kept fds in ascending order. */
        for (;;) {
                unsigned int next = ~0U;
                for (size_t i = 0; i < n_keep; i++)
                        if (keep[i] >= (int)from && (unsigned int)keep[i] < next)
                                next = (unsigned int)keep[i];
                if (next > from)
                        /* the raw syscall: musl has no close_range() wrapper */
                        (void)syscall(SYS_close_range, from, next == ~0U ? ~0U : next - 1, 0);
                if (next == ~0U)
                        return;
                from = next + 1;
        }
}

static const char *env_path(const Grpc__Process *p)
{
        for (size_t i = 0; i < p->n_env; i++)
                if (strneq(p->env[i], "PATH=", 5))
                        return p->env[i] + 5;
        return DEFAULT_PATH;
}

int hull_agent_child_lookup(const Grpc__Process *p, char **ret_path, struct hull_error **err)
{
        const char *name = p->args[0], *path;
        _cleanup_free_ char *copy = NULL;
        char *dir, *save = NULL;

        if (strchr(name, '/')) {
                if (access(name, X_OK) < 0)
                        return hull_error_errno(err, errno, "executable %s", name);
                *ret_path = strdup(name);
                return *ret_path ? 0 : hull_error_oom(err);
        }
        path = env_path(p);
        copy = strdup(path);
        if (!copy)
                return hull_error_oom(err);
        for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *candidate = NULL;
                struct stat st;
                if (asprintf(&candidate, "%s/%s", *dir ? dir : ".", name) < 0)
                        return hull_error_oom(err);
                if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
                        *ret_path = TAKE_PTR(candidate);
                        return 0;
                }
        }
        return hull_error_set(err, ENOENT, "executable '%s' not found in PATH %s", name, path);
}

void hull_agent_pty_close(struct hull_agent_pty *pty)
{
        hull_closep(&pty->master);
        hull_closep(&pty->slave);
        pty->master = pty->slave = -1;
}

/* A pty from whatever /dev/ptmx is here now, unlocked, with its slave. */
static int pty_open(struct hull_agent_pty *ret, struct hull_error **err)
{
        _cleanup_close_ int master = -1;
        int unlock = 0, slave;

        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return hull_error_errno(err, errno, "terminal: open /dev/ptmx");
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
                return hull_error_errno(err, errno, "terminal: unlock the pty");
        /* Opened through the master: the slave of this devpts instance, whatever the path lookup would find. */
        slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return hull_error_errno(err, errno, "terminal: open the pty's slave");
        ret->master = TAKE_FD(master);
        ret->slave = slave;
        return 0;
}

void hull_agent_child_terminal_fallback(const Grpc__Process *p, struct hull_agent_pty *ret)
{
        _cleanup_error_ struct hull_error *ignored = NULL;

        ret->master = ret->slave = -1;
        if (p->terminal)
                (void)pty_open(ret, &ignored);
}

/* One byte, 'T', carries the fd: a stream socket needs data to carry ancillary data. */
static int send_fd(int sock, int fd)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } ctl = { 0 };
        char byte = 'T';
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr msg = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)
        };
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        ssize_t n;

        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
        do
                n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n == 1 ? 0 : -errno;
}

int hull_agent_child_terminal(const Grpc__Process *p, struct hull_agent_pty *fallback, int report_fd,
                              struct hull_agent_stdio *ret_stdio, struct hull_error **err)
{
        _cleanup_(hull_agent_pty_close) struct hull_agent_pty pty = { -1, -1 };
        _cleanup_error_ struct hull_error *own = NULL;
        int r;

        /* runc's way: the pty comes from the container's own devpts instance (/dev/ptmx -> pts/ptmx), so that the
         * slave is /dev/pts/N inside the container and tty/ttyname can name it. */
        r = pty_open(&pty, &own);
        if (r < 0) {
                /* No devpts of its own (no /dev/pts mount, no /dev/ptmx): the guest's pty, opened with its slave
                 * before the child entered the container (the guest's devpts cannot be reached from inside). It
                 * works as a terminal, but the container cannot name it: tty says "not a tty". */
                if (fallback->master < 0)
                        return hull_error_set(err, -hull_error_code(own), "%s", hull_error_message(own));
                pty = *fallback;
                fallback->master = fallback->slave = -1;
        }
        hull_agent_pty_close(fallback);
        /* The initial size is set here, before the process can ask for it. */
        if (p->consolesize && p->consolesize->height && p->consolesize->width) {
                struct winsize ws = { .ws_row = (unsigned short)MIN(p->consolesize->height, 0xffffu),
                                      .ws_col = (unsigned short)MIN(p->consolesize->width, 0xffffu) };
                if (ioctl(pty.master, TIOCSWINSZ, &ws) < 0)
                        return hull_error_errno(err, errno, "terminal: set its size");
        }
        /* The process's user owns its terminal (runc does the same), so that it can reopen and control it. */
        if (p->user && fchown(pty.slave, p->user->uid, (gid_t)-1) < 0)
                return hull_error_errno(err, errno, "terminal: chown to uid %u", p->user->uid);
        r = send_fd(report_fd, pty.master);
        if (r < 0)
                return hull_error_errno(err, -r, "terminal: pass the pty to the agent");
        ret_stdio->in = ret_stdio->out = ret_stdio->err = TAKE_FD(pty.slave);
        return 0;
}

static int setup_stdio(const struct hull_agent_stdio *s, bool tty, struct hull_error **err)
{
        int fds[3] = { s->in, s->out, s->err };

        if (tty) {
                if (setsid() < 0)
                        return hull_error_errno(err, errno, "terminal: setsid");
                if (ioctl(s->in, TIOCSCTTY, 0) < 0)
                        return hull_error_errno(err, errno, "terminal: TIOCSCTTY");
        }
        for (int i = 0; i < 3; i++) {
                if (fds[i] < 0)
                        continue;
                /* dup2 onto itself keeps close-on-exec; dup3 with 0 flags clears it on the target. */
                if (fds[i] == i) {
                        if (fcntl(i, F_SETFD, 0) < 0)
                                return hull_error_errno(err, errno, "stdio: fd %d", i);
                } else if (dup2(fds[i], i) < 0) {
                        return hull_error_errno(err, errno, "stdio: dup2 onto %d", i);
                }
        }
        return 0;
}

static int set_rlimits(const Grpc__Process *p, struct hull_error **err)
{
        for (size_t i = 0; i < p->n_rlimits; i++) {
                int res = hull_agent_rlimit_from_name(p->rlimits[i]->type);
                struct rlimit rl = { .rlim_cur = p->rlimits[i]->soft, .rlim_max = p->rlimits[i]->hard };
                if (res < 0)
                        return hull_error_set(err, EINVAL, "rlimit '%s': unknown", p->rlimits[i]->type);
                if (setrlimit(res, &rl) < 0)
                        return hull_error_errno(err, errno, "rlimit %s", p->rlimits[i]->type);
        }
        return 0;
}

static int set_oom_score_adj(const Grpc__Process *p, struct hull_error **err)
{
        _cleanup_close_ int fd = -1;
        char v[32];

        if (p->oomscoreadj == 0)
                return 0;
        if (p->oomscoreadj < -1000 || p->oomscoreadj > 1000)
                return hull_error_set(err, EINVAL, "oomScoreAdj %lld out of range", (long long)p->oomscoreadj);
        snprintf(v, sizeof(v), "%lld", (long long)p->oomscoreadj);
        fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, v, strlen(v)) < 0)
                return hull_error_errno(err, errno, "oomScoreAdj %s", v);
        return 0;
}

static int last_cap(void)
{
        _cleanup_free_ char *data = NULL;
        _cleanup_error_ struct hull_error *ignored = NULL;

        if (hull_read_file("/proc/sys/kernel/cap_last_cap", 64, &data, NULL, &ignored) < 0)
                return CAP_LAST_CAP;
        return atoi(data);
}

static int set_user_and_caps(const Grpc__Process *p, struct hull_error **err)
{
        const Grpc__LinuxCapabilities *c = p->capabilities;
        uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0;
        uid_t uid = p->user ? p->user->uid : 0;
        gid_t gid = p->user ? p->user->gid : 0;
        int last = last_cap();

        if (c) {
                if (hull_agent_caps_mask(c->bounding, c->n_bounding, &bounding, err) < 0 ||
                    hull_agent_caps_mask(c->effective, c->n_effective, &effective, err) < 0 ||
                    hull_agent_caps_mask(c->permitted, c->n_permitted, &permitted, err) < 0 ||
                    hull_agent_caps_mask(c->inheritable, c->n_inheritable, &inheritable, err) < 0 ||
                    hull_agent_caps_mask(c->ambient, c->n_ambient, &ambient, err) < 0)
                        return hull_error_prefix(err, "capabilities");
        }
        /* The bounding set is dropped while the process still has CAP_SETPCAP. */
        for (int cap = 0; cap <= last; cap++)
                if (!(bounding & (UINT64_C(1) << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        return hull_error_errno(err, errno, "capabilities: drop %d from the bounding set", cap);
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return hull_error_errno(err, errno, "user: PR_SET_KEEPCAPS");
        if (p->user && p->user->n_additionalgids > 65536)
                return hull_error_set(err, EINVAL, "user: more than 65536 additional groups");
        if (setgroups(p->user ? p->user->n_additionalgids : 0, p->user ? p->user->additionalgids : NULL) < 0)
                return hull_error_errno(err, errno, "user: setgroups");
        if (setresgid(gid, gid, gid) < 0)
                return hull_error_errno(err, errno, "user: setresgid %u", gid);
        if (setresuid(uid, uid, uid) < 0)
                return hull_error_errno(err, errno, "user: setresuid %u", uid);
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                return hull_error_errno(err, errno, "user: PR_SET_KEEPCAPS");

        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct data[2] = {
                { .effective = (uint32_t)effective,
                  .permitted = (uint32_t)permitted,
                  .inheritable = (uint32_t)inheritable },
                { .effective = (uint32_t)(effective >> 32),
                  .permitted = (uint32_t)(permitted >> 32),
                  .inheritable = (uint32_t)(inheritable >> 32) },
        };
        if (syscall(SYS_capset, &hdr, data) < 0)
                return hull_error_errno(err, errno, "capabilities: capset");
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return hull_error_errno(err, errno, "capabilities: clear ambient");
        for (int cap = 0; cap <= last; cap++)
                if ((ambient & (UINT64_C(1) << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
                        return hull_error_errno(err, errno, "capabilities: raise ambient %d", cap);
        return 0;
}

int hull_agent_child_prepare(const Grpc__Process *p, const struct hull_agent_stdio *stdio, scmp_filter_ctx seccomp,
                             struct hull_error **err)
{
        int r;

        r = setup_stdio(stdio, p->terminal, err);
        if (r < 0)
                return r;
        if ((r = set_rlimits(p, err)) < 0 || (r = set_oom_score_adj(p, err)) < 0)
                return r;
        /* Without no_new_privs, loading a filter takes CAP_SYS_ADMIN: load it while the process still has it. */
        if (seccomp && !p->nonewprivileges) {
                r = seccomp_load(seccomp);
                if (r < 0)
                        return hull_error_errno(err, -r, "seccomp: load");
        }
        r = set_user_and_caps(p, err);
        if (r < 0)
                return r;
        umask(0022);
        if (p->cwd && *p->cwd && chdir(p->cwd) < 0)
                return hull_error_errno(err, errno, "cwd %s", p->cwd);
        return 0;
}

int hull_agent_child_exec(const Grpc__Process *p, const char *path, scmp_filter_ctx seccomp, struct hull_error **err)
{
        int r;

        if (p->nonewprivileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return hull_error_errno(err, errno, "noNewPrivileges");
        if (seccomp && p->nonewprivileges) {
                r = seccomp_load(seccomp);
                if (r < 0)
                        return hull_error_errno(err, -r, "seccomp: load");
        }
        /* protobuf-c's repeated strings carry a count, not a NULL terminator. */
        _cleanup_free_ char **argv = calloc(p->n_args + 1, sizeof(char *));
        _cleanup_free_ char **envp = calloc(p->n_env + 1, sizeof(char *));
        if (!argv || !envp)
                return hull_error_oom(err);
        memcpy(argv, p->args, p->n_args * sizeof(char *));
        memcpy(envp, p->env, p->n_env * sizeof(char *));
        execve(path, argv, envp);
        return hull_error_errno(err, errno, "exec %s", path);
}
