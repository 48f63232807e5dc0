/* ttrpc server: method table, per-connection request bookkeeping, deadlines, asynchronous replies. */
#include "server.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "buf.h"
#include "channel.h"
#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"
#include "pb.h"
#include "status.h"

#define METHOD_BUCKETS 64u

struct method {
        struct method *next;
        uint32_t hash;
        const ProtobufCMessageDescriptor *input;
        hull_ttrpc_handler handler;
        void *userdata;
        const char *method; /* points into service's allocation */
        char service[];
};

struct sconn {
        unsigned refs;
        struct hull_ttrpc_server *server; /* NULL once detached */
        struct hull_ttrpc_channel *ch;
        struct hull_ttrpc_request *reqs; /* open: neither replied to nor cancelled */
        size_t n_reqs;
        struct sconn *prev, *next;
};

struct listener {
        struct listener *next;
        struct hull_ttrpc_server *server;
        struct hull_loop_source *src;
        int fd;
};

struct hull_ttrpc_server {
        unsigned refs;
        bool freed;
        struct hull_loop *loop;
        struct method *methods[METHOD_BUCKETS];
        struct sconn *conns;
        size_t n_conns;
        unsigned long conn_seq;
        struct listener *listeners;
        struct hull_loop_source *timer;
        uint64_t timer_at;
        hull_ttrpc_disconnect_cb disconnect_cb;
        void *disconnect_userdata;
};

struct hull_ttrpc_request {
        struct sconn *conn; /* holds a reference */
        struct hull_ttrpc_request *prev, *next; /* in conn->reqs while open */
        bool open;
        bool cancelled;
        bool timed_out;
        uint32_t id;
        struct hull_ttrpc_request_msg env;
        uint8_t *payload; /* copy, for methods without an input descriptor */
        size_t payload_len;
        ProtobufCMessage *msg;
        uint64_t deadline;
        hull_ttrpc_cancel_cb cancel_cb;
        void *cancel_userdata;
};

static uint32_t name_hash(const char *service, const char *method)
{
        uint32_t h = 2166136261u; /* FNV-1a */

        for (const char *p = service; *p; p++)
                h = (h ^ (uint8_t)*p) * 16777619u;
        h = (h ^ '/') * 16777619u;
        for (const char *p = method; *p; p++)
                h = (h ^ (uint8_t)*p) * 16777619u;
        return h;
}

int hull_ttrpc_server_new(struct hull_loop *loop, struct hull_ttrpc_server **ret, struct hull_error **err)
{
        struct hull_ttrpc_server *s = calloc(1, sizeof(*s));

        if (!s)
                return hull_error_oom(err);
        s->refs = 1;
        s->loop = loop;
        *ret = s;
        return 0;
}

static struct hull_ttrpc_server *server_ref(struct hull_ttrpc_server *s)
{
        s->refs++;
        return s;
}

__attribute__((noinline)) static void server_unref(struct hull_ttrpc_server *s)
{
        if (--s->refs > 0)
                return;
        for (size_t i = 0; i < METHOD_BUCKETS; i++)
                while (s->methods[i]) {
                        struct method *m = s->methods[i];
                        s->methods[i] = m->next;
                        free(m);
                }
        free(s);
}

static struct sconn *conn_ref(struct sconn *sc)
{
        sc->refs++;
        return sc;
}

/* noinline: GCC's -Wuse-after-free cannot follow reference counts across inlined calls. */
__attribute__((noinline)) static void conn_unref(struct sconn *sc)
{
        if (--sc->refs > 0)
                return;
        hull_ttrpc_channel_unref(sc->ch);
        free(sc);
}

/* ---- method table ---- */

static const struct method *method_find(const struct hull_ttrpc_server *s, const char *service, const char *method,
                                        bool *ret_service_known)
{
        uint32_t h = name_hash(service, method);

        for (const struct method *m = s->methods[h % METHOD_BUCKETS]; m; m = m->next)
                if (m->hash == h && streq(m->service, service) && streq(m->method, method))
                        return m;
        /* Unknown: tell the client whether it was the service or only the method, as the Go server does. */
        *ret_service_known = false;
        for (size_t i = 0; i < METHOD_BUCKETS && !*ret_service_known; i++)
                for (const struct method *m = s->methods[i]; m; m = m->next)
                        if (streq(m->service, service)) {
                                *ret_service_known = true;
                                break;
                        }
        return NULL;
}

