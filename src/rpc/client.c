/* ttrpc client: odd stream ids, a small hash of pending calls, one timer for the earliest deadline. */
#include "client.h"

#include <stdarg.h>
#include <string.h>

#include "buf.h"
#include "channel.h"
#include "error.h"
#include "log.h"
#include "loop.h"
#include "pb.h"
#include "status.h"

#define BUCKETS 64u

struct call {
        struct call *next;
        uint32_t id;
        uint64_t deadline; /* CLOCK_MONOTONIC usec, 0: none */
        uint64_t timeout_usec;
        hull_ttrpc_reply_cb cb;
        void *userdata;
        char what[]; /* "service/method", for error messages */
};

struct hull_ttrpc_client {
        unsigned refs;
        bool freed;
        struct hull_loop *loop;
        struct hull_ttrpc_channel *ch;
        uint32_t next_id;
        struct call *buckets[BUCKETS];
        size_t n_pending;
        struct hull_loop_source *timer;
        uint64_t timer_at; /* the deadline the timer is armed for, 0: not armed */
        hull_ttrpc_client_closed_cb close_cb;
        void *close_userdata;
};

static void client_frame(struct hull_ttrpc_channel *ch, const struct hull_ttrpc_header *h, const uint8_t *payload,
                         void *userdata);
static void client_closed(struct hull_ttrpc_channel *ch, const struct hull_error *reason, void *userdata);

static const struct hull_ttrpc_channel_ops client_ops = {
        .frame = client_frame,
        .closed = client_closed,
};

