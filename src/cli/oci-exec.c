/* `hull exec <id> [cmd...]`: a new process in a running container, in the foreground (its exit status is ours) or
 * detached (-d: a small waiter process stands for it; its pid goes to --pid-file and it exits with the process's
 * status, which is what conmon waits for). */
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "cli.h"
#include "console.h"
#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "error.h"
#include "fd.h"
#include "google_protobuf_any.pb-c.h"
#include "log.h"
#include "oci.h"
#include "task-client.h"

#define PROCESS_JSON_MAX (1u << 20)
#define CONSOLE_TIMEOUT_MS 30000
/* containerd's type URL for an OCI Process in ExecProcessRequest.spec (the value is its JSON). */
#define PROCESS_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Process"

enum {
        OPT_CWD = 0x100,
        OPT_CAP,
        OPT_NO_NEW_PRIVS,
        OPT_IGNORED_ARG,
};

struct exec_args {
        const char *id;
        const char *process_file;
        struct hull_oci_common_opts common;
        const char *cwd;
        const char *user;
        bool tty, detach, no_new_privs;
        char **env;
        size_t n_env;
        char **caps;
        size_t n_caps;
        char **cmd;
        int n_cmd;
};

static void usage(void)
{
        printf("usage: hull exec [options] <container-id> [command [args...]]\n\n"
               "Run a new process in a running container.\n\n"
               "  -p, --process FILE        the process as OCI process.json (instead of the command)\n"
               "  -t, --tty                 give the process a terminal\n"
               "  -d, --detach              do not wait (a waiter process stands for the process)\n"
               "      --pid-file PATH       write that waiter's pid (detached) or our own pid there\n"
               "      --console-socket PATH send the terminal's master there\n"
               "  -e, --env NAME=VALUE      add or replace an environment variable (repeatable)\n"
               "      --cwd DIR             the working directory in the container\n"
               "  -u, --user UID[:GID]      the user to run as\n"
               "  -c, --cap CAP             add a capability (repeatable)\n"
               "      --no-new-privs        set no_new_privileges\n"
               "  --preserve-fds, --process-label, --apparmor, -g/--additional-gids accepted (no effect)\n");
}

static int push(char ***v, size_t *n, const char *s, struct hull_error **err)
{
        char **p = realloc(*v, (*n + 1) * sizeof(char *));

        if (!p)
                return hull_error_oom(err);
        *v = p;
        p[(*n)++] = (char *)s;
        return 0;
}

static int parse_args(int argc, char **argv, struct exec_args *a, bool *ret_help, struct hull_error **err)
{
        static const struct option options[] = {
                { "process", required_argument, NULL, 'p' },
                { "tty", no_argument, NULL, 't' },
                { "detach", no_argument, NULL, 'd' },
                { "pid-file", required_argument, NULL, HULL_OCI_OPT_PID_FILE },
                { "console-socket", required_argument, NULL, HULL_OCI_OPT_CONSOLE_SOCKET },
                { "env", required_argument, NULL, 'e' },
                { "cwd", required_argument, NULL, OPT_CWD },
                { "user", required_argument, NULL, 'u' },
                { "cap", required_argument, NULL, 'c' },
                { "no-new-privs", no_argument, NULL, OPT_NO_NEW_PRIVS },
                { "preserve-fds", required_argument, NULL, HULL_OCI_OPT_PRESERVE_FDS },
                { "process-label", required_argument, NULL, OPT_IGNORED_ARG },
                { "apparmor", required_argument, NULL, OPT_IGNORED_ARG },
                { "additional-gids", required_argument, NULL, 'g' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        *ret_help = false;
        while ((c = getopt_long(argc, argv, "+p:tde:u:c:g:h", options, NULL)) != -1) {
                switch (c) {
                case 'p':
                        a->process_file = optarg;
                        break;
                case 't':
                        a->tty = true;
                        break;
                case 'd':
                        a->detach = true;
                        break;
                case 'e':
                        if (!strchr(optarg, '='))
                                return hull_error_set(err, EINVAL, "exec: --env %s: expected NAME=VALUE", optarg);
                        if (push(&a->env, &a->n_env, optarg, err) < 0)
                                return -ENOMEM;
                        break;
                case OPT_CWD:
                        a->cwd = optarg;
                        break;
                case 'u':
                        a->user = optarg;
                        break;
                case 'c':
                        if (push(&a->caps, &a->n_caps, optarg, err) < 0)
                                return -ENOMEM;
                        break;
                case OPT_NO_NEW_PRIVS:
                        a->no_new_privs = true;
                        break;
                case OPT_IGNORED_ARG:
                case 'g':
                        break;
                case 'h':
                        usage();
                        *ret_help = true;
                        return 0;
                default: /* --pid-file, --console-socket, --preserve-fds, or a bad one */
                        if (!hull_oci_common_option(c, optarg, &a->common))
                                return hull_error_set(err, EINVAL, "exec: bad option %s", argv[optind - 1]);
                        break;
                }
        }
        if (optind >= argc)
                return hull_error_set(err, EINVAL, "exec: expected a container id");
        a->id = argv[optind];
        a->cmd = argv + optind + 1;
        a->n_cmd = argc - optind - 1;
        if (!a->process_file && a->n_cmd == 0)
                return hull_error_set(err, EINVAL, "exec: args must not be empty");
        return hull_oci_id_check(a->id, err);
}

static struct json_object *get_or_add(struct json_object *o, const char *key, enum json_type type)
{
        struct json_object *v;

        if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, type))
                return v;
        v = type == json_type_array ? json_object_new_array() : json_object_new_object();
        json_object_object_add(o, key, v);
        return v;
}

