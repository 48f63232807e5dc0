/* containerd-shim-hull-v2: containerd's shim v2 binary. `start` finds or forks the sandbox's shim daemon and
 * prints its address, `delete` cleans up after a dead one; the daemon serves hull's Task service (serve.c). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "google_protobuf_timestamp.pb-c.h"

#include "buf.h"
#include "error.h"
#include "fd.h"
#include "hull-build-config.h"
#include "log.h"
#include "loop.h"
#include "serve.h"
#include "shim.h"

#define PROGRAM "containerd-shim-hull-v2"
/* What containerd writes on `start`'s stdin: a marshalled Any of the runtime options. */
#define OPTIONS_MAX (64u << 10)
/* The daemon reports readiness (or why it failed) within this time. */
#define READY_TIMEOUT_MS 30000
#define READY_MSG_MAX 4096
/* `delete` waits this long for a shim that is still exiting (see hull_shim_wait_dying()). */
#define DYING_WAIT_MS 3000

/* Logs go to containerd's `log` fifo in the bundle when it exists (containerd opens it O_RDWR before it runs
 * `start`, so the open never blocks), else stderr. O_NONBLOCK: a stalled reader loses lines, it never stalls the
 * shim. `start`'s stdout and stderr are read as the address, so nothing else may go there. */
static int open_log_fifo(const char *bundle)
{
        _cleanup_free_ char *path = NULL;
        struct stat st;
        int fd;

        if (asprintf(&path, "%s/log", bundle) < 0)
                return -1;
        fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -1;
        if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
                close(fd);
                return -1;
        }
        return fd;
}

static void setup_log(const struct hull_shim_args *args, int log_fd, enum hull_log_level quiet_level)
{
        enum hull_log_level level = args->debug ? HULL_LOG_DEBUG : HULL_LOG_INFO;

        if (log_fd >= 0) {
                dup2(log_fd, STDERR_FILENO);
        } else if (level > quiet_level) {
                level = quiet_level;
        }
        hull_log_setup(PROGRAM, level, HULL_LOG_TEXT, NULL, NULL);
}

static char *bundle_dir(const struct hull_shim_args *args)
{
        if (args->bundle && *args->bundle)
                return strdup(args->bundle);
        return getcwd(NULL, 0);
}

static int read_options(char **ret_config_path, struct hull_error **err)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        struct stat st;

        *ret_config_path = NULL;
        /* Only a pipe or a file carries options (containerd gives a pipe, or /dev/null when there are none). */
        if (fstat(STDIN_FILENO, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode)))
                return 0;
        buf = malloc(OPTIONS_MAX + 1);
        if (!buf)
                return hull_error_oom(err);
        for (;;) {
                ssize_t n = read(STDIN_FILENO, buf + len, OPTIONS_MAX + 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return hull_error_errno(err, errno, "read runtime options");
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > OPTIONS_MAX)
                        return hull_error_set(err, EFBIG, "runtime options larger than %u bytes", OPTIONS_MAX);
        }
        if (len == 0)
                return 0;
        return hull_shim_options_config_path(buf, len, ret_config_path, err);
}

static int write_bundle_file(const char *bundle, const char *name, const char *content, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", bundle, name) < 0)
                return hull_error_oom(err);
        return hull_write_file_atomic(path, content, strlen(content), 0644, err);
}

