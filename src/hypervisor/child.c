/* Spawning, waiting for and describing the processes a driver runs: fork + exec with an fd map, pidfd waits. */
#include "child.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "error.h"
#include "loop.h"

#define TAIL_BYTES 4096

static int pidfd_open_(pid_t pid)
{
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Runs in the forked child: only async-signal-safe calls from here to execve(). */
static _noreturn_ void child_exec(char *const argv[], const int *src, size_t n, int err_pipe, pid_t parent,
                                  int netns_fd)
{
        int tmp[HULL_CHILD_MAX_FDS + 3];
        sigset_t all;
        int e;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                goto fail;
        /* The event loop blocks the signals it reads through signalfd; the VMM must get them normally. */
        sigemptyset(&all);
        if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
                goto fail;
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        signal(s, SIG_DFL);
        /* Its own session: a Ctrl-C at hull's terminal is for hull, which then stops the VM. */
        setsid();
        /* The pod's network namespace (the fd is close-on-exec and closed below anyway). */
        if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0)
                goto fail;
        /* Move the error pipe (close-on-exec) and every source above the highest target first, so that no dup2()
         * clobbers one not yet moved. */
        e = fcntl(err_pipe, F_DUPFD_CLOEXEC, (int)n);
        if (e < 0)
                goto fail;
        err_pipe = e;
        for (size_t i = 0; i < n; i++) {
                tmp[i] = fcntl(src[i], F_DUPFD, (int)n);
                if (tmp[i] < 0)
                        goto fail;
        }
        for (size_t i = 0; i < n; i++)
                if (dup2(tmp[i], (int)i) < 0)
                        goto fail;
        /* Close all but the targets and the error pipe. */
        if (syscall(SYS_close_range, (unsigned)n, (unsigned)err_pipe - 1, 0) < 0)
                goto fail;
        if (syscall(SYS_close_range, (unsigned)err_pipe + 1, ~0U, 0) < 0)
                goto fail;
        execv(argv[0], argv);
fail:
        e = errno;
        (void)!write(err_pipe, &e, sizeof(e));
        _exit(127);
}

int hull_child_spawn(char *const argv[], const int *pass_fds, size_t n_pass_fds, const char *log_path,
                     struct hull_child *ret, struct hull_error **err)
{
        return hull_child_spawn_netns(argv, pass_fds, n_pass_fds, log_path, -1, ret, err);
}

int hull_child_spawn_netns(char *const argv[], const int *pass_fds, size_t n_pass_fds, const char *log_path,
                           int netns_fd, struct hull_child *ret, struct hull_error **err)
{
        _cleanup_close_ int devnull = -1, log_fd = -1, pidfd = -1;
        int src[HULL_CHILD_MAX_FDS + 3];
        int pipefd[2];
        pid_t pid, parent = getpid();
        int child_errno = 0, status;
        ssize_t k;

        if (!argv || !argv[0] || argv[0][0] != '/')
                return hull_error_set(err, EINVAL, "spawn: program must be an absolute path");
        if (n_pass_fds > HULL_CHILD_MAX_FDS)
                return hull_error_set(err, E2BIG, "spawn %s: too many fds to pass", argv[0]);
        devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0)
                return hull_error_errno(err, errno, "open /dev/null");
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
        if (log_fd < 0)
                return hull_error_errno(err, errno, "open %s", log_path);
        src[0] = devnull;
        src[1] = log_fd;
        src[2] = log_fd;
        for (size_t i = 0; i < n_pass_fds; i++)
                src[3 + i] = pass_fds[i];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return hull_error_errno(err, errno, "pipe");

        pid = fork();
        if (pid < 0) {
                int e = errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return hull_error_errno(err, e, "fork for %s", argv[0]);
        }
        if (pid == 0)
                child_exec(argv, src, n_pass_fds + 3, pipefd[1], parent, netns_fd);

        close(pipefd[1]);
        pidfd = pidfd_open_(pid);
        do
                k = read(pipefd[0], &child_errno, sizeof(child_errno));
        while (k < 0 && errno == EINTR);
        close(pipefd[0]);
        if (k > 0) {
                /* exec failed: the child is exiting with 127; reap it here. */
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
                return hull_error_errno(err, child_errno > 0 ? child_errno : EIO, "execute %s", argv[0]);
        }
        if (pidfd < 0) {
                int e = errno;
                kill(pid, SIGKILL);
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
                return hull_error_errno(err, e, "pidfd_open(%d)", (int)pid);
        }
        ret->pid = pid;
        ret->pidfd = TAKE_FD(pidfd);
        ret->reaped = false;
        ret->status = 0;
        return 0;
}

static int reap_now(struct hull_child *child)
{
        int status = 0;
        pid_t p;

        do
                p = waitpid(child->pid, &status, WNOHANG);
        while (p < 0 && errno == EINTR);
        if (p == 0)
                return 0;
        if (p < 0) /* reaped behind our back: nothing to learn any more */
                status = 255 << 8;
        hull_child_set_reaped(child, status);
        return 1;
}

