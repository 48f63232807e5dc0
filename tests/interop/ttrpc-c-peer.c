/* hull's side of the ttrpc interop test: serves hull.interop.Echo, or runs the client scenarios against a server
 * (Go's containerd/ttrpc in tests/integration/test_ttrpc_interop.py). Prints "ok <scenario>" per success. */
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"
#include "rpc/ttrpc.h"

#include "echo.pb-c.h"

#define SERVICE "hull.interop.Echo"
#define BIG (3u << 20)

/* ---- server ---- */

struct delayed {
        struct hull_ttrpc_request *req;
        struct hull_loop_source *timer;
};

static void reply_echo(struct hull_ttrpc_request *req)
{
        const Hull__Interop__EchoRequest *in = (const Hull__Interop__EchoRequest *)hull_ttrpc_request_message(req);
        Hull__Interop__EchoResponse out = HULL__INTEROP__ECHO_RESPONSE__INIT;
        const char *md = hull_ttrpc_request_metadata(req, "x-hull");

        out.data = in->data;
        out.metadata = (char *)(md ? md : "");
        hull_ttrpc_request_reply(req, &out.base);
}

static int delayed_fire(struct hull_loop_source *src, void *userdata)
{
        struct delayed *d = userdata;

        hull_loop_source_remove(d->timer);
        reply_echo(d->req);
        free(d);
        return 0;
}

static void delayed_cancel(struct hull_ttrpc_request *req, void *userdata)
{
        struct delayed *d = userdata;

        hull_loop_source_remove(d->timer);
        hull_ttrpc_request_reply_raw(req, NULL, 0);
        free(d);
}