int hull_ttrpc_client_new(struct hull_loop *loop, int fd, const char *name, struct hull_ttrpc_client **ret,
                          struct hull_error **err)
{
        struct hull_ttrpc_client *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return hull_error_oom(err);
        c->refs = 1;
        c->loop = loop;
        c->next_id = 1;
        r = hull_ttrpc_channel_new(loop, fd, name ? name : "ttrpc client", &client_ops, c, &c->ch, err);
        if (r < 0) {
                free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static struct hull_ttrpc_client *client_ref(struct hull_ttrpc_client *c)
{
        c->refs++;
        return c;
}

/* noinline: GCC's -Wuse-after-free cannot follow reference counts across inlined calls. */
__attribute__((noinline)) static void client_unref(struct hull_ttrpc_client *c)
{
        if (--c->refs > 0)
                return;
        hull_loop_source_remove(c->timer);
        hull_ttrpc_channel_unref(c->ch);
        free(c);
}

static struct call **bucket_of(struct hull_ttrpc_client *c, uint32_t id)
{
        /* Ids are odd and consecutive: drop the low bit to spread them over every bucket. */
        return &c->buckets[(id >> 1) % BUCKETS];
}

static struct call *call_find(struct hull_ttrpc_client *c, uint32_t id)
{
        for (struct call *k = *bucket_of(c, id); k; k = k->next)
                if (k->id == id)
                        return k;
        return NULL;
}

static struct call *call_unlink(struct hull_ttrpc_client *c, uint32_t id)
{
        for (struct call **p = bucket_of(c, id); *p; p = &(*p)->next)
                if ((*p)->id == id) {
                        struct call *k = *p;
                        *p = k->next;
                        k->next = NULL;
                        c->n_pending--;
                        return k;
                }
        return NULL;
}

/* The first pending call, or the first whose deadline has passed when now != 0. Callbacks may cancel or add
 * calls, so callers take calls out one at a time rather than walk a snapshot. */
static struct call *call_first(struct hull_ttrpc_client *c, uint64_t now)
{
        for (size_t i = 0; i < BUCKETS; i++)
                for (struct call *k = c->buckets[i]; k; k = k->next)
                        if (!now || (k->deadline && k->deadline <= now))
                                return k;
        return NULL;
}

/* End a call that is no longer in the table: run its callback with an error, then free it. */
static void call_fail(struct call *k, int code, const char *fmt, ...) _printf_(3, 4);
static void call_fail(struct call *k, int code, const char *fmt, ...)
{
        struct hull_error *e = NULL;
        char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (msg)
                hull_error_set(&e, code, "%s", msg);
        else
                hull_error_oom(&e);
        k->cb(-code, NULL, 0, e, k->userdata);
        hull_error_free(e);
        free(msg);
        free(k);
}

static void fail_all(struct hull_ttrpc_client *c, int code, const char *reason)
{
        struct call *k;

        while ((k = call_first(c, 0))) {
                call_unlink(c, k->id);
                call_fail(k, code, "ttrpc call %s: %s", k->what, reason);
        }
}

struct hull_ttrpc_client *hull_ttrpc_client_free(struct hull_ttrpc_client *c)
{
        if (!c || c->freed)
                return NULL;
        /* Callbacks run below cannot drop the caller's reference: freeing again is a no-op once freed is set. */
        c->freed = true;
        c->close_cb = NULL;
        hull_ttrpc_channel_close(c->ch);
        fail_all(c, ECANCELED, "client closed");
        client_unref(c);
        return NULL;
}

void hull_ttrpc_client_on_close(struct hull_ttrpc_client *c, hull_ttrpc_client_closed_cb cb, void *userdata)
{
        c->close_cb = cb;
        c->close_userdata = userdata;
}

bool hull_ttrpc_client_is_closed(const struct hull_ttrpc_client *c)
{
        return hull_ttrpc_channel_is_closed(c->ch);
}

size_t hull_ttrpc_client_pending(const struct hull_ttrpc_client *c)
{
        return c->n_pending;
}

static void client_closed(struct hull_ttrpc_channel *ch, const struct hull_error *reason, void *userdata)
{
        struct hull_ttrpc_client *c = client_ref(userdata);
        _cleanup_free_ char *msg = NULL;

        if (asprintf(&msg, "connection closed: %s", hull_error_message(reason)) < 0)
                msg = NULL;
        fail_all(c, ECONNRESET, msg ? msg : "connection closed");
        if (c->close_cb && !c->freed)
                c->close_cb(c, reason, c->close_userdata);
        client_unref(c);
}

static int timer_fired(struct hull_loop_source *src, void *userdata);

static void timer_update(struct hull_ttrpc_client *c)
{
        uint64_t earliest = 0, now;

        for (size_t i = 0; i < BUCKETS; i++)
                for (struct call *k = c->buckets[i]; k; k = k->next)
                        if (k->deadline && (!earliest || k->deadline < earliest))
                                earliest = k->deadline;
        c->timer_at = earliest;
        if (!earliest)
                return;
        now = hull_now_usec();
        earliest = earliest > now ? earliest - now : 0;
        if (!c->timer) {
                if (hull_loop_add_timer(c->loop, earliest, timer_fired, c, &c->timer, NULL) < 0)
                        log_warn("%s: cannot arm the call timer", hull_ttrpc_channel_name(c->ch));
        } else if (hull_loop_timer_arm(c->timer, earliest, NULL) < 0) {
                log_warn("%s: cannot arm the call timer", hull_ttrpc_channel_name(c->ch));
        }
}

static int timer_fired(struct hull_loop_source *src, void *userdata)
{
        struct hull_ttrpc_client *c = client_ref(userdata);
        uint64_t now = hull_now_usec();
        struct call *k;

        c->timer_at = 0;
        while (!c->freed && (k = call_first(c, now))) {
                call_unlink(c, k->id);
                call_fail(k, ETIMEDOUT, "ttrpc call %s: no reply within %.3f s", k->what,
                          (double)k->timeout_usec / 1e6);
        }
        if (!c->freed)
                timer_update(c);
        client_unref(c);
        return 0;
}

static void complete(struct hull_ttrpc_client *c, struct call *k, const struct hull_ttrpc_response_msg *m)
{
        struct hull_error *e = NULL;

        if (m->code == 0) {
                k->cb(0, m->payload, m->payload_len, NULL, k->userdata);
        } else {
                int code = hull_grpc_code_to_errno(m->code);
                /* The server's message goes up unchanged: it is what a user needs to read. */
                if (*m->message)
                        hull_error_set(&e, code, "%s", m->message);
                else
                        hull_error_set(&e, code, "ttrpc call %s: %s", k->what, hull_grpc_code_name(m->code));
                k->cb(-code, NULL, 0, e, k->userdata);
                hull_error_free(e);
        }
        free(k);
}

static void client_frame(struct hull_ttrpc_channel *ch, const struct hull_ttrpc_header *h, const uint8_t *payload,
                         void *userdata)
{
        struct hull_ttrpc_client *c = userdata;
        struct hull_ttrpc_response_msg m;
        struct hull_error *e = NULL;
        struct call *k;

        if (h->type == HULL_TTRPC_TYPE_DATA) {
                log_debug("%s: ignoring a data frame on stream %u", hull_ttrpc_channel_name(ch), h->stream_id);
                return;
        }
        if (h->type != HULL_TTRPC_TYPE_RESPONSE) {
                hull_ttrpc_channel_fail(ch, EPROTO, "server sent a %s frame on stream %u",
                                        hull_ttrpc_type_name(h->type), h->stream_id);
                return;
        }
        k = call_find(c, h->stream_id);
        if (!k) {
                /* A late reply to a call that timed out or was cancelled is fine; one for a stream never
                 * opened is a confused or hostile peer. */
                if (h->stream_id % 2 == 1 && h->stream_id < c->next_id)
                        log_debug("%s: dropping a reply for stream %u, which already ended",
                                  hull_ttrpc_channel_name(ch), h->stream_id);
                else
                        hull_ttrpc_channel_fail(ch, EPROTO, "response for stream %u, which was never opened",
                                                h->stream_id);
                return;
        }
        if (hull_ttrpc_response_decode(payload, h->length, &m, &e) < 0) {
                hull_ttrpc_channel_fail(ch, EPROTO, "stream %u: %s", h->stream_id, hull_error_message(e));
                hull_error_free(e);
                return;
        }
        call_unlink(c, h->stream_id);
        client_ref(c);
        complete(c, k, &m);
        hull_ttrpc_response_msg_done(&m);
        client_unref(c);
}

int hull_ttrpc_client_call_raw(struct hull_ttrpc_client *c, const char *service, const char *method,
                               const void *payload, size_t len, const struct hull_ttrpc_call_opts *opts,
                               hull_ttrpc_reply_cb cb, void *userdata, uint32_t *ret_stream_id, struct hull_error **err)
{
        static const struct hull_ttrpc_call_opts no_opts;
        _cleanup_buf_ struct hull_buf frame = HULL_BUF_INIT;
        size_t start, wl = strlen(service) + 1 + strlen(method) + 1;
        struct call *k;
        uint32_t id;
        int r;

        if (!opts)
                opts = &no_opts;
        if (c->freed || hull_ttrpc_channel_is_closed(c->ch))
                return hull_error_set(err, ECONNRESET, "ttrpc call %s/%s: connection is closed", service, method);
        if (c->next_id > UINT32_MAX - 2)
                return hull_error_set(err, EOVERFLOW, "ttrpc call %s/%s: stream ids exhausted on this connection",
                                      service, method);
        if (opts->timeout_usec > (uint64_t)INT64_MAX / 1000)
                return hull_error_set(err, EINVAL, "ttrpc call %s/%s: timeout too large", service, method);
        id = c->next_id;

        if (hull_ttrpc_frame_begin(&frame, &start) < 0 ||
            hull_ttrpc_request_encode(&frame, service, method, payload, len, (int64_t)opts->timeout_usec * 1000,
                                      opts->metadata, opts->n_metadata) < 0)
                return hull_error_oom(err);
        r = hull_ttrpc_frame_end(&frame, start, id, HULL_TTRPC_TYPE_REQUEST, 0, err);
        if (r < 0)
                return hull_error_prefix(err, "ttrpc call %s/%s", service, method);

        k = calloc(1, sizeof(*k) + wl);
        if (!k)
                return hull_error_oom(err);
        snprintf(k->what, wl, "%s/%s", service, method);
        k->id = id;
        k->cb = cb;
        k->userdata = userdata;
        k->timeout_usec = opts->timeout_usec;
        if (opts->timeout_usec)
                k->deadline = hull_now_usec() + opts->timeout_usec;

        /* Send before the call is in the table: a write failure closes the channel, and this call must then
         * end by the error returned here, not by a callback. */
        client_ref(c);
        r = hull_ttrpc_channel_send(c->ch, &frame, err);
        if (r < 0 || c->freed) {
                free(k);
                client_unref(c);
                if (r >= 0)
                        return hull_error_set(err, ECANCELED, "ttrpc call %s/%s: client closed", service, method);
                return hull_error_prefix(err, "ttrpc call %s/%s", service, method);
        }
        c->next_id += 2;
        k->next = *bucket_of(c, id);
        *bucket_of(c, id) = k;
        c->n_pending++;
        if (k->deadline && (!c->timer_at || k->deadline < c->timer_at))
                timer_update(c);
        client_unref(c);
        if (ret_stream_id)
                *ret_stream_id = id;
        return 0;
}

int hull_ttrpc_client_call(struct hull_ttrpc_client *c, const char *service, const char *method,
                           const ProtobufCMessage *req, const struct hull_ttrpc_call_opts *opts, hull_ttrpc_reply_cb cb,
                           void *userdata, uint32_t *ret_stream_id, struct hull_error **err)
{
        _cleanup_buf_ struct hull_buf payload = HULL_BUF_INIT;
        int r;

        r = hull_pb_pack(req, &payload, err);
        if (r < 0)
                return r;
        return hull_ttrpc_client_call_raw(c, service, method, payload.data, payload.len, opts, cb, userdata,
                                          ret_stream_id, err);
}

int hull_ttrpc_client_cancel(struct hull_ttrpc_client *c, uint32_t stream_id)
{
        struct call *k = call_unlink(c, stream_id);

        if (!k)
                return -ENOENT;
        free(k);
        return 0;
}

struct sync_call {
        bool done;
        int r;
        struct hull_error *err;
        void *payload;
        size_t len;
};

static void sync_reply(int r, const uint8_t *payload, size_t len, const struct hull_error *err, void *userdata)
{
        struct sync_call *s = userdata;

        s->done = true;
        s->r = r;
        if (r < 0) {
                hull_error_set(&s->err, err ? err->code : -r, "%s", hull_error_message(err));
                return;
        }
        s->payload = malloc(len ? len : 1);
        if (!s->payload) {
                s->r = hull_error_oom(&s->err);
                return;
        }
        memcpy(s->payload, payload, len);
        s->len = len;
}

int hull_ttrpc_call_raw(struct hull_ttrpc_client *c, const char *service, const char *method, const void *payload,
                        size_t len, const struct hull_ttrpc_call_opts *opts, void **ret_payload, size_t *ret_len,
                        struct hull_error **err)
{
        struct sync_call s = { 0 };
        uint32_t id;
        int r;

        r = hull_ttrpc_client_call_raw(c, service, method, payload, len, opts, sync_reply, &s, &id, err);
        if (r < 0)
                return r;
        client_ref(c);
        while (!s.done) {
                r = hull_loop_run_once(c->loop, -1);
                if (r < 0 && !s.done) {
                        hull_ttrpc_client_cancel(c, id);
                        client_unref(c);
                        return hull_error_errno(err, r, "ttrpc call %s/%s: event loop failed", service, method);
                }
        }
        client_unref(c);
        if (s.r < 0) {
                if (err) {
                        *err = hull_error_free(*err);
                        *err = s.err;
                } else {
                        hull_error_free(s.err);
                }
                return s.r;
        }
        *ret_payload = s.payload;
        *ret_len = s.len;
        return 0;
}

int hull_ttrpc_call(struct hull_ttrpc_client *c, const char *service, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_usec, ProtobufCMessage **ret_resp,
                    struct hull_error **err)
{
        _cleanup_buf_ struct hull_buf payload = HULL_BUF_INIT;
        struct hull_ttrpc_call_opts opts = { .timeout_usec = timeout_usec };
        _cleanup_free_ void *reply = NULL;
        size_t reply_len = 0;
        int r;

        r = hull_pb_pack(req, &payload, err);
        if (r < 0)
                return r;
        r = hull_ttrpc_call_raw(c, service, method, payload.data, payload.len, &opts, &reply, &reply_len, err);
        if (r < 0)
                return r;
        r = hull_pb_unpack(resp_desc, reply, reply_len, ret_resp, err);
        if (r < 0)
                return hull_error_prefix(err, "ttrpc call %s/%s: reply", service, method);
        return 0;
}