int hull_child_wait(struct hull_child *child, int timeout_ms)
{
        uint64_t deadline = timeout_ms < 0 ? 0 : hull_now_usec() + (uint64_t)timeout_ms * 1000ULL;

        if (child->pid <= 0 || child->reaped)
                return 1;
        for (;;) {
                struct pollfd p = { .fd = child->pidfd, .events = POLLIN };
                int wait_ms = -1, r;

                if (reap_now(child))
                        return 1;
                if (timeout_ms >= 0) {
                        uint64_t now = hull_now_usec();
                        if (now >= deadline)
                                return 0;
                        wait_ms = (int)((deadline - now + 999) / 1000);
                }
                r = poll(&p, 1, wait_ms);
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

int hull_child_terminate(struct hull_child *child, int signo, int timeout_ms)
{
        if (child->pid <= 0 || child->reaped)
                return 0;
        if (signo != 0 && signo != SIGKILL) {
                /* pidfd_send_signal() cannot hit a recycled pid; the child is ours and unreaped, so kill() is safe. */
                kill(child->pid, signo);
                if (hull_child_wait(child, timeout_ms) == 1)
                        return 0;
        }
        kill(child->pid, SIGKILL);
        return hull_child_wait(child, -1) == 1 ? 0 : -EIO;
}

void hull_child_set_reaped(struct hull_child *child, int status)
{
        child->reaped = true;
        child->status = status;
        if (child->pidfd >= 0) {
                close(child->pidfd);
                child->pidfd = -1;
        }
}

void hull_child_release(struct hull_child *child)
{
        if (child->pid > 0 && !child->reaped)
                hull_child_terminate(child, SIGKILL, 0);
        if (child->pidfd >= 0) {
                close(child->pidfd);
                child->pidfd = -1;
        }
}

static const char *strip_prefixes(const char *line, const char *const *prefixes)
{
        for (; prefixes && *prefixes; prefixes++) {
                size_t n = strlen(*prefixes);
                if (strncmp(line, *prefixes, n) == 0 && line[n] == ':' && line[n + 1] == ' ')
                        return line + n + 2;
        }
        return line;
}

void hull_child_log_tail(const char *log_path, unsigned max_lines, const char *const *prefixes, char *buf, size_t len)
{
        _cleanup_close_ int fd = -1;
        char data[TAIL_BYTES + 1];
        const char *lines[16];
        bool is_warning[16];
        unsigned n = 0, n_plain = 0;
        off_t size;
        ssize_t k;
        size_t used = 0;

        if (len == 0)
                return;
        buf[0] = '\0';
        if (max_lines > ARRAY_SIZE(lines))
                max_lines = ARRAY_SIZE(lines);
        fd = open(log_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        size = lseek(fd, 0, SEEK_END);
        if (size < 0)
                return;
        k = pread(fd, data, TAIL_BYTES, size > TAIL_BYTES ? size - TAIL_BYTES : 0);
        if (k <= 0)
                return;
        data[k] = '\0';
        /* Printable text only: a log is not trusted to be well formed. */
        for (ssize_t i = 0; i < k; i++)
                if (data[i] != '\n' && ((unsigned char)data[i] < 0x20 || data[i] == 0x7f))
                        data[i] = (data[i] == '\r' || data[i] == '\t') ? ' ' : '?';
        /* Walk lines backwards; a first partial line (cut by the 4 KiB window) is skipped when cut. */
        for (char *end = data + k; end > data && n < ARRAY_SIZE(lines);) {
                char *start = end;
                while (start > data && start[-1] != '\n')
                        start--;
                if (start == data && size > TAIL_BYTES)
                        break;
                *end = '\0';
                {
                        const char *l = strip_prefixes(start, prefixes);
                        while (*l == ' ')
                                l++;
                        if (*l) {
                                is_warning[n] = strncmp(l, "warning:", 8) == 0;
                                if (!is_warning[n])
                                        n_plain++;
                                lines[n++] = l;
                        }
                }
                end = start > data ? start - 1 : data;
                if (start == data)
                        break;
        }
        /* Warnings are noise next to the error that ended the program; keep them only when there is nothing else. */
        {
                const char *pick[16];
                unsigned m = 0;
                for (unsigned i = 0; i < n && m < max_lines; i++)
                        if (n_plain == 0 || !is_warning[i])
                                pick[m++] = lines[i];
                for (unsigned i = m; i > 0; i--) {
                        int w = snprintf(buf + used, len - used, "%s%s", used ? "; " : "", pick[i - 1]);
                        if (w < 0 || (size_t)w >= len - used)
                                break;
                        used += (size_t)w;
                }
        }
}

void hull_child_describe_exit(const char *name, int status, const char *log_path, const char *const *prefixes,
                              char *buf, size_t len)
{
        char tail[512] = "";

        if (WIFSIGNALED(status)) {
                snprintf(buf, len, "%s was killed by signal %d (%s)", name, WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
                return;
        }
        if (WEXITSTATUS(status) != 0 && log_path)
                hull_child_log_tail(log_path, 2, prefixes, tail, sizeof(tail));
        snprintf(buf, len, "%s exited with status %d%s%s", name, WEXITSTATUS(status), tail[0] ? ": " : "", tail);
}
