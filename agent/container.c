/* Containers in the guest: clone3 into new namespaces and the container's cgroup, build the rootfs in the child,
 * hold it before exec until start; exec processes join the same namespaces and cgroup. */
#include "container.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cgroup.h"
#include "child.h"
#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"
#include "mount.h"
#include "reaper.h"
#include "seccomp-filter.h"
#include "spec.h"

/* How long a child may take to build its rootfs (virtio-fs under TCG is slow) or to exec. */
#define CHILD_REPORT_TIMEOUT_MS 60000
#define MAX_PROCESSES 1024

struct pending_report;

struct hull_agent_container {
        struct hull_agent_container_env env_copy;
        const struct hull_agent_container_env *env;
        char *shared_pid_ns;
        char *id;
        Grpc__Spec *spec;
        char *cgroup;
        scmp_filter_ctx seccomp;
        enum hull_agent_container_status status;
        struct hull_agent_process *init;
        int start_fd; /* write end the init waits on before exec */
        int report_fd; /* init's report socket, read after start to learn whether exec worked */
        /* While the init builds the container: its report, read from the loop. */
        struct hull_loop_source *report_src, *report_timer;
        char report[4096];
        size_t report_len;
        hull_agent_container_created_cb created_cb;
        void *created_userdata;
        struct hull_agent_process **procs;
        size_t n_procs;
        /* Starts and execs whose child has not reported yet. */
        struct pending_report *pending;
        size_t n_pending;
};

/* A start's or an exec's report read from the loop: EOF alone when the child exec'd, 'E' and a message when it
 * could not. Before that, a child with a terminal passes its pty master (the byte 'T' with SCM_RIGHTS). */
struct pending_report {
        struct hull_agent_container *c;
        int fd;
        struct hull_loop_source *src, *timer;
        char buf[4096];
        size_t len;
        struct hull_agent_process *exec; /* NULL: the start of the init */
        hull_agent_container_done_cb cb;
        void *userdata;
        struct pending_report *next;
};

static Grpc__Spec *spec_copy(const Grpc__Spec *spec)
{
        size_t len = protobuf_c_message_get_packed_size(&spec->base);
        _cleanup_free_ uint8_t *buf = malloc(len ? len : 1);

        if (!buf)
                return NULL;
        protobuf_c_message_pack(&spec->base, buf);
        return grpc__spec__unpack(NULL, len, buf);
}

static void on_init_exit(pid_t pid, int status, void *userdata)
{
        struct hull_agent_container *c = userdata;

        log_info("container %s: init pid %d exited with %d", c->id, (int)pid, hull_agent_exit_code(status));
        c->status = HULL_AGENT_CONTAINER_STOPPED;
        hull_agent_process_exited(c->init, status);
}

static void on_exec_exit(pid_t pid, int status, void *userdata)
{
        struct hull_agent_process *p = userdata;

        log_debug("exec %s: pid %d exited with %d", hull_agent_process_exec_id(p), (int)pid,
                  hull_agent_exit_code(status));
        hull_agent_process_exited(p, status);
}

