/* The small OCI commands that are one Task call on the container's monitor: start, kill, pause, resume, update,
 * ps. */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "error.h"
#include "fd.h"
#include "google_protobuf_any.pb-c.h"
#include "log.h"
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

/* containerd's typeurl for runtime-spec LinuxResources, which the Task service's Update takes as JSON. */
#define LINUX_RESOURCES_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"
#define RESOURCES_MAX (1u << 20)

/* A size as runc's update reads it: a number of bytes with an optional binary unit (k, m, g, t, p; "b" and "ib"
 * after it are allowed), or -1 for no limit. */
static int parse_bytes(const char *opt, const char *s, int64_t *ret, struct hull_error **err)
{
        static const char units[] = "kmgtp";
        const char *u;
        char *end;
        double v;
        int shift = 0;

        if (streq(s, "-1")) {
                *ret = -1;
                return 0;
        }
        errno = 0;
        v = strtod(s, &end);
        if (end == s || errno || v < 0 || !isdigit((unsigned char)*s))
                goto bad;
        while (*end == ' ')
                end++;
        if (*end && (u = strchr(units, tolower((unsigned char)*end)))) {
                shift = 10 * (int)(u - units + 1);
                end++;
        }
        if (tolower((unsigned char)*end) == 'i' && shift)
                end++;
        if (tolower((unsigned char)*end) == 'b')
                end++;
        if (*end)
                goto bad;
        v *= (double)(1ull << shift);
        if (v >= 9.2e18)
                goto bad;
        *ret = (int64_t)v;
        return 0;
bad:
        return hull_error_set(err, EINVAL,
                              "update: --%s %s: expected a size in bytes (such as 67108864, 64m, 1g) or -1", opt, s);
}

static int parse_int(const char *opt, const char *s, int64_t min, int64_t *ret, struct hull_error **err)
{
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (end == s || *end || errno || v < min)
                return hull_error_set(err, EINVAL, "update: --%s %s: expected an integer of at least %" PRId64, opt, s,
                                      min);
        *ret = v;
        return 0;
}

/* Set o[group][key] (group created on first use). */
static int set_field(struct json_object *o, const char *group, const char *key, struct json_object *v,
                     struct hull_error **err)
{
        struct json_object *g;

        if (!v)
                return hull_error_oom(err);
        if (!json_object_object_get_ex(o, group, &g)) {
                g = json_object_new_object();
                if (!g || json_object_object_add(o, group, g) < 0) {
                        json_object_put(g);
                        json_object_put(v);
                        return hull_error_oom(err);
                }
        }
        if (json_object_object_add(g, key, v) < 0) {
                json_object_put(v);
                return hull_error_oom(err);
        }
        return 0;
}

/* -r FILE (or - for stdin): the LinuxResources JSON as it is, checked to be one JSON object. */
static int read_resources(const char *path, char **ret, struct hull_error **err)
{
        _cleanup_free_ char *data = NULL;
        struct json_tokener *tok;
        struct json_object *o;
        size_t len = 0;
        int r;

        r = hull_read_file(streq(path, "-") ? "/dev/stdin" : path, RESOURCES_MAX, &data, &len, err);
        if (r < 0)
                return hull_error_prefix(err, "update: --resources");
        tok = json_tokener_new();
        if (!tok)
                return hull_error_oom(err);
        o = json_tokener_parse_ex(tok, data, (int)len);
        r = json_tokener_get_error(tok);
        json_tokener_free(tok);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return hull_error_set(err, EINVAL, "update: --resources %s: %s", path,
                                      o ? "not a JSON object" : json_tokener_error_desc(r));
        }
        json_object_put(o);
        *ret = TAKE_PTR(data);
        return 0;
}

