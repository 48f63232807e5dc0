/* The small OCI commands that are one Task call on the container's monitor: start, kill, pause, resume, ps. */
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "error.h"
#include "oci.h"
#include "task-client.h"

/* Options of commands that take none but --help: 0 to go on, 1 when help was printed, or an error. */
static int no_options(int argc, char **argv, const char *usage, struct hull_error **err)
{
        if (argc >= 2 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
                fputs(usage, stdout);
                return 1;
        }
        if (argc != 2)
                return hull_error_set(err, EINVAL, "%s: expected exactly one container id", argv[0]);
        return 0;
}

/* Load the container and connect to its monitor; not_running is the message when the monitor is gone. */
static int open_running(const struct hull_cli_ctx *ctx, const char *id, const char *not_running,
                        struct hull_oci_container **ret_c, struct hull_task_client **ret_client,
                        struct hull_error **err)
{
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        int r;

        r = hull_oci_container_load(ctx, id, &c, err);
        if (r < 0)
                return r;
        if (!hull_oci_monitor_alive(c))
                return hull_error_set(err, ESRCH, "%s", not_running);
        r = hull_task_client_connect(c->dir, ret_client, err);
        if (r < 0)
                return r;
        *ret_c = TAKE_PTR(c);
        return 0;
}

int hull_cli_start(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        _cleanup_(hull_task_client_freep) struct hull_task_client *client = NULL;
        Containerd__Task__V2__StartRequest req = CONTAINERD__TASK__V2__START_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        const char *status;
        pid_t pid;
        int r;

        r = no_options(argc, argv, "usage: hull start <container-id>\n\nStart a created container's process.\n", err);
        if (r != 0)
                return r < 0 ? r : 0;
        r = open_running(ctx, argv[1], "cannot start a container that has stopped", &c, &client, err);
        if (r < 0)
                return r;
        r = hull_oci_container_status(c, client, &status, &pid, err);
        if (r < 0)
                return r;
        if (streq(status, "running"))
                return hull_error_set(err, EINVAL, "cannot start an already running container");
        if (streq(status, "paused"))
                return hull_error_set(err, EINVAL, "cannot start a paused container");
        if (streq(status, "stopped"))
                return hull_error_set(err, EINVAL, "cannot start a container that has stopped");
        req.id = c->id;
        r = hull_task_client_call(client, "Start", &req.base, &containerd__task__v2__start_response__descriptor,
                                  HULL_TASK_TIMEOUT_LONG_USEC, &resp, err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        return r < 0 ? hull_error_prefix(err, "start %s", c->id) : 0;
}

int hull_cli_kill(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        static const struct option options[] = {
                { "all", no_argument, NULL, 'a' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        _cleanup_(hull_task_client_freep) struct hull_task_client *client = NULL;
        Containerd__Task__V2__KillRequest req = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
        int sig = SIGTERM, opt, r;
        bool all = false;

        while ((opt = getopt_long(argc, argv, "+ah", options, NULL)) != -1) {
                switch (opt) {
                case 'a':
                        all = true;
                        break;
                case 'h':
                        printf("usage: hull kill [--all] <container-id> [SIGNAL]\n\n"
                               "Send a signal (default SIGTERM; a name with or without SIG, or a number) to the\n"
                               "container's init process.\n\n"
                               "  -a, --all   signal every process of the container\n");
                        return 0;
                default:
                        return hull_error_set(err, EINVAL, "kill: bad option %s", argv[optind - 1]);
                }
        }
        if (optind >= argc || argc - optind > 2)
                return hull_error_set(err, EINVAL, "kill: expected a container id and at most one signal");
        if (argc - optind == 2) {
                r = hull_oci_parse_signal(argv[optind + 1], &sig, err);
                if (r < 0)
                        return r;
        }
        r = open_running(ctx, argv[optind], "container not running", &c, &client, err);
        if (r < 0)
                return r;
        req.id = c->id;
        req.signal = (uint32_t)sig;
        req.all = all;
        r = hull_task_client_call_empty(client, "Kill", &req.base, HULL_TASK_TIMEOUT_SHORT_USEC, err);
        return r < 0 ? hull_error_prefix(err, "kill %s", c->id) : 0;
}

static int pause_resume(const struct hull_cli_ctx *ctx, int argc, char **argv, bool pause, struct hull_error **err)
{
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        _cleanup_(hull_task_client_freep) struct hull_task_client *client = NULL;
        Containerd__Task__V2__PauseRequest preq = CONTAINERD__TASK__V2__PAUSE_REQUEST__INIT;
        Containerd__Task__V2__ResumeRequest rreq = CONTAINERD__TASK__V2__RESUME_REQUEST__INIT;
        int r;

        r = no_options(argc, argv,
                       pause ? "usage: hull pause <container-id>\n\nFreeze every process of the container.\n"
                             : "usage: hull resume <container-id>\n\nThaw a paused container.\n",
                       err);
        if (r != 0)
                return r < 0 ? r : 0;
        r = open_running(ctx, argv[1], "container not running", &c, &client, err);
        if (r < 0)
                return r;
        preq.id = rreq.id = c->id;
        r = hull_task_client_call_empty(client, pause ? "Pause" : "Resume", pause ? &preq.base : &rreq.base,
                                        HULL_TASK_TIMEOUT_SHORT_USEC, err);
        return r < 0 ? hull_error_prefix(err, "%s %s", pause ? "pause" : "resume", c->id) : 0;
}

int hull_cli_pause(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        return pause_resume(ctx, argc, argv, true, err);
}

int hull_cli_resume(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        return pause_resume(ctx, argc, argv, false, err);
}

int hull_cli_ps(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        static const struct option options[] = {
                { "format", required_argument, NULL, 'f' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        _cleanup_(hull_task_client_freep) struct hull_task_client *client = NULL;
        Containerd__Task__V2__PidsRequest req = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
        Containerd__Task__V2__PidsResponse *resp = NULL;
        const char *format = "table";
        int opt, r;

        while ((opt = getopt_long(argc, argv, "+f:h", options, NULL)) != -1) {
                switch (opt) {
                case 'f':
                        format = optarg;
                        break;
                case 'h':
                        printf("usage: hull ps [--format table|json] <container-id>\n\n"
                               "List the host pids that stand for the container's processes, as the sandbox's\n"
                               "Task API reports them: the monitor's (as Kata reports its shim's). The processes\n"
                               "themselves live in the VM and have no host pid: `hull exec <id> ps` lists them.\n\n"
                               "  -f, --format FORMAT   table (default) or json (a list of pids)\n");
                        return 0;
                default:
                        return hull_error_set(err, EINVAL, "ps: bad option %s", argv[optind - 1]);
                }
        }
        if (!streq(format, "table") && !streq(format, "json"))
                return hull_error_set(err, EINVAL, "ps: invalid format \"%s\" (table or json)", format);
        if (argc - optind != 1)
                return hull_error_set(err, EINVAL, "ps: expected exactly one container id");
        r = open_running(ctx, argv[optind], "container not running", &c, &client, err);
        if (r < 0)
                return r;
        req.id = c->id;
        r = hull_task_client_call(client, "Pids", &req.base, &containerd__task__v2__pids_response__descriptor,
                                  HULL_TASK_TIMEOUT_SHORT_USEC, (ProtobufCMessage **)&resp, err);
        if (r < 0)
                return hull_error_prefix(err, "ps %s", c->id);
        if (streq(format, "json")) {
                printf("[");
                for (size_t i = 0; i < resp->n_processes; i++)
                        printf("%s%u", i ? "," : "", resp->processes[i]->pid);
                printf("]\n");
        } else {
                printf("PID\n");
                for (size_t i = 0; i < resp->n_processes; i++)
                        printf("%u\n", resp->processes[i]->pid);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}
