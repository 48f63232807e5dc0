/* `hull agent-ctl`: issue single grpc.AgentService / grpc.Health calls to a hull (or Kata) agent, requests and
 * replies as JSON lines; the integration tests drive the guest through it, like Kata's agent-ctl. */
#include <getopt.h>
#include <json-c/json.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "agent.pb-c.h"
#include "buf.h"
#include "cli.h"
#include "rpc/client.h"
#include "error.h"
#include "fd.h"
#include "health.pb-c.h"
#include "log.h"
#include "loop.h"
#include "pbjson.h"
#include "rpc/status.h"

#define DEFAULT_TIMEOUT_SEC 60
#define MAX_LINE (8u << 20)

static int connect_vsock(const char *spec, struct hull_error **err)
{
        unsigned cid, port;
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK };
        int fd;

        if (sscanf(spec, "%u:%u", &cid, &port) != 2)
                return hull_error_set(err, EINVAL, "vsock address '%s': expected CID:PORT", spec);
        sa.svm_cid = cid;
        sa.svm_port = port;
        fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return hull_error_errno(err, errno, "vsock socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;
                close(fd);
                return hull_error_errno(err, e, "connect vsock %u:%u", cid, port);
        }
        return fd;
}

/* Firecracker's and Cloud Hypervisor's hybrid vsock: a unix socket, then "CONNECT <port>\n" -> "OK <n>\n". */
static int connect_hybrid(const char *spec, struct hull_error **err)
{
        _cleanup_free_ char *path = strdup(spec);
        _cleanup_close_ int fd = -1;
        char *colon, line[64];
        size_t n = 0;

        if (!path)
                return hull_error_oom(err);
        colon = strrchr(path, ':');
        if (!colon)
                return hull_error_set(err, EINVAL, "hybrid vsock address '%s': expected PATH:PORT", spec);
        *colon = '\0';
        fd = hull_unix_connect(path, err);
        if (fd < 0)
                return fd;
        snprintf(line, sizeof(line), "CONNECT %s\n", colon + 1);
        if (hull_write_all(fd, line, strlen(line), err) < 0)
                return -EIO;
        while (n < sizeof(line) - 1) {
                ssize_t k = read(fd, line + n, 1);
                if (k <= 0)
                        return hull_error_set(err, ECONNREFUSED, "hybrid vsock %s: no answer to CONNECT", spec);
                if (line[n++] == '\n')
                        break;
        }
        line[n] = '\0';
        if (strncmp(line, "OK ", 3) != 0)
                return hull_error_set(err, ECONNREFUSED, "hybrid vsock %s: %s", spec, line);
        return TAKE_FD(fd);
}

static int agent_connect(const char *addr, struct hull_error **err)
{
        if (strneq(addr, "unix://", 7))
                return hull_unix_connect(addr + 7, err);
        if (strneq(addr, "vsock://", 8))
                return connect_vsock(addr + 8, err);
        if (strneq(addr, "hvsock://", 9))
                return connect_hybrid(addr + 9, err);
        if (addr[0] == '/')
                return hull_unix_connect(addr, err);
        return hull_error_set(err, EINVAL,
                              "agent address '%s': expected unix://PATH, vsock://CID:PORT or "
                              "hvsock://PATH:PORT",
                              addr);
}

static const ProtobufCMethodDescriptor *find_method(const char *name, const ProtobufCServiceDescriptor **ret_svc)
{
        static const ProtobufCServiceDescriptor *const services[] = { &grpc__agent_service__descriptor,
                                                                      &grpc__health__descriptor };

        for (size_t i = 0; i < ARRAY_SIZE(services); i++)
                for (unsigned j = 0; j < services[i]->n_methods; j++)
                        if (streq(services[i]->methods[j].name, name)) {
                                *ret_svc = services[i];
                                return &services[i]->methods[j];
                        }
        return NULL;
}

static void print_error_line(const struct hull_error *e, int r)
{
        struct json_object *o = json_object_new_object();

        if (!o)
                return;
        json_object_object_add(o, "error", json_object_new_string(e ? hull_error_message(e) : strerror(-r)));
        json_object_object_add(o, "code", json_object_new_string(hull_grpc_code_name(hull_grpc_code_from_errno(r))));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
}

