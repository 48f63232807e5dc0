/* ttrpc channel: reads frames out of a bounded buffer, queues writes, and closes on any protocol violation. */
#include "channel.h"

#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "buf.h"
#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"

#define READ_CHUNK (64u * 1024u)

struct chunk {
        struct chunk *next;
        char *data;
        size_t len;
        size_t off;
};

struct hull_ttrpc_channel {
        unsigned refs;
        struct hull_loop *loop;
        struct hull_loop_source *src;
        int fd;
        bool is_socket; /* send with MSG_NOSIGNAL rather than risk SIGPIPE */
        bool closed;
        char *name;
        const struct hull_ttrpc_channel_ops *ops;
        void *userdata;

        uint8_t *rbuf; /* bytes [rstart, rend) are read but not yet dispatched */
        size_t rcap, rstart, rend;

        struct chunk *wq_head, *wq_tail;
        size_t wq_bytes;
        uint32_t events;
};

static int channel_io(struct hull_loop_source *src, int fd, uint32_t events, void *userdata);

int hull_ttrpc_channel_new(struct hull_loop *loop, int fd, const char *name, const struct hull_ttrpc_channel_ops *ops,
                           void *userdata, struct hull_ttrpc_channel **ret, struct hull_error **err)
{
        struct hull_ttrpc_channel *ch;
        struct stat st;
        int r;

        if (fd < 0)
                return hull_error_set(err, EBADF, "ttrpc: invalid fd");
        r = hull_fd_set_nonblock(fd, 1, err);
        if (r < 0)
                return r;
        ch = calloc(1, sizeof(*ch));
        if (!ch)
                return hull_error_oom(err);
        ch->refs = 1;
        ch->loop = loop;
        ch->fd = -1;
        ch->ops = ops;
        ch->userdata = userdata;
        ch->name = strdup(name ? name : "ttrpc");
        ch->is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
        ch->events = EPOLLIN;
        if (!ch->name) {
                free(ch);
                return hull_error_oom(err);
        }
        r = hull_loop_add_fd(loop, fd, ch->events, channel_io, ch, &ch->src, err);
        if (r < 0) {
                free(ch->name);
                free(ch);
                return r;
        }
        ch->fd = fd;
        *ret = ch;
        return 0;
}

static void wq_free(struct hull_ttrpc_channel *ch)
{
        while (ch->wq_head) {
                struct chunk *c = ch->wq_head;
                ch->wq_head = c->next;
                free(c->data);
                free(c);
        }
        ch->wq_tail = NULL;
        ch->wq_bytes = 0;
}

static void channel_shutdown(struct hull_ttrpc_channel *ch)
{
        if (ch->closed)
                return;
        ch->closed = true;
        hull_loop_source_remove(ch->src);
        ch->src = NULL;
        if (ch->fd >= 0)
                close(ch->fd);
        ch->fd = -1;
        wq_free(ch);
        free(ch->rbuf);
        ch->rbuf = NULL;
        ch->rcap = ch->rstart = ch->rend = 0;
}

struct hull_ttrpc_channel *hull_ttrpc_channel_ref(struct hull_ttrpc_channel *ch)
{
        if (ch)
                ch->refs++;
        return ch;
}

struct hull_ttrpc_channel *hull_ttrpc_channel_unref(struct hull_ttrpc_channel *ch)
{
        if (!ch || --ch->refs > 0)
                return NULL;
        channel_shutdown(ch);
        free(ch->name);
        free(ch);
        return NULL;
}

void hull_ttrpc_channel_close(struct hull_ttrpc_channel *ch)
{
        if (ch)
                channel_shutdown(ch);
}

static void channel_failv(struct hull_ttrpc_channel *ch, int code, const char *fmt, va_list ap)
{
        struct hull_error *reason = NULL;
        char *msg = NULL;

        if (ch->closed)
                return;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        /* A clean hang-up is routine; everything else is worth a warning with the reason. */
        if (code == ECONNRESET)
                log_debug("%s: %s", ch->name, msg ? msg : "connection closed");
        else
                log_warn("%s: closing connection: %s", ch->name, msg ? msg : "error");
        hull_error_set(&reason, code, "%s", msg ? msg : "connection closed");
        free(msg);
        channel_shutdown(ch);
        hull_ttrpc_channel_ref(ch);
        if (ch->ops && ch->ops->closed)
                ch->ops->closed(ch, reason, ch->userdata);
        hull_ttrpc_channel_unref(ch);
        hull_error_free(reason);
}