int hull_ttrpc_server_register(struct hull_ttrpc_server *s, const char *service, const char *method,
                               const ProtobufCMessageDescriptor *input, hull_ttrpc_handler handler, void *userdata,
                               struct hull_error **err)
{
        size_t sl = strlen(service), ml = strlen(method);
        bool known;
        struct method *m;

        if (!sl || !ml || !handler)
                return hull_error_set(err, EINVAL, "ttrpc: register: empty service or method name, or no handler");
        if (method_find(s, service, method, &known))
                return hull_error_set(err, EEXIST, "ttrpc: %s/%s is already registered", service, method);
        m = calloc(1, sizeof(*m) + sl + 1 + ml + 1);
        if (!m)
                return hull_error_oom(err);
        memcpy(m->service, service, sl + 1);
        m->method = m->service + sl + 1;
        memcpy(m->service + sl + 1, method, ml + 1);
        m->hash = name_hash(service, method);
        m->input = input;
        m->handler = handler;
        m->userdata = userdata;
        m->next = s->methods[m->hash % METHOD_BUCKETS];
        s->methods[m->hash % METHOD_BUCKETS] = m;
        return 0;
}

int hull_ttrpc_server_register_pb(struct hull_ttrpc_server *s, const ProtobufCServiceDescriptor *service,
                                  const char *method, hull_ttrpc_handler handler, void *userdata,
                                  struct hull_error **err)
{
        for (unsigned i = 0; i < service->n_methods; i++)
                if (streq(service->methods[i].name, method))
                        return hull_ttrpc_server_register(s, service->name, method, service->methods[i].input, handler,
                                                          userdata, err);
        return hull_error_set(err, ENOENT, "ttrpc: service %s has no method %s", service->name, method);
}

void hull_ttrpc_server_on_disconnect(struct hull_ttrpc_server *s, hull_ttrpc_disconnect_cb cb, void *userdata)
{
        s->disconnect_cb = cb;
        s->disconnect_userdata = userdata;
}

size_t hull_ttrpc_server_n_conns(const struct hull_ttrpc_server *s)
{
        return s->n_conns;
}

/* ---- replies ---- */

static int send_response(struct sconn *sc, uint32_t id, int32_t code, const char *message, const void *payload,
                         size_t len)
{
        _cleanup_buf_ struct hull_buf frame = HULL_BUF_INIT;
        _cleanup_error_ struct hull_error *e = NULL;
        size_t start;
        int r;

        if (hull_ttrpc_channel_is_closed(sc->ch))
                return -ECONNRESET;
        if (hull_ttrpc_frame_begin(&frame, &start) < 0 ||
            hull_ttrpc_response_encode(&frame, code, message, payload, len) < 0)
                return -ENOMEM;
        r = hull_ttrpc_frame_end(&frame, start, id, HULL_TTRPC_TYPE_RESPONSE, 0, &e);
        if (r == -EMSGSIZE) {
                /* Tell the client rather than leave it waiting; the handler learns it from the return value. */
                log_warn("%s: reply on stream %u is %zu bytes, over the ttrpc limit", hull_ttrpc_channel_name(sc->ch),
                         id, len);
                send_response(sc, id, HULL_GRPC_RESOURCE_EXHAUSTED, "ttrpc: reply exceeds the 4 MiB message limit",
                              NULL, 0);
                return -EMSGSIZE;
        }
        if (r < 0)
                return r;
        return hull_ttrpc_channel_send(sc->ch, &frame, NULL);
}

static void request_unlink(struct hull_ttrpc_request *req)
{
        struct sconn *sc = req->conn;

        if (!req->open)
                return;
        if (req->prev)
                req->prev->next = req->next;
        else
                sc->reqs = req->next;
        if (req->next)
                req->next->prev = req->prev;
        req->prev = req->next = NULL;
        req->open = false;
        sc->n_reqs--;
}

