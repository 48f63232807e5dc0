/* ttrpc benchmark, C side: serve hull.interop.Echo, or measure a small unary call against any server: latency of
 * sequential calls (median, p99) and throughput with several calls in flight. bench/ttrpc.sh runs the matrix. */
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "fd.h"
#include "loop.h"
#include "rpc/ttrpc.h"

#include "echo.pb-c.h"

#define SERVICE "hull.interop.Echo"

static void echo_handler(struct hull_ttrpc_request *req, void *userdata)
{
        const Hull__Interop__EchoRequest *in = (const Hull__Interop__EchoRequest *)hull_ttrpc_request_message(req);
        Hull__Interop__EchoResponse out = HULL__INTEROP__ECHO_RESPONSE__INIT;

        out.data = in->data;
        hull_ttrpc_request_reply(req, &out.base);
}

static int on_signal(struct hull_loop_source *src, int signo, void *userdata)
{
        hull_loop_quit(userdata, 0);
        return 0;
}

static int run_server(struct hull_loop *loop, const char *path, struct hull_error **err)
{
        _cleanup_(hull_ttrpc_server_freep) struct hull_ttrpc_server *s = NULL;
        int fd, r;

        r = hull_ttrpc_server_new(loop, &s, err);
        if (r >= 0)
                r = hull_ttrpc_server_register_pb(s, &hull__interop__echo__descriptor, "Echo", echo_handler, NULL, err);
        if (r < 0)
                return r;
        unlink(path);
        fd = hull_unix_listen(path, err);
        if (fd < 0)
                return fd;
        r = hull_ttrpc_server_listen(s, fd, err);
        if (r < 0) {
                close(fd);
                return r;
        }
        if (hull_loop_add_signal(loop, SIGTERM, on_signal, loop, NULL, err) < 0 ||
            hull_loop_add_signal(loop, SIGINT, on_signal, loop, NULL, err) < 0)
                return hull_error_code(*err);
        printf("READY\n");
        fflush(stdout);
        return hull_loop_run(loop);
}

struct bench {
        struct hull_loop *loop;
        struct hull_ttrpc_client *client;
        int issued, done, total, failed;
};

static int issue(struct bench *b, struct hull_error **err);

/* Decode the reply as a real caller would, then keep the pipeline full. */
static void on_reply(int r, const uint8_t *payload, size_t len, const struct hull_error *e, void *userdata)
{
        struct bench *b = userdata;
        ProtobufCMessage *m = NULL;

        b->done++;
        if (r < 0 || hull_pb_unpack(&hull__interop__echo_response__descriptor, payload, len, &m, NULL) < 0) {
                b->failed++;
                return;
        }
        protobuf_c_message_free_unpacked(m, NULL);
        if (b->issued < b->total && issue(b, NULL) < 0)
                b->failed++;
}

static int issue(struct bench *b, struct hull_error **err)
{
        Hull__Interop__EchoRequest req = HULL__INTEROP__ECHO_REQUEST__INIT;

        req.data.data = (uint8_t *)"ping";
        req.data.len = 4;
        b->issued++;
        return hull_ttrpc_client_call(b->client, SERVICE, "Echo", &req.base, NULL, on_reply, b, NULL, err);
}

/* Run total calls with `inflight` of them outstanding at a time. */
static int run_calls(struct bench *b, int total, int inflight, struct hull_error **err)
{
        int r;

        b->issued = b->done = b->failed = 0;
        b->total = total;
        for (int i = 0; i < inflight && b->issued < total; i++) {
                r = issue(b, err);
                if (r < 0)
                        return r;
        }
        while (b->done < total && !b->failed) {
                r = hull_loop_run_once(b->loop, 1000);
                if (r < 0)
                        return hull_error_errno(err, r, "event loop");
        }
        if (b->failed)
                return hull_error_set(err, EIO, "%d calls failed", b->failed);
        return 0;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static int run_client(struct hull_loop *loop, const char *path, int calls, int concurrency, struct hull_error **err)
{
        _cleanup_(hull_ttrpc_client_freep) struct hull_ttrpc_client *c = NULL;
        _cleanup_free_ double *lat = calloc((size_t)calls, sizeof(double));
        struct bench b = { .loop = loop };
        uint64_t start;
        int fd, r, n;

        if (!lat)
                return hull_error_oom(err);
        fd = hull_unix_connect(path, err);
        if (fd < 0)
                return fd;
        r = hull_ttrpc_client_new(loop, fd, "bench", &c, err);
        if (r < 0) {
                close(fd);
                return r;
        }
        b.client = c;
        r = run_calls(&b, calls / 10 + 1, 1, err); /* warm up */
        if (r < 0)
                return r;
        for (int i = 0; i < calls; i++) {
                start = hull_now_usec();
                r = run_calls(&b, 1, 1, err);
                if (r < 0)
                        return r;
                lat[i] = (double)(hull_now_usec() - start);
        }
        qsort(lat, (size_t)calls, sizeof(double), cmp_double);
        n = calls / concurrency * concurrency;
        start = hull_now_usec();
        r = run_calls(&b, n, concurrency, err);
        if (r < 0)
                return r;
        printf("median_us=%.1f p99_us=%.1f rps=%.0f\n", lat[calls / 2], lat[calls * 99 / 100],
               (double)n * 1e6 / (double)(hull_now_usec() - start));
        return 0;
}

int main(int argc, char **argv)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        int r;

        if (!(argc == 3 && streq(argv[1], "server")) && !(argc == 5 && streq(argv[1], "client"))) {
                fprintf(stderr, "usage: %s server SOCKET | client SOCKET CALLS CONCURRENCY\n", argv[0]);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        r = hull_loop_new(&loop, &err);
        if (r >= 0 && streq(argv[1], "server")) {
                r = run_server(loop, argv[2], &err);
        } else if (r >= 0) {
                int calls = atoi(argv[3]), concurrency = atoi(argv[4]);
                if (calls < 100 || concurrency < 1)
                        r = hull_error_set(&err, EINVAL, "CALLS must be at least 100, CONCURRENCY at least 1");
                else
                        r = run_client(loop, argv[2], calls, concurrency, &err);
        }
        if (r < 0) {
                fprintf(stderr, "ttrpc-bench: %s\n", hull_error_message(err));
                return 1;
        }
        return 0;
}
