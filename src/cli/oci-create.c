/* `hull create` (a sandbox VM with the container created in it, left to its monitor) and `hull run` (create, start,
 * and in the foreground: relay, forward signals, wait, delete; the exit status is the container's). */
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "cli.h"
#include "console.h"
#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "error.h"
#include "log.h"
#include "monitor.h"
#include "oci.h"
#include "task-client.h"

#define MONITOR_ABORT_TIMEOUT_MS 60000
#define CONSOLE_TIMEOUT_MS 30000

struct create_args {
        const char *id;
        const char *bundle;
        struct hull_oci_common_opts common;
        bool detach;
};

enum {
        OPT_NO_PIVOT = 0x100,
        OPT_NO_NEW_KEYRING,
        OPT_NO_SUBREAPER,
        OPT_KEEP,
};

static const struct option create_options[] = {
        { "bundle", required_argument, NULL, 'b' },
        { "pid-file", required_argument, NULL, HULL_OCI_OPT_PID_FILE },
        { "console-socket", required_argument, NULL, HULL_OCI_OPT_CONSOLE_SOCKET },
        { "no-pivot", no_argument, NULL, OPT_NO_PIVOT },
        { "no-new-keyring", no_argument, NULL, OPT_NO_NEW_KEYRING },
        { "preserve-fds", required_argument, NULL, HULL_OCI_OPT_PRESERVE_FDS },
        { "detach", no_argument, NULL, 'd' },
        { "no-subreaper", no_argument, NULL, OPT_NO_SUBREAPER },
        { "keep", no_argument, NULL, OPT_KEEP },
        { "help", no_argument, NULL, 'h' },
        {},
};

static void usage(bool run)
{
        printf("usage: hull %s [options] <container-id>\n\n", run ? "run" : "create");
        if (run)
                printf("Create and start a container, wait for it in the foreground and delete it; the exit status\n"
                       "is the container's (128+n when a signal n ended it).\n\n");
        else
                printf("Create a container: boot its VM and prepare the process, which `hull start` runs.\n"
                       "A monitor process stays behind; its pid is the container's pid for --pid-file and\n"
                       "`hull state`, and it exits with the container's exit status.\n\n");
        printf("  -b, --bundle DIR          the bundle (default: the current directory)\n"
               "      --pid-file PATH       write the monitor's pid there\n"
               "      --console-socket PATH send the terminal's master there (process.terminal true)\n"
               "      --no-pivot, --no-new-keyring, --preserve-fds N\n"
               "                            accepted for runc compatibility (no effect)\n");
        if (run)
                printf("  -d, --detach              do not wait: leave the container running\n"
                       "      --no-subreaper, --keep accepted for runc compatibility (no effect)\n");
}

static int parse_args(int argc, char **argv, bool run, struct create_args *a, bool *ret_help, struct hull_error **err)
{
        int c;

        *ret_help = false;
        a->bundle = ".";
        while ((c = getopt_long(argc, argv, run ? "+b:dh" : "+b:h", create_options, NULL)) != -1) {
                switch (c) {
                case 'b':
                        a->bundle = optarg;
                        break;
                case OPT_NO_PIVOT:
                case OPT_NO_NEW_KEYRING:
                case OPT_NO_SUBREAPER:
                case OPT_KEEP:
                        break;
                case 'd':
                        if (!run)
                                return hull_error_set(err, EINVAL, "create: bad option -d");
                        a->detach = true;
                        break;
                case 'h':
                        usage(run);
                        *ret_help = true;
                        return 0;
                case ':':
                        return hull_error_set(err, EINVAL, "%s: option %s needs an argument", argv[0],
                                              argv[optind - 1]);
                default: /* --pid-file, --console-socket, --preserve-fds, or a bad one */
                        if (!hull_oci_common_option(c, optarg, &a->common))
                                return hull_error_set(err, EINVAL, "%s: bad option %s", argv[0], argv[optind - 1]);
                        break;
                }
        }
        if (argc - optind != 1)
                return hull_error_set(err, EINVAL, "%s: expected exactly one container id", argv[0]);
        a->id = argv[optind];
        return hull_oci_id_check(a->id, err);
}

static int bundle_terminal(const char *bundle, bool *ret, struct hull_error **err)
{
        struct json_object *cfg, *process, *terminal;
        int r;

        r = hull_oci_read_bundle_config(bundle, &cfg, err);
        if (r < 0)
                return r;
        *ret = json_object_object_get_ex(cfg, "process", &process) &&
                json_object_object_get_ex(process, "terminal", &terminal) && json_object_get_boolean(terminal);
        json_object_put(cfg);
        return 0;
}