static pid_t clone_into(uint64_t flags, int cgroup_fd)
{
        struct clone_args args = {
                .flags = flags | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
                .exit_signal = SIGCHLD,
                .cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0,
        };

        return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* Namespaces with a path are joined in the child with setns(); the pid one has to be joined before the clone. */
static int namespace_plan(const Grpc__Spec *spec, const char *shared_pid_ns, uint64_t *ret_flags,
                          const char **ret_pid_path, struct hull_error **err)
{
        uint64_t flags = CLONE_NEWNS;

        *ret_pid_path = NULL;
        if (spec->linux)
                for (size_t i = 0; i < spec->linux->n_namespaces; i++) {
                        const Grpc__LinuxNamespace *ns = spec->linux->namespaces[i];
                        int flag = hull_agent_namespace_flag(ns->type);
                        if (flag < 0)
                                return hull_error_set(err, EINVAL, "namespace '%s': unknown type", ns->type);
                        if (flag == CLONE_NEWUSER)
                                return hull_error_set(err, ENOTSUP, "namespace user: not supported in the guest");
                        if (ns->path && *ns->path) {
                                if (flag == CLONE_NEWPID)
                                        *ret_pid_path = ns->path;
                                continue;
                        }
                        if (flag == CLONE_NEWPID && shared_pid_ns) {
                                *ret_pid_path = shared_pid_ns;
                                continue;
                        }
                        flags |= (uint64_t)flag;
                }
        *ret_flags = flags;
        return 0;
}

static int join_namespaces(const Grpc__Spec *spec, struct hull_error **err)
{
        if (!spec->linux)
                return 0;
        for (size_t i = 0; i < spec->linux->n_namespaces; i++) {
                const Grpc__LinuxNamespace *ns = spec->linux->namespaces[i];
                int flag = hull_agent_namespace_flag(ns->type);
                _cleanup_close_ int fd = -1;
                if (!ns->path || !*ns->path || flag == CLONE_NEWPID)
                        continue;
                fd = open(ns->path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || setns(fd, flag) < 0)
                        return hull_error_errno(err, errno, "namespace %s: join %s", ns->type, ns->path);
        }
        return 0;
}

/* Run the clone with the pid namespace at path as the one children are born into. */
static pid_t clone_in_pidns(const char *pid_ns_path, uint64_t flags, int cgroup_fd, struct hull_error **err)
{
        _cleanup_close_ int own = -1, target = -1;
        pid_t pid;
        int saved;

        if (!pid_ns_path) {
                pid = clone_into(flags, cgroup_fd);
                return pid < 0 ? hull_error_errno(err, errno, "clone3") : pid;
        }
        own = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        target = open(pid_ns_path, O_RDONLY | O_CLOEXEC);
        if (own < 0 || target < 0)
                return hull_error_errno(err, errno, "namespace pid: open %s", pid_ns_path);
        if (setns(target, CLONE_NEWPID) < 0)
                return hull_error_errno(err, errno, "namespace pid: join %s", pid_ns_path);
        pid = clone_into(flags & ~(uint64_t)CLONE_NEWPID, cgroup_fd);
        saved = errno;
        if (pid != 0 && setns(own, CLONE_NEWPID) < 0)
                log_error("cannot return to the agent's pid namespace: %s", strerror(errno));
        if (pid < 0)
                return hull_error_errno(err, saved, "clone3");
        return pid;
}

struct init_args {
        const Grpc__Spec *spec;
        struct hull_agent_stdio stdio;
        scmp_filter_ctx seccomp;
        int report_fd, start_fd;
        bool new_uts;
};

_Noreturn static void init_child(struct init_args *a)
{
        const Grpc__Spec *spec = a->spec;
        struct hull_error *e = NULL;
        _cleanup_free_ char *exe = NULL;
        _cleanup_(hull_agent_pty_close) struct hull_agent_pty pty_fallback = { -1, -1 };
        char go;
        const int keep[] = { a->stdio.in, a->stdio.out, a->stdio.err, a->report_fd, a->start_fd };

        hull_agent_signals_reset();
        hull_agent_child_close_fds(keep, ARRAY_SIZE(keep));
        hull_agent_child_terminal_fallback(spec->process, &pty_fallback);
        if (join_namespaces(spec, &e) < 0)
                goto fail;
        if (a->new_uts && spec->hostname && *spec->hostname &&
            sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
                hull_error_errno(&e, errno, "hostname %s", spec->hostname);
                goto fail;
        }
        if (hull_agent_rootfs_prepare(spec, spec->root->path, &e) < 0)
                goto fail;
        /* After the mounts (its devpts is in place), before the read-only paths (runc's order). */
        if (spec->process->terminal &&
            hull_agent_child_terminal(spec->process, &pty_fallback, a->report_fd, &a->stdio, &e) < 0)
                goto fail;
        if (hull_agent_sysctl_apply(spec->linux, &e) < 0)
                goto fail;
        if (hull_agent_rootfs_finalize(spec, &e) < 0)
                goto fail;
        if (hull_agent_child_lookup(spec->process, &exe, &e) < 0)
                goto fail;
        if (hull_agent_child_prepare(spec->process, &a->stdio, a->seccomp, &e) < 0)
                goto fail;
        if (write(a->report_fd, "R", 1) != 1)
                _exit(1);
        /* Held here until StartContainer; EOF without a byte means the container was removed first. */
        if (read(a->start_fd, &go, 1) != 1)
                _exit(0);
        hull_agent_child_exec(spec->process, exe, a->seccomp, &e);
        if (write(a->report_fd, "E", 1) == 1)
                hull_agent_child_fail(a->report_fd, e, 127);
        _exit(127);
fail:
        if (write(a->report_fd, "E", 1) == 1)
                hull_agent_child_fail(a->report_fd, e, 1);
        _exit(1);
}

/* One read of a child's report socket into buf past *len (cap - *len bytes of room). A pty master the child passes
 * comes with the byte 'T', which is dropped, and goes to p (p NULL: none was expected). Returns > 0 when something
 * came, 0 at EOF, -EAGAIN, or another negative errno with err set. */
static int report_recv(int fd, char *buf, size_t *len, size_t cap, struct hull_agent_process *p,
                       struct hull_error **err)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } ctl;
        struct iovec iov = { .iov_base = buf + *len, .iov_len = cap - *len };
        struct msghdr msg = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)
        };
        _cleanup_close_ int master = -1;
        ssize_t n;

        do
                n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN ? -EAGAIN : hull_error_errno(err, errno, "read the child's report");
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                        int got;
                        memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        if (master < 0)
                                master = got;
                        else
                                close(got);
                }
        }
        if (n == 0)
                return 0;
        if (master >= 0) {
                /* Ancillary data ends a stream read: 'T' is the last byte of this one. */
                if (buf[*len + (size_t)n - 1] != 'T' || !p)
                        return hull_error_set(err, EPROTO, "the child passed an unexpected fd");
                n--;
                if (hull_agent_process_set_terminal(p, TAKE_FD(master), err) < 0)
                        return -EPROTO;
        } else if (msg.msg_flags & MSG_CTRUNC) {
                return hull_error_set(err, EPROTO, "the child's report: ancillary data truncated");
        }
        *len += (size_t)n;
        return 1;
}

