/* Unit tests for src/rpc: framing, the envelope codec, status mapping, and client and server over socketpairs:
 * multiplexing, deadlines, cancellation, and every malformed-frame case a hostile peer can send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "loop.h"
#include "rpc/ttrpc.h"

#include "health.pb-c.h"

#define SVC "hull.test.Echo"

/* ---- helpers ---- */

/* Run the loop until *flag is set or about two seconds pass. */
static void run_until(struct hull_loop *loop, const bool *flag)
{
        uint64_t end = hull_now_usec() + 2000000;

        while (!*flag && hull_now_usec() < end)
                assert_true(hull_loop_run_once(loop, 20) >= 0);
        assert_true(*flag);
}

static void run_for(struct hull_loop *loop, unsigned ms)
{
        uint64_t end = hull_now_usec() + (uint64_t)ms * 1000;

        while (hull_now_usec() < end)
                assert_true(hull_loop_run_once(loop, 5) >= 0);
}

static void write_frame(int fd, uint32_t id, uint8_t type, uint8_t flags, const void *body, size_t len)
{
        struct hull_ttrpc_header h = { .length = (uint32_t)len, .stream_id = id, .type = type, .flags = flags };
        uint8_t hdr[HULL_TTRPC_HEADER_SIZE];

        hull_ttrpc_header_pack(&h, hdr);
        assert_int_equal(write(fd, hdr, sizeof(hdr)), sizeof(hdr));
        if (len)
                assert_int_equal(write(fd, body, len), (ssize_t)len);
}

static void write_request(int fd, uint32_t id, const char *method, const void *payload, size_t len,
                          int64_t timeout_nano)
{
        struct hull_buf b = HULL_BUF_INIT;

        assert_int_equal(hull_ttrpc_request_encode(&b, SVC, method, payload, len, timeout_nano, NULL, 0), 0);
        write_frame(fd, id, HULL_TTRPC_TYPE_REQUEST, 0, b.data, b.len);
        hull_buf_free(&b);
}

/* Read one frame from a raw peer fd while the loop (which serves the other end) keeps running. */
static void read_frame(struct hull_loop *loop, int fd, struct hull_ttrpc_header *h, struct hull_buf *body)
{
        uint8_t hdr[HULL_TTRPC_HEADER_SIZE];
        struct pollfd p = { .fd = fd, .events = POLLIN };
        uint64_t end = hull_now_usec() + 2000000;

        while (poll(&p, 1, 0) == 0 && hull_now_usec() < end)
                assert_true(hull_loop_run_once(loop, 10) >= 0);
        if (poll(&p, 1, 0) == 0)
                fail_msg("no frame arrived within 2 s");
        assert_int_equal(read(fd, hdr, sizeof(hdr)), sizeof(hdr));
        hull_ttrpc_header_unpack(hdr, h);
        hull_buf_clear(body);
        assert_int_equal(hull_buf_reserve(body, h->length), 0);
        while (body->len < h->length) {
                ssize_t n = read(fd, body->data + body->len, h->length - body->len);
                assert_true(n > 0);
                body->len += (size_t)n;
        }
}

/* The loop side must close the raw peer's connection: read() sees EOF (or a reset). */
static void expect_closed(struct hull_loop *loop, int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        uint64_t end = hull_now_usec() + 2000000;
        char buf[256];
        ssize_t n;

        for (;;) {
                while (poll(&p, 1, 0) == 0 && hull_now_usec() < end)
                        assert_true(hull_loop_run_once(loop, 10) >= 0);
                if (poll(&p, 1, 0) == 0)
                        fail_msg("the connection was not closed within 2 s");
                n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                assert_true(hull_now_usec() < end);
        }
        assert_true(n == 0 || errno == ECONNRESET);
}

struct reply {
        bool done;
        int r;
        int code;
        char message[256];
        struct hull_buf payload;
};

static void on_reply(int r, const uint8_t *payload, size_t len, const struct hull_error *err, void *userdata)
{
        struct reply *rep = userdata;

        assert_false(rep->done);
        rep->done = true;
        rep->r = r;
        if (r < 0) {
                assert_non_null(err);
                rep->code = err->code;
                snprintf(rep->message, sizeof(rep->message), "%s", hull_error_message(err));
        } else {
                assert_int_equal(hull_buf_append(&rep->payload, payload, len), 0);
        }
}

/* ---- test server ---- */

struct held {
        struct hull_ttrpc_request *reqs[256];
        size_t n;
        int cancelled;
        int disconnects;
        int last_disconnect_code;
};

static void echo(struct hull_ttrpc_request *req, void *userdata)
{
        size_t len;
        const uint8_t *p = hull_ttrpc_request_payload(req, &len);

        assert_int_equal(hull_ttrpc_request_reply_raw(req, p, len), 0);
}

static void fail_enoent(struct hull_ttrpc_request *req, void *userdata)
{
        assert_int_equal(hull_ttrpc_request_reply_errno(req, ENOENT, "container %s not found", "abc"), 0);
}

static void echo_metadata(struct hull_ttrpc_request *req, void *userdata)
{
        const char *v = hull_ttrpc_request_metadata(req, "X-Hull-Test");

        hull_ttrpc_request_reply_raw(req, v ? v : "(none)", v ? strlen(v) : 6);
}

static void on_cancel(struct hull_ttrpc_request *req, void *userdata)
{
        struct held *h = userdata;

        assert_true(hull_ttrpc_request_cancelled(req));
        h->cancelled++;
}