/* Replace NAME=... in env, or append. */
static void set_env(struct json_object *env, const char *kv)
{
        size_t klen = strcspn(kv, "=") + 1;

        for (size_t i = 0; i < json_object_array_length(env); i++) {
                const char *e = json_object_get_string(json_object_array_get_idx(env, i));
                if (e && strneq(e, kv, klen)) {
                        json_object_array_put_idx(env, i, json_object_new_string(kv));
                        return;
                }
        }
        json_object_array_add(env, json_object_new_string(kv));
}

/* The process: process.json as given, or the container's own process (env, user, caps, rlimits ...) with the
 * command and the options laid over it, as runc builds it. */
static int build_process(const struct exec_args *a, const struct hull_oci_container *c, struct json_object **ret,
                         struct hull_error **err)
{
        struct json_object *process = NULL, *cfg = NULL, *base, *v;
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;

        if (a->process_file) {
                r = hull_read_file(a->process_file, PROCESS_JSON_MAX, &data, &len, err);
                if (r < 0)
                        return hull_error_prefix(err, "exec: --process");
                process = json_tokener_parse(data);
                if (!process || !json_object_is_type(process, json_type_object)) {
                        json_object_put(process);
                        return hull_error_set(err, EINVAL, "exec: %s: not a JSON object", a->process_file);
                }
        } else {
                r = hull_oci_read_bundle_config(c->bundle, &cfg, err);
                if (r < 0)
                        return hull_error_prefix(err, "exec: the container's bundle");
                if (json_object_object_get_ex(cfg, "process", &base) && json_object_is_type(base, json_type_object))
                        r = json_object_deep_copy(base, &process, NULL);
                else
                        process = json_object_new_object();
                json_object_put(cfg);
                if (r < 0 || !process)
                        return hull_error_oom(err);
                json_object_object_del(process, "terminal");
                json_object_object_del(process, "consoleSize");
                v = json_object_new_array();
                for (int i = 0; i < a->n_cmd; i++)
                        json_object_array_add(v, json_object_new_string(a->cmd[i]));
                json_object_object_add(process, "args", v);
        }
        if (a->tty)
                json_object_object_add(process, "terminal", json_object_new_boolean(true));
        for (size_t i = 0; i < a->n_env; i++)
                set_env(get_or_add(process, "env", json_type_array), a->env[i]);
        if (a->cwd)
                json_object_object_add(process, "cwd", json_object_new_string(a->cwd));
        if (!json_object_object_get_ex(process, "cwd", &v))
                json_object_object_add(process, "cwd", json_object_new_string("/"));
        if (a->user) {
                struct json_object *user = get_or_add(process, "user", json_type_object);
                unsigned uid, gid;
                int n = sscanf(a->user, "%u:%u", &uid, &gid);
                if (n < 1) {
                        json_object_put(process);
                        return hull_error_set(err, EINVAL, "exec: --user %s: expected UID[:GID]", a->user);
                }
                json_object_object_add(user, "uid", json_object_new_int64(uid));
                if (n == 2)
                        json_object_object_add(user, "gid", json_object_new_int64(gid));
        }
        if (a->no_new_privs)
                json_object_object_add(process, "noNewPrivileges", json_object_new_boolean(true));
        if (a->n_caps) {
                struct json_object *caps = get_or_add(process, "capabilities", json_type_object);
                static const char *const sets[] = { "bounding", "effective", "permitted", "ambient" };
                for (size_t s = 0; s < ARRAY_SIZE(sets); s++)
                        for (size_t i = 0; i < a->n_caps; i++)
                                json_object_array_add(get_or_add(caps, sets[s], json_type_array),
                                                      json_object_new_string(a->caps[i]));
        }
        *ret = process;
        return 0;
}