/* The init's report while it builds the container: 'R' when ready, else an error message and EOF. */
static void create_finish(struct hull_agent_container *c, struct hull_error *e)
{
        hull_agent_container_created_cb cb = c->created_cb;

        hull_loop_source_remove(c->report_src);
        hull_loop_source_remove(c->report_timer);
        c->report_src = c->report_timer = NULL;
        c->created_cb = NULL;
        if (!e) {
                c->status = HULL_AGENT_CONTAINER_CREATED;
                log_info("container %s: created, init pid %d%s", c->id, (int)hull_agent_process_pid(c->init),
                         c->cgroup ? "" : " (no cgroup)");
        } else {
                c->status = HULL_AGENT_CONTAINER_STOPPED;
        }
        /* Last: on failure the callback destroys c. */
        cb(c, e, c->created_userdata);
}

static int on_create_report(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_agent_container *c = userdata;
        _cleanup_error_ struct hull_error *e = NULL;

        for (;;) {
                int r = report_recv(fd, c->report, &c->report_len, sizeof(c->report) - 1, c->init, &e);
                if (r == -EAGAIN)
                        return 0;
                if (r < 0) {
                        hull_error_prefix(&e, "create");
                        break;
                }
                if (r == 0 || c->report_len >= sizeof(c->report) - 1) {
                        c->report[c->report_len] = '\0';
                        if (c->report_len == 0)
                                hull_error_set(&e, EIO, "create: the container's init died during setup");
                        else
                                hull_error_set(&e, EIO, "%s", c->report[0] == 'E' ? c->report + 1 : c->report);
                        break;
                }
                /* 'R' alone: the init holds before exec, nothing follows until start. */
                if (c->report_len == 1 && c->report[0] == 'R') {
                        c->report_len = 0;
                        create_finish(c, NULL);
                        return 0;
                }
        }
        create_finish(c, e);
        return 0;
}

static int on_create_timeout(struct hull_loop_source *src, void *userdata)
{
        struct hull_agent_container *c = userdata;
        _cleanup_error_ struct hull_error *e = NULL;

        hull_error_set(&e, ETIMEDOUT, "create: the container's init did not finish its setup within %ds",
                       CHILD_REPORT_TIMEOUT_MS / 1000);
        create_finish(c, e);
        return 0;
}

struct sync_create {
        bool done;
        struct hull_error *e;
};

static void on_sync_created(struct hull_agent_container *c, const struct hull_error *e, void *userdata)
{
        struct sync_create *sc = userdata;

        sc->done = true;
        if (e)
                hull_error_set(&sc->e, -hull_error_code(e), "%s", hull_error_message(e));
}

int hull_agent_container_create(const struct hull_agent_container_env *env, const char *id, const Grpc__Spec *spec,
                                struct hull_agent_container **ret, struct hull_error **err)
{
        struct sync_create sc = { 0 };
        struct hull_agent_container *c = NULL;
        int r;

        r = hull_agent_container_create_async(env, id, spec, on_sync_created, &sc, &c, err);
        if (r < 0)
                return r;
        while (!sc.done) {
                r = hull_loop_run_once(env->loop, -1);
                if (r < 0) {
                        hull_agent_container_destroy(c);
                        return hull_error_errno(err, -r, "create: event loop");
                }
        }
        if (sc.e) {
                r = hull_error_set(err, -hull_error_code(sc.e), "%s", hull_error_message(sc.e));
                hull_error_free(sc.e);
                hull_agent_container_destroy(c);
                return r;
        }
        *ret = c;
        return 0;
}

