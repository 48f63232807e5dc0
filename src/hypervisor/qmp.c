/* QMP client: line framing with a length bound, json-c parsing with a depth bound, command ids, a queue for
 * what synchronous calls read on the loop's behalf. A peer that misbehaves breaks the connection, nothing else. */
#include "qmp.h"

#include <json-c/json.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"

#define READ_CHUNK 4096
#define SEND_TIMEOUT_MS 2000

struct pending {
        int64_t id;
        hull_qmp_reply_cb cb;
        void *userdata;
        struct pending *next;
};

struct hull_qmp {
        int fd;
        size_t max_line;
        struct hull_buf in;
        size_t scanned; /* bytes at the start of in known to hold no newline */
        int64_t next_id;

        bool broken;
        int broken_code;
        char broken_why[256];
        bool close_reported;

        struct hull_loop *loop;
        struct hull_loop_source *io_src;
        struct hull_loop_source *flush_src;
        hull_qmp_event_cb event_cb;
        hull_qmp_close_cb close_cb;
        void *userdata;
        struct pending *pending;

        struct hull_qmp_msg queue[HULL_QMP_MAX_QUEUED]; /* ring */
        size_t q_head, q_len;
};

void hull_qmp_msg_clear(struct hull_qmp_msg *msg)
{
        if (msg->root)
                json_object_put(msg->root);
        memset(msg, 0, sizeof(*msg));
        msg->id = -1;
}

