/* The state directory, the monitor's liveness and the small conventions every OCI command shares (see oci.h). */
#include <ctype.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "error.h"
#include "fd.h"
#include "log.h"
#include "oci.h"
#include "sandbox/state.h"
#include "task-client.h"

#define CONFIG_JSON_MAX (4u << 20)

int hull_oci_id_check(const char *id, struct hull_error **err)
{
        size_t n = strlen(id);

        if (n == 0)
                return hull_error_set(err, EINVAL, "container id must not be empty");
        if (n > 1024)
                return hull_error_set(err, EINVAL, "container id is longer than 1024 bytes");
        if (streq(id, ".") || streq(id, ".."))
                return hull_error_set(err, EINVAL, "invalid container id \"%s\"", id);
        for (const char *p = id; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("_+-.", *p))
                        return hull_error_set(err, EINVAL, "invalid container id \"%s\"", id);
        return 0;
}

int hull_oci_absolute(const char *path, char **ret, struct hull_error **err)
{
        _cleanup_free_ char *cwd = NULL;

        if (path[0] == '/') {
                *ret = strdup(path);
                return *ret ? 0 : hull_error_oom(err);
        }
        cwd = getcwd(NULL, 0);
        if (!cwd)
                return hull_error_errno(err, errno, "getcwd");
        return asprintf(ret, "%s/%s", cwd, path) < 0 ? hull_error_oom(err) : 0;
}

bool hull_oci_common_option(int c, const char *arg, struct hull_oci_common_opts *o)
{
        switch (c) {
        case HULL_OCI_OPT_PID_FILE:
                o->pid_file = arg;
                return true;
        case HULL_OCI_OPT_CONSOLE_SOCKET:
                o->console_socket = arg;
                return true;
        case HULL_OCI_OPT_PRESERVE_FDS:
                if (strtol(arg, NULL, 10) > 0)
                        log_warn("--preserve-fds: extra fds cannot reach a container inside a VM: ignored");
                return true;
        }
        return false;
}

int hull_oci_state_dir(const struct hull_cli_ctx *ctx, const char *id, char **ret, struct hull_error **err)
{
        _cleanup_free_ char *root = NULL;
        int r;

        r = hull_oci_id_check(id, err);
        if (r < 0)
                return r;
        r = hull_oci_absolute(ctx->root, &root, err);
        if (r < 0)
                return r;
        return asprintf(ret, "%s/%s", root, id) < 0 ? hull_error_oom(err) : 0;
}

struct hull_oci_container *hull_oci_container_free(struct hull_oci_container *c)
{
        if (!c)
                return NULL;
        free(c->id);
        free(c->dir);
        free(c->bundle);
        free(c->config);
        free(c->created);
        free(c->status);
        json_object_put(c->annotations);
        free(c->processes);
        free(c);
        return NULL;
}

/* state.json through the sandbox service's own reader (src/sandbox/state.h): one format, one parser. */
static int parse_state(struct hull_oci_container *c, struct hull_error **err)
{
        struct hull_state st;
        int r;

        r = hull_state_read(c->dir, &st, err);
        if (r < 0)
                return r;
        c->bundle = TAKE_PTR(st.bundle);
        c->config = TAKE_PTR(st.config);
        c->created = TAKE_PTR(st.created);
        c->status = TAKE_PTR(st.status);
        c->annotations = TAKE_PTR(st.annotations);
        c->monitor_pid = st.monitor_pid;
        c->monitor_start_time = st.monitor_start_time;
        c->exit_status = st.exit_status;
        c->processes = calloc(st.n_processes ? st.n_processes : 1, sizeof(*c->processes));
        if (c->processes) {
                memcpy(c->processes, st.processes, st.n_processes * sizeof(*c->processes));
                c->n_processes = st.n_processes;
        }
        hull_state_clear(&st);
        if (!c->processes)
                return hull_error_oom(err);
        /* A field the file lacks reads as empty. */
        if ((!c->bundle && !(c->bundle = strdup(""))) || (!c->config && !(c->config = strdup(""))) ||
            (!c->created && !(c->created = strdup(""))) || (!c->status && !(c->status = strdup(""))))
                return hull_error_oom(err);
        c->has_state = true;
        return 0;
}