static void request_free(struct hull_ttrpc_request *req)
{
        request_unlink(req);
        hull_ttrpc_request_msg_done(&req->env);
        if (req->msg)
                protobuf_c_message_free_unpacked(req->msg, NULL);
        free(req->payload);
        conn_unref(req->conn);
        free(req);
}

static int request_finish(struct hull_ttrpc_request *req, int32_t code, const char *message, const void *payload,
                          size_t len)
{
        int r;

        /* The stream ends here, before the send: a send that fails closes the connection, and that must not
         * cancel (and so free) this very request underneath us. */
        request_unlink(req);
        if (req->cancelled)
                r = req->timed_out ? -ETIMEDOUT : -ECONNRESET;
        else
                r = send_response(req->conn, req->id, code, message, payload, len);
        request_free(req);
        return r;
}

int hull_ttrpc_request_reply_raw(struct hull_ttrpc_request *req, const void *data, size_t len)
{
        return request_finish(req, HULL_GRPC_OK, NULL, data, len);
}

int hull_ttrpc_request_reply(struct hull_ttrpc_request *req, const ProtobufCMessage *resp)
{
        _cleanup_buf_ struct hull_buf payload = HULL_BUF_INIT;

        if (hull_pb_pack(resp, &payload, NULL) < 0)
                return request_finish(req, HULL_GRPC_INTERNAL, "ttrpc: cannot encode the reply", NULL, 0);
        return request_finish(req, HULL_GRPC_OK, NULL, payload.data, payload.len);
}

static int reply_statusv(struct hull_ttrpc_request *req, int code, const char *fmt, va_list ap)
{
        _cleanup_free_ char *msg = NULL;

        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        return request_finish(req, code, msg ? msg : hull_grpc_code_name(code), NULL, 0);
}

int hull_ttrpc_request_reply_status(struct hull_ttrpc_request *req, int grpc_code, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = reply_statusv(req, grpc_code, fmt, ap);
        va_end(ap);
        return r;
}

int hull_ttrpc_request_reply_errno(struct hull_ttrpc_request *req, int error, const char *fmt, ...)
{
        va_list ap;
        int r, code = hull_grpc_code_from_errno(error);

        if (code == HULL_GRPC_OK)
                code = HULL_GRPC_UNKNOWN;
        va_start(ap, fmt);
        r = reply_statusv(req, code, fmt, ap);
        va_end(ap);
        return r;
}

int hull_ttrpc_request_reply_error(struct hull_ttrpc_request *req, const struct hull_error *e)
{
        return hull_ttrpc_request_reply_errno(req, e ? e->code : EIO, "%s", hull_error_message(e));
}

/* ---- request accessors ---- */

const char *hull_ttrpc_request_service(const struct hull_ttrpc_request *req)
{
        return req->env.service;
}

const char *hull_ttrpc_request_method(const struct hull_ttrpc_request *req)
{
        return req->env.method;
}

const ProtobufCMessage *hull_ttrpc_request_message(const struct hull_ttrpc_request *req)
{
        return req->msg;
}

const uint8_t *hull_ttrpc_request_payload(const struct hull_ttrpc_request *req, size_t *ret_len)
{
        *ret_len = req->payload_len;
        return req->payload;
}

const char *hull_ttrpc_request_metadata(const struct hull_ttrpc_request *req, const char *key)
{
        for (size_t i = 0; i < req->env.n_metadata; i++)
                if (strcasecmp(req->env.metadata[i].key, key) == 0)
                        return req->env.metadata[i].value;
        return NULL;
}

uint64_t hull_ttrpc_request_deadline(const struct hull_ttrpc_request *req)
{
        return req->deadline;
}

bool hull_ttrpc_request_cancelled(const struct hull_ttrpc_request *req)
{
        return req->cancelled;
}

void hull_ttrpc_request_on_cancel(struct hull_ttrpc_request *req, hull_ttrpc_cancel_cb cb, void *userdata)
{
        req->cancel_cb = cb;
        req->cancel_userdata = userdata;
}

/* Mark an open request cancelled and tell its handler. The handler's callback may reply to (and so free)
 * this or any other request, so callers look for the next victim afresh after each call. */