static const char *string_member(struct json_object *o, const char *key)
{
        struct json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

int hull_qmp_parse(const char *line, size_t len, struct hull_qmp_msg *ret, struct hull_error **err)
{
        struct json_tokener *tok;
        struct json_object *root, *v;
        struct hull_qmp_msg m = { .id = -1 };
        enum json_tokener_error jerr;
        size_t end;

        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
                len--;
        if (len == 0)
                return hull_error_set(err, EBADMSG, "empty QMP message");
        if (memchr(line, '\0', len))
                return hull_error_set(err, EBADMSG, "QMP message holds a NUL byte");
        if (len > INT32_MAX)
                return hull_error_set(err, EMSGSIZE, "QMP message too long");
        tok = json_tokener_new_ex(HULL_QMP_MAX_DEPTH);
        if (!tok)
                return hull_error_oom(err);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        root = json_tokener_parse_ex(tok, line, (int)len);
        jerr = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (!root || jerr != json_tokener_success) {
                if (root)
                        json_object_put(root);
                return hull_error_set(err, EBADMSG, "QMP message is not JSON: %s",
                                      jerr == json_tokener_continue ? "incomplete" : json_tokener_error_desc(jerr));
        }
        if (end != len) {
                json_object_put(root);
                return hull_error_set(err, EBADMSG, "QMP message has trailing bytes");
        }
        if (!json_object_is_type(root, json_type_object)) {
                json_object_put(root);
                return hull_error_set(err, EBADMSG, "QMP message is not a JSON object");
        }
        m.root = root;
        if (json_object_object_get_ex(root, "id", &v) && json_object_is_type(v, json_type_int))
                m.id = json_object_get_int64(v);

        if (json_object_object_get_ex(root, "QMP", &v)) {
                if (!json_object_is_type(v, json_type_object))
                        goto bad;
                m.kind = HULL_QMP_MSG_GREETING;
                m.data = v;
        } else if (json_object_object_get_ex(root, "event", &v)) {
                if (!json_object_is_type(v, json_type_string))
                        goto bad;
                m.kind = HULL_QMP_MSG_EVENT;
                m.event = json_object_get_string(v);
                if (json_object_object_get_ex(root, "data", &v)) {
                        if (!json_object_is_type(v, json_type_object))
                                goto bad;
                        m.data = v;
                }
        } else if (json_object_object_get_ex(root, "return", &v)) {
                m.kind = HULL_QMP_MSG_RETURN;
                m.data = v;
        } else if (json_object_object_get_ex(root, "error", &v)) {
                if (!json_object_is_type(v, json_type_object))
                        goto bad;
                m.kind = HULL_QMP_MSG_ERROR;
                m.error_class = string_member(v, "class");
                m.error_desc = string_member(v, "desc");
                if (!m.error_class || !m.error_desc)
                        goto bad;
        } else
                goto bad;
        *ret = m;
        return 0;
bad:
        json_object_put(root);
        return hull_error_set(err, EBADMSG, "not a QMP greeting, reply or event");
}

int hull_qmp_new(int fd, size_t max_line, struct hull_qmp **ret, struct hull_error **err)
{
        _cleanup_close_ int owned = fd;
        struct hull_qmp *q;
        int r;

        r = hull_fd_set_nonblock(owned, 1, err);
        if (r < 0)
                return r;
        q = calloc(1, sizeof(*q));
        if (!q)
                return hull_error_oom(err);
        q->fd = TAKE_FD(owned);
        q->max_line = max_line ? max_line : HULL_QMP_MAX_LINE_DEFAULT;
        q->next_id = 1;
        *ret = q;
        return 0;
}

int hull_qmp_fd(const struct hull_qmp *q)
{
        return q->fd;
}

bool hull_qmp_is_broken(const struct hull_qmp *q)
{
        return q->broken;
}

static void fail_pending(struct hull_qmp *q, int code, const char *why)
{
        struct hull_error e = { .code = -code, .message = (char *)why };

        while (q->pending) {
                struct pending *p = q->pending;
                q->pending = p->next;
                p->cb(q, NULL, &e, p->userdata);
                free(p);
        }
}

static void schedule_flush(struct hull_qmp *q)
{
        if (q->flush_src)
                hull_loop_timer_arm(q->flush_src, 0, NULL);
}

static int set_broken(struct hull_qmp *q, int code, struct hull_error **err)
{
        if (!q->broken) {
                q->broken = true;
                q->broken_code = code;
                snprintf(q->broken_why, sizeof(q->broken_why), "%s",
                         err && *err ? hull_error_message(*err) : strerror(-code));
                schedule_flush(q);
        }
        return code;
}

static int broken_error(struct hull_qmp *q, struct hull_error **err)
{
        return hull_error_set(err, -q->broken_code, "%s", q->broken_why);
}

/* A complete line at the start of the buffer: 1 with its length (newline excluded), 0 when none yet. */
static int find_line(struct hull_qmp *q, size_t *ret_len, struct hull_error **err)
{
        char *nl = q->in.len > q->scanned ? memchr(q->in.data + q->scanned, '\n', q->in.len - q->scanned) : NULL;

        if (nl) {
                *ret_len = (size_t)(nl - q->in.data);
                if (*ret_len > q->max_line)
                        return hull_error_set(err, EMSGSIZE, "QMP line longer than %zu bytes", q->max_line);
                return 1;
        }
        q->scanned = q->in.len;
        if (q->in.len > q->max_line)
                return hull_error_set(err, EMSGSIZE, "QMP line longer than %zu bytes", q->max_line);
        return 0;
}

/* Read what the socket has: bytes read, -EAGAIN when nothing, -ECONNRESET at end of stream. */
static int fill(struct hull_qmp *q, struct hull_error **err)
{
        ssize_t k;
        int r = hull_buf_reserve(&q->in, READ_CHUNK + 1);

        if (r < 0)
                return hull_error_oom(err);
        do
                k = read(q->fd, q->in.data + q->in.len, READ_CHUNK);
        while (k < 0 && errno == EINTR);
        if (k < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return -EAGAIN;
                return hull_error_errno(err, errno, "QMP read");
        }
        if (k == 0)
                return hull_error_set(err, ECONNRESET, "QMP connection closed by QEMU");
        q->in.len += (size_t)k;
        q->in.data[q->in.len] = '\0';
        return (int)k;
}

int hull_qmp_read(struct hull_qmp *q, int timeout_ms, struct hull_qmp_msg *ret, struct hull_error **err)
{
        uint64_t deadline = timeout_ms < 0 ? 0 : hull_now_usec() + (uint64_t)timeout_ms * 1000ULL;

        if (q->broken)
                return broken_error(q, err);
        for (;;) {
                size_t len = 0;
                int r = find_line(q, &len, err);

                if (r < 0)
                        return set_broken(q, r, err);
                if (r > 0) {
                        r = hull_qmp_parse(q->in.data, len, ret, err);
                        hull_buf_consume(&q->in, len + 1);
                        q->scanned = 0;
                        if (r < 0)
                                return set_broken(q, r, err);
                        return 1;
                }
                r = fill(q, err);
                if (r == -EAGAIN) {
                        struct pollfd p = { .fd = q->fd, .events = POLLIN };
                        int wait_ms = -1;

                        if (timeout_ms >= 0) {
                                uint64_t now = hull_now_usec();
                                if (now >= deadline)
                                        return 0;
                                wait_ms = (int)((deadline - now + 999) / 1000);
                        }
                        if (poll(&p, 1, wait_ms) < 0 && errno != EINTR)
                                return set_broken(q, hull_error_errno(err, errno, "QMP poll"), err);
                        continue;
                }
                if (r < 0)
                        return set_broken(q, r, err);
        }
}

static int send_all(struct hull_qmp *q, const char *data, size_t len, struct hull_error **err)
{
        uint64_t deadline = hull_now_usec() + SEND_TIMEOUT_MS * 1000ULL;

        while (len > 0) {
                /* MSG_NOSIGNAL: a QEMU that went away must not take hull with it through SIGPIPE. */
                ssize_t k = send(q->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (k > 0) {
                        data += k;
                        len -= (size_t)k;
                        continue;
                }
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        struct pollfd p = { .fd = q->fd, .events = POLLOUT };
                        uint64_t now = hull_now_usec();
                        if (now >= deadline)
                                return set_broken(q, hull_error_set(err, ETIMEDOUT, "QMP send: QEMU does not read"),
                                                  err);
                        poll(&p, 1, (int)((deadline - now + 999) / 1000));
                        continue;
                }
                return set_broken(q, hull_error_errno(err, k < 0 ? errno : EIO, "QMP send"), err);
        }
        return 0;
}

int hull_qmp_send(struct hull_qmp *q, const char *command, struct json_object *args, int64_t *ret_id,
                  struct hull_error **err)
{
        _cleanup_free_ char *line = NULL;
        struct json_object *o;
        int64_t id;
        int r;

        if (q->broken)
                return broken_error(q, err);
        o = json_object_new_object();
        if (!o)
                return hull_error_oom(err);
        id = q->next_id++;
        if (json_object_object_add(o, "execute", json_object_new_string(command)) < 0 ||
            (args && json_object_object_add(o, "arguments", json_object_get(args)) < 0) ||
            json_object_object_add(o, "id", json_object_new_int64(id)) < 0) {
                json_object_put(o);
                return hull_error_oom(err);
        }
        r = asprintf(&line, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        if (r < 0) {
                line = NULL;
                return hull_error_oom(err);
        }
        r = send_all(q, line, (size_t)r, err);
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = id;
        return 0;
}

static int enqueue(struct hull_qmp *q, struct hull_qmp_msg *msg)
{
        if (q->q_len == HULL_QMP_MAX_QUEUED) {
                /* A flood while a call waits: drop the oldest rather than grow without bound. */
                log_warn("QMP: dropping a queued message, more than %d arrived during a call", HULL_QMP_MAX_QUEUED);
                hull_qmp_msg_clear(&q->queue[q->q_head]);
                q->q_head = (q->q_head + 1) % HULL_QMP_MAX_QUEUED;
                q->q_len--;
        }
        q->queue[(q->q_head + q->q_len) % HULL_QMP_MAX_QUEUED] = *msg;
        q->q_len++;
        memset(msg, 0, sizeof(*msg));
        schedule_flush(q);
        return 0;
}

int hull_qmp_call(struct hull_qmp *q, const char *command, struct json_object *args, int timeout_ms,
                  struct json_object **ret_return, struct hull_error **err)
{
        uint64_t deadline = hull_now_usec() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000ULL;
        int64_t id;
        int r;

        r = hull_qmp_send(q, command, args, &id, err);
        if (r < 0)
                return hull_error_prefix(err, "QMP %s", command), r;
        for (;;) {
                struct hull_qmp_msg msg = { .id = -1 };
                uint64_t now = hull_now_usec();
                int left = timeout_ms < 0 ? -1 : now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);

                r = hull_qmp_read(q, left, &msg, err);
                if (r < 0)
                        return hull_error_prefix(err, "QMP %s", command), r;
                if (r == 0)
                        return hull_error_set(err, ETIMEDOUT, "QMP %s: no reply within %d ms", command, timeout_ms);
                if ((msg.kind == HULL_QMP_MSG_RETURN || msg.kind == HULL_QMP_MSG_ERROR) && msg.id == id) {
                        if (msg.kind == HULL_QMP_MSG_ERROR) {
                                r = hull_error_set(err, EIO, "QMP %s: %s", command, msg.error_desc);
                                hull_qmp_msg_clear(&msg);
                                return r;
                        }
                        if (ret_return)
                                *ret_return = json_object_get(msg.data);
                        hull_qmp_msg_clear(&msg);
                        return 0;
                }
                enqueue(q, &msg);
        }
}

int hull_qmp_handshake(struct hull_qmp *q, int timeout_ms, char *ret_version, size_t version_len,
                       struct hull_error **err)
{
        struct hull_qmp_msg msg = { .id = -1 };
        struct json_object *ver, *qemu, *v;
        int r;

        r = hull_qmp_read(q, timeout_ms, &msg, err);
        if (r < 0)
                return hull_error_prefix(err, "QMP greeting"), r;
        if (r == 0)
                return hull_error_set(err, ETIMEDOUT, "QMP: no greeting within %d ms", timeout_ms);
        if (msg.kind != HULL_QMP_MSG_GREETING) {
                hull_qmp_msg_clear(&msg);
                set_broken(q, hull_error_set(err, EBADMSG, "QMP: expected a greeting first"), err);
                return -EBADMSG;
        }
        if (ret_version && version_len) {
                int major = -1, minor = -1, micro = -1;
                if (json_object_object_get_ex(msg.data, "version", &ver) &&
                    json_object_object_get_ex(ver, "qemu", &qemu)) {
                        if (json_object_object_get_ex(qemu, "major", &v) && json_object_is_type(v, json_type_int))
                                major = json_object_get_int(v);
                        if (json_object_object_get_ex(qemu, "minor", &v) && json_object_is_type(v, json_type_int))
                                minor = json_object_get_int(v);
                        if (json_object_object_get_ex(qemu, "micro", &v) && json_object_is_type(v, json_type_int))
                                micro = json_object_get_int(v);
                }
                if (major >= 0)
                        snprintf(ret_version, version_len, "%d.%d.%d", major, minor, micro);
                else
                        snprintf(ret_version, version_len, "unknown");
        }
        hull_qmp_msg_clear(&msg);
        return hull_qmp_call(q, "qmp_capabilities", NULL, timeout_ms, NULL, err);
}

static void dispatch(struct hull_qmp *q, const struct hull_qmp_msg *msg)
{
        if (msg->kind == HULL_QMP_MSG_EVENT) {
                if (q->event_cb)
                        q->event_cb(q, msg, q->userdata);
                return;
        }
        if (msg->kind == HULL_QMP_MSG_RETURN || msg->kind == HULL_QMP_MSG_ERROR) {
                for (struct pending **pp = &q->pending; *pp; pp = &(*pp)->next) {
                        struct pending *p = *pp;
                        if (p->id != msg->id)
                                continue;
                        *pp = p->next;
                        p->cb(q, msg, NULL, p->userdata);
                        free(p);
                        return;
                }
                /* A late reply to a synchronous call that timed out. */
                log_debug("QMP: dropping a reply with unknown id %lld", (long long)msg->id);
        }
}

static void report_broken(struct hull_qmp *q)
{
        if (!q->broken || q->close_reported)
                return;
        q->close_reported = true;
        hull_loop_source_remove(q->io_src);
        q->io_src = NULL;
        fail_pending(q, q->broken_code, q->broken_why);
        if (q->close_cb)
                q->close_cb(q, q->broken_code, q->broken_why, q->userdata);
}

static void flush_queue(struct hull_qmp *q)
{
        while (q->q_len > 0) {
                struct hull_qmp_msg msg = q->queue[q->q_head];
                memset(&q->queue[q->q_head], 0, sizeof(msg));
                q->q_head = (q->q_head + 1) % HULL_QMP_MAX_QUEUED;
                q->q_len--;
                dispatch(q, &msg);
                hull_qmp_msg_clear(&msg);
        }
}

static int on_flush(struct hull_loop_source *src, void *userdata)
{
        struct hull_qmp *q = userdata;

        flush_queue(q);
        report_broken(q);
        return 0;
}

void hull_qmp_process(struct hull_qmp *q)
{
        flush_queue(q);
        while (!q->broken) {
                _cleanup_error_ struct hull_error *e = NULL;
                struct hull_qmp_msg msg = { .id = -1 };
                int r = hull_qmp_read(q, 0, &msg, &e);

                if (r <= 0)
                        break;
                dispatch(q, &msg);
                hull_qmp_msg_clear(&msg);
        }
        report_broken(q);
}

static int on_io(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        hull_qmp_process(userdata);
        return 0;
}

int hull_qmp_attach(struct hull_qmp *q, struct hull_loop *loop, hull_qmp_event_cb event_cb, hull_qmp_close_cb close_cb,
                    void *userdata, struct hull_error **err)
{
        int r;

        if (q->loop)
                return hull_error_set(err, EBUSY, "QMP: already attached to a loop");
        r = hull_loop_add_timer(loop, 0, on_flush, q, &q->flush_src, err);
        if (r < 0)
                return r;
        r = hull_loop_add_fd(loop, q->fd, EPOLLIN, on_io, q, &q->io_src, err);
        if (r < 0) {
                hull_loop_source_remove(q->flush_src);
                q->flush_src = NULL;
                return r;
        }
        q->loop = loop;
        q->event_cb = event_cb;
        q->close_cb = close_cb;
        q->userdata = userdata;
        return 0;
}

int hull_qmp_call_async(struct hull_qmp *q, const char *command, struct json_object *args, hull_qmp_reply_cb cb,
                        void *userdata, struct hull_error **err)
{
        struct pending *p;
        int r;

        if (!q->loop)
                return hull_error_set(err, EINVAL, "QMP %s: not attached to a loop", command);
        p = calloc(1, sizeof(*p));
        if (!p)
                return hull_error_oom(err);
        r = hull_qmp_send(q, command, args, &p->id, err);
        if (r < 0) {
                free(p);
                return hull_error_prefix(err, "QMP %s", command), r;
        }
        p->cb = cb;
        p->userdata = userdata;
        /* Order does not matter for matching, but keep the list in sending order for fairness on failure. */
        {
                struct pending **pp = &q->pending;
                while (*pp)
                        pp = &(*pp)->next;
                *pp = p;
        }
        return 0;
}

struct hull_qmp *hull_qmp_free(struct hull_qmp *q)
{
        if (!q)
                return NULL;
        fail_pending(q, -ECANCELED, "QMP connection closed by hull");
        hull_loop_source_remove(q->io_src);
        hull_loop_source_remove(q->flush_src);
        while (q->q_len > 0) {
                hull_qmp_msg_clear(&q->queue[q->q_head]);
                q->q_head = (q->q_head + 1) % HULL_QMP_MAX_QUEUED;
                q->q_len--;
        }
        if (q->fd >= 0)
                close(q->fd);
        hull_buf_free(&q->in);
        free(q);
        return NULL;
}