static bool process_terminal(struct json_object *process)
{
        struct json_object *v;

        return json_object_object_get_ex(process, "terminal", &v) && json_object_get_boolean(v);
}

static int delete_exec(struct hull_task_client *client, const char *id, const char *exec_id, struct hull_error **err)
{
        Containerd__Task__V2__DeleteRequest req = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        int r;

        req.id = (char *)id;
        req.exec_id = (char *)exec_id;
        r = hull_task_client_call(client, "Delete", &req.base, &containerd__task__v2__delete_response__descriptor,
                                  HULL_TASK_TIMEOUT_SHORT_USEC, &resp, err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        return r;
}

/* The detached waiter (a child of ours, a grandchild of the caller): wait for the process, delete it, and exit with
 * its status. Its stdio is /dev/null: the process's own stdio is the monitor's business. */
static int waiter(const struct hull_oci_container *c, const char *exec_id)
{
        _cleanup_(hull_task_client_freep) struct hull_task_client *client = NULL;
        Containerd__Task__V2__WaitRequest req = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
        Containerd__Task__V2__WaitResponse *resp = NULL;
        int null, status;

        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
                if (null > STDERR_FILENO)
                        close(null);
        }
        if (hull_task_client_connect(c->dir, &client, NULL) < 0)
                return 255;
        req.id = c->id;
        req.exec_id = (char *)exec_id;
        if (hull_task_client_call(client, "Wait", &req.base, &containerd__task__v2__wait_response__descriptor, 0,
                                  (ProtobufCMessage **)&resp, NULL) < 0)
                return 255;
        status = (int)resp->exit_status;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        delete_exec(client, c->id, exec_id, NULL);
        return status;
}

static void exec_args_done(struct exec_args *a)
{
        free(a->env);
        free(a->caps);
}

static void json_putp(struct json_object **o)
{
        json_object_put(*o);
}

/* The stdio strings for the Task API: a console socket, or our own fds. */
static int stdio_uris(bool terminal, const char *console, char **in, char **out, char **errs, struct hull_error **err)
{
        if (terminal) {
                if (asprintf(out, "hull-console://%s", console) < 0)
                        return hull_error_oom(err);
                *in = strdup("");
                *errs = strdup("");
                return *in && *errs ? 0 : hull_error_oom(err);
        }
        if (hull_oci_fd_uri(STDIN_FILENO, in, err) < 0 || hull_oci_fd_uri(STDOUT_FILENO, out, err) < 0 ||
            hull_oci_fd_uri(STDERR_FILENO, errs, err) < 0)
                return -ENOMEM;
        return 0;
}

static void kill_process(struct hull_task_client *client, const char *id, const char *exec_id, int sig)
{
        Containerd__Task__V2__KillRequest req = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;

        req.id = (char *)id;
        req.exec_id = (char *)exec_id;
        req.signal = (uint32_t)sig;
        hull_task_client_call_empty(client, "Kill", &req.base, HULL_TASK_TIMEOUT_SHORT_USEC, NULL);
}

/* Exec + Start of the process in the monitor; on a failure after Exec the process is deleted again. */
static int exec_start(struct hull_task_client *client, const struct hull_oci_container *c, const char *exec_id,
                      struct json_object *process, bool terminal, const char *in, const char *out, const char *errs,
                      struct hull_cli_console *own_console, struct hull_oci_fg *fg, struct hull_error **err)
{
        Containerd__Task__V2__ExecProcessRequest req = CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
        Containerd__Task__V2__StartRequest sreq = CONTAINERD__TASK__V2__START_REQUEST__INIT;
        Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
        ProtobufCMessage *resp = NULL;
        const char *json;
        int r;