/* Wait for the daemon's "ok" or its error message on the pipe. */
static int wait_ready(int fd, pid_t pid, struct hull_error **err)
{
        char msg[READY_MSG_MAX];
        size_t len = 0;
        uint64_t deadline = hull_now_usec() + READY_TIMEOUT_MS * 1000ull;

        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                uint64_t now = hull_now_usec();
                ssize_t n;
                int r;

                if (now >= deadline)
                        return hull_error_set(err, ETIMEDOUT, "shim daemon (pid %d) not ready after %d ms", (int)pid,
                                              READY_TIMEOUT_MS);
                r = poll(&pfd, 1, (int)((deadline - now) / 1000) + 1);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return hull_error_errno(err, errno, "poll");
                if (r == 0)
                        continue;
                n = read(fd, msg + len, sizeof(msg) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return hull_error_errno(err, errno, "read from shim daemon");
                len += (size_t)n;
                if (n == 0 || len == sizeof(msg) - 1)
                        break;
        }
        msg[len] = '\0';
        if (streq(msg, "ok"))
                return 0;
        if (len == 0)
                return hull_error_set(err, EIO, "shim daemon (pid %d) exited before it was ready", (int)pid);
        return hull_error_set(err, EIO, "%s", msg);
}

/* Start and delete both take the start lock (waiting) and then try the state lock. Returns 0 holding both,
 * -EWOULDBLOCK holding only the start lock (a live shim holds the state lock), or another error. */
static int take_locks(const struct hull_shim_paths *paths, int *start_lock, int *state_lock, struct hull_error **err)
{
        int fd;

        fd = hull_shim_start_lock(paths, err);
        if (fd < 0)
                return fd;
        *start_lock = fd;
        fd = hull_shim_state_lock(paths, err);
        if (fd < 0)
                return fd;
        *state_lock = fd;
        return 0;
}

int hull_shim_cmd_start(const struct hull_shim_args *args)
{
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *bundle = NULL, *sandbox_id = NULL, *config_path = NULL, *address = NULL;
        _cleanup_close_ int start_lock = -1, state_lock = -1, listen_fd = -1, log_fd = -1, out_err = -1;
        struct hull_shim_paths paths = { 0 };
        int ready[2] = { -1, -1 };
        pid_t pid;
        int r;

        /* containerd reads start's stdout and stderr together as the address; a failure's message goes to the
         * original stderr, logs to the log fifo. */
        out_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        bundle = bundle_dir(args);
        if (bundle)
                log_fd = open_log_fifo(bundle);
        setup_log(args, log_fd, HULL_LOG_ERROR);
        if (!bundle) {
                fprintf(stderr, PROGRAM ": start: no bundle directory\n");
                return 1;
        }
        r = read_options(&config_path, &err);
        if (r < 0)
                goto fail;
        r = hull_shim_sandbox_id(bundle, args->id, &sandbox_id, &err);
        if (r < 0)
                goto fail;
        r = hull_shim_paths_init(&paths, getenv(HULL_SHIM_ROOT_ENV), args->address, args->namespace_, sandbox_id, &err);
        if (r < 0)
                goto fail;
        if (asprintf(&address, "unix://%s", paths.socket) < 0) {
                r = hull_error_oom(&err);
                goto fail;
        }
        r = take_locks(&paths, &start_lock, &state_lock, &err);
        if (r == -EWOULDBLOCK) {
                /* A live shim serves this sandbox: the container joins it. */
                log_info("start: container %s joins sandbox %s (%s)", args->id, sandbox_id, address);
                r = write_bundle_file(bundle, "address", address, &err);
                if (r < 0)
                        goto fail;
                printf("%s\n", address);
                goto out;
        }
        if (r < 0)
                goto fail;
        /* Leftovers of a shim that died without containerd's delete: clean them before starting afresh. */
        {
                _cleanup_free_ char *state_json = NULL;

                if (asprintf(&state_json, "%s/state.json", paths.state_dir) < 0) {
                        r = hull_error_oom(&err);
                        goto fail;
                }
                if (access(state_json, F_OK) == 0) {
                        log_warn("start: sandbox %s: cleaning up after a dead shim", sandbox_id);
                        r = hull_shim_cleanup_dead(&paths, &err);
                        if (r < 0)
                                goto fail;
                        close(TAKE_FD(state_lock));
                        state_lock = hull_shim_state_lock(&paths, &err);
                        if (state_lock < 0) {
                                r = state_lock == -EWOULDBLOCK ? hull_error_set(&err, EBUSY, "state lock busy")
                                                               : state_lock;
                                goto fail;
                        }
                }
        }
        if (unlink(paths.socket) < 0 && errno != ENOENT) {
                r = hull_error_errno(&err, errno, "remove stale socket %s", paths.socket);
                goto fail;
        }
        listen_fd = hull_unix_listen(paths.socket, &err);
        if (listen_fd < 0) {
                r = listen_fd;
                goto fail;
        }
        if (pipe2(ready, O_CLOEXEC) < 0) {
                r = hull_error_errno(&err, errno, "pipe");
                goto fail;
        }
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                r = hull_error_errno(&err, errno, "fork");
                close(ready[0]);
                close(ready[1]);
                goto fail;
        }
        if (pid == 0) {
                const struct hull_shim_serve_opts so = {
                        .args = args,
                        .paths = &paths,
                        .sandbox_id = sandbox_id,
                        .bundle = bundle,
                        .config_path = config_path,
                        .listen_fd = TAKE_FD(listen_fd),
                        .state_lock_fd = TAKE_FD(state_lock),
                        .ready_fd = ready[1],
                        .log_fd = TAKE_FD(log_fd),
                };

                /* The start lock stays with the parent (a shared open file: the child must not keep it). */
                close(TAKE_FD(start_lock));
                close(TAKE_FD(out_err));
                close(ready[0]);
                _exit(hull_shim_serve(&so));
        }
        close(ready[1]);
        r = wait_ready(ready[0], pid, &err);
        close(ready[0]);
        if (r < 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                hull_shim_cleanup_dead(&paths, NULL);
                goto fail;
        }
        {
                char pid_s[32];

                snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
                if (write_bundle_file(bundle, "shim.pid", pid_s, &err) < 0 ||
                    write_bundle_file(bundle, "address", address, &err) < 0) {
                        r = -EIO;
                        goto fail;
                }
        }
        log_info("start: sandbox %s: shim pid %d serves %s", sandbox_id, (int)pid, address);
        printf("%s\n", address);
