/* The per-sandbox monitor: forked once by `hull create`, it serves the sandbox's Task API on monitor.sock in its
 * state directory, in a private mount namespace, and ends with the sandbox container's exit status. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"
#include "monitor.h"
#include "rpc/ttrpc.h"
#include "sandbox/sandbox.h"
#include "sandbox/state.h"
#include "sandbox/task-service.h"

#define READY_MSG_MAX 4096

struct monitor {
        struct hull_loop *loop;
        const char *id;
        int exit_status; /* -1: the sandbox container's init has not exited */
        bool remove_dir;
        bool quitting;
        struct hull_loop_source *quit_timer;
        struct hull_task_service *ts;
};

static int quit_fired(struct hull_loop_source *src, void *userdata)
{
        struct monitor *m = userdata;

        hull_loop_source_remove(m->quit_timer);
        m->quit_timer = NULL;
        hull_loop_quit(m->loop, 0);
        return 0;
}

/* Quit from a fresh loop iteration, so that replies queued by the current callback go out first. */
static void quit_soon(struct monitor *m)
{
        if (m->quitting)
                return;
        m->quitting = true;
        if (hull_loop_add_timer(m->loop, 0, quit_fired, m, &m->quit_timer, NULL) < 0)
                hull_loop_quit(m->loop, 0);
}

static void on_event(struct hull_task_service *ts, const struct hull_task_event *ev, void *userdata)
{
        struct monitor *m = userdata;

        if (ev->kind != HULL_TASK_EVENT_EXIT || !streq(ev->container_id, m->id) || *ev->exec_id)
                return;
        /* conmon and other parents learn the container's status from this process's exit. */
        m->exit_status = (int)ev->exit_status;
        quit_soon(m);
}

static void on_done(struct hull_task_service *ts, void *userdata)
{
        struct monitor *m = userdata;

        m->remove_dir = true;
        quit_soon(m);
}

static int on_signal(struct hull_loop_source *src, int signo, void *userdata)
{
        struct monitor *m = userdata;

        log_info("monitor %s: signal %d: stopping the sandbox", m->id, signo);
        if (m->exit_status < 0)
                m->exit_status = 128 + signo;
        hull_task_service_abort(m->ts);
        m->remove_dir = false; /* stopped by a signal: the directory stays for `hull delete` */
        quit_soon(m);
        return 0;
}

static void report(int fd, const char *fmt, const char *msg)
{
        char buf[READY_MSG_MAX];
        int n = snprintf(buf, sizeof(buf), fmt, msg);

        if (n > 0)
                hull_write_all(fd, buf, MIN((size_t)n, sizeof(buf) - 1), NULL);
}

/* Close every fd but the ones kept (the caller's pipes must not stay open in a daemon). */
static void close_other_fds(int keep1, int keep2)
{
        int lo = MIN(keep1, keep2), hi = MAX(keep1, keep2);

        if (lo > 3)
                close_range(3, lo - 1, 0);
        if (hi > lo + 1)
                close_range(lo + 1, hi - 1, 0);
        close_range(hi + 1, ~0u, 0);
}