int hull_agent_container_create_async(const struct hull_agent_container_env *env, const char *id,
                                      const Grpc__Spec *spec, hull_agent_container_created_cb cb, void *userdata,
                                      struct hull_agent_container **ret, struct hull_error **err)
{
        struct hull_agent_container *c = NULL;
        struct hull_agent_stdio stdio = { -1, -1, -1 };
        _cleanup_close_ int cgroup_fd = -1;
        int report[2] = { -1, -1 }, start[2] = { -1, -1 };
        const char *pid_ns_path = NULL;
        uint64_t flags = 0;
        pid_t pid;
        int r;

        r = hull_agent_spec_validate(spec, err);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return hull_error_oom(err);
        c->env_copy = *env;
        c->env = &c->env_copy;
        if (env->shared_pid_ns) {
                c->shared_pid_ns = strdup(env->shared_pid_ns);
                if (!c->shared_pid_ns) {
                        free(c);
                        return hull_error_oom(err);
                }
                c->env_copy.shared_pid_ns = c->shared_pid_ns;
        }
        env = c->env;
        r = namespace_plan(spec, env->shared_pid_ns, &flags, &pid_ns_path, err);
        if (r < 0) {
                free(c->shared_pid_ns);
                free(c);
                return r;
        }
        c->start_fd = c->report_fd = -1;
        c->id = strdup(id);
        c->spec = spec_copy(spec);
        if (!c->id || !c->spec) {
                r = hull_error_oom(err);
                goto fail;
        }
        spec = c->spec;

