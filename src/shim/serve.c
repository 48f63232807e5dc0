/* The shim daemon: one per sandbox. Serves hull's Task service (src/sandbox/task-service.h) to containerd on the
 * socket `start` bound, publishes its events, and exits once the sandbox is gone and containerd said Shutdown (or
 * SHUTDOWN_GRACE_USEC after the sandbox went without it), removing what it owned. */
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"
#include "rpc/server.h"
#include "sandbox/task-service.h"
#include "serve.h"

/* Events still queued when the sandbox is gone get this long to reach containerd. */
#define DRAIN_USEC (5ull * 1000 * 1000)
/* containerd calls Shutdown right after deleting a shim's last task; a shim that exits before that call sends
 * containerd into its dead-shim path (`delete` subcommand), so it waits this long for it. */
#define SHUTDOWN_GRACE_USEC (10ull * 1000 * 1000)

struct daemon {
        struct hull_loop *loop;
        struct hull_ttrpc_server *server;
        struct hull_task_service *ts;
        struct hull_loop_source *grace;
        bool shutdown; /* containerd called Shutdown */
        struct hull_shim_publisher *pub;
};

static void on_event(struct hull_task_service *ts, const struct hull_task_event *ev, void *userdata)
{
        struct daemon *d = userdata;

        if (d->pub)
                hull_shim_publisher_publish(d->pub, ev);
}

static int grace_over(struct hull_loop_source *src, void *userdata)
{
        struct daemon *d = userdata;

        log_info("sandbox done, no Shutdown from containerd: shim exits");
        hull_loop_quit(d->loop, 0);
        return 0;
}

static void on_done(struct hull_task_service *ts, void *userdata)
{
        struct daemon *d = userdata;
        _cleanup_error_ struct hull_error *err = NULL;

        if (d->shutdown) {
                log_info("sandbox done: shim exits");
                hull_loop_quit(d->loop, 0);
        } else if (hull_loop_add_timer(d->loop, SHUTDOWN_GRACE_USEC, grace_over, d, &d->grace, &err) < 0) {
                log_warn("%s: shim exits now", hull_error_message(err));
                hull_loop_quit(d->loop, 0);
        }
}

static void on_shutdown(struct hull_task_service *ts, void *userdata)
{
        struct daemon *d = userdata;

        d->shutdown = true;
        if (hull_task_service_done(ts)) {
                log_info("sandbox done, Shutdown: shim exits");
                hull_loop_quit(d->loop, 0);
        }
}

static int on_signal(struct hull_loop_source *src, int signo, void *userdata)
{
        struct daemon *d = userdata;

        log_warn("signal %d: stopping the sandbox", signo);
        if (d->ts)
                hull_task_service_abort(d->ts);
        hull_loop_quit(d->loop, 0);
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        if (remove(path) < 0 && errno != ENOENT)
                log_warn("remove %s: %s", path, strerror(errno));
        return 0;
}