/* Create failed after the monitor was spawned: stop it and remove what it left. */
static void abort_create(const struct hull_cli_ctx *ctx, const char *id, struct hull_task_client *client, pid_t monitor)
{
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
        _cleanup_error_ struct hull_error *e = NULL;

        if (client) {
                req.id = (char *)id;
                req.now = true;
                hull_task_client_call_empty(client, "Shutdown", &req.base, HULL_TASK_TIMEOUT_SHORT_USEC, NULL);
        }
        if (hull_oci_wait_pid_gone(monitor, MONITOR_ABORT_TIMEOUT_MS, NULL) < 0)
                kill(monitor, SIGKILL);
        waitpid(monitor, NULL, 0);
        if (hull_oci_container_load(ctx, id, &c, NULL) >= 0 && hull_oci_delete_dead(c, &e) < 0)
                log_warn("create %s: cleaning up: %s", id, hull_error_message(e));
}

/* Spawn the monitor and create the container in it, with our stdio (or the console socket) as the process's. */
static int create_container(const struct hull_cli_ctx *ctx, const struct create_args *a, const char *console_path,
                            bool foreground, struct hull_task_client **ret_client, struct hull_oci_fg **ret_fg,
                            pid_t *ret_pid, struct hull_error **err)
{
        _cleanup_(hull_task_client_freep) struct hull_task_client *client = NULL;
        _cleanup_(hull_oci_fg_freep) struct hull_oci_fg *fg = NULL;
        _cleanup_free_ char *bundle = NULL, *dir = NULL, *in = NULL, *out = NULL, *errs = NULL;
        _cleanup_free_ char *root = NULL, *config = NULL, *log_path = NULL;
        struct hull_cli_ctx mctx;
        Containerd__Task__V2__CreateTaskRequest req = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        char resolved[PATH_MAX];
        bool terminal;
        pid_t monitor;
        int r;

        if (!realpath(a->bundle, resolved))
                return hull_error_errno(err, errno, "bundle %s", a->bundle);
        bundle = strdup(resolved);
        if (!bundle)
                return hull_error_oom(err);
        r = bundle_terminal(bundle, &terminal, err);
        if (r < 0)
                return r;
        if (terminal && !console_path)
                return hull_error_set(err, EINVAL,
                                      "cannot allocate tty if hull will detach without setting console socket");
        if (!terminal && console_path && a->common.console_socket)
                return hull_error_set(err, EINVAL, "cannot use console socket if hull will not detach or allocate tty");
        if (terminal) {
                if (asprintf(&out, "hull-console://%s", console_path) < 0)
                        return hull_error_oom(err);
                in = strdup("");
                errs = strdup("");
                if (!in || !errs)
                        return hull_error_oom(err);
        } else if (hull_oci_fd_uri(STDIN_FILENO, &in, err) < 0 || hull_oci_fd_uri(STDOUT_FILENO, &out, err) < 0 ||
                   hull_oci_fd_uri(STDERR_FILENO, &errs, err) < 0)
                return -ENOMEM;
        r = hull_oci_state_dir(ctx, a->id, &dir, err);
        if (r < 0)
                return r;
        /* The monitor lives on in "/": it gets the paths of the global options absolute. */
        if ((ctx->root && hull_oci_absolute(ctx->root, &root, err) < 0) ||
            (ctx->config_path && hull_oci_absolute(ctx->config_path, &config, err) < 0) ||
            (ctx->log_path && hull_oci_absolute(ctx->log_path, &log_path, err) < 0))
                return -ENOMEM;
        mctx = *ctx;
        mctx.root = root;
        mctx.config_path = config;
        mctx.log_path = log_path;
        r = hull_monitor_spawn(&mctx, a->id, bundle, &monitor, err);
        if (r == -EEXIST)
                return hull_error_set(err, EEXIST, "container with id exists: %s", a->id);
        if (r < 0)
                return r;
        r = hull_task_client_connect(dir, &client, err);
        if (r >= 0 && foreground)
                r = hull_oci_fg_new(client, a->id, &fg, err);
        if (r >= 0) {
                req.id = (char *)a->id;
                req.bundle = bundle;
                req.terminal = terminal;
                req.stdin = in;
                req.stdout = out;
                req.stderr = errs;
                r = hull_task_client_call(client, "Create", &req.base,
                                          &containerd__task__v2__create_task_response__descriptor,
                                          HULL_TASK_TIMEOUT_LONG_USEC, &resp, err);
                if (resp)
                        protobuf_c_message_free_unpacked(resp, NULL);
        }
        if (r >= 0 && a->common.pid_file)
                r = hull_oci_write_pid_file(a->common.pid_file, monitor, err);
        if (r < 0) {
                fg = hull_oci_fg_free(fg);
                abort_create(ctx, a->id, client, monitor);
                return r;
        }
        if (ret_client)
                *ret_client = TAKE_PTR(client);
        if (ret_fg)
                *ret_fg = TAKE_PTR(fg);
        *ret_pid = monitor;
        return 0;
}