void hull_ttrpc_channel_fail(struct hull_ttrpc_channel *ch, int code, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        channel_failv(ch, code, fmt, ap);
        va_end(ap);
}

bool hull_ttrpc_channel_is_closed(const struct hull_ttrpc_channel *ch)
{
        return !ch || ch->closed;
}

const char *hull_ttrpc_channel_name(const struct hull_ttrpc_channel *ch)
{
        return ch->name;
}

struct hull_loop *hull_ttrpc_channel_loop(const struct hull_ttrpc_channel *ch)
{
        return ch->loop;
}

static int set_events(struct hull_ttrpc_channel *ch, uint32_t events)
{
        if (ch->closed || ch->events == events)
                return 0;
        ch->events = events;
        return hull_loop_source_set_events(ch->src, events, NULL);
}

/* Write as much of the queue as the fd takes now. */
static int flush_queue(struct hull_ttrpc_channel *ch)
{
        while (ch->wq_head) {
                struct iovec iov[16];
                int n = 0;
                ssize_t w;

                for (struct chunk *c = ch->wq_head; c && n < (int)ARRAY_SIZE(iov); c = c->next, n++) {
                        iov[n].iov_base = c->data + c->off;
                        iov[n].iov_len = c->len - c->off;
                }
                if (ch->is_socket) {
                        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
                        w = sendmsg(ch->fd, &mh, MSG_NOSIGNAL);
                } else {
                        w = writev(ch->fd, iov, n);
                }
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                ch->wq_bytes -= (size_t)w;
                while (w > 0 && ch->wq_head) {
                        struct chunk *c = ch->wq_head;
                        size_t left = c->len - c->off;
                        if ((size_t)w < left) {
                                c->off += (size_t)w;
                                break;
                        }
                        w -= (ssize_t)left;
                        ch->wq_head = c->next;
                        if (!ch->wq_head)
                                ch->wq_tail = NULL;
                        free(c->data);
                        free(c);
                }
        }
        return set_events(ch, ch->wq_head ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void write_failed(struct hull_ttrpc_channel *ch, int e)
{
        if (e == EPIPE || e == ECONNRESET)
                hull_ttrpc_channel_fail(ch, ECONNRESET, "peer closed the connection");
        else
                hull_ttrpc_channel_fail(ch, e, "write: %s", strerror(e));
}

int hull_ttrpc_channel_send(struct hull_ttrpc_channel *ch, struct hull_buf *frame, struct hull_error **err)
{
        struct chunk *c;
        int r;

        if (ch->closed)
                return hull_error_set(err, ECONNRESET, "ttrpc: connection is closed");
        if (ch->wq_bytes + frame->len > HULL_TTRPC_WRITE_QUEUE_MAX) {
                hull_ttrpc_channel_fail(ch, ENOBUFS, "peer does not read: %zu bytes queued", ch->wq_bytes);
                return hull_error_set(err, ENOBUFS, "ttrpc: peer does not read its replies");
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return hull_error_oom(err);
        c->len = frame->len;
        c->data = hull_buf_steal(frame);
        if (!c->data) {
                free(c);
                return hull_error_oom(err);
        }
        if (ch->wq_tail)
                ch->wq_tail->next = c;
        else
                ch->wq_head = c;
        ch->wq_tail = c;
        ch->wq_bytes += c->len;
        /* With other frames already waiting, EPOLLOUT will flush; otherwise try right away. */
        if (ch->wq_head != c)
                return 0;
        r = flush_queue(ch);
        if (r < 0) {
                write_failed(ch, -r);
                return hull_error_errno(err, -r, "ttrpc: send");
        }
        return 0;
}

/* Make room for at least want bytes from rstart on. */
static int rbuf_make_room(struct hull_ttrpc_channel *ch, size_t want)
{
        size_t have = ch->rend - ch->rstart;

        if (ch->rcap - ch->rstart >= want && ch->rend < ch->rcap)
                return 0;
        if (ch->rstart > 0) {
                memmove(ch->rbuf, ch->rbuf + ch->rstart, have);
                ch->rstart = 0;
                ch->rend = have;
        }
        if (ch->rcap < want) {
                uint8_t *n = realloc(ch->rbuf, want);
                if (!n)
                        return -ENOMEM;
                ch->rbuf = n;
                ch->rcap = want;
        }
        return 0;
}

static void dispatch_frames(struct hull_ttrpc_channel *ch)
{
        while (!ch->closed) {
                struct hull_ttrpc_header h;
                struct hull_error *e = NULL;
                const uint8_t *payload;

                if (ch->rend - ch->rstart < HULL_TTRPC_HEADER_SIZE)
                        return;
                hull_ttrpc_header_unpack(ch->rbuf + ch->rstart, &h);
                /* Checked as soon as the header is in: an oversized frame is never buffered. */
                if (hull_ttrpc_header_check(&h, &e) < 0) {
                        hull_ttrpc_channel_fail(ch, e->code, "%s", hull_error_message(e));
                        hull_error_free(e);
                        return;
                }
                if (ch->rend - ch->rstart < HULL_TTRPC_HEADER_SIZE + (size_t)h.length)
                        return;
                payload = ch->rbuf + ch->rstart + HULL_TTRPC_HEADER_SIZE;
                ch->rstart += HULL_TTRPC_HEADER_SIZE + (size_t)h.length;
                ch->ops->frame(ch, &h, payload, ch->userdata);
        }
}

static void channel_readable(struct hull_ttrpc_channel *ch)
{
        size_t want = READ_CHUNK;
        ssize_t n;

        if (ch->rend - ch->rstart >= HULL_TTRPC_HEADER_SIZE) {
                struct hull_ttrpc_header h;
                hull_ttrpc_header_unpack(ch->rbuf + ch->rstart, &h);
                want = MAX(want, HULL_TTRPC_HEADER_SIZE + (size_t)h.length);
        }
        if (rbuf_make_room(ch, want) < 0) {
                hull_ttrpc_channel_fail(ch, ENOMEM, "out of memory for a %zu byte frame", want);
                return;
        }
        n = read(ch->fd, ch->rbuf + ch->rend, ch->rcap - ch->rend);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return;
                if (errno == ECONNRESET)
                        hull_ttrpc_channel_fail(ch, ECONNRESET, "peer reset the connection");
                else
                        hull_ttrpc_channel_fail(ch, errno, "read: %s", strerror(errno));
                return;
        }
        if (n == 0) {
                size_t pending = ch->rend - ch->rstart;
                if (pending > 0)
                        hull_ttrpc_channel_fail(ch, EPROTO,
                                                "truncated frame: peer closed the connection with %zu "
                                                "byte(s) of a frame unread",
                                                pending);
                else
                        hull_ttrpc_channel_fail(ch, ECONNRESET, "peer closed the connection");
                return;
        }
        ch->rend += (size_t)n;
        dispatch_frames(ch);
        if (ch->closed)
                return;
        /* Give back the room a large frame needed once it is consumed. */
        if (ch->rstart == ch->rend) {
                ch->rstart = ch->rend = 0;
                if (ch->rcap > 4 * READ_CHUNK) {
                        free(ch->rbuf);
                        ch->rbuf = NULL;
                        ch->rcap = 0;
                }
        }
}

static int channel_io(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_ttrpc_channel *ch = hull_ttrpc_channel_ref(userdata);

        if (!ch->closed && (events & EPOLLOUT)) {
                int r = flush_queue(ch);
                if (r < 0)
                        write_failed(ch, -r);
        }
        if (!ch->closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                channel_readable(ch);
        hull_ttrpc_channel_unref(ch);
        return 0;
}