int hull_cli_update(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        enum {
                OPT_BLKIO_WEIGHT = 256,
                OPT_CPU_PERIOD,
                OPT_CPU_QUOTA,
                OPT_CPU_SHARE,
                OPT_CPUSET_CPUS,
                OPT_CPUSET_MEMS,
                OPT_MEMORY,
                OPT_MEMORY_RESERVATION,
                OPT_MEMORY_SWAP,
                OPT_PIDS_LIMIT,
                OPT_CPU_RT,
                OPT_RDT
        };
        static const struct option options[] = {
                { "resources", required_argument, NULL, 'r' },
                { "blkio-weight", required_argument, NULL, OPT_BLKIO_WEIGHT },
                { "cpu-period", required_argument, NULL, OPT_CPU_PERIOD },
                { "cpu-quota", required_argument, NULL, OPT_CPU_QUOTA },
                { "cpu-share", required_argument, NULL, OPT_CPU_SHARE },
                { "cpuset-cpus", required_argument, NULL, OPT_CPUSET_CPUS },
                { "cpuset-mems", required_argument, NULL, OPT_CPUSET_MEMS },
                { "memory", required_argument, NULL, OPT_MEMORY },
                { "memory-reservation", required_argument, NULL, OPT_MEMORY_RESERVATION },
                { "memory-swap", required_argument, NULL, OPT_MEMORY_SWAP },
                { "pids-limit", required_argument, NULL, OPT_PIDS_LIMIT },
                { "cpu-rt-period", required_argument, NULL, OPT_CPU_RT },
                { "cpu-rt-runtime", required_argument, NULL, OPT_CPU_RT },
                { "l3-cache-schema", required_argument, NULL, OPT_RDT },
                { "mem-bw-schema", required_argument, NULL, OPT_RDT },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        _cleanup_(hull_task_client_freep) struct hull_task_client *client = NULL;
        Containerd__Task__V2__UpdateTaskRequest req = CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        struct json_object *o = json_object_new_object();
        _cleanup_free_ char *from_file = NULL;
        const char *resources_path = NULL, *json;
        int64_t v;
        int opt, r = 0, idx;

        if (!o)
                return hull_error_oom(err);
        while (r >= 0 && (opt = getopt_long(argc, argv, "+r:h", options, &idx)) != -1) {
                const char *name = opt == '?' || opt == 'r' || opt == 'h' ? NULL : options[idx].name;
                switch (opt) {
                case 'r':
                        resources_path = optarg;
                        break;
                case 'h':
                        printf("usage: hull update [options] <container-id>\n\n"
                               "Change the resource limits of a created or running container; the guest's agent\n"
                               "writes them to the container's cgroup (v2) in the VM.\n\n"
                               "  -r, --resources FILE      runtime-spec LinuxResources JSON (- for stdin); the\n"
                               "                            other options are then ignored, as runc does\n"
                               "      --memory SIZE         memory limit (bytes, or 64m, 1g; -1: none)\n"
                               "      --memory-reservation SIZE\n"
                               "      --memory-swap SIZE    memory plus swap limit\n"
                               "      --cpu-period N        CFS period (us)\n"
                               "      --cpu-quota N         CFS quota (us per period; -1: none)\n"
                               "      --cpu-share N         CPU shares (weight)\n"
                               "      --cpuset-cpus LIST    CPUs the container may use (guest CPUs)\n"
                               "      --cpuset-mems LIST    memory nodes\n"
                               "      --pids-limit N        maximum number of processes (-1: none)\n"
                               "      --blkio-weight N      block I/O weight (10-1000)\n");
                        json_object_put(o);
                        return 0;
                case OPT_MEMORY:
                case OPT_MEMORY_RESERVATION:
                case OPT_MEMORY_SWAP:
                        r = parse_bytes(name, optarg, &v, err);
                        if (r >= 0)
                                r = set_field(o, "memory",
                                              opt == OPT_MEMORY                ? "limit"
                                                      : opt == OPT_MEMORY_SWAP ? "swap"
                                                                               : "reservation",
                                              json_object_new_int64(v), err);
                        break;
                case OPT_CPU_PERIOD:
                case OPT_CPU_SHARE:
                        r = parse_int(name, optarg, 0, &v, err);
                        if (r >= 0)
                                r = set_field(o, "cpu", opt == OPT_CPU_PERIOD ? "period" : "shares",
                                              json_object_new_uint64((uint64_t)v), err);
                        break;
                case OPT_CPU_QUOTA:
                        r = parse_int(name, optarg, -1, &v, err);
                        if (r >= 0)
                                r = set_field(o, "cpu", "quota", json_object_new_int64(v), err);
                        break;
                case OPT_CPUSET_CPUS:
                case OPT_CPUSET_MEMS:
                        r = set_field(o, "cpu", opt == OPT_CPUSET_CPUS ? "cpus" : "mems",
                                      json_object_new_string(optarg), err);
                        break;
                case OPT_PIDS_LIMIT:
                        r = parse_int(name, optarg, -1, &v, err);
                        if (r >= 0)
                                r = set_field(o, "pids", "limit", json_object_new_int64(v), err);
                        break;
                case OPT_BLKIO_WEIGHT:
                        r = parse_int(name, optarg, 0, &v, err);
                        if (r >= 0 && v > 1000)
                                r = hull_error_set(err, EINVAL, "update: --blkio-weight %s: at most 1000", optarg);
                        if (r >= 0)
                                r = set_field(o, "blockIO", "weight", json_object_new_int64(v), err);
                        break;
                case OPT_CPU_RT:
                case OPT_RDT:
                        r = hull_error_set(err, ENOTSUP, "update: --%s: not supported by hull (%s)", name,
                                           opt == OPT_RDT ? "no Intel RDT in the guest"
                                                          : "no real-time CFS groups in the guest");
                        break;
                default:
                        r = hull_error_set(err, EINVAL, "update: bad option %s (try --help)", argv[optind - 1]);
                        break;
                }
        }
        if (r >= 0 && optind != argc - 1)
                r = hull_error_set(err, EINVAL, "update: expected exactly one container id");
        if (r >= 0 && resources_path)
                r = read_resources(resources_path, &from_file, err);
        if (r >= 0)
                r = open_running(ctx, argv[optind], "container not running", &c, &client, err);
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        json = from_file ? from_file : json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        log_debug("update %s: %s", c->id, json);
        any.type_url = (char *)LINUX_RESOURCES_TYPE_URL;
        any.value.data = (uint8_t *)json;
        any.value.len = strlen(json);
        req.id = c->id;
        req.resources = &any;
        r = hull_task_client_call_empty(client, "Update", &req.base, HULL_TASK_TIMEOUT_SHORT_USEC, err);
        json_object_put(o);
        return r < 0 ? hull_error_prefix(err, "update %s", c->id) : 0;
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