static void request_cancel(struct hull_ttrpc_request *req, bool timed_out)
{
        struct sconn *sc = conn_ref(req->conn);
        uint32_t id = req->id;

        request_unlink(req);
        req->cancelled = true;
        req->timed_out = timed_out;
        /* req may be gone once the callback returns: only sc and id are used after it. */
        if (req->cancel_cb)
                req->cancel_cb(req, req->cancel_userdata);
        if (timed_out)
                send_response(sc, id, HULL_GRPC_DEADLINE_EXCEEDED, "ttrpc: deadline exceeded", NULL, 0);
        conn_unref(sc);
}

static void conn_cancel_all(struct sconn *sc)
{
        conn_ref(sc);
        while (sc->reqs)
                request_cancel(sc->reqs, false);
        conn_unref(sc);
}

/* ---- deadlines ---- */

static int server_timer_fired(struct hull_loop_source *src, void *userdata);

static void server_timer_update(struct hull_ttrpc_server *s)
{
        uint64_t earliest = 0, now;

        for (struct sconn *sc = s->conns; sc; sc = sc->next)
                for (struct hull_ttrpc_request *req = sc->reqs; req; req = req->next)
                        if (req->deadline && (!earliest || req->deadline < earliest))
                                earliest = req->deadline;
        s->timer_at = earliest;
        if (!earliest)
                return;
        now = hull_now_usec();
        earliest = earliest > now ? earliest - now : 0;
        if (!s->timer) {
                if (hull_loop_add_timer(s->loop, earliest, server_timer_fired, s, &s->timer, NULL) < 0)
                        log_warn("ttrpc server: cannot arm the deadline timer");
        } else if (hull_loop_timer_arm(s->timer, earliest, NULL) < 0) {
                log_warn("ttrpc server: cannot arm the deadline timer");
        }
}

static struct hull_ttrpc_request *find_expired(struct hull_ttrpc_server *s, uint64_t now)
{
        for (struct sconn *sc = s->conns; sc; sc = sc->next)
                for (struct hull_ttrpc_request *req = sc->reqs; req; req = req->next)
                        if (req->deadline && req->deadline <= now)
                                return req;
        return NULL;
}

static int server_timer_fired(struct hull_loop_source *src, void *userdata)
{
        struct hull_ttrpc_server *s = server_ref(userdata);
        uint64_t now = hull_now_usec();
        struct hull_ttrpc_request *req;

        while (!s->freed && (req = find_expired(s, now))) {
                struct sconn *sc = conn_ref(req->conn);
                log_debug("%s: %s/%s on stream %u passed its deadline", hull_ttrpc_channel_name(sc->ch),
                          req->env.service, req->env.method, req->id);
                request_cancel(req, true);
                conn_unref(sc);
        }
        s->timer_at = 0;
        if (!s->freed)
                server_timer_update(s);
        server_unref(s);
        return 0;
}

/* ---- connections ---- */

static void send_status(struct sconn *sc, uint32_t id, int code, const char *fmt, ...) _printf_(4, 5);
static void send_status(struct sconn *sc, uint32_t id, int code, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        send_response(sc, id, code, msg ? msg : hull_grpc_code_name(code), NULL, 0);
}

static struct hull_ttrpc_request *find_open(struct sconn *sc, uint32_t id)
{
        for (struct hull_ttrpc_request *req = sc->reqs; req; req = req->next)
                if (req->id == id)
                        return req;
        return NULL;
}