static void hold(struct hull_ttrpc_request *req, void *userdata)
{
        struct held *h = userdata;

        assert_true(h->n < ARRAY_SIZE(h->reqs));
        hull_ttrpc_request_on_cancel(req, on_cancel, h);
        h->reqs[h->n++] = req;
}

static void health_check(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__CheckRequest *in = (const Grpc__CheckRequest *)hull_ttrpc_request_message(req);
        Grpc__HealthCheckResponse out = GRPC__HEALTH_CHECK_RESPONSE__INIT;

        assert_non_null(in);
        out.status = streq(in->service, "agent") ? GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                                 : GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
        assert_int_equal(hull_ttrpc_request_reply(req, &out.base), 0);
}

static void reply_on_cancel(struct hull_ttrpc_request *req, void *userdata)
{
        hull_ttrpc_request_reply_raw(req, NULL, 0);
}

/* Replies with almost 4 MiB; its cancel callback replies too, as real long-poll handlers do. */
static void big_reply(struct hull_ttrpc_request *req, void *userdata)
{
        static uint8_t zeros[HULL_TTRPC_MESSAGE_MAX - 64];

        hull_ttrpc_request_on_cancel(req, reply_on_cancel, NULL);
        hull_ttrpc_request_reply_raw(req, zeros, sizeof(zeros));
}

static void on_disconnect(struct hull_ttrpc_server *s, const struct hull_error *reason, void *userdata)
{
        struct held *h = userdata;

        h->disconnects++;
        h->last_disconnect_code = reason ? reason->code : 0;
}

struct fixture {
        struct hull_loop *loop;
        struct hull_ttrpc_server *server;
        struct hull_ttrpc_client *client;
        struct held held;
        int raw; /* the test's end of an extra raw connection to the server, -1 until raw_connect() */
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        int sv[2];

        assert_non_null(f);
        f->raw = -1;
        assert_int_equal(hull_loop_new(&f->loop, NULL), 0);
        assert_int_equal(hull_ttrpc_server_new(f->loop, &f->server, NULL), 0);
        assert_int_equal(hull_ttrpc_server_register(f->server, SVC, "Echo", NULL, echo, NULL, NULL), 0);
        assert_int_equal(hull_ttrpc_server_register(f->server, SVC, "Fail", NULL, fail_enoent, NULL, NULL), 0);
        assert_int_equal(hull_ttrpc_server_register(f->server, SVC, "Metadata", NULL, echo_metadata, NULL, NULL), 0);
        assert_int_equal(hull_ttrpc_server_register(f->server, SVC, "Hold", NULL, hold, &f->held, NULL), 0);
        assert_int_equal(hull_ttrpc_server_register(f->server, SVC, "Big", NULL, big_reply, NULL, NULL), 0);
        assert_int_equal(
                hull_ttrpc_server_register_pb(f->server, &grpc__health__descriptor, "Check", health_check, NULL, NULL),
                0);
        hull_ttrpc_server_on_disconnect(f->server, on_disconnect, &f->held);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(hull_ttrpc_server_add_conn(f->server, sv[0], NULL), 0);
        assert_int_equal(hull_ttrpc_client_new(f->loop, sv[1], "test client", &f->client, NULL), 0);
        *state = f;
        return 0;
}