/* Under the start lock, so that a concurrent `start` of the same sandbox waits and then starts afresh. */
static void remove_sandbox_files(const struct hull_shim_paths *p)
{
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_close_ int lock = hull_shim_start_lock(p, &err);

        if (lock < 0)
                log_warn("exit: %s", hull_error_message(err));
        if (unlink(p->socket) < 0 && errno != ENOENT)
                log_warn("exit: remove %s: %s", p->socket, strerror(errno));
        if (nftw(p->state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
                log_warn("exit: remove %s: %s", p->state_dir, strerror(errno));
        if (lock >= 0)
                hull_shim_release(p);
}

static void report(int fd, const char *msg)
{
        if (fd >= 0)
                hull_write_all(fd, msg, strlen(msg), NULL);
}

static void redirect_stdio(bool keep_stderr)
{
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (null < 0)
                return;
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (!keep_stderr)
                dup2(null, STDERR_FILENO);
        close(null);
}

int hull_shim_serve(const struct hull_shim_serve_opts *o)
{
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_close_ int ready_fd = o->ready_fd, state_lock = o->state_lock_fd, listen_fd = o->listen_fd;
        struct daemon d = { 0 };
        bool ready = false;
        const struct hull_shim_args *args = o->args;
        struct hull_shim_publisher_opts po = {
                .namespace_ = args->namespace_,
                .ttrpc_address = getenv("TTRPC_ADDRESS"),
                .publish_binary = args->publish_binary,
                .containerd_address = args->address,
        };
        struct hull_task_service_opts to = {
                .state_dir = o->paths->state_dir,
                .sandbox_id = o->sandbox_id,
                .config_path = o->config_path,
                .reported_pid = getpid(),
                .on_event = on_event,
                .userdata = &d,
                .debug = args->debug,
        };
        int r, status = 0;

        /* Off containerd's session and process group, its start pipe closed: stderr is the log fifo (start made
         * it so) or /dev/null. */
        setsid();
        redirect_stdio(o->log_fd >= 0);
        if (o->log_fd >= 0)
                close(o->log_fd);
        if (chdir("/") < 0)
                log_warn("chdir /: %s", strerror(errno));
        {
                _cleanup_free_ char *pid_path = NULL;
                char pid_s[32];

                snprintf(pid_s, sizeof(pid_s), "%d", (int)getpid());
                if (asprintf(&pid_path, "%s/shim.pid", o->paths->state_dir) < 0 ||
                    hull_write_file_atomic(pid_path, pid_s, strlen(pid_s), 0600, &err) < 0) {
                        r = -EIO;
                        goto fail;
                }
        }
        log_info("shim pid %d: sandbox %s namespace %s state %s", (int)getpid(), o->sandbox_id, args->namespace_,
                 o->paths->state_dir);

        r = hull_loop_new(&d.loop, &err);
        if (r < 0)
                goto fail;
        r = hull_loop_add_signal(d.loop, SIGTERM, on_signal, &d, NULL, &err);
        if (r < 0)
                goto fail;
        r = hull_loop_add_signal(d.loop, SIGINT, on_signal, &d, NULL, &err);
        if (r < 0)
                goto fail;
        if (hull_shim_publisher_new(d.loop, &po, &d.pub, &err) < 0) {
                /* Without events containerd still learns exits through Wait; say so and go on. */
                log_error("events will not be published: %s", hull_error_message(err));
                err = hull_error_free(err);
        }
        r = hull_ttrpc_server_new(d.loop, &d.server, &err);
        if (r < 0)
                goto fail;
        r = hull_task_service_new(d.loop, &to, &d.ts, &err);
        if (r < 0)
                goto fail;
        hull_task_service_on_done(d.ts, on_done, &d);
        hull_task_service_on_shutdown(d.ts, on_shutdown, &d);
        r = hull_task_service_register(d.ts, d.server, &err);
        if (r < 0)
                goto fail;
        r = hull_ttrpc_server_listen(d.server, listen_fd, &err);
        if (r < 0)
                goto fail;
        TAKE_FD(listen_fd);
        report(ready_fd, "ok");
        close(TAKE_FD(ready_fd));
        ready = true;

        r = hull_loop_run(d.loop);
        if (r < 0) {
                log_error("event loop failed: %s", strerror(-r));
                if (!hull_task_service_done(d.ts))
                        hull_task_service_abort(d.ts);
                status = 1;
        }
        /* The last events (TaskExit, TaskDelete) and the last replies still go out. */
        for (uint64_t deadline = hull_now_usec() + DRAIN_USEC;
             !hull_shim_publisher_idle(d.pub) && hull_now_usec() < deadline;)
                if (hull_loop_run_once(d.loop, 100) < 0)
                        break;
        if (d.pub && hull_shim_publisher_dropped(d.pub))
                log_warn("%llu events could not be published", (unsigned long long)hull_shim_publisher_dropped(d.pub));
        goto out;
fail:
        log_error("%s", hull_error_message(err));
        report(ready_fd, hull_error_message(err) ?: "shim daemon failed");
        /* `start` waits for this end of the pipe to close, then cleans up itself (it holds the start lock). */
        close(TAKE_FD(ready_fd));
        status = 1;
out:
        hull_loop_source_remove(d.grace);
        d.ts = hull_task_service_free(d.ts);
        d.server = hull_ttrpc_server_free(d.server);
        d.pub = hull_shim_publisher_free(d.pub);
        d.loop = hull_loop_free(d.loop);
        if (ready)
                remove_sandbox_files(o->paths);
        return status;
}