static int container_load(const struct hull_cli_ctx *ctx, const char *id, bool tolerant,
                          struct hull_oci_container **ret, struct hull_error **err)
{
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        _cleanup_free_ char *path = NULL;
        struct stat st;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return hull_error_oom(err);
        c->exit_status = -1;
        c->id = strdup(id);
        if (!c->id)
                return hull_error_oom(err);
        r = hull_oci_state_dir(ctx, id, &c->dir, err);
        if (r < 0)
                return r;
        if (stat(c->dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return hull_error_set(err, ENOENT, "container \"%s\" does not exist", id);
        if (asprintf(&path, "%s/state.json", c->dir) < 0)
                return hull_error_oom(err);
        if (access(path, F_OK) == 0) {
                _cleanup_error_ struct hull_error *e = NULL;
                r = parse_state(c, &e);
                if (r < 0 && !tolerant) {
                        if (err)
                                *err = TAKE_PTR(e);
                        return r;
                }
                if (r < 0)
                        log_warn("container %s: %s: taken as no state", id, hull_error_message(e));
        }
        if (!c->has_state) {
                /* No (usable) state.json: an aborted create, or a wreck that only delete should touch. */
                free(c->bundle);
                free(c->config);
                free(c->created);
                free(c->status);
                c->bundle = strdup("");
                c->config = strdup("");
                c->created = strdup("");
                c->status = strdup("stopped");
                if (!c->bundle || !c->config || !c->created || !c->status)
                        return hull_error_oom(err);
        }
        if (!c->annotations && !(c->annotations = json_object_new_object()))
                return hull_error_oom(err);
        *ret = TAKE_PTR(c);
        return 0;
}

int hull_oci_container_load(const struct hull_cli_ctx *ctx, const char *id, struct hull_oci_container **ret,
                            struct hull_error **err)
{
        return container_load(ctx, id, false, ret, err);
}

int hull_oci_container_load_any(const struct hull_cli_ctx *ctx, const char *id, struct hull_oci_container **ret,
                                struct hull_error **err)
{
        return container_load(ctx, id, true, ret, err);
}

bool hull_oci_monitor_alive(const struct hull_oci_container *c)
{
        return hull_proc_matches(c->monitor_pid, c->monitor_start_time);
}

int hull_oci_connect(const struct hull_oci_container *c, struct hull_task_client **ret, struct hull_error **err)
{
        int r;

        if (!hull_oci_monitor_alive(c))
                return hull_error_set(err, ESRCH, "container \"%s\": its monitor is not running", c->id);
        r = hull_task_client_connect(c->dir, ret, err);
        if (r == -ENOENT || r == -ECONNREFUSED) {
                /* The monitor removes its socket first when its container has stopped and it is on its way out. */
                if (err)
                        *err = hull_error_free(*err);
                return hull_error_set(err, ESRCH, "container \"%s\" has stopped", c->id);
        }
        return r;
}

static const char *status_name(Containerd__V1__Types__Status s)
{
        switch (s) {
        case CONTAINERD__V1__TYPES__STATUS__CREATED:
                return "created";
        case CONTAINERD__V1__TYPES__STATUS__RUNNING:
                return "running";
        case CONTAINERD__V1__TYPES__STATUS__PAUSED:
        case CONTAINERD__V1__TYPES__STATUS__PAUSING:
                return "paused";
        case CONTAINERD__V1__TYPES__STATUS__STOPPED:
                return "stopped";
        default:
                return NULL;
        }
}

static const char *recorded_status(const struct hull_oci_container *c, bool monitor_alive)
{
        static const char *const known[] = { "creating", "created", "running", "paused", "stopped" };

        if (!monitor_alive)
                return "stopped";
        for (size_t i = 0; i < ARRAY_SIZE(known); i++)
                if (streq(c->status, known[i]))
                        return known[i];
        return "stopped";
}

int hull_oci_container_status(const struct hull_oci_container *c, struct hull_task_client *client,
                              const char **ret_status, pid_t *ret_pid, struct hull_error **err)
{
        _cleanup_(hull_task_client_freep) struct hull_task_client *own = NULL;
        Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
        Containerd__Task__V2__StateResponse *resp = NULL;
        bool alive = hull_oci_monitor_alive(c);
        const char *status = NULL;
        pid_t pid = 0;
        int r;

        if (alive && !client && hull_task_client_connect(c->dir, &own, NULL) >= 0)
                client = own;
        if (alive && client) {
                req.id = c->id;
                r = hull_task_client_call(client, "State", &req.base, &containerd__task__v2__state_response__descriptor,
                                          HULL_TASK_TIMEOUT_SHORT_USEC, (ProtobufCMessage **)&resp, NULL);
                if (r >= 0) {
                        status = status_name(resp->status);
                        pid = (pid_t)resp->pid;
                        protobuf_c_message_free_unpacked(&resp->base, NULL);
                }
        }
        if (!status) {
                /* No answer: what state.json says (a monitor still starting has not listened yet). */
                status = recorded_status(c, alive);
                pid = alive ? c->monitor_pid : 0;
        }
        if (streq(status, "stopped"))
                pid = 0;
        *ret_status = status;
        *ret_pid = pid;
        (void)err;
        return 0;
}

int hull_oci_read_bundle_config(const char *bundle, struct json_object **ret, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        struct json_object *o;
        size_t len;
        int r;

        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return hull_error_oom(err);
        r = hull_read_file(path, CONFIG_JSON_MAX, &data, &len, err);
        if (r < 0)
                return r;
        o = json_tokener_parse(data);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return hull_error_set(err, EINVAL, "%s: not a JSON object", path);
        }
        *ret = o;
        return 0;
}

/* The absolute path of the bundle's root.path, "" when the bundle can't tell. */
static char *bundle_rootfs(const char *bundle)
{
        struct json_object *cfg = NULL, *root, *path;
        char *ret = NULL;

        if (!*bundle || hull_oci_read_bundle_config(bundle, &cfg, NULL) < 0)
                return strdup("");
        if (json_object_object_get_ex(cfg, "root", &root) && json_object_object_get_ex(root, "path", &path) &&
            json_object_is_type(path, json_type_string)) {
                const char *p = json_object_get_string(path);
                if (p[0] == '/')
                        ret = strdup(p);
                else if (asprintf(&ret, "%s/%s", bundle, p) < 0)
                        ret = NULL;
        }
        json_object_put(cfg);
        return ret ? ret : strdup("");
}

int hull_oci_state_json(const struct hull_oci_container *c, const char *status, pid_t pid, struct json_object **ret,
                        struct hull_error **err)
{
        _cleanup_free_ char *rootfs = bundle_rootfs(c->bundle);
        struct json_object *o;