static void raw_connect(struct fixture *f)
{
        int sv[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(hull_ttrpc_server_add_conn(f->server, sv[0], NULL), 0);
        f->raw = sv[1];
}

static void release_held(struct held *h)
{
        for (size_t i = 0; i < h->n; i++)
                hull_ttrpc_request_reply_raw(h->reqs[i], NULL, 0);
        h->n = 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        hull_ttrpc_client_free(f->client);
        hull_ttrpc_server_free(f->server);
        release_held(&f->held);
        if (f->raw >= 0)
                close(f->raw);
        hull_loop_free(f->loop);
        free(f);
        return 0;
}

/* ---- framing and codec ---- */

static void test_ttrpc_header_is_big_endian_on_the_wire(void **state)
{
        struct hull_ttrpc_header h = { .length = 0x01020304, .stream_id = 0x0a0b0c0d, .type = 2, .flags = 1 }, back;
        static const uint8_t want[] = { 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 2, 1 };
        uint8_t out[HULL_TTRPC_HEADER_SIZE];

        hull_ttrpc_header_pack(&h, out);
        assert_memory_equal(out, want, sizeof(want));
        hull_ttrpc_header_unpack(out, &back);
        assert_int_equal(back.length, h.length);
        assert_int_equal(back.stream_id, h.stream_id);
        assert_int_equal(back.type, 2);
        assert_int_equal(back.flags, 1);
}

static void test_ttrpc_header_check_rejects_oversize_and_unknown_type(void **state)
{
        struct hull_ttrpc_header ok = { .length = HULL_TTRPC_MESSAGE_MAX, .stream_id = 1, .type = 1 };
        struct hull_ttrpc_header big = { .length = HULL_TTRPC_MESSAGE_MAX + 1, .stream_id = 1, .type = 1 };
        struct hull_ttrpc_header t0 = { .length = 0, .stream_id = 1, .type = 0 };
        struct hull_ttrpc_header t4 = { .length = 0, .stream_id = 1, .type = 4 };
        _cleanup_error_ struct hull_error *e = NULL;

        assert_int_equal(hull_ttrpc_header_check(&ok, NULL), 0);
        assert_int_equal(hull_ttrpc_header_check(&big, &e), -EMSGSIZE);
        assert_non_null(strstr(hull_error_message(e), "exceeds"));
        assert_int_equal(hull_ttrpc_header_check(&t0, NULL), -EPROTO);
        assert_int_equal(hull_ttrpc_header_check(&t4, NULL), -EPROTO);
}

static void test_ttrpc_request_encoding_matches_hand_built_bytes(void **state)
{
        static const struct hull_ttrpc_md md[] = { { "k", "v" } };
        /* service=1 "s", method=2 "m", payload=3 "p", timeout_nano=4 varint 300, metadata=5 {key=1 "k", value=2 "v"} */
        static const uint8_t want[] = { 0x0a, 1,    's',  0x12, 1,    'm', 0x1a, 1,    'p', 0x20,
                                        0xac, 0x02, 0x2a, 6,    0x0a, 1,   'k',  0x12, 1,   'v' };
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;

        assert_int_equal(hull_ttrpc_request_encode(&b, "s", "m", "p", 1, 300, md, 1), 0);
        assert_int_equal(b.len, sizeof(want));
        assert_memory_equal(b.data, want, sizeof(want));
}

static void test_ttrpc_request_decode_round_trip_skips_unknown_fields(void **state)
{
        static const struct hull_ttrpc_md md[] = { { "a", "1" }, { "b", "" }, { "a", "2" } };
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;
        struct hull_ttrpc_request_msg m;
        /* unknown field 9 as varint, 10 as fixed64, 11 as bytes, 12 as fixed32 */
        static const uint8_t unknown[] = {
                0x48, 0x7f, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x5a, 2, 'x', 'y', 0x65, 1, 2, 3, 4
        };

        assert_int_equal(
                hull_ttrpc_request_encode(&b, "grpc.AgentService", "CreateContainer", "\x0a\x01z", 3, -5, md, 3), 0);
        assert_int_equal(hull_buf_append(&b, unknown, sizeof(unknown)), 0);
        assert_int_equal(hull_ttrpc_request_decode((const uint8_t *)b.data, b.len, &m, NULL), 0);
        assert_string_equal(m.service, "grpc.AgentService");
        assert_string_equal(m.method, "CreateContainer");
        assert_int_equal(m.payload_len, 3);
        assert_memory_equal(m.payload, "\x0a\x01z", 3);
        assert_true(m.timeout_nano == -5);
        assert_int_equal(m.n_metadata, 3);
        assert_string_equal(m.metadata[0].key, "a");
        assert_string_equal(m.metadata[0].value, "1");
        assert_string_equal(m.metadata[1].key, "b");
        assert_string_equal(m.metadata[1].value, "");
        assert_string_equal(m.metadata[2].value, "2");
        hull_ttrpc_request_msg_done(&m);

        /* An empty message is a valid request with every field at its default. */
        assert_int_equal(hull_ttrpc_request_decode((const uint8_t *)"", 0, &m, NULL), 0);
        assert_string_equal(m.service, "");
        assert_int_equal(m.payload_len, 0);
        hull_ttrpc_request_msg_done(&m);
}

static void test_ttrpc_request_decode_rejects_malformed_protobuf(void **state)
{
        static const struct {
                const char *what;
                const uint8_t *data;
                size_t len;
        } cases[] = {
                { "truncated varint key", (const uint8_t *)"\x80", 1 },
                { "length past the end",
                  (const uint8_t *)"\x0a\x05"
                                   "ab",
                  4 },
                { "service as a varint", (const uint8_t *)"\x08\x01", 2 },
                { "timeout as bytes", (const uint8_t *)"\x22\x01x", 3 },
                { "group wire type", (const uint8_t *)"\x0b\x0c", 2 },
                { "wire type 7", (const uint8_t *)"\x0f", 1 },
                { "field number 0", (const uint8_t *)"\x02\x00", 2 },
                { "NUL inside the method",
                  (const uint8_t *)"\x12\x03"
                                   "a\0b",
                  5 },
                { "eleven-byte varint", (const uint8_t *)"\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12 },
                { "ten-byte varint past 64 bits", (const uint8_t *)"\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11 },
                { "truncated fixed64", (const uint8_t *)"\x51\x01\x02", 3 },
                { "metadata entry overrunning", (const uint8_t *)"\x2a\x04\x0a\x05kv", 6 },
        };
        struct hull_ttrpc_request_msg m;

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_error_ struct hull_error *e = NULL;
                int r = hull_ttrpc_request_decode(cases[i].data, cases[i].len, &m, &e);
                if (r != -EBADMSG)
                        fail_msg("%s: decode returned %d", cases[i].what, r);
                assert_non_null(strstr(hull_error_message(e), "malformed"));
        }
}

static void test_ttrpc_request_decode_limits_metadata_pairs(void **state)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;
        struct hull_ttrpc_request_msg m;

        for (int i = 0; i <= HULL_TTRPC_METADATA_MAX; i++)
                assert_int_equal(hull_buf_append(&b, "\x2a\x00", 2), 0);
        assert_int_equal(hull_ttrpc_request_decode((const uint8_t *)b.data, b.len, &m, NULL), -EBADMSG);
        b.len -= 2;
        assert_int_equal(hull_ttrpc_request_decode((const uint8_t *)b.data, b.len, &m, NULL), 0);
        assert_int_equal(m.n_metadata, HULL_TTRPC_METADATA_MAX);
        hull_ttrpc_request_msg_done(&m);
}

static void test_ttrpc_response_status_round_trip(void **state)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;
        struct hull_ttrpc_response_msg m;
        /* status=1 {code=1 varint 5, message=2 "nope"}, payload=2 "xy" */
        static const uint8_t want[] = { 0x0a, 8, 0x08, 5, 0x12, 4, 'n', 'o', 'p', 'e', 0x12, 2, 'x', 'y' };

        assert_int_equal(hull_ttrpc_response_encode(&b, 5, "nope", "xy", 2), 0);
        assert_int_equal(b.len, sizeof(want));
        assert_memory_equal(b.data, want, sizeof(want));
        assert_int_equal(hull_ttrpc_response_decode((const uint8_t *)b.data, b.len, &m, NULL), 0);
        assert_int_equal(m.code, 5);
        assert_string_equal(m.message, "nope");
        assert_int_equal(m.payload_len, 2);
        hull_ttrpc_response_msg_done(&m);

        /* OK carries no status at all; a negative int32 code survives its 10-byte varint. */
        hull_buf_clear(&b);
        assert_int_equal(hull_ttrpc_response_encode(&b, 0, NULL, "z", 1), 0);
        assert_int_equal(b.len, 3);
        hull_buf_clear(&b);
        assert_int_equal(hull_ttrpc_response_encode(&b, -3, "neg", NULL, 0), 0);
        assert_int_equal(hull_ttrpc_response_decode((const uint8_t *)b.data, b.len, &m, NULL), 0);
        assert_int_equal(m.code, -3);
        assert_int_equal(m.payload_len, 0);
        hull_ttrpc_response_msg_done(&m);

        assert_int_equal(hull_ttrpc_response_decode((const uint8_t *)"\x0a\x02\x08", 3, &m, NULL), -EBADMSG);
        assert_int_equal(hull_ttrpc_response_decode((const uint8_t *)"\x0a\x01\x12", 3, &m, NULL), -EBADMSG);
}