static void echo_handler(struct hull_ttrpc_request *req, void *userdata)
{
        const Hull__Interop__EchoRequest *in = (const Hull__Interop__EchoRequest *)hull_ttrpc_request_message(req);
        struct hull_loop *loop = userdata;
        struct delayed *d;

        if (in->fail_code) {
                hull_ttrpc_request_reply_status(req, in->fail_code, "%s", in->fail_message);
                return;
        }
        if (!in->sleep_ms) {
                reply_echo(req);
                return;
        }
        /* Reply later from a timer: the handler returns now and other calls keep flowing. */
        d = calloc(1, sizeof(*d));
        if (!d) {
                hull_ttrpc_request_reply_errno(req, ENOMEM, "out of memory");
                return;
        }
        d->req = req;
        if (hull_loop_add_timer(loop, (uint64_t)in->sleep_ms * 1000, delayed_fire, d, &d->timer, NULL) < 0) {
                free(d);
                hull_ttrpc_request_reply_errno(req, ENOMEM, "cannot arm a timer");
                return;
        }
        hull_ttrpc_request_on_cancel(req, delayed_cancel, d);
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
        if (r < 0)
                return r;
        r = hull_ttrpc_server_register_pb(s, &hull__interop__echo__descriptor, "Echo", echo_handler, loop, err);
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

/* ---- client scenarios ---- */

static int echo_call(struct hull_ttrpc_client *c, const Hull__Interop__EchoRequest *req,
                     const struct hull_ttrpc_call_opts *opts, Hull__Interop__EchoResponse **ret,
                     struct hull_error **err)
{
        _cleanup_buf_ struct hull_buf payload = HULL_BUF_INIT;
        _cleanup_free_ void *out = NULL;
        ProtobufCMessage *m = NULL;
        size_t len = 0;
        int r;

        r = hull_pb_pack(&req->base, &payload, err);
        if (r < 0)
                return r;
        r = hull_ttrpc_call_raw(c, SERVICE, "Echo", payload.data, payload.len, opts, &out, &len, err);
        if (r < 0)
                return r;
        r = hull_pb_unpack(&hull__interop__echo_response__descriptor, out, len, &m, err);
        if (r < 0)
                return r;
        *ret = (Hull__Interop__EchoResponse *)m;
        return 0;
}

#define CHECK(cond, ...)                                                 \
        do {                                                             \
                if (!(cond))                                             \
                        return hull_error_set(err, EPROTO, __VA_ARGS__); \
        } while (0)

static int scenario_unary(struct hull_ttrpc_client *c, struct hull_error **err)
{
        static const struct hull_ttrpc_md md[] = { { "x-hull", "from-c" } };
        struct hull_ttrpc_call_opts opts = { .timeout_usec = 5000000, .metadata = md, .n_metadata = 1 };
        Hull__Interop__EchoRequest req = HULL__INTEROP__ECHO_REQUEST__INIT;
        _cleanup_pb_ Hull__Interop__EchoResponse *resp = NULL;
        int r;

        req.data.data = (uint8_t *)"hello";
        req.data.len = 5;
        r = echo_call(c, &req, &opts, &resp, err);
        if (r < 0)
                return r;
        CHECK(resp->data.len == 5 && memcmp(resp->data.data, "hello", 5) == 0, "echo returned other data");
        CHECK(streq(resp->metadata, "from-c"), "metadata came back as '%s'", resp->metadata);
        return 0;
}

struct concurrent {
        int done;
        int failed;
        char want[100][16];
        char first_error[256];
};

struct concurrent_call {
        struct concurrent *state;
        int index;
};

static void concurrent_reply(int r, const uint8_t *payload, size_t len, const struct hull_error *e, void *userdata)
{
        struct concurrent_call *cc = userdata;
        struct concurrent *st = cc->state;
        ProtobufCMessage *m = NULL;
        const char *want = st->want[cc->index];

        st->done++;
        if (r < 0 || hull_pb_unpack(&hull__interop__echo_response__descriptor, payload, len, &m, NULL) < 0) {
                if (!st->failed++)
                        snprintf(st->first_error, sizeof(st->first_error), "call %d: %s", cc->index,
                                 r < 0 ? hull_error_message(e) : "bad reply");
                return;
        }
        if (((Hull__Interop__EchoResponse *)m)->data.len != strlen(want) ||
            memcmp(((Hull__Interop__EchoResponse *)m)->data.data, want, strlen(want)) != 0) {
                if (!st->failed++)
                        snprintf(st->first_error, sizeof(st->first_error), "call %d got another call's reply",
                                 cc->index);
        }
        protobuf_c_message_free_unpacked(m, NULL);
}

static int scenario_concurrent(struct hull_loop *loop, struct hull_ttrpc_client *c, struct hull_error **err)
{
        struct hull_ttrpc_call_opts opts = { .timeout_usec = 10000000 };
        struct concurrent st = { 0 };
        struct concurrent_call calls[100];
        int r;

        for (int i = 0; i < 100; i++) {
                Hull__Interop__EchoRequest req = HULL__INTEROP__ECHO_REQUEST__INIT;
                snprintf(st.want[i], sizeof(st.want[i]), "call-%d", i);
                req.data.data = (uint8_t *)st.want[i];
                req.data.len = strlen(st.want[i]);
                /* Different delays so that the replies come back out of order. */
                req.sleep_ms = (uint32_t)((i * 37) % 50);
                calls[i].state = &st;
                calls[i].index = i;
                r = hull_ttrpc_client_call(c, SERVICE, "Echo", &req.base, &opts, concurrent_reply, &calls[i], NULL,
                                           err);
                if (r < 0)
                        return r;
        }
        while (st.done < 100) {
                r = hull_loop_run_once(loop, 1000);
                if (r < 0)
                        return hull_error_errno(err, r, "event loop");
        }
        CHECK(!st.failed, "%d of 100 calls failed; first: %s", st.failed, st.first_error);
        return 0;
}

static int scenario_timeout(struct hull_ttrpc_client *c, struct hull_error **err)
{
        struct hull_ttrpc_call_opts opts = { .timeout_usec = 200000 };
        Hull__Interop__EchoRequest req = HULL__INTEROP__ECHO_REQUEST__INIT;
        _cleanup_pb_ Hull__Interop__EchoResponse *resp = NULL;
        uint64_t start = hull_now_usec(), took;
        int r;

        req.sleep_ms = 3000;
        r = echo_call(c, &req, &opts, &resp, err);
        took = hull_now_usec() - start;
        CHECK(r == -ETIMEDOUT, "expected a timeout, got %d", r);
        CHECK(took >= 190000 && took < 2000000, "timed out after %llu us", (unsigned long long)took);
        *err = hull_error_free(*err);
        /* The connection survives the abandoned call. */
        return scenario_unary(c, err);
}

static int scenario_error(struct hull_ttrpc_client *c, struct hull_error **err)
{
        struct hull_ttrpc_call_opts opts = { .timeout_usec = 5000000 };
        Hull__Interop__EchoRequest req = HULL__INTEROP__ECHO_REQUEST__INIT;
        _cleanup_pb_ Hull__Interop__EchoResponse *resp = NULL;
        int r;

        req.fail_code = HULL_GRPC_NOT_FOUND;
        req.fail_message = "no such thing";
        r = echo_call(c, &req, &opts, &resp, err);
        CHECK(r == -ENOENT, "expected -ENOENT from NotFound, got %d", r);
        CHECK(streq(hull_error_message(*err), "no such thing"), "status message was '%s'", hull_error_message(*err));
        *err = hull_error_free(*err);
        return 0;
}

static int scenario_big(struct hull_ttrpc_client *c, struct hull_error **err)
{
        struct hull_ttrpc_call_opts opts = { .timeout_usec = 10000000 };
        Hull__Interop__EchoRequest req = HULL__INTEROP__ECHO_REQUEST__INIT;
        _cleanup_pb_ Hull__Interop__EchoResponse *resp = NULL;
        _cleanup_free_ uint8_t *data = malloc(BIG);
        int r;

        if (!data)
                return hull_error_oom(err);
        for (size_t i = 0; i < BIG; i++)
                data[i] = (uint8_t)(i * 31 + (i >> 16));
        req.data.data = data;
        req.data.len = BIG;
        r = echo_call(c, &req, &opts, &resp, err);
        if (r < 0)
                return r;
        CHECK(resp->data.len == BIG && memcmp(resp->data.data, data, BIG) == 0, "3 MiB echo came back different");
        return 0;
}

static int run_client(struct hull_loop *loop, const char *path, const char *scenario, struct hull_error **err)
{
        _cleanup_(hull_ttrpc_client_freep) struct hull_ttrpc_client *c = NULL;
        static const char *const all[] = { "unary", "concurrent", "timeout", "error", "big" };
        int fd, r;

        fd = hull_unix_connect(path, err);
        if (fd < 0)
                return fd;
        r = hull_ttrpc_client_new(loop, fd, "interop client", &c, err);
        if (r < 0) {
                close(fd);
                return r;
        }
        for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
                if (!streq(scenario, "all") && !streq(scenario, all[i]))
                        continue;
                if (streq(all[i], "unary"))
                        r = scenario_unary(c, err);
                else if (streq(all[i], "concurrent"))
                        r = scenario_concurrent(loop, c, err);
                else if (streq(all[i], "timeout"))
                        r = scenario_timeout(c, err);
                else if (streq(all[i], "error"))
                        r = scenario_error(c, err);
                else
                        r = scenario_big(c, err);
                if (r < 0)
                        return hull_error_prefix(err, "%s", all[i]);
                printf("ok %s\n", all[i]);
                fflush(stdout);
                if (!streq(scenario, "all"))
                        return 0;
        }
        if (!streq(scenario, "all"))
                return hull_error_set(err, EINVAL, "unknown scenario %s", scenario);
        return 0;
}

int main(int argc, char **argv)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        int r;

        if (argc < 3 || (streq(argv[1], "client") && argc < 4)) {
                fprintf(stderr, "usage: %s server SOCKET | client SOCKET unary|concurrent|timeout|error|big|all\n",
                        argv[0]);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        r = hull_loop_new(&loop, &err);
        if (r >= 0)
                r = streq(argv[1], "server") ? run_server(loop, argv[2], &err)
                                             : run_client(loop, argv[2], argv[3], &err);
        if (r < 0) {
                fprintf(stderr, "ttrpc-c-peer: %s\n", hull_error_message(err));
                return 1;
        }
        return 0;
}