/* One call; prints its JSON reply or error line. Returns 0 or 1 (the call failed), < 0 for a broken client. */
static int one_call(struct hull_ttrpc_client *client, const char *method, const char *json, uint64_t timeout_usec,
                    struct hull_error **err)
{
        const ProtobufCServiceDescriptor *svc = NULL;
        const ProtobufCMethodDescriptor *m = find_method(method, &svc);
        _cleanup_error_ struct hull_error *e = NULL;
        _cleanup_free_ char *out = NULL;
        ProtobufCMessage *req = NULL, *resp = NULL;
        int r;

        if (!m)
                return hull_error_set(err, EINVAL, "unknown method '%s'", method);
        r = hull_pbjson_decode(m->input, json, &req, err);
        if (r < 0)
                return hull_error_prefix(err, "%s", method);
        r = hull_ttrpc_call(client, svc->name, method, req, m->output, timeout_usec, &resp, &e);
        protobuf_c_message_free_unpacked(req, NULL);
        if (r < 0) {
                print_error_line(e, r);
                fflush(stdout);
                return 1;
        }
        r = hull_pbjson_encode(resp, &out, err);
        protobuf_c_message_free_unpacked(resp, NULL);
        if (r < 0)
                return r;
        printf("%s\n", out);
        fflush(stdout);
        return 0;
}

static void usage(FILE *f)
{
        fprintf(f,
                "usage: hull agent-ctl --addr ADDR [--timeout SEC] METHOD ['{json}'] [METHOD ['{json}'] ...]\n"
                "       hull agent-ctl --addr ADDR [--timeout SEC] -    (lines \"METHOD {json}\" on stdin)\n"
                "ADDR: unix:///path (a virtio-serial or agent socket), vsock://CID:PORT, hvsock://PATH:PORT\n"
                "METHOD: an AgentService method (CreateContainer, ReadStdout, ...) or Check / Version (Health)\n"
                "Each reply is printed as one JSON line; a failed call as {\"error\":...,\"code\":...}.\n");
}

int hull_cli_agent_ctl(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        static const struct option longopts[] = {
                { "addr", required_argument, NULL, 'a' },
                { "timeout", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        _cleanup_(hull_ttrpc_client_freep) struct hull_ttrpc_client *client = NULL;
        const char *addr = NULL;
        uint64_t timeout_usec = DEFAULT_TIMEOUT_SEC * 1000000ull;
        int c, fd, r, failed = 0;

        while ((c = getopt_long(argc, argv, "+a:t:h", longopts, NULL)) != -1) {
                switch (c) {
                case 'a':
                        addr = optarg;
                        break;
                case 't':
                        timeout_usec = (uint64_t)(strtod(optarg, NULL) * 1e6);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return hull_error_set(err, EINVAL, "agent-ctl: bad option");
                }
        }
        if (!addr || optind >= argc) {
                usage(stderr);
                return hull_error_set(err, EINVAL, "agent-ctl: --addr and a method are required");
        }
        r = hull_loop_new(&loop, err);
        if (r < 0)
                return r;
        fd = agent_connect(addr, err);
        if (fd < 0)
                return fd;
        r = hull_ttrpc_client_new(loop, fd, addr, &client, err);
        if (r < 0) {
                close(fd);
                return r;
        }
        if (streq(argv[optind], "-")) {
                _cleanup_free_ char *line = NULL;
                size_t cap = 0;
                ssize_t n;
                while ((n = getline(&line, &cap, stdin)) > 0) {
                        char *json;
                        if ((size_t)n > MAX_LINE)
                                return hull_error_set(err, E2BIG, "agent-ctl: input line longer than %u bytes",
                                                      MAX_LINE);
                        line[strcspn(line, "\n")] = '\0';
                        if (!*line || line[0] == '#')
                                continue;
                        json = strchr(line, ' ');
                        if (json)
                                *json++ = '\0';
                        r = one_call(client, line, json, timeout_usec, err);
                        if (r < 0)
                                return r;
                        failed |= r;
                }
                return failed;
        }
        for (int i = optind; i < argc; i++) {
                const char *json = i + 1 < argc && argv[i + 1][0] == '{' ? argv[++i] : NULL;
                r = one_call(client, argv[json ? i - 1 : i], json, timeout_usec, err);
                if (r < 0)
                        return r;
                failed |= r;
        }
        return failed;
}