static void test_grpc_codes_map_to_errno_and_back(void **state)
{
        for (int code = 1; code <= 16; code++) {
                int e = hull_grpc_code_to_errno(code);
                assert_true(e > 0);
                assert_int_equal(hull_grpc_code_from_errno(e), code);
                assert_int_equal(hull_grpc_code_from_errno(-e), code);
        }
        assert_int_equal(hull_grpc_code_to_errno(HULL_GRPC_OK), 0);
        assert_int_equal(hull_grpc_code_to_errno(HULL_GRPC_NOT_FOUND), ENOENT);
        assert_int_equal(hull_grpc_code_to_errno(99), EIO);
        assert_int_equal(hull_grpc_code_from_errno(ESRCH), HULL_GRPC_NOT_FOUND);
        assert_int_equal(hull_grpc_code_from_errno(EACCES), HULL_GRPC_PERMISSION_DENIED);
        assert_int_equal(hull_grpc_code_from_errno(EXDEV), HULL_GRPC_UNKNOWN);
        assert_string_equal(hull_grpc_code_name(HULL_GRPC_DEADLINE_EXCEEDED), "DeadlineExceeded");
}

/* ---- client and server ---- */

static void test_ttrpc_unary_call_round_trip(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ void *out = NULL;
        size_t len = 0;

        assert_int_equal(hull_ttrpc_call_raw(f->client, SVC, "Echo", "hello", 5, NULL, &out, &len, NULL), 0);
        assert_int_equal(len, 5);
        assert_memory_equal(out, "hello", 5);
        free(out);
        out = NULL;
        /* An empty payload is a valid reply too. */
        assert_int_equal(hull_ttrpc_call_raw(f->client, SVC, "Echo", NULL, 0, NULL, &out, &len, NULL), 0);
        assert_int_equal(len, 0);
}

