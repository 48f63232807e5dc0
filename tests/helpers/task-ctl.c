/* task-ctl: containerd.task.v2.Task calls to a hull monitor (or shim) socket, JSON in and out, for the integration
 * tests (like `hull agent-ctl` for the agent). Lines "Method {json}" on stdin, one JSON reply line each, all on one
 * connection; a failed call prints {"error": "...", "code": "NotFound"}. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "error.h"
#include "fd.h"
#include "loop.h"
#include "monitor.h"
#include "pbjson.h"
#include "rpc/client.h"
#include "rpc/status.h"

#define MAX_LINE (8u << 20)

static int one_call(struct hull_ttrpc_client *client, const char *method, const char *json, uint64_t timeout_usec)
{
        const ProtobufCServiceDescriptor *svc = &containerd__task__v2__task__descriptor;
        const ProtobufCMethodDescriptor *m = protobuf_c_service_descriptor_get_method_by_name(svc, method);
        _cleanup_error_ struct hull_error *e = NULL;
        _cleanup_free_ char *out = NULL;
        ProtobufCMessage *req = NULL, *resp = NULL;
        int r;

        if (!m) {
                fprintf(stderr, "task-ctl: unknown method %s\n", method);
                return -EINVAL;
        }
        if (hull_pbjson_decode(m->input, json, &req, &e) < 0) {
                fprintf(stderr, "task-ctl: %s: %s\n", method, hull_error_message(e));
                return -EINVAL;
        }
        r = hull_ttrpc_call(client, svc->name, method, req, m->output, timeout_usec, &resp, &e);
        protobuf_c_message_free_unpacked(req, NULL);
        if (r < 0) {
                struct json_object *o = json_object_new_object();
                json_object_object_add(o, "error", json_object_new_string(e ? hull_error_message(e) : strerror(-r)));
                json_object_object_add(o, "code",
                                       json_object_new_string(hull_grpc_code_name(hull_grpc_code_from_errno(r))));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
                fflush(stdout);
                return r == -ECONNRESET ? r : 1;
        }
        if (hull_pbjson_encode(resp, &out, &e) < 0) {
                protobuf_c_message_free_unpacked(resp, NULL);
                return -EIO;
        }
        protobuf_c_message_free_unpacked(resp, NULL);
        printf("%s\n", out);
        fflush(stdout);
        return 0;
}

int main(int argc, char **argv)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        _cleanup_(hull_ttrpc_client_freep) struct hull_ttrpc_client *client = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        _cleanup_free_ char *line = NULL;
        uint64_t timeout_usec = 300ull * 1000000ull;
        size_t cap = 0;
        ssize_t n;
        int fd, failed = 0;

        if (argc >= 5 && streq(argv[1], "--spawn")) {
                /* task-ctl --spawn ROOT ID BUNDLE [CONFIG]: what `hull create` does first; prints the pid. */
                struct hull_cli_ctx ctx = {
                        .program = "task-ctl", .root = argv[2], .config_path = argc > 5 ? argv[5] : NULL, .debug = true
                };
                pid_t pid;
                if (hull_monitor_spawn(&ctx, argv[3], argv[4], &pid, &e) < 0) {
                        fprintf(stderr, "task-ctl: %s\n", hull_error_message(e));
                        return 1;
                }
                printf("{\"pid\":%d}\n", (int)pid);
                return 0;
        }
        if (argc < 2) {
                fprintf(stderr,
                        "usage: task-ctl SOCKET [TIMEOUT_SEC] < lines \"Method {json}\"\n"
                        "       task-ctl --spawn ROOT ID BUNDLE [CONFIG]\n");
                return 2;
        }
        if (argc > 2)
                timeout_usec = (uint64_t)(strtod(argv[2], NULL) * 1e6);
        if (hull_loop_new(&loop, &e) < 0 || (fd = hull_unix_connect(argv[1], &e)) < 0) {
                fprintf(stderr, "task-ctl: %s\n", hull_error_message(e));
                return 1;
        }
        if (hull_ttrpc_client_new(loop, fd, argv[1], &client, &e) < 0) {
                close(fd);
                fprintf(stderr, "task-ctl: %s\n", hull_error_message(e));
                return 1;
        }
        while ((n = getline(&line, &cap, stdin)) > 0) {
                char *json;
                int r;
                if ((size_t)n > MAX_LINE)
                        return 2;
                line[strcspn(line, "\n")] = '\0';
                if (!*line)
                        continue;
                json = strchr(line, ' ');
                if (json)
                        *json++ = '\0';
                r = one_call(client, line, json, timeout_usec);
                if (r < 0 && r != -ECONNRESET)
                        return 2;
                failed |= r != 0;
        }
        return failed;
}