        if (env->cgroup_root) {
                _cleanup_free_ char *rel = NULL;
                const char *cp = spec->linux ? spec->linux->cgroupspath : NULL;
                /* "slice:prefix:name" is systemd's form, which the guest has no systemd for. */
                if (cp && *cp && !strchr(cp, ':'))
                        rel = strdup(cp);
                else if (asprintf(&rel, "hull/%s", id) < 0)
                        rel = NULL;
                if (!rel) {
                        r = hull_error_oom(err);
                        goto fail;
                }
                r = hull_agent_cgroup_create(env->cgroup_root, rel, &c->cgroup, err);
                if (r >= 0)
                        r = hull_agent_cgroup_apply(c->cgroup, spec->linux ? spec->linux->resources : NULL, err);
                if (r >= 0)
                        r = cgroup_fd = hull_agent_cgroup_open(c->cgroup, err);
                if (r < 0)
                        goto fail;
        }
        r = hull_agent_seccomp_build(spec->linux ? spec->linux->seccomp : NULL, &c->seccomp, err);
        if (r < 0)
                goto fail;
        r = hull_agent_process_new(env->loop, "", spec->process->terminal, &c->init, &stdio, err);
        if (r < 0)
                goto fail;
        /* The report is a socket: a child with a terminal passes its pty master over it. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, report) < 0 || pipe2(start, O_CLOEXEC) < 0) {
                r = hull_error_errno(err, errno, "report socket and start pipe");
                goto fail;
        }

        pid = clone_in_pidns(pid_ns_path, flags, cgroup_fd, err);
        if (pid < 0) {
                r = pid;
                goto fail;
        }
        if (pid == 0) {
                struct init_args a = { .spec = spec,
                                       .stdio = stdio,
                                       .seccomp = c->seccomp,
                                       .report_fd = report[1],
                                       .start_fd = start[0],
                                       .new_uts = (flags & CLONE_NEWUTS) != 0 };
                close(report[0]);
                close(start[1]);
                init_child(&a);
        }
        hull_closep(&report[1]);
        hull_closep(&start[0]);
        report[1] = start[0] = -1;
        hull_agent_stdio_close(&stdio);
        hull_agent_process_started(c->init, pid);
        r = hull_agent_reaper_watch(env->reaper, pid, on_init_exit, c, err);
        if (r < 0) {
                kill(pid, SIGKILL);
                goto fail;
        }
        c->start_fd = TAKE_FD(start[1]);
        c->report_fd = TAKE_FD(report[0]);
        c->created_cb = cb;
        c->created_userdata = userdata;
        c->status = HULL_AGENT_CONTAINER_CREATING;
        r = hull_fd_set_nonblock(c->report_fd, 1, err);
        if (r >= 0)
                r = hull_loop_add_fd(env->loop, c->report_fd, EPOLLIN, on_create_report, c, &c->report_src, err);
        if (r >= 0)
                r = hull_loop_add_timer(env->loop, CHILD_REPORT_TIMEOUT_MS * 1000ull, on_create_timeout, c,
                                        &c->report_timer, err);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        hull_closep(&report[0]);
        hull_closep(&report[1]);
        hull_closep(&start[0]);
        hull_closep(&start[1]);
        hull_agent_stdio_close(&stdio);
        hull_agent_container_destroy(c);
        return r;
}

/* The report ended (or could not be read): the process is running, or e (taken) says why not. Frees pr. */
static void pending_finish(struct pending_report *pr, struct hull_error *e)
{
        _cleanup_error_ struct hull_error *owned = e;
        struct hull_agent_container *c = pr->c;
        hull_agent_container_done_cb cb = pr->cb;
        void *userdata = pr->userdata;

        for (struct pending_report **pp = &c->pending; *pp; pp = &(*pp)->next)
                if (*pp == pr) {
                        *pp = pr->next;
                        c->n_pending--;
                        break;
                }
        hull_loop_source_remove(pr->src);
        hull_loop_source_remove(pr->timer);
        hull_closep(&pr->fd);
        if (!pr->exec) {
                if (!owned && c->status == HULL_AGENT_CONTAINER_CREATED)
                        c->status = HULL_AGENT_CONTAINER_RUNNING;
        } else if (!owned) {
                struct hull_agent_process **procs = reallocarray(c->procs, c->n_procs + 1, sizeof(*procs));
                if (procs) {
                        c->procs = procs;
                        c->procs[c->n_procs++] = TAKE_PTR(pr->exec);
                } else {
                        hull_error_oom(&owned);
                        (void)kill(hull_agent_process_pid(pr->exec), SIGKILL);
                }
        }
        if (pr->exec) {
                /* It did not exec: the child exits 127 by itself and is reaped as an orphan. */
                hull_agent_reaper_unwatch(c->env->reaper, hull_agent_process_pid(pr->exec));
                hull_agent_process_free(pr->exec);
        }
        if (owned)
                hull_error_prefix(&owned, "container %s", c->id);
        free(pr);
        cb(c, owned, userdata);
}

static int on_pending_report(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct pending_report *pr = userdata;
        _cleanup_error_ struct hull_error *e = NULL;
        const char *what = pr->exec ? "exec" : "start";

        for (;;) {
                int r = report_recv(fd, pr->buf, &pr->len, sizeof(pr->buf) - 1, pr->exec, &e);
                if (r == -EAGAIN)
                        return 0;
                if (r < 0) {
                        hull_error_prefix(&e, "%s", what);
                        break;
                }
                if (r == 0 || pr->len >= sizeof(pr->buf) - 1) {
                        pr->buf[pr->len] = '\0';
                        /* The message starts with 'E'; EOF alone means it exec'd (or died: the reaper has that). */
                        if (pr->len > 0)
                                hull_error_set(&e, EIO, "%s", pr->buf[0] == 'E' ? pr->buf + 1 : pr->buf);
                        break;
                }
        }
        pending_finish(pr, TAKE_PTR(e));
        return 0;
}

static int on_pending_timeout(struct hull_loop_source *src, void *userdata)
{
        struct pending_report *pr = userdata;
        struct hull_error *e = NULL;

        hull_error_set(&e, ETIMEDOUT, "%s: no report from the child within %ds", pr->exec ? "exec" : "start",
                       CHILD_REPORT_TIMEOUT_MS / 1000);
        if (pr->exec)
                (void)kill(hull_agent_process_pid(pr->exec), SIGKILL);
        pending_finish(pr, e);
        return 0;
}

/* Watch a child's report pipe (fd, taken also on failure) from the loop. */
static int pending_add(struct hull_agent_container *c, int fd, struct hull_agent_process *exec,
                       hull_agent_container_done_cb cb, void *userdata, struct hull_error **err)
{
        struct pending_report *pr = calloc(1, sizeof(*pr));
        int r;

        if (!pr) {
                close(fd);
                return hull_error_oom(err);
        }
        *pr = (struct pending_report){ .c = c, .fd = fd, .exec = exec, .cb = cb, .userdata = userdata };
        r = hull_fd_set_nonblock(fd, 1, err);
        if (r >= 0)
                r = hull_loop_add_fd(c->env->loop, fd, EPOLLIN, on_pending_report, pr, &pr->src, err);
        if (r >= 0)
                r = hull_loop_add_timer(c->env->loop, CHILD_REPORT_TIMEOUT_MS * 1000ull, on_pending_timeout, pr,
                                        &pr->timer, err);
        if (r < 0) {
                hull_loop_source_remove(pr->src);
                close(fd);
                free(pr);
                return r;
        }
        pr->next = c->pending;
        c->pending = pr;
        c->n_pending++;
        return 0;
}

int hull_agent_container_start_async(struct hull_agent_container *c, hull_agent_container_done_cb cb, void *userdata,
                                     struct hull_error **err)
{
        if (c->status != HULL_AGENT_CONTAINER_CREATED || c->start_fd < 0)
                return hull_error_set(err, EINVAL, "container %s: not in the created state", c->id);
        if (write(c->start_fd, "S", 1) != 1)
                return hull_error_errno(err, errno, "container %s: release init", c->id);
        hull_closep(&c->start_fd);
        c->start_fd = -1;
        return pending_add(c, TAKE_FD(c->report_fd), NULL, cb, userdata, err);
}

struct sync_done {
        bool done;
        struct hull_error *e;
};

static void on_sync_done(struct hull_agent_container *c, const struct hull_error *e, void *userdata)
{
        struct sync_done *sd = userdata;

        sd->done = true;
        if (e)
                hull_error_set(&sd->e, -hull_error_code(e), "%s", hull_error_message(e));
}

static int sync_wait(struct hull_agent_container *c, struct sync_done *sd, struct hull_error **err)
{
        while (!sd->done) {
                int r = hull_loop_run_once(c->env->loop, -1);
                if (r < 0)
                        return hull_error_errno(err, -r, "container %s: event loop", c->id);
        }
        if (sd->e) {
                int r = hull_error_set(err, -hull_error_code(sd->e), "%s", hull_error_message(sd->e));
                hull_error_free(sd->e);
                return r;
        }
        return 0;
}

int hull_agent_container_start(struct hull_agent_container *c, struct hull_error **err)
{
        struct sync_done sd = { 0 };
        int r = hull_agent_container_start_async(c, on_sync_done, &sd, err);

        return r < 0 ? r : sync_wait(c, &sd, err);
}

struct exec_args {
        pid_t init_pid;
        const Grpc__Process *proc;
        struct hull_agent_stdio stdio;
        scmp_filter_ctx seccomp;
        int report_fd;
};

_Noreturn static void exec_child(struct exec_args *a)
{
        static const struct {
                const char *name;
                int flag;
        } order[] = { { "ipc", CLONE_NEWIPC },
                      { "uts", CLONE_NEWUTS },
                      { "net", CLONE_NEWNET },
                      { "cgroup", CLONE_NEWCGROUP },
                      { "mnt", CLONE_NEWNS } };
        struct hull_error *e = NULL;
        _cleanup_free_ char *exe = NULL;
        _cleanup_(hull_agent_pty_close) struct hull_agent_pty pty_fallback = { -1, -1 };
        const int keep[] = { a->stdio.in, a->stdio.out, a->stdio.err, a->report_fd };

        hull_agent_signals_reset();
        hull_agent_child_close_fds(keep, ARRAY_SIZE(keep));
        hull_agent_child_terminal_fallback(a->proc, &pty_fallback);
        for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
                char path[64], own[64];
                struct stat a1, b1;
                _cleanup_close_ int fd = -1;
                snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)a->init_pid, order[i].name);
                snprintf(own, sizeof(own), "/proc/self/ns/%s", order[i].name);
                /* Joining the namespace one is already in is refused for some types; skip it. */
                if (stat(path, &a1) == 0 && stat(own, &b1) == 0 && a1.st_ino == b1.st_ino && a1.st_dev == b1.st_dev)
                        continue;
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || setns(fd, order[i].flag) < 0) {
                        hull_error_errno(&e, errno, "exec: join %s namespace", order[i].name);
                        goto fail;
                }
        }
        /* In the container's mount namespace now: its /dev/ptmx. */
        if (a->proc->terminal && hull_agent_child_terminal(a->proc, &pty_fallback, a->report_fd, &a->stdio, &e) < 0)
                goto fail;
        if (hull_agent_child_lookup(a->proc, &exe, &e) < 0 ||
            hull_agent_child_prepare(a->proc, &a->stdio, a->seccomp, &e) < 0)
                goto fail;
        hull_agent_child_exec(a->proc, exe, a->seccomp, &e);