int hull_cli_create(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        _cleanup_free_ char *console = NULL;
        struct create_args a = {};
        bool help;
        pid_t pid;
        int r;

        r = parse_args(argc, argv, false, &a, &help, err);
        if (r < 0 || help)
                return r;
        if (a.common.console_socket && hull_oci_absolute(a.common.console_socket, &console, err) < 0)
                return -ENOMEM;
        r = create_container(ctx, &a, console, false, NULL, NULL, &pid, err);
        return r < 0 ? hull_error_prefix(err, "create %s", a.id) : 0;
}

static int start_init(struct hull_task_client *client, const char *id, struct hull_error **err)
{
        Containerd__Task__V2__StartRequest req = CONTAINERD__TASK__V2__START_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        int r;

        req.id = (char *)id;
        r = hull_task_client_call(client, "Start", &req.base, &containerd__task__v2__start_response__descriptor,
                                  HULL_TASK_TIMEOUT_LONG_USEC, &resp, err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        return r < 0 ? hull_error_prefix(err, "start") : 0;
}

int hull_cli_run(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        _cleanup_(hull_task_client_freep) struct hull_task_client *client = NULL;
        _cleanup_(hull_oci_fg_freep) struct hull_oci_fg *fg = NULL;
        _cleanup_(hull_cli_console_freep) struct hull_cli_console *own_console = NULL;
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        _cleanup_free_ char *console = NULL;
        struct create_args a = {};
        const char *console_path;
        bool help, terminal = false;
        int r, sig, status = 0;
        pid_t pid;

        r = parse_args(argc, argv, true, &a, &help, err);
        if (r < 0 || help)
                return r;
        if (a.common.console_socket && hull_oci_absolute(a.common.console_socket, &console, err) < 0)
                return -ENOMEM;
        console_path = console;
        if (!a.detach && !console_path) {
                _cleanup_free_ char *b = NULL;
                /* In the foreground a terminal needs no socket from the caller: we are its receiving end. */
                if (hull_oci_absolute(a.bundle, &b, err) < 0 || bundle_terminal(b, &terminal, err) < 0)
                        return hull_error_prefix(err, "run %s", a.id);
                if (terminal) {
                        r = hull_cli_console_new(&own_console, err);
                        if (r < 0)
                                return hull_error_prefix(err, "run %s", a.id);
                        console_path = hull_cli_console_path(own_console);
                }
        }
        r = create_container(ctx, &a, console_path, !a.detach, &client, &fg, &pid, err);
        if (r < 0)
                return hull_error_prefix(err, "run %s", a.id);
        if (own_console) {
                r = hull_cli_console_attach(own_console, hull_task_client_loop(client), CONSOLE_TIMEOUT_MS, err);
                if (r >= 0)
                        hull_oci_fg_set_console(fg, own_console);
        }
        if (r >= 0)
                r = start_init(client, a.id, err);
        if (r < 0) {
                fg = hull_oci_fg_free(fg);
                abort_create(ctx, a.id, client, pid);
                return hull_error_prefix(err, "run %s", a.id);
        }
        if (a.detach)
                return 0;
        sig = hull_oci_fg_started(fg, NULL);
        if (sig) {
                /* A signal came while the VM booted: the container gets it now, as if it had come a moment later. */
                Containerd__Task__V2__KillRequest kreq = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
                kreq.id = (char *)a.id;
                kreq.signal = (uint32_t)sig;
                hull_task_client_call_empty(client, "Kill", &kreq.base, HULL_TASK_TIMEOUT_SHORT_USEC, NULL);
        }
        r = hull_oci_fg_wait_child(fg, pid, &status, err);
        if (r < 0)
                return hull_error_prefix(err, "run %s", a.id);
        fg = hull_oci_fg_free(fg);
        own_console = hull_cli_console_free(own_console);
        client = hull_task_client_free(client);
        /* The monitor has gone with the container's status; its state directory is ours to remove. */
        r = hull_oci_container_load(ctx, a.id, &c, err);
        if (r >= 0)
                r = hull_oci_delete_dead(c, err);
        if (r < 0 && r != -ENOENT)
                return hull_error_prefix(err, "run %s: delete", a.id);
        return status;
}