static void handle_request(struct sconn *sc, const struct hull_ttrpc_header *h, const uint8_t *payload)
{
        struct hull_ttrpc_server *s = sc->server;
        struct hull_ttrpc_request_msg env;
        struct hull_ttrpc_request *req;
        struct hull_error *e = NULL;
        const struct method *m;
        bool service_known = true;

        if (h->stream_id % 2 == 0) {
                hull_ttrpc_channel_fail(sc->ch, EPROTO, "request on even stream id %u (client streams are odd)",
                                        h->stream_id);
                return;
        }
        if (find_open(sc, h->stream_id)) {
                hull_ttrpc_channel_fail(sc->ch, EPROTO, "request on stream %u, which is already open", h->stream_id);
                return;
        }
        if (hull_ttrpc_request_decode(payload, h->length, &env, &e) < 0) {
                hull_ttrpc_channel_fail(sc->ch, e->code == ENOMEM ? ENOMEM : EPROTO, "stream %u: %s", h->stream_id,
                                        hull_error_message(e));
                hull_error_free(e);
                return;
        }
        if (h->flags & HULL_TTRPC_FLAG_REMOTE_OPEN) {
                send_status(sc, h->stream_id, HULL_GRPC_UNIMPLEMENTED, "ttrpc: streaming requests are not supported");
                goto done;
        }
        if (sc->n_reqs >= HULL_TTRPC_SERVER_MAX_INFLIGHT) {
                send_status(sc, h->stream_id, HULL_GRPC_RESOURCE_EXHAUSTED,
                            "ttrpc: more than %d requests in flight on one connection", HULL_TTRPC_SERVER_MAX_INFLIGHT);
                goto done;
        }
        m = method_find(s, env.service, env.method, &service_known);
        if (!m) {
                if (service_known)
                        send_status(sc, h->stream_id, HULL_GRPC_UNIMPLEMENTED, "method %s", env.method);
                else
                        send_status(sc, h->stream_id, HULL_GRPC_UNIMPLEMENTED, "service %s", env.service);
                goto done;
        }

        req = calloc(1, sizeof(*req));
        if (!req) {
                send_status(sc, h->stream_id, HULL_GRPC_RESOURCE_EXHAUSTED, "ttrpc: out of memory");
                goto done;
        }
        req->id = h->stream_id;
        req->conn = conn_ref(sc);
        if (m->input) {
                if (hull_pb_unpack(m->input, env.payload, env.payload_len, &req->msg, &e) < 0) {
                        send_status(sc, h->stream_id, HULL_GRPC_INVALID_ARGUMENT,
                                    "ttrpc: error unmarshalling payload: %s", hull_error_message(e));
                        hull_error_free(e);
                        req->env = env;
                        request_free(req);
                        return;
                }
        } else {
                req->payload = malloc(env.payload_len ? env.payload_len : 1);
                if (!req->payload) {
                        send_status(sc, h->stream_id, HULL_GRPC_RESOURCE_EXHAUSTED, "ttrpc: out of memory");
                        req->env = env;
                        request_free(req);
                        return;
                }
                memcpy(req->payload, env.payload, env.payload_len);
                req->payload_len = env.payload_len;
        }
        env.payload = NULL;
        env.payload_len = 0;
        req->env = env;

        if (env.timeout_nano != 0) {
                uint64_t now = hull_now_usec();
                /* A negative timeout is a deadline already gone, as with Go's context.WithTimeout. */
                req->deadline = env.timeout_nano < 0 ? now : now + (uint64_t)env.timeout_nano / 1000;
                if (!req->deadline)
                        req->deadline = 1;
        }
        req->open = true;
        req->next = sc->reqs;
        if (sc->reqs)
                sc->reqs->prev = req;
        sc->reqs = req;
        sc->n_reqs++;
        if (req->deadline && (!s->timer_at || req->deadline < s->timer_at))
                server_timer_update(s);

        server_ref(s);
        m->handler(req, m->userdata);
        server_unref(s);
        return;
done:
        hull_ttrpc_request_msg_done(&env);
}

static void conn_frame(struct hull_ttrpc_channel *ch, const struct hull_ttrpc_header *h, const uint8_t *payload,
                       void *userdata)
{
        struct sconn *sc = conn_ref(userdata);

        if (!sc->server) {
                hull_ttrpc_channel_close(ch);
        } else if (h->type == HULL_TTRPC_TYPE_REQUEST) {
                handle_request(sc, h, payload);
        } else if (h->type == HULL_TTRPC_TYPE_DATA) {
                /* Only unary calls are served; stray stream data is dropped. */
                log_debug("%s: ignoring a data frame on stream %u", hull_ttrpc_channel_name(ch), h->stream_id);
        } else {
                hull_ttrpc_channel_fail(ch, EPROTO, "client sent a %s frame on stream %u",
                                        hull_ttrpc_type_name(h->type), h->stream_id);
        }
        conn_unref(sc);
}