        if (!rootfs)
                return hull_error_oom(err);
        o = json_object_new_object();
        if (!o)
                return hull_error_oom(err);
        json_object_object_add(o, "ociVersion", json_object_new_string(HULL_OCI_VERSION));
        json_object_object_add(o, "id", json_object_new_string(c->id));
        json_object_object_add(o, "pid", json_object_new_int(pid));
        json_object_object_add(o, "status", json_object_new_string(status));
        json_object_object_add(o, "bundle", json_object_new_string(c->bundle));
        json_object_object_add(o, "rootfs", json_object_new_string(rootfs));
        json_object_object_add(o, "created", json_object_new_string(c->created));
        json_object_object_add(o, "owner", json_object_new_string(""));
        json_object_object_add(o, "annotations", json_object_get(c->annotations));
        *ret = o;
        return 0;
}

int hull_oci_parse_signal(const char *s, int *ret, struct hull_error **err)
{
        const char *name = s;
        char *end;
        long n;

        if (!*s)
                return hull_error_set(err, EINVAL, "invalid signal \"\"");
        if (isdigit((unsigned char)*s)) {
                errno = 0;
                n = strtol(s, &end, 10);
                if (errno || *end || n <= 0 || n > SIGRTMAX)
                        return hull_error_set(err, EINVAL, "invalid signal \"%s\"", s);
                *ret = (int)n;
                return 0;
        }
        if (strncasecmp(name, "SIG", 3) == 0)
                name += 3;
        for (int sig = 1; sig < SIGRTMIN; sig++) {
                const char *abbrev = sigabbrev_np(sig);
                if (abbrev && strcasecmp(abbrev, name) == 0) {
                        *ret = sig;
                        return 0;
                }
        }
        /* The names runc's table has beyond glibc's abbreviations. */
        if (strcasecmp(name, "IOT") == 0) {
                *ret = SIGABRT;
                return 0;
        }
        if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
                bool min = toupper((unsigned char)name[3]) == 'I';
                long off = 0;
                if (name[5]) {
                        errno = 0;
                        off = strtol(name + 5, &end, 10);
                        if (errno || *end || (min ? off < 0 : off > 0))
                                return hull_error_set(err, EINVAL, "invalid signal \"%s\"", s);
                }
                n = (min ? SIGRTMIN : SIGRTMAX) + off;
                if (n < SIGRTMIN || n > SIGRTMAX)
                        return hull_error_set(err, EINVAL, "invalid signal \"%s\"", s);
                *ret = (int)n;
                return 0;
        }
        return hull_error_set(err, EINVAL, "unknown signal \"%s\"", s);
}

int hull_oci_write_pid_file(const char *path, pid_t pid, struct hull_error **err)
{
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%d", (int)pid);

        if (hull_write_file_atomic(path, buf, (size_t)n, 0644, err) < 0)
                return hull_error_prefix(err, "write pid file %s", path);
        return 0;
}

int hull_oci_random_id(char ret[33], struct hull_error **err)
{
        uint8_t b[16];

        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                return hull_error_errno(err, errno, "getrandom");
        for (size_t i = 0; i < sizeof(b); i++)
                snprintf(ret + 2 * i, 3, "%02x", b[i]);
        return 0;
}

int hull_oci_fd_uri(int fd, char **ret, struct hull_error **err)
{
        if (fcntl(fd, F_GETFD) < 0)
                *ret = strdup("");
        else if (asprintf(ret, "hull-fd://%d/%d", (int)getpid(), fd) < 0)
                *ret = NULL;
        return *ret ? 0 : hull_error_oom(err);
}

int hull_oci_wait_pid_gone(pid_t pid, int timeout_ms, struct hull_error **err)
{
        _cleanup_close_ int pidfd = -1;
        struct pollfd p;
        int r;

        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
                if (errno == ESRCH)
                        return 0;
                return hull_error_errno(err, errno, "pidfd_open %d", (int)pid);
        }
        p = (struct pollfd){ .fd = pidfd, .events = POLLIN };
        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return hull_error_errno(err, errno, "poll pidfd %d", (int)pid);
        if (r == 0)
                return hull_error_set(err, ETIMEDOUT, "process %d did not exit in %d ms", (int)pid, timeout_ms);
        return 0;
}