static void test_ttrpc_protobuf_call_through_generated_service(void **state)
{
        struct fixture *f = *state;
        Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;

        req.service = "agent";
        assert_int_equal(hull_ttrpc_call(f->client, "grpc.Health", "Check", &req.base,
                                         &grpc__health_check_response__descriptor, 1000000, &resp, NULL),
                         0);
        assert_int_equal(((Grpc__HealthCheckResponse *)resp)->status,
                         GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
        protobuf_c_message_free_unpacked(resp, NULL);
}

static void test_ttrpc_invalid_payload_gets_invalid_argument_and_connection_stays(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ struct hull_error *e = NULL;
        _cleanup_free_ void *out = NULL;
        size_t len;

        /* field 1 claims 9 bytes that are not there */
        assert_int_equal(hull_ttrpc_call_raw(f->client, "grpc.Health", "Check", "\x0a\x09", 2, NULL, &out, &len, &e),
                         -EINVAL);
        assert_non_null(strstr(hull_error_message(e), "unmarshalling"));
        assert_false(hull_ttrpc_client_is_closed(f->client));
        assert_int_equal(hull_ttrpc_call_raw(f->client, SVC, "Echo", "x", 1, NULL, &out, &len, NULL), 0);
}

static void test_ttrpc_error_status_maps_to_errno_with_message(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ struct hull_error *e = NULL;
        void *out = NULL;
        size_t len;

        assert_int_equal(hull_ttrpc_call_raw(f->client, SVC, "Fail", NULL, 0, NULL, &out, &len, &e), -ENOENT);
        assert_string_equal(hull_error_message(e), "container abc not found");
        assert_null(out);
}

static void test_ttrpc_unknown_service_and_method_are_unimplemented(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ struct hull_error *e = NULL;
        void *out = NULL;
        size_t len;

        assert_int_equal(hull_ttrpc_call_raw(f->client, SVC, "Nope", NULL, 0, NULL, &out, &len, &e), -EOPNOTSUPP);
        assert_string_equal(hull_error_message(e), "method Nope");
        assert_int_equal(hull_ttrpc_call_raw(f->client, "no.Such", "Nope", NULL, 0, NULL, &out, &len, &e), -EOPNOTSUPP);
        assert_string_equal(hull_error_message(e), "service no.Such");
}

static void test_ttrpc_metadata_reaches_the_handler(void **state)
{
        struct fixture *f = *state;
        static const struct hull_ttrpc_md md[] = { { "other", "x" }, { "x-hull-test", "42" } };
        struct hull_ttrpc_call_opts opts = { .metadata = md, .n_metadata = 2 };
        _cleanup_free_ void *out = NULL;
        size_t len;

        assert_int_equal(hull_ttrpc_call_raw(f->client, SVC, "Metadata", NULL, 0, &opts, &out, &len, NULL), 0);
        assert_int_equal(len, 2);
        assert_memory_equal(out, "42", 2);
}

static void test_ttrpc_many_calls_in_flight_matched_by_stream_id(void **state)
{
        struct fixture *f = *state;
        struct reply rep[100] = { 0 };
        char payload[100][16];

        for (int i = 0; i < 100; i++) {
                snprintf(payload[i], sizeof(payload[i]), "call-%d", i);
                assert_int_equal(hull_ttrpc_client_call_raw(f->client, SVC, "Hold", payload[i], strlen(payload[i]),
                                                            NULL, on_reply, &rep[i], NULL, NULL),
                                 0);
        }
        assert_int_equal(hull_ttrpc_client_pending(f->client), 100);
        while (f->held.n < 100)
                run_for(f->loop, 5);
        /* Reply in reverse order, echoing each request's own payload. */
        for (size_t i = f->held.n; i-- > 0;) {
                size_t len;
                const uint8_t *p = hull_ttrpc_request_payload(f->held.reqs[i], &len);
                struct hull_buf copy = HULL_BUF_INIT;
                assert_int_equal(hull_buf_append(&copy, p, len), 0);
                assert_int_equal(hull_ttrpc_request_reply_raw(f->held.reqs[i], copy.data, copy.len), 0);
                hull_buf_free(&copy);
        }
        f->held.n = 0;
        run_until(f->loop, &rep[0].done);
        for (int i = 0; i < 100; i++) {
                run_until(f->loop, &rep[i].done);
                assert_int_equal(rep[i].r, 0);
                assert_int_equal(rep[i].payload.len, strlen(payload[i]));
                assert_memory_equal(rep[i].payload.data, payload[i], rep[i].payload.len);
                hull_buf_free(&rep[i].payload);
        }
        assert_int_equal(hull_ttrpc_client_pending(f->client), 0);
}

static void test_ttrpc_call_times_out_and_server_cancels_the_request(void **state)
{
        struct fixture *f = *state;
        struct hull_ttrpc_call_opts opts = { .timeout_usec = 50000 };
        struct reply rep = { 0 };
        uint64_t start = hull_now_usec(), deadline;

        assert_int_equal(hull_ttrpc_client_call_raw(f->client, SVC, "Hold", "x", 1, &opts, on_reply, &rep, NULL, NULL),
                         0);
        run_until(f->loop, &rep.done);
        assert_int_equal(rep.r, -ETIMEDOUT);
        assert_non_null(strstr(rep.message, SVC "/Hold"));
        assert_true(hull_now_usec() - start >= 50000);
        /* The server saw timeout_nano and cancelled the handler's request at about the same time. */
        assert_int_equal(f->held.n, 1);
        deadline = hull_ttrpc_request_deadline(f->held.reqs[0]);
        assert_true(deadline > start && deadline <= start + 100000);
        while (!f->held.cancelled)
                run_for(f->loop, 5);
        assert_int_equal(hull_ttrpc_request_reply_raw(f->held.reqs[0], "late", 4), -ETIMEDOUT);
        f->held.n = 0;
        /* The late reply was not sent and the connection still works. */
        {
                _cleanup_free_ void *out = NULL;
                size_t len;
                assert_int_equal(hull_ttrpc_call_raw(f->client, SVC, "Echo", "ok", 2, NULL, &out, &len, NULL), 0);
        }
}

static void test_ttrpc_server_answers_deadline_exceeded_itself(void **state)
{
        struct fixture *f = *state;
        _cleanup_buf_ struct hull_buf body = HULL_BUF_INIT;
        struct hull_ttrpc_response_msg m;
        struct hull_ttrpc_header h;

        raw_connect(f);
        write_request(f->raw, 7, "Hold", NULL, 0, 20 * 1000 * 1000);
        read_frame(f->loop, f->raw, &h, &body);
        assert_int_equal(h.stream_id, 7);
        assert_int_equal(h.type, HULL_TTRPC_TYPE_RESPONSE);
        assert_int_equal(hull_ttrpc_response_decode((const uint8_t *)body.data, body.len, &m, NULL), 0);
        assert_int_equal(m.code, HULL_GRPC_DEADLINE_EXCEEDED);
        hull_ttrpc_response_msg_done(&m);
        assert_int_equal(f->held.cancelled, 1);
}

static void test_ttrpc_pending_calls_fail_when_the_server_goes_away(void **state)
{
        struct fixture *f = *state;
        struct reply a = { 0 }, b = { 0 };

        assert_int_equal(hull_ttrpc_client_call_raw(f->client, SVC, "Hold", NULL, 0, NULL, on_reply, &a, NULL, NULL),
                         0);
        assert_int_equal(hull_ttrpc_client_call_raw(f->client, SVC, "Hold", NULL, 0, NULL, on_reply, &b, NULL, NULL),
                         0);
        while (f->held.n < 2)
                run_for(f->loop, 5);
        f->server = hull_ttrpc_server_free(f->server);
        assert_int_equal(f->held.cancelled, 2);
        run_until(f->loop, &a.done);
        run_until(f->loop, &b.done);
        assert_int_equal(a.r, -ECONNRESET);
        assert_int_equal(b.r, -ECONNRESET);
        assert_non_null(strstr(a.message, "connection closed"));
        assert_true(hull_ttrpc_client_is_closed(f->client));
        /* Replies after the server is gone are refused, not crashes. */
        assert_int_equal(hull_ttrpc_request_reply_raw(f->held.reqs[0], "x", 1), -ECONNRESET);
        assert_int_equal(hull_ttrpc_request_reply_raw(f->held.reqs[1], "x", 1), -ECONNRESET);
        f->held.n = 0;
        {
                _cleanup_error_ struct hull_error *e = NULL;
                assert_int_equal(
                        hull_ttrpc_client_call_raw(f->client, SVC, "Echo", NULL, 0, NULL, on_reply, &a, NULL, &e),
                        -ECONNRESET);
        }
}

static void test_ttrpc_client_free_cancels_pending_calls(void **state)
{
        struct fixture *f = *state;
        struct reply a = { 0 };

        assert_int_equal(hull_ttrpc_client_call_raw(f->client, SVC, "Hold", NULL, 0, NULL, on_reply, &a, NULL, NULL),
                         0);
        f->client = hull_ttrpc_client_free(f->client);
        assert_true(a.done);
        assert_int_equal(a.r, -ECANCELED);
        /* The server notices the hang-up and cancels what the client had open. */
        while (!f->held.cancelled)
                run_for(f->loop, 5);
        assert_int_equal(hull_ttrpc_server_n_conns(f->server), 0);
}

static void free_client_in_callback(int r, const uint8_t *payload, size_t len, const struct hull_error *err,
                                    void *userdata)
{
        struct fixture *f = userdata;

        f->client = hull_ttrpc_client_free(f->client);
}

static void test_ttrpc_client_freed_inside_its_own_callback(void **state)
{
        struct fixture *f = *state;
        struct reply other = { 0 };

        assert_int_equal(hull_ttrpc_client_call_raw(f->client, SVC, "Echo", "a", 1, NULL, free_client_in_callback, f,
                                                    NULL, NULL),
                         0);
        assert_int_equal(hull_ttrpc_client_call_raw(f->client, SVC, "Echo", "b", 1, NULL, on_reply, &other, NULL, NULL),
                         0);
        run_until(f->loop, &other.done);
        assert_null(f->client);
        assert_int_equal(other.r, -ECANCELED);
}

static void test_ttrpc_cancelled_call_never_calls_back(void **state)
{
        struct fixture *f = *state;
        struct reply a = { 0 };
        _cleanup_free_ void *out = NULL;
        uint32_t id;
        size_t len;

        assert_int_equal(hull_ttrpc_client_call_raw(f->client, SVC, "Echo", "a", 1, NULL, on_reply, &a, &id, NULL), 0);
        assert_int_equal(id % 2, 1);
        assert_int_equal(hull_ttrpc_client_cancel(f->client, id), 0);
        assert_int_equal(hull_ttrpc_client_cancel(f->client, id), -ENOENT);
        /* The reply for the cancelled stream arrives and is dropped; the next call still works. */
        assert_int_equal(hull_ttrpc_call_raw(f->client, SVC, "Echo", "b", 1, NULL, &out, &len, NULL), 0);
        assert_false(a.done);
}

struct pair {
        struct hull_ttrpc_client *client;
        uint32_t ids[2];
        int calls;
};

static void cancel_the_other(int r, const uint8_t *payload, size_t len, const struct hull_error *err, void *userdata)
{
        struct pair *p = userdata;

        assert_int_equal(r, -ETIMEDOUT);
        p->calls++;
        /* Exactly one of the two is still pending. */
        assert_int_equal(hull_ttrpc_client_cancel(p->client, p->ids[0]) +
                                 hull_ttrpc_client_cancel(p->client, p->ids[1]),
                         -ENOENT);
}

static void test_ttrpc_timeout_callback_cancels_another_expired_call(void **state)
{
        struct fixture *f = *state;
        struct hull_ttrpc_call_opts opts = { .timeout_usec = 30000 };
        struct pair p = { .client = f->client };

        for (int i = 0; i < 2; i++)
                assert_int_equal(hull_ttrpc_client_call_raw(f->client, SVC, "Hold", NULL, 0, &opts, cancel_the_other,
                                                            &p, &p.ids[i], NULL),
                                 0);
        run_for(f->loop, 100);
        assert_int_equal(p.calls, 1);
        assert_int_equal(hull_ttrpc_client_pending(f->client), 0);
}

static void test_ttrpc_three_mib_payload_and_over_limit_refused_locally(void **state)
{
        struct fixture *f = *state;
        size_t big = 3u << 20;
        _cleanup_free_ uint8_t *data = malloc(big);
        _cleanup_free_ uint8_t *huge = calloc(1, HULL_TTRPC_MESSAGE_MAX + 1);
        _cleanup_error_ struct hull_error *e = NULL;
        _cleanup_free_ void *out = NULL;
        size_t len = 0;

        assert_non_null(data);
        assert_non_null(huge);
        for (size_t i = 0; i < big; i++)
                data[i] = (uint8_t)(i * 7 + (i >> 12));
        assert_int_equal(hull_ttrpc_call_raw(f->client, SVC, "Echo", data, big, NULL, &out, &len, NULL), 0);
        assert_int_equal(len, big);
        assert_memory_equal(out, data, big);
        assert_int_equal(hull_ttrpc_client_call_raw(f->client, SVC, "Echo", huge, HULL_TTRPC_MESSAGE_MAX + 1, NULL,
                                                    on_reply, NULL, NULL, &e),
                         -EMSGSIZE);
        assert_false(hull_ttrpc_client_is_closed(f->client));
}

static void test_ttrpc_streaming_request_is_unimplemented(void **state)
{
        struct fixture *f = *state;
        _cleanup_buf_ struct hull_buf body = HULL_BUF_INIT, req = HULL_BUF_INIT;
        struct hull_ttrpc_response_msg m;
        struct hull_ttrpc_header h;

        raw_connect(f);
        assert_int_equal(hull_ttrpc_request_encode(&req, SVC, "Echo", NULL, 0, 0, NULL, 0), 0);
        write_frame(f->raw, 1, HULL_TTRPC_TYPE_REQUEST, HULL_TTRPC_FLAG_REMOTE_OPEN, req.data, req.len);
        /* A stray data frame is dropped without closing the connection. */
        write_frame(f->raw, 1, HULL_TTRPC_TYPE_DATA, 0, "zz", 2);
        read_frame(f->loop, f->raw, &h, &body);
        assert_int_equal(hull_ttrpc_response_decode((const uint8_t *)body.data, body.len, &m, NULL), 0);
        assert_int_equal(m.code, HULL_GRPC_UNIMPLEMENTED);
        hull_ttrpc_response_msg_done(&m);
        write_request(f->raw, 3, "Echo", "ok", 2, 0);
        read_frame(f->loop, f->raw, &h, &body);
        assert_int_equal(h.stream_id, 3);
}

/* ---- hostile clients: each closes only its own connection ---- */

static void check_only_raw_connection_closed(struct fixture *f, int code)
{
        _cleanup_free_ void *out = NULL;
        size_t len;

        expect_closed(f->loop, f->raw);
        assert_int_equal(f->held.disconnects, 1);
        assert_int_equal(f->held.last_disconnect_code, code);
        assert_int_equal(hull_ttrpc_call_raw(f->client, SVC, "Echo", "still", 5, NULL, &out, &len, NULL), 0);
        assert_int_equal(hull_ttrpc_server_n_conns(f->server), 1);
}

static void test_ttrpc_server_closes_on_over_limit_frame(void **state)
{
        struct fixture *f = *state;
        struct hull_ttrpc_header h = { .length = HULL_TTRPC_MESSAGE_MAX + 1, .stream_id = 1, .type = 1 };
        uint8_t hdr[HULL_TTRPC_HEADER_SIZE];

        raw_connect(f);
        hull_ttrpc_header_pack(&h, hdr);
        /* Only the header: the server must not wait for (or buffer) the 4 MiB body. */
        assert_int_equal(write(f->raw, hdr, sizeof(hdr)), sizeof(hdr));
        check_only_raw_connection_closed(f, EMSGSIZE);
}

static void test_ttrpc_server_closes_on_truncated_frame(void **state)
{
        struct fixture *f = *state;
        struct hull_ttrpc_header h = { .length = 100, .stream_id = 1, .type = 1 };
        uint8_t hdr[HULL_TTRPC_HEADER_SIZE];
        int sv[2];

        /* Header promising 100 bytes, 3 sent, then the peer hangs up. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(hull_ttrpc_server_add_conn(f->server, sv[0], NULL), 0);
        hull_ttrpc_header_pack(&h, hdr);
        assert_int_equal(write(sv[1], hdr, sizeof(hdr)), sizeof(hdr));
        assert_int_equal(write(sv[1], "abc", 3), 3);
        close(sv[1]);
        while (!f->held.disconnects)
                run_for(f->loop, 5);
        assert_int_equal(f->held.last_disconnect_code, EPROTO);
        assert_int_equal(hull_ttrpc_server_n_conns(f->server), 1);
}

static void test_ttrpc_server_closes_on_unknown_type(void **state)
{
        struct fixture *f = *state;

        raw_connect(f);
        write_frame(f->raw, 1, 9, 0, "x", 1);
        check_only_raw_connection_closed(f, EPROTO);
}

static void test_ttrpc_server_closes_on_invalid_protobuf(void **state)
{
        struct fixture *f = *state;

        raw_connect(f);
        write_frame(f->raw, 1, HULL_TTRPC_TYPE_REQUEST, 0,
                    "\x0a\x7f"
                    "abc",
                    5);
        check_only_raw_connection_closed(f, EPROTO);
}

static void test_ttrpc_server_closes_on_even_stream_id(void **state)
{
        struct fixture *f = *state;

        raw_connect(f);
        write_request(f->raw, 2, "Echo", NULL, 0, 0);
        check_only_raw_connection_closed(f, EPROTO);
}

static void test_ttrpc_server_closes_on_duplicate_stream_id(void **state)
{
        struct fixture *f = *state;

        raw_connect(f);
        write_request(f->raw, 5, "Hold", NULL, 0, 0);
        write_request(f->raw, 5, "Hold", NULL, 0, 0);
        check_only_raw_connection_closed(f, EPROTO);
        /* The first request was open and is cancelled with its connection. */
        assert_int_equal(f->held.n, 1);
        assert_int_equal(f->held.cancelled, 1);
}

static void test_ttrpc_server_closes_on_response_from_client(void **state)
{
        struct fixture *f = *state;

        raw_connect(f);
        write_frame(f->raw, 1, HULL_TTRPC_TYPE_RESPONSE, 0, NULL, 0);
        check_only_raw_connection_closed(f, EPROTO);
}

static void test_ttrpc_server_closes_when_client_never_reads(void **state)
{
        struct fixture *f = *state;
        _cleanup_buf_ struct hull_buf req = HULL_BUF_INIT;
        int sent = 0;

        raw_connect(f);
        assert_int_equal(hull_ttrpc_request_encode(&req, SVC, "Big", NULL, 0, 0, NULL, 0), 0);
        /* Every request costs the server a 4 MiB reply it cannot deliver: past its write queue limit it gives up. */
        while (!f->held.disconnects) {
                assert_true(sent < 64);
                write_frame(f->raw, (uint32_t)(2 * sent++ + 1), HULL_TTRPC_TYPE_REQUEST, 0, req.data, req.len);
                run_for(f->loop, 2);
        }
        assert_true(sent > 10);
        assert_int_equal(f->held.last_disconnect_code, ENOBUFS);
        check_only_raw_connection_closed(f, ENOBUFS);
}

/* ---- hostile servers ---- */

struct closed_note {
        bool closed;
        int code;
};

static void on_client_closed(struct hull_ttrpc_client *c, const struct hull_error *reason, void *userdata)
{
        struct closed_note *n = userdata;

        n->closed = true;
        n->code = reason->code;
}

/* A client talking to a raw fd the test plays the server on. */
static void hostile_server(const void *frame_body, size_t len, uint32_t id_delta, uint8_t type, int want_code)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        struct hull_ttrpc_client *c = NULL;
        _cleanup_buf_ struct hull_buf req = HULL_BUF_INIT;
        struct closed_note note = { 0 };
        struct reply rep = { 0 };
        struct hull_ttrpc_header h;
        uint32_t id;
        int sv[2];

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(hull_ttrpc_client_new(loop, sv[0], "victim", &c, NULL), 0);
        hull_ttrpc_client_on_close(c, on_client_closed, &note);
        assert_int_equal(hull_ttrpc_client_call_raw(c, SVC, "Echo", "x", 1, NULL, on_reply, &rep, &id, NULL), 0);
        read_frame(loop, sv[1], &h, &req);
        assert_int_equal(h.stream_id, id);
        write_frame(sv[1], id + id_delta, type, 0, frame_body, len);
        run_until(loop, &note.closed);
        assert_int_equal(note.code, want_code);
        assert_true(rep.done);
        assert_int_equal(rep.r, -ECONNRESET);
        hull_ttrpc_client_free(c);
        close(sv[1]);
}