static void conn_detach(struct sconn *sc)
{
        struct hull_ttrpc_server *s = sc->server;

        if (!s)
                return;
        if (sc->prev)
                sc->prev->next = sc->next;
        else
                s->conns = sc->next;
        if (sc->next)
                sc->next->prev = sc->prev;
        sc->prev = sc->next = NULL;
        sc->server = NULL;
        s->n_conns--;
}

static void conn_closed(struct hull_ttrpc_channel *ch, const struct hull_error *reason, void *userdata)
{
        struct sconn *sc = conn_ref(userdata);
        struct hull_ttrpc_server *s = sc->server;

        if (s)
                server_ref(s);
        conn_cancel_all(sc);
        if (s && sc->server) {
                conn_detach(sc);
                conn_unref(sc); /* the server's reference */
                if (s->disconnect_cb && !s->freed)
                        s->disconnect_cb(s, reason, s->disconnect_userdata);
        }
        if (s)
                server_unref(s);
        conn_unref(sc);
}

static const struct hull_ttrpc_channel_ops conn_ops = {
        .frame = conn_frame,
        .closed = conn_closed,
};

int hull_ttrpc_server_add_conn(struct hull_ttrpc_server *s, int fd, struct hull_error **err)
{
        char name[64];
        struct sconn *sc;
        int r;

        if (s->freed)
                return hull_error_set(err, ECANCELED, "ttrpc server is shut down");
        if (s->n_conns >= HULL_TTRPC_SERVER_MAX_CONNS)
                return hull_error_set(err, EMFILE, "ttrpc server: already %d connections", HULL_TTRPC_SERVER_MAX_CONNS);
        sc = calloc(1, sizeof(*sc));
        if (!sc)
                return hull_error_oom(err);
        snprintf(name, sizeof(name), "ttrpc server conn %lu", ++s->conn_seq);
        r = hull_ttrpc_channel_new(s->loop, fd, name, &conn_ops, sc, &sc->ch, err);
        if (r < 0) {
                free(sc);
                return r;
        }
        sc->refs = 1; /* the server's */
        sc->server = s;
        sc->next = s->conns;
        if (s->conns)
                s->conns->prev = sc;
        s->conns = sc;
        s->n_conns++;
        return 0;
}

static int listener_ready(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct listener *l = userdata;

        /* A bounded batch per wakeup keeps one busy listener from starving the rest of the loop. */
        for (int i = 0; i < 16; i++) {
                struct hull_error *e = NULL;
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_warn("ttrpc server: accept: %s", strerror(errno));
                        return 0;
                }
                if (hull_ttrpc_server_add_conn(l->server, cfd, &e) < 0) {
                        log_warn("%s; refusing the connection", hull_error_message(e));
                        hull_error_free(e);
                        close(cfd);
                }
        }
        return 0;
}

int hull_ttrpc_server_listen(struct hull_ttrpc_server *s, int listen_fd, struct hull_error **err)
{
        struct listener *l;
        int r;

        r = hull_fd_set_nonblock(listen_fd, 1, err);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(*l));
        if (!l)
                return hull_error_oom(err);
        l->server = s;
        l->fd = listen_fd;
        r = hull_loop_add_fd(s->loop, listen_fd, EPOLLIN, listener_ready, l, &l->src, err);
        if (r < 0) {
                free(l);
                return r;
        }
        l->next = s->listeners;
        s->listeners = l;
        return 0;
}

struct hull_ttrpc_server *hull_ttrpc_server_free(struct hull_ttrpc_server *s)
{
        if (!s || s->freed)
                return NULL;
        s->freed = true;
        server_ref(s);
        while (s->listeners) {
                struct listener *l = s->listeners;
                s->listeners = l->next;
                hull_loop_source_remove(l->src);
                close(l->fd);
                free(l);
        }
        hull_loop_source_remove(s->timer);
        s->timer = NULL;
        while (s->conns) {
                struct sconn *sc = s->conns;
                conn_detach(sc);
                hull_ttrpc_channel_close(sc->ch);
                conn_cancel_all(sc);
                conn_unref(sc);
        }
        server_unref(s); /* ours */
        server_unref(s); /* the caller's */
        return NULL;
}