static int monitor_main(const struct hull_cli_ctx *ctx, const char *id, const char *bundle, const char *dir,
                        int ready_fd, int lock_fd)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        _cleanup_(hull_ttrpc_server_freep) struct hull_ttrpc_server *srv = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        _cleanup_free_ char *log_path = NULL;
        struct hull_task_service_opts o = { 0 };
        struct monitor m = { .id = id, .exit_status = -1 };
        struct hull_state st;
        int fd, r, null;

        setsid();
        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
                if (null > 2)
                        close(null);
        }
        close_other_fds(ready_fd, lock_fd);
        signal(SIGHUP, SIG_IGN); /* a console's hangup is the container's business */
        signal(SIGPIPE, SIG_IGN);
        prctl(PR_SET_NAME, "hull-monitor");
        if (ctx->log_path)
                log_path = strdup(ctx->log_path);
        else if (asprintf(&log_path, "%s/monitor.log", dir) < 0)
                log_path = NULL;
        hull_log_setup("hull-monitor", ctx->debug ? HULL_LOG_DEBUG : HULL_LOG_INFO, ctx->log_format, log_path, NULL);

        hull_state_init(&st);
        if (hull_state_set(&st.id, id) < 0 || hull_state_set(&st.bundle, bundle) < 0 ||
            hull_state_set(&st.config, ctx->config_path) < 0 || hull_state_set(&st.status, "creating") < 0) {
                report(ready_fd, "%s", "out of memory");
                return 1;
        }
        {
                char now[40];
                hull_state_format_time(hull_realtime_ns(), now);
                hull_state_set(&st.created, now);
        }
        st.monitor_pid = getpid();
        hull_proc_start_time(st.monitor_pid, &st.monitor_start_time);
        r = hull_state_write(dir, &st, &e);
        hull_state_clear(&st);
        if (r < 0)
                goto fail;
        /* Mounts made for containers (rootfs, volumes) live and die with this process. */
        if (hull_sandbox_private_mounts(&e) < 0)
                goto fail;
        /* Relative socket path: a state directory may be longer than a sun_path. */
        if (chdir(dir) < 0) {
                hull_error_errno(&e, errno, "chdir %s", dir);
                goto fail;
        }
        if (hull_loop_new(&loop, &e) < 0 || hull_ttrpc_server_new(loop, &srv, &e) < 0)
                goto fail;
        m.loop = loop;
        o.state_dir = dir;
        o.sandbox_id = id;
        o.config_path = ctx->config_path;
        o.reported_pid = getpid();
        o.on_event = on_event;
        o.userdata = &m;
        o.debug = ctx->debug;
        if (hull_task_service_new(loop, &o, &m.ts, &e) < 0 || hull_task_service_register(m.ts, srv, &e) < 0)
                goto fail;
        hull_task_service_on_done(m.ts, on_done, &m);
        if (hull_loop_add_signal(loop, SIGTERM, on_signal, &m, NULL, &e) < 0 ||
            hull_loop_add_signal(loop, SIGINT, on_signal, &m, NULL, &e) < 0)
                goto fail;
        fd = hull_unix_listen("monitor.sock", &e);
        if (fd < 0)
                goto fail;
        if (hull_ttrpc_server_listen(srv, fd, &e) < 0) {
                close(fd);
                goto fail;
        }
        log_info("monitor %s: serving the Task API on %s/monitor.sock", id, dir);
        /* The caller's exclusive lock becomes this process's shared one (same open file description). */
        flock(lock_fd, LOCK_SH);
        report(ready_fd, "%s", "OK\n");
        close(ready_fd);

        r = hull_loop_run(loop);
        if (r < 0)
                log_error("monitor %s: event loop: %s", id, strerror(-r));
        /* Ending here (the init exited, or a signal) keeps the directory: `hull delete` removes it. */
        hull_task_service_on_done(m.ts, NULL, NULL);
        if (!hull_task_service_done(m.ts))
                hull_task_service_abort(m.ts);
        m.ts = hull_task_service_free(m.ts);
        srv = hull_ttrpc_server_free(srv);
        unlink("monitor.sock");
        if (m.remove_dir) {
                if (hull_sandbox_remove_tree(dir, true) < 0)
                        log_warn("monitor %s: %s stays: something is still mounted", id, dir);
        }
        log_info("monitor %s: exiting with status %d", id, m.exit_status < 0 ? 0 : m.exit_status);
        return m.exit_status < 0 ? 0 : m.exit_status;
fail:
        m.ts = hull_task_service_free(m.ts);
        report(ready_fd, "ERR %s", hull_error_message(e));
        return 1;
}

int hull_monitor_spawn(const struct hull_cli_ctx *ctx, const char *id, const char *bundle, pid_t *ret_pid,
                       struct hull_error **err)
{
        _cleanup_free_ char *root = NULL, *dir = NULL;
        _cleanup_close_ int lock = -1;
        char msg[READY_MSG_MAX];
        int pipefd[2];
        size_t n = 0;
        pid_t pid;

        if (hull_mkdir_p(ctx->root, 0700, err) < 0)
                return -EIO;
        root = realpath(ctx->root, NULL);
        if (!root)
                return hull_error_errno(err, errno, "root %s", ctx->root);
        if (asprintf(&dir, "%s/%s", root, id) < 0)
                return hull_error_oom(err);
        if (mkdir(dir, 0700) < 0) {
                if (errno == EEXIST)
                        return hull_error_set(err, EEXIST, "container \"%s\" already exists", id);
                return hull_error_errno(err, errno, "mkdir %s", dir);
        }
        lock = hull_state_lock(dir, true, false, err);
        if (lock < 0)
                goto fail_dir;
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                hull_error_errno(err, errno, "pipe");
                goto fail_dir;
        }
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                hull_error_errno(err, errno, "fork the monitor");
                close(pipefd[0]);
                close(pipefd[1]);
                goto fail_dir;
        }
        if (pid == 0) {
                close(pipefd[0]);
                _exit(monitor_main(ctx, id, bundle, dir, pipefd[1], lock));
        }
        close(pipefd[1]);
        while (n < sizeof(msg) - 1) {
                ssize_t k = read(pipefd[0], msg + n, sizeof(msg) - 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t)k;
        }
        close(pipefd[0]);
        msg[n] = '\0';
        if (strneq(msg, "OK\n", 3)) {
                *ret_pid = pid;
                return 0;
        }
        waitpid(pid, NULL, 0);
        if (strneq(msg, "ERR ", 4))
                hull_error_set(err, EIO, "monitor: %s", msg + 4);
        else
                hull_error_set(err, EIO, "monitor: exited before it was ready");
fail_dir:
        hull_sandbox_remove_tree(dir, true);
        return -EIO;
}