out:
        hull_shim_paths_done(&paths);
        return fflush(stdout) == 0 ? 0 : 1;
fail:
        /* containerd shows start's combined output in its error. */
        dprintf(out_err >= 0 ? out_err : STDERR_FILENO, PROGRAM ": start %s: %s\n", args->id,
                hull_error_message(err) ?: strerror(-r));
        log_error("start %s: %s", args->id, hull_error_message(err) ?: strerror(-r));
        hull_shim_paths_done(&paths);
        return 1;
}

static uint32_t read_shim_pid(const char *bundle)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        unsigned long v;
        char *end;

        if (asprintf(&path, "%s/shim.pid", bundle) < 0 || hull_read_file(path, 64, &data, NULL, NULL) < 0)
                return 0;
        v = strtoul(data, &end, 10);
        return v < (1ul << 22) ? (uint32_t)v : 0;
}

/* Whether the sandbox's shim still serves its socket. */
static bool shim_accepts(const struct hull_shim_paths *p)
{
        _cleanup_close_ int fd = hull_unix_connect(p->socket, NULL);

        return fd >= 0;
}

int hull_shim_cmd_delete(const struct hull_shim_args *args)
{
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *bundle = NULL, *sandbox_id = NULL;
        _cleanup_close_ int start_lock = -1, state_lock = -1;
        Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        struct hull_shim_paths paths = { 0 };
        _cleanup_free_ uint8_t *out = NULL;
        struct timespec now;
        size_t len;
        int r;

        /* containerd reads stderr as warnings and stdout as the DeleteResponse. */
        setup_log(args, -1, args->debug ? HULL_LOG_DEBUG : HULL_LOG_INFO);
        bundle = bundle_dir(args);
        if (!bundle) {
                fprintf(stderr, PROGRAM ": delete: no bundle directory\n");
                return 1;
        }
        if (hull_shim_sandbox_id(bundle, args->id, &sandbox_id, &err) < 0) {
                /* The bundle may be half gone: the container is then its own sandbox. */
                log_warn("delete %s: %s", args->id, hull_error_message(err));
                err = hull_error_free(err);
                sandbox_id = strdup(args->id ? args->id : "");
                if (!sandbox_id)
                        return 1;
        }
        r = hull_shim_paths_init(&paths, getenv(HULL_SHIM_ROOT_ENV), args->address, args->namespace_, sandbox_id, &err);
        if (r < 0)
                goto fail;
        /* containerd runs `delete` as soon as a shim's connection closes, also after a normal Shutdown. A shim on
         * its way out (its socket no longer accepts, or killed: exiting) still holds the state lock for a moment,
         * and a normal exit takes the start lock to remove its files: wait for it here, before taking that lock,
         * or the two wait for each other. A live shim (other containers of its pod) costs no wait. */
        if (!shim_accepts(&paths) || hull_shim_exiting(&paths))
                (void)hull_shim_wait_dying(&paths, DYING_WAIT_MS);
        r = take_locks(&paths, &start_lock, &state_lock, &err);
        if (r == -EWOULDBLOCK) {
                /* The sandbox's shim still runs (other containers of the pod): it owns the cleanup. */
                log_info("delete %s: the shim of sandbox %s is alive; nothing to clean", args->id, sandbox_id);
        } else if (r < 0) {
                goto fail;
        } else {
                r = hull_shim_cleanup_dead(&paths, &err);
                if (r < 0)
                        goto fail;
                hull_shim_release(&paths);
        }
        clock_gettime(CLOCK_REALTIME, &now);
        ts.seconds = now.tv_sec;
        ts.nanos = (int32_t)now.tv_nsec;
        resp.pid = read_shim_pid(bundle);
        resp.exit_status = 128 + SIGKILL;
        resp.exited_at = &ts;
        len = protobuf_c_message_get_packed_size(&resp.base);
        out = malloc(len ? len : 1);
        if (!out)
                return 1;
        protobuf_c_message_pack(&resp.base, out);
        hull_shim_paths_done(&paths);
        if (hull_write_all(STDOUT_FILENO, out, len, &err) < 0) {
                fprintf(stderr, PROGRAM ": delete %s: %s\n", args->id, hull_error_message(err));
                return 1;
        }
        return 0;
fail:
        fprintf(stderr, PROGRAM ": delete %s: %s\n", args->id, hull_error_message(err) ?: strerror(-r));
        hull_shim_paths_done(&paths);
        return 1;
}

int main(int argc, char **argv)
{
        _cleanup_error_ struct hull_error *err = NULL;
        struct hull_shim_args args;

        hull_malloc_stay_lean();
        signal(SIGPIPE, SIG_IGN);
        if (hull_shim_parse_args(argc, argv, &args, &err) < 0) {
                fprintf(stderr, PROGRAM ": %s\n", hull_error_message(err));
                return 2;
        }
        if (args.version) {
                printf(PROGRAM ":\n  Version: %s\n  Runtime: hull\n", HULL_VERSION);
                return 0;
        }
        if (!args.action) {
                fprintf(stderr, PROGRAM ": an action is needed: start or delete (containerd runs them)\n");
                return 2;
        }
        if (!hull_shim_id_valid(args.id) || !hull_shim_id_valid(args.namespace_)) {
                fprintf(stderr, PROGRAM ": -id and -namespace must be valid containerd identifiers\n");
                return 2;
        }
        if (streq(args.action, "start"))
                return hull_shim_cmd_start(&args);
        if (streq(args.action, "delete"))
                return hull_shim_cmd_delete(&args);
        fprintf(stderr, PROGRAM ": unknown action \"%s\"\n", args.action);
        return 2;
}