        json = json_object_to_json_string_ext(process, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        spec.type_url = (char *)PROCESS_TYPE_URL;
        spec.value.data = (uint8_t *)json;
        spec.value.len = strlen(json);
        req.id = c->id;
        req.exec_id = (char *)exec_id;
        req.terminal = terminal;
        req.stdin = (char *)in;
        req.stdout = (char *)out;
        req.stderr = (char *)errs;
        req.spec = &spec;
        r = hull_task_client_call_empty(client, "Exec", &req.base, HULL_TASK_TIMEOUT_LONG_USEC, err);
        if (r < 0)
                return r;
        if (own_console) {
                r = hull_cli_console_attach(own_console, hull_task_client_loop(client), CONSOLE_TIMEOUT_MS, err);
                if (r < 0) {
                        delete_exec(client, c->id, exec_id, NULL);
                        return r;
                }
                hull_oci_fg_set_console(fg, own_console);
        }
        sreq.id = c->id;
        sreq.exec_id = (char *)exec_id;
        r = hull_task_client_call(client, "Start", &sreq.base, &containerd__task__v2__start_response__descriptor,
                                  HULL_TASK_TIMEOUT_LONG_USEC, &resp, err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        if (r < 0)
                delete_exec(client, c->id, exec_id, NULL);
        return r;
}

static int exec_main(const struct hull_cli_ctx *ctx, struct exec_args *a, struct hull_error **err)
{
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        _cleanup_(hull_task_client_freep) struct hull_task_client *client = NULL;
        _cleanup_(hull_oci_fg_freep) struct hull_oci_fg *fg = NULL;
        _cleanup_(hull_cli_console_freep) struct hull_cli_console *own_console = NULL;
        _cleanup_(json_putp) struct json_object *process = NULL;
        _cleanup_free_ char *console = NULL, *in = NULL, *out = NULL, *errs = NULL;
        const char *status_name;
        char exec_id[33];
        bool terminal;
        int r, sig, status;
        pid_t pid;

        r = hull_oci_container_load(ctx, a->id, &c, err);
        if (r < 0)
                return r;
        if (!hull_oci_monitor_alive(c))
                return hull_error_set(err, EINVAL, "cannot exec in a stopped container");
        r = hull_task_client_connect(c->dir, &client, err);
        if (r < 0)
                return r;
        r = hull_oci_container_status(c, client, &status_name, &pid, err);
        if (r < 0)
                return r;
        if (!streq(status_name, "running"))
                return hull_error_set(err, EINVAL, "cannot exec in a %s container", status_name);
        r = build_process(a, c, &process, err);
        if (r < 0)
                return r;
        terminal = process_terminal(process);
        if (a->common.console_socket) {
                if (!terminal)
                        return hull_error_set(err, EINVAL, "cannot use console socket if hull will not allocate tty");
                r = hull_oci_absolute(a->common.console_socket, &console, err);
                if (r < 0)
                        return r;
        } else if (terminal) {
                if (a->detach)
                        return hull_error_set(err, EINVAL,
                                              "cannot allocate tty if hull will detach without setting console socket");
                r = hull_cli_console_new(&own_console, err);
                if (r < 0)
                        return r;
                console = strdup(hull_cli_console_path(own_console));
                if (!console)
                        return hull_error_oom(err);
        }
        r = stdio_uris(terminal, console, &in, &out, &errs, err);
        if (r < 0)
                return r;
        r = hull_oci_random_id(exec_id, err);
        if (r < 0)
                return r;
        if (!a->detach) {
                r = hull_oci_fg_new(client, c->id, &fg, err);
                if (r < 0)
                        return r;
        }
        r = exec_start(client, c, exec_id, process, terminal, in, out, errs, own_console, fg, err);
        if (r < 0)
                return r;
        if (a->detach) {
                client = hull_task_client_free(client);
                pid = fork();
                if (pid < 0)
                        return hull_error_errno(err, errno, "fork");
                if (pid == 0)
                        return waiter(c, exec_id); /* through main(), with the process's exit status */
                return a->common.pid_file ? hull_oci_write_pid_file(a->common.pid_file, pid, err) : 0;
        }
        if (a->common.pid_file) {
                r = hull_oci_write_pid_file(a->common.pid_file, getpid(), err);
                if (r < 0) {
                        delete_exec(client, c->id, exec_id, NULL);
                        return r;
                }
        }
        sig = hull_oci_fg_started(fg, exec_id);
        if (sig)
                kill_process(client, c->id, exec_id, sig);
        r = hull_oci_fg_wait_process(fg, &status, err);
        delete_exec(client, c->id, exec_id, NULL);
        return r < 0 ? r : status;
}

int hull_cli_exec(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        _cleanup_(exec_args_done) struct exec_args a = {};
        bool help;
        int r;

        r = parse_args(argc, argv, &a, &help, err);
        if (r < 0 || help)
                return r;
        r = exec_main(ctx, &a, err);
        return r < 0 ? hull_error_prefix(err, "exec %s", a.id) : r;
}
