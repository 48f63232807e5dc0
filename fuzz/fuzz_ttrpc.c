/* libFuzzer target for ttrpc input from a hostile peer: the header and envelope decoders directly, then the same
 * bytes streamed into a real server connection and into a client with calls pending. Nothing may crash or leak. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "error.h"
#include "log.h"
#include "loop.h"
#include "rpc/ttrpc.h"

#include "health.pb-c.h"

static void decode_frames(const uint8_t *data, size_t size)
{
        while (size >= HULL_TTRPC_HEADER_SIZE) {
                struct hull_ttrpc_header h;
                struct hull_ttrpc_request_msg req;
                struct hull_ttrpc_response_msg resp;
                size_t len;

                hull_ttrpc_header_unpack(data, &h);
                data += HULL_TTRPC_HEADER_SIZE;
                size -= HULL_TTRPC_HEADER_SIZE;
                if (hull_ttrpc_header_check(&h, NULL) < 0)
                        return;
                len = MIN((size_t)h.length, size);
                if (hull_ttrpc_request_decode(data, len, &req, NULL) == 0)
                        hull_ttrpc_request_msg_done(&req);
                if (hull_ttrpc_response_decode(data, len, &resp, NULL) == 0)
                        hull_ttrpc_response_msg_done(&resp);
                data += len;
                size -= len;
        }
}

static void echo(struct hull_ttrpc_request *req, void *userdata)
{
        size_t len;
        const uint8_t *p = hull_ttrpc_request_payload(req, &len);

        if (len > 0 && p[0] == 'E')
                hull_ttrpc_request_reply_errno(req, ENOENT, "no %.*s", (int)MIN(len, 16u), (const char *)p);
        else
                hull_ttrpc_request_reply_raw(req, p, len);
}

static void check(struct hull_ttrpc_request *req, void *userdata)
{
        Grpc__HealthCheckResponse out = GRPC__HEALTH_CHECK_RESPONSE__INIT;

        hull_ttrpc_request_reply(req, &out.base);
}

static void ignore_reply(int r, const uint8_t *payload, size_t len, const struct hull_error *err, void *userdata)
{
        (*(int *)userdata)++;
}

/* Feed data into one end of a socketpair while the loop serves the other end, then hang up and let it finish. */
static void stream(struct hull_loop *loop, int fd, const uint8_t *data, size_t size, const bool *done)
{
        char sink[4096];
        size_t off = 0;

        for (int rounds = 0; rounds < 10000 && !*done; rounds++) {
                if (off < size) {
                        ssize_t n = write(fd, data + off, size - off);
                        if (n > 0)
                                off += (size_t)n;
                        if (off == size)
                                shutdown(fd, SHUT_WR);
                }
                while (read(fd, sink, sizeof(sink)) > 0)
                        ;
                hull_loop_run_once(loop, off < size ? 0 : 1);
        }
}

static void conn_gone(struct hull_ttrpc_server *s, const struct hull_error *reason, void *userdata)
{
        *(bool *)userdata = true;
}

static void client_gone(struct hull_ttrpc_client *c, const struct hull_error *reason, void *userdata)
{
        *(bool *)userdata = true;
}

static void through_server(struct hull_loop *loop, const uint8_t *data, size_t size)
{
        struct hull_ttrpc_server *s = NULL;
        bool done = false;
        int sv[2];

        if (hull_ttrpc_server_new(loop, &s, NULL) < 0)
                return;
        hull_ttrpc_server_register(s, "hull.fuzz", "Echo", NULL, echo, NULL, NULL);
        hull_ttrpc_server_register_pb(s, &grpc__health__descriptor, "Check", check, NULL, NULL);
        hull_ttrpc_server_on_disconnect(s, conn_gone, &done);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0) {
                if (hull_ttrpc_server_add_conn(s, sv[0], NULL) < 0)
                        close(sv[0]);
                else
                        stream(loop, sv[1], data, size, &done);
                close(sv[1]);
        }
        hull_ttrpc_server_free(s);
}

static void through_client(struct hull_loop *loop, const uint8_t *data, size_t size)
{
        struct hull_ttrpc_client *c = NULL;
        struct hull_ttrpc_call_opts opts = { .timeout_usec = 1000 };
        bool done = false;
        int replies = 0, sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                return;
        if (hull_ttrpc_client_new(loop, sv[0], "fuzz", &c, NULL) < 0) {
                close(sv[0]);
                close(sv[1]);
                return;
        }
        hull_ttrpc_client_on_close(c, client_gone, &done);
        /* Streams 1, 3 and 5 are open, one of them with a deadline, when the hostile replies come in. */
        hull_ttrpc_client_call_raw(c, "hull.fuzz", "Echo", "a", 1, NULL, ignore_reply, &replies, NULL, NULL);
        hull_ttrpc_client_call_raw(c, "hull.fuzz", "Echo", "b", 1, &opts, ignore_reply, &replies, NULL, NULL);
        hull_ttrpc_client_call_raw(c, "hull.fuzz", "Echo", "c", 1, NULL, ignore_reply, &replies, NULL, NULL);
        stream(loop, sv[1], data, size, &done);
        hull_ttrpc_client_free(c);
        close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct hull_loop *loop;

        if (!loop) {
                hull_log_set_level(HULL_LOG_ERROR);
                if (hull_loop_new(&loop, NULL) < 0)
                        return 0;
        }
        decode_frames(data, size);
        through_server(loop, data, size);
        through_client(loop, data, size);
        /* Let removed sources from this input be freed before the next one. */
        hull_loop_run_once(loop, 0);
        return 0;
}