fail:
        if (write(a->report_fd, "E", 1) == 1)
                hull_agent_child_fail(a->report_fd, e, 127);
        _exit(127);
}

static bool exec_id_pending(struct hull_agent_container *c, const char *exec_id)
{
        for (struct pending_report *pr = c->pending; pr; pr = pr->next)
                if (pr->exec && streq(hull_agent_process_exec_id(pr->exec), exec_id))
                        return true;
        return false;
}

int hull_agent_container_exec_async(struct hull_agent_container *c, const char *exec_id, const Grpc__Process *proc,
                                    hull_agent_container_done_cb cb, void *userdata, struct hull_error **err)
{
        struct hull_agent_process *p = NULL;
        struct hull_agent_stdio stdio = { -1, -1, -1 };
        _cleanup_close_ int cgroup_fd = -1;
        int report[2] = { -1, -1 };
        char pidns[64];
        pid_t pid, init_pid;
        int r;

        if (c->status != HULL_AGENT_CONTAINER_RUNNING && c->status != HULL_AGENT_CONTAINER_PAUSED)
                return hull_error_set(err, EINVAL, "container %s is not running", c->id);
        if (!exec_id || !*exec_id || strlen(exec_id) > 256)
                return hull_error_set(err, EINVAL, "exec: bad exec id");
        if (hull_agent_container_process(c, exec_id) || exec_id_pending(c, exec_id))
                return hull_error_set(err, EEXIST, "exec %s: already exists in container %s", exec_id, c->id);
        if (!proc || proc->n_args == 0)
                return hull_error_set(err, EINVAL, "exec %s: no process args", exec_id);
        if (c->n_procs + c->n_pending >= MAX_PROCESSES)
                return hull_error_set(err, EMFILE, "container %s: more than %d exec processes", c->id, MAX_PROCESSES);
        init_pid = hull_agent_process_pid(c->init);
        if (c->cgroup && (r = cgroup_fd = hull_agent_cgroup_open(c->cgroup, err)) < 0)
                return r;
        r = hull_agent_process_new(c->env->loop, exec_id, proc->terminal, &p, &stdio, err);
        if (r < 0)
                return r;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, report) < 0) {
                r = hull_error_errno(err, errno, "socketpair");
                goto fail;
        }
        snprintf(pidns, sizeof(pidns), "/proc/%d/ns/pid", (int)init_pid);
        pid = clone_in_pidns(pidns, CLONE_NEWPID, cgroup_fd, err);
        if (pid < 0) {
                r = pid;
                goto fail;
        }
        if (pid == 0) {
                struct exec_args a = { .init_pid = init_pid,
                                       .proc = proc,
                                       .stdio = stdio,
                                       .seccomp = c->seccomp,
                                       .report_fd = report[1] };
                close(report[0]);
                exec_child(&a);
        }
        hull_closep(&report[1]);
        report[1] = -1;
        hull_agent_stdio_close(&stdio);
        hull_agent_process_started(p, pid);
        r = hull_agent_reaper_watch(c->env->reaper, pid, on_exec_exit, p, err);
        if (r < 0) {
                kill(pid, SIGKILL);
                goto fail;
        }
        /* Answered from the loop once the child exec'd or reported why it could not. */
        r = pending_add(c, TAKE_FD(report[0]), p, cb, userdata, err);
        if (r < 0) {
                kill(pid, SIGKILL);
                hull_agent_reaper_unwatch(c->env->reaper, pid);
                p = hull_agent_process_free(p);
                goto fail;
        }
        return 0;