static void test_ttrpc_client_closes_on_reply_for_unopened_stream(void **state)
{
        hostile_server(NULL, 0, 2, HULL_TTRPC_TYPE_RESPONSE, EPROTO);
}

static void test_ttrpc_client_closes_on_request_from_server(void **state)
{
        hostile_server(NULL, 0, 0, HULL_TTRPC_TYPE_REQUEST, EPROTO);
}

static void test_ttrpc_client_closes_on_invalid_response(void **state)
{
        hostile_server("\x12\x05"
                       "ab",
                       4, 0, HULL_TTRPC_TYPE_RESPONSE, EPROTO);
}

static void test_ttrpc_client_closes_on_unknown_type(void **state)
{
        hostile_server(NULL, 0, 0, 0, EPROTO);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ttrpc_header_is_big_endian_on_the_wire),
                cmocka_unit_test(test_ttrpc_header_check_rejects_oversize_and_unknown_type),
                cmocka_unit_test(test_ttrpc_request_encoding_matches_hand_built_bytes),
                cmocka_unit_test(test_ttrpc_request_decode_round_trip_skips_unknown_fields),
                cmocka_unit_test(test_ttrpc_request_decode_rejects_malformed_protobuf),
                cmocka_unit_test(test_ttrpc_request_decode_limits_metadata_pairs),
                cmocka_unit_test(test_ttrpc_response_status_round_trip),
                cmocka_unit_test(test_grpc_codes_map_to_errno_and_back),
                cmocka_unit_test_setup_teardown(test_ttrpc_unary_call_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_protobuf_call_through_generated_service, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_invalid_payload_gets_invalid_argument_and_connection_stays,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_error_status_maps_to_errno_with_message, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_unknown_service_and_method_are_unimplemented, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_metadata_reaches_the_handler, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_many_calls_in_flight_matched_by_stream_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_call_times_out_and_server_cancels_the_request, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_server_answers_deadline_exceeded_itself, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_pending_calls_fail_when_the_server_goes_away, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_client_free_cancels_pending_calls, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_client_freed_inside_its_own_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_cancelled_call_never_calls_back, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_timeout_callback_cancels_another_expired_call, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_three_mib_payload_and_over_limit_refused_locally, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_streaming_request_is_unimplemented, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_server_closes_on_over_limit_frame, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_server_closes_on_truncated_frame, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_server_closes_on_unknown_type, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_server_closes_on_invalid_protobuf, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_server_closes_on_even_stream_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_server_closes_on_duplicate_stream_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_server_closes_on_response_from_client, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttrpc_server_closes_when_client_never_reads, setup, teardown),
                cmocka_unit_test(test_ttrpc_client_closes_on_reply_for_unopened_stream),
                cmocka_unit_test(test_ttrpc_client_closes_on_request_from_server),
                cmocka_unit_test(test_ttrpc_client_closes_on_invalid_response),
                cmocka_unit_test(test_ttrpc_client_closes_on_unknown_type),
        };

        hull_log_set_level(HULL_LOG_ERROR);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