fail:
        hull_closep(&report[0]);
        hull_closep(&report[1]);
        hull_agent_stdio_close(&stdio);
        hull_agent_process_free(p);
        return hull_error_prefix(err, "container %s: exec %s", c->id, exec_id);
}

int hull_agent_container_exec(struct hull_agent_container *c, const char *exec_id, const Grpc__Process *proc,
                              struct hull_agent_process **ret, struct hull_error **err)
{
        struct sync_done sd = { 0 };
        int r = hull_agent_container_exec_async(c, exec_id, proc, on_sync_done, &sd, err);

        if (r >= 0)
                r = sync_wait(c, &sd, err);
        if (r < 0)
                return r;
        *ret = hull_agent_container_process(c, exec_id);
        return 0;
}

struct hull_agent_process *hull_agent_container_process(struct hull_agent_container *c, const char *exec_id)
{
        if (!exec_id || !*exec_id || streq(exec_id, c->id))
                return c->init;
        for (size_t i = 0; i < c->n_procs; i++)
                if (streq(hull_agent_process_exec_id(c->procs[i]), exec_id))
                        return c->procs[i];
        return NULL;
}

static int signal_cgroup(struct hull_agent_container *c, int sig, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL, *pids = NULL;
        char *line, *save = NULL;

        if (asprintf(&path, "%s/cgroup.procs", c->cgroup) < 0)
                return hull_error_oom(err);
        if (hull_read_file(path, 1 << 20, &pids, NULL, err) < 0)
                return hull_error_prefix(err, "container %s: signal all", c->id);
        for (line = strtok_r(pids, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                (void)kill((pid_t)atoi(line), sig);
        return 0;
}

int hull_agent_container_signal(struct hull_agent_container *c, const char *exec_id, int sig, bool all,
                                struct hull_error **err)
{
        struct hull_agent_process *p;

        if (sig <= 0 || sig >= NSIG)
                return hull_error_set(err, EINVAL, "signal %d out of range", sig);
        if (all) {
                if (c->cgroup)
                        return signal_cgroup(c, sig, err);
                for (size_t i = 0; i < c->n_procs; i++)
                        if (!hull_agent_process_has_exited(c->procs[i], NULL))
                                (void)kill(hull_agent_process_pid(c->procs[i]), sig);
                if (!hull_agent_process_has_exited(c->init, NULL))
                        (void)kill(hull_agent_process_pid(c->init), sig);
                return 0;
        }
        p = hull_agent_container_process(c, exec_id);
        if (!p)
                return hull_error_set(err, ENOENT, "container %s: no process %s", c->id, exec_id);
        return hull_agent_process_signal(p, sig, err);
}

int hull_agent_container_pause(struct hull_agent_container *c, bool paused, struct hull_error **err)
{
        int r;

        if (!c->cgroup)
                return hull_error_set(err, ENOTSUP, "container %s: no cgroup to freeze", c->id);
        if (paused && c->status != HULL_AGENT_CONTAINER_RUNNING)
                return hull_error_set(err, EINVAL, "container %s is not running", c->id);
        if (!paused && c->status != HULL_AGENT_CONTAINER_PAUSED)
                return hull_error_set(err, EINVAL, "container %s is not paused", c->id);
        r = hull_agent_cgroup_freeze(c->cgroup, paused, err);
        if (r < 0)
                return hull_error_prefix(err, "container %s", c->id);
        c->status = paused ? HULL_AGENT_CONTAINER_PAUSED : HULL_AGENT_CONTAINER_RUNNING;
        return 0;
}

struct hull_agent_container *hull_agent_container_destroy(struct hull_agent_container *c)
{
        if (!c)
                return NULL;
        /* Starts and execs not reported yet end now; their callbacks must not touch c. */
        while (c->pending) {
                struct hull_error *e = NULL;
                if (c->pending->exec)
                        (void)kill(hull_agent_process_pid(c->pending->exec), SIGKILL);
                hull_error_set(&e, ECANCELED, "removed before its process started");
                pending_finish(c->pending, e);
        }
        if (c->init && hull_agent_process_pid(c->init) > 0) {
                pid_t pid = hull_agent_process_pid(c->init);
                if (!hull_agent_process_has_exited(c->init, NULL)) {
                        (void)kill(pid, SIGKILL);
                        /* The status is of no interest any more; the reaper collects it as an orphan. */
                }
                hull_agent_reaper_unwatch(c->env->reaper, pid);
        }
        for (size_t i = 0; i < c->n_procs; i++) {
                pid_t pid = hull_agent_process_pid(c->procs[i]);
                if (!hull_agent_process_has_exited(c->procs[i], NULL))
                        (void)kill(pid, SIGKILL);
                hull_agent_reaper_unwatch(c->env->reaper, pid);
                hull_agent_process_free(c->procs[i]);
        }
        if (c->cgroup) {
                _cleanup_error_ struct hull_error *e = NULL;
                if (c->status == HULL_AGENT_CONTAINER_PAUSED)
                        (void)hull_agent_cgroup_freeze(c->cgroup, false, &e);
                if (hull_agent_cgroup_destroy(c->cgroup, &e) < 0)
                        log_warn("container %s: %s", c->id, hull_error_message(e));
        }
        hull_loop_source_remove(c->report_src);
        hull_loop_source_remove(c->report_timer);
        hull_closep(&c->start_fd);
        hull_closep(&c->report_fd);
        hull_agent_process_free(c->init);
        if (c->seccomp)
                seccomp_release(c->seccomp);
        if (c->spec)
                grpc__spec__free_unpacked(c->spec, NULL);
        free(c->procs);
        free(c->cgroup);
        free(c->id);
        free(c->shared_pid_ns);
        free(c);
        return NULL;
}

const char *hull_agent_container_id(const struct hull_agent_container *c)
{
        return c->id;
}

const char *hull_agent_container_cgroup(const struct hull_agent_container *c)
{
        return c->cgroup;
}

enum hull_agent_container_status hull_agent_container_status(const struct hull_agent_container *c)
{
        return c->status;
}

pid_t hull_agent_container_init_pid(const struct hull_agent_container *c)
{
        return c->init ? hull_agent_process_pid(c->init) : -1;
}

size_t hull_agent_container_n_processes(const struct hull_agent_container *c)
{
        return c->n_procs;
}

size_t hull_agent_container_forget_finished(struct hull_agent_container *c)
{
        size_t n = 0;

        for (size_t i = 0; i < c->n_procs;) {
                if (!hull_agent_process_finished(c->procs[i])) {
                        i++;
                        continue;
                }
                hull_agent_process_free(c->procs[i]);
                c->procs[i] = c->procs[--c->n_procs];
                n++;
        }
        return n;
}
