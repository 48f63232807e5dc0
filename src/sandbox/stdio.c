/* The stdio relay: ReadStdout/ReadStderr long polls whose data is written to the caller's fds (the next read is
 * asked for only once the chunk is out: back-pressure reaches the guest), stdin read and sent with WriteStdin. */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>

#include "agent.pb-c.h"
#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"
#include "sandbox/agent-client.h"
#include "sandbox/stdio.h"

int hull_stdio_parse(const char *s, struct hull_stdio_uri *ret, struct hull_error **err)
{
        const char *p;

        memset(ret, 0, sizeof(*ret));
        ret->fd = -1;
        if (!s || !*s)
                return 0;
        if (strneq(s, "hull-fd://", 10)) {
                char *end;
                long pid, fd;
                p = s + 10;
                errno = 0;
                pid = strtol(p, &end, 10);
                if (errno || end == p || *end != '/' || pid <= 0 || pid > INT32_MAX)
                        return hull_error_set(err, EINVAL, "stdio '%s': expected hull-fd://PID/FD", s);
                p = end + 1;
                fd = strtol(p, &end, 10);
                if (errno || end == p || *end || fd < 0 || fd > INT32_MAX)
                        return hull_error_set(err, EINVAL, "stdio '%s': expected hull-fd://PID/FD", s);
                ret->kind = HULL_STDIO_FD;
                ret->pid = (pid_t)pid;
                ret->fd = (int)fd;
                return 0;
        }
        if (strneq(s, "hull-console://", 15)) {
                p = s + 15;
                ret->kind = HULL_STDIO_CONSOLE;
        } else if (strneq(s, "fifo://", 7) || strneq(s, "file://", 7)) {
                p = s + 7;
                ret->kind = HULL_STDIO_PATH;
        } else if (s[0] == '/') {
                p = s;
                ret->kind = HULL_STDIO_PATH;
        } else {
                return hull_error_set(err, EINVAL,
                                      "stdio '%s': expected \"\", /path, fifo:///path, hull-fd://PID/FD or "
                                      "hull-console://PATH",
                                      s);
        }
        if (p[0] != '/' || strlen(p) >= sizeof(ret->path))
                return hull_error_set(err, EINVAL, "stdio '%s': the path must be absolute and shorter than %zu", s,
                                      sizeof(ret->path));
        memcpy(ret->path, p, strlen(p) + 1);
        return 0;
}

/* A pipe, FIFO or tty gets its own open file description, non-blocking, so that the caller's (a shell's tty!)
 * keeps its flags; sockets, files and others are used as they are. */
static int own_description(int fd, bool for_write, struct hull_error **err)
{
        struct stat st;
        char path[64];
        int nfd;

        if (fstat(fd, &st) < 0)
                return hull_error_errno(err, errno, "stat stdio fd");
        if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
                return fd;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        nfd = open(path, (for_write ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (nfd < 0) {
                /* e.g. an anonymous pipe of a process we cannot reopen: keep the shared one. */
                log_debug("stdio: reopen %s: %m", path);
                return fd;
        }
        close(fd);
        return nfd;
}

int hull_stdio_open(const struct hull_stdio_uri *u, bool for_write, int *ret_fd, struct hull_error **err)
{
        int fd, pidfd;

        switch (u->kind) {
        case HULL_STDIO_NONE:
                *ret_fd = -1;
                return 0;
        case HULL_STDIO_PATH:
                if (for_write) {
                        fd = open(u->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_APPEND);
                        if (fd < 0 && errno == ENXIO) /* a FIFO nobody reads yet */
                                fd = open(u->path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                        if (fd < 0 && errno == ENOENT)
                                fd = open(u->path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_APPEND, 0600);
                } else {
                        fd = open(u->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                }
                if (fd < 0)
                        return hull_error_errno(err, errno, "open %s", u->path);
                *ret_fd = fd;
                return 0;
        case HULL_STDIO_FD:
                pidfd = (int)syscall(SYS_pidfd_open, u->pid, 0);
                if (pidfd < 0)
                        return hull_error_errno(err, errno, "pidfd_open %d", (int)u->pid);
                fd = (int)syscall(SYS_pidfd_getfd, pidfd, u->fd, 0);
                if (fd < 0) {
                        int e = errno;
                        close(pidfd);
                        return hull_error_errno(err, e, "pidfd_getfd %d/%d", (int)u->pid, u->fd);
                }
                close(pidfd);
                hull_fd_set_cloexec(fd, 1, NULL);
                fd = own_description(fd, for_write, err);
                if (fd < 0)
                        return fd;
                *ret_fd = fd;
                return 0;
        case HULL_STDIO_CONSOLE:
                return hull_error_set(err, EINVAL, "a console is not a plain stdio stream");
        }
        return hull_error_set(err, EINVAL, "bad stdio kind");
}

int hull_stdio_console(const char *path, int *ret_slave, struct hull_error **err)
{
        _cleanup_close_ int master = -1, slave = -1, sock = -1;
        char name[128];
        struct termios t;
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct iovec iov;
        struct msghdr msg = { 0 };
        struct cmsghdr *c;

        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return hull_error_errno(err, errno, "console: posix_openpt");
        if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
                return hull_error_errno(err, errno, "console: unlock pty");
        slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return hull_error_errno(err, errno, "console: open %s", name);
        /* The guest's pty does echo and line editing; the host one only carries bytes. */
        if (tcgetattr(slave, &t) == 0) {
                cfmakeraw(&t);
                tcsetattr(slave, TCSANOW, &t);
        }
        sock = hull_unix_connect(path, err);
        if (sock < 0)
                return hull_error_prefix(err, "console socket");
        iov.iov_base = name;
        iov.iov_len = strlen(name);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof(u.buf);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &master, sizeof(int));
        if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
                return hull_error_errno(err, errno, "console: send the pty to %s", path);
        if (hull_fd_set_nonblock(slave, 1, err) < 0)
                return -EIO;
        *ret_slave = TAKE_FD(slave);
        return 0;
}

/* ---- the relay ---- */

struct out_stream {
        struct hull_stdio_relay *r;
        const char *method; /* ReadStdout / ReadStderr */
        int fd; /* -1: data dropped */
        bool pollable;
        bool eof;
        bool reading; /* a Read call is out */
        struct hull_loop_source *src;
        uint8_t *pending; /* data not written yet */
        size_t len, off;
};

struct hull_stdio_relay {
        unsigned refs;
        bool dead, notified;
        struct hull_loop *loop;
        struct hull_agent *agent;
        char *cid, *eid;
        bool terminal;
        struct out_stream out[2];
        int in_fd;
        bool in_pollable, in_eof, in_closing, in_sent_close, in_writing;
        struct hull_loop_source *in_src;
        void (*on_eof)(struct hull_stdio_relay *r, void *userdata);
        void *userdata;
};

static struct hull_stdio_relay *relay_ref(struct hull_stdio_relay *r)
{
        r->refs++;
        return r;
}

static void relay_unref(struct hull_stdio_relay *r)
{
        if (--r->refs > 0)
                return;
        free(r->cid);
        free(r->eid);
        free(r);
}

static void maybe_eof(struct hull_stdio_relay *r)
{
        if (r->dead || r->notified || !r->out[0].eof || !r->out[1].eof)
                return;
        r->notified = true;
        if (r->on_eof)
                r->on_eof(r, r->userdata);
}

static int out_read(struct out_stream *s);

/* Stop watching the stream and drop its fd and what it still held. */
static void out_release(struct out_stream *s)
{
        hull_loop_source_remove(s->src);
        s->src = NULL;
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        free(s->pending);
        s->pending = NULL;
}

static void out_finish(struct out_stream *s)
{
        s->eof = true;
        out_release(s);
        maybe_eof(s->r);
}

/* Write what is pending; returns true when all of it is out. A reader that went away drops the rest. */
static bool out_flush(struct out_stream *s)
{
        while (s->off < s->len) {
                ssize_t n;
                if (s->fd < 0) {
                        s->off = s->len;
                        break;
                }
                n = write(s->fd, s->pending + s->off, s->len - s->off);
                if (n > 0) {
                        s->off += (size_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && s->pollable)
                        return false;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        /* Not pollable and would block: wait for it the simple way (a file, rarely hit). */
                        struct pollfd p = { .fd = s->fd, .events = POLLOUT };
                        poll(&p, 1, 100);
                        continue;
                }
                log_debug("stdio %s/%s: %s: reader gone (%m), dropping output", s->r->cid, s->r->eid, s->method);
                close(s->fd);
                s->fd = -1;
        }
        free(s->pending);
        s->pending = NULL;
        s->len = s->off = 0;
        return true;
}

static int out_writable(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct out_stream *s = userdata;

        if (!out_flush(s))
                return 0;
        hull_loop_source_set_events(s->src, 0, NULL);
        out_read(s);
        return 0;
}

static void out_reply(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct out_stream *s = userdata;
        struct hull_stdio_relay *rl = s->r;
        const Grpc__ReadStreamResponse *m = (const Grpc__ReadStreamResponse *)resp;

        s->reading = false;
        if (rl->dead) {
                relay_unref(rl);
                return;
        }
        if (r < 0 || m->data.len == 0) {
                if (r < 0 && r != -ECANCELED)
                        log_debug("stdio %s/%s: %s: %s", rl->cid, rl->eid, s->method, hull_error_message(err));
                out_finish(s);
                relay_unref(rl);
                return;
        }
        s->pending = malloc(m->data.len);
        if (!s->pending) {
                out_finish(s);
                relay_unref(rl);
                return;
        }
        memcpy(s->pending, m->data.data, m->data.len);
        s->len = m->data.len;
        s->off = 0;
        if (out_flush(s))
                out_read(s);
        else if (hull_loop_source_set_events(s->src, EPOLLOUT, NULL) < 0)
                out_finish(s);
        relay_unref(rl);
}

static int out_read(struct out_stream *s)
{
        struct hull_stdio_relay *r = s->r;
        Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
        _cleanup_error_ struct hull_error *e = NULL;

        if (s->eof || s->reading || r->dead)
                return 0;
        req.container_id = r->cid;
        req.exec_id = r->eid;
        req.len = HULL_STDIO_CHUNK;
        if (hull_agent_call(r->agent, s->method, &req.base, &grpc__read_stream_response__descriptor, 0, out_reply, s,
                            &e) < 0) {
                log_debug("stdio %s/%s: %s: %s", r->cid, r->eid, s->method, hull_error_message(e));
                out_finish(s);
                return -EIO;
        }
        s->reading = true;
        relay_ref(r);
        return 0;
}

static void in_read(struct hull_stdio_relay *r);

static void in_close_done(int rc, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        relay_unref(userdata);
}

static void in_send_close(struct hull_stdio_relay *r)
{
        Grpc__CloseStdinRequest req = GRPC__CLOSE_STDIN_REQUEST__INIT;

        if (r->in_sent_close || r->dead)
                return;
        r->in_sent_close = true;
        hull_loop_source_remove(r->in_src);
        r->in_src = NULL;
        if (r->in_fd >= 0)
                close(r->in_fd);
        r->in_fd = -1;
        req.container_id = r->cid;
        req.exec_id = r->eid;
        if (hull_agent_call(r->agent, "CloseStdin", &req.base, &google__protobuf__empty__descriptor, 0, in_close_done,
                            r, NULL) >= 0)
                relay_ref(r);
}

struct in_write {
        struct hull_stdio_relay *r;
        uint8_t *data;
        size_t len, off;
        unsigned backoff_ms;
        struct hull_loop_source *retry;
};

static int in_write_send(struct in_write *w);
static void in_write_done(int rc, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata);

static int in_retry_fired(struct hull_loop_source *src, void *userdata)
{
        struct in_write *w = userdata;

        hull_loop_source_remove(w->retry);
        w->retry = NULL;
        if (w->r->dead || in_write_send(w) < 0) {
                struct hull_error e = { EIO, (char *)"WriteStdin could not be sent" };
                relay_ref(w->r); /* in_write_done drops the reference a call holds */
                in_write_done(-EIO, NULL, &e, w);
        }
        relay_unref(w->r); /* the timer's */
        return 0;
}

static void in_write_done(int rc, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct in_write *w = userdata;
        struct hull_stdio_relay *r = w->r;
        const Grpc__WriteStreamResponse *m = (const Grpc__WriteStreamResponse *)resp;

        if (r->dead || rc < 0) {
                if (rc < 0 && !r->dead)
                        log_debug("stdio %s/%s: WriteStdin: %s", r->cid, r->eid, hull_error_message(err));
                r->in_writing = false;
                if (!r->dead)
                        in_send_close(r);
                goto out;
        }
        w->off += MIN((size_t)m->len, w->len - w->off);
        if (w->off < w->len && m->len == 0) {
                /* The guest's pipe is full and the agent has no way to say when it drains: try again after a
                 * growing pause (10 ms .. 200 ms). */
                w->backoff_ms = w->backoff_ms ? MIN(w->backoff_ms * 2, 200u) : 10u;
                if (hull_loop_add_timer(r->loop, w->backoff_ms * 1000ull, in_retry_fired, w, &w->retry, NULL) >= 0) {
                        relay_ref(r); /* the timer's */
                        relay_unref(r);
                        return;
                }
        } else if (w->off < w->len) {
                w->backoff_ms = 0;
                if (in_write_send(w) >= 0) {
                        relay_unref(r);
                        return;
                }
        }
        r->in_writing = false;
        if (r->in_eof)
                in_send_close(r);
        else
                in_read(r); /* also when closing: the rest of what the writer left goes first */
out:
        free(w->data);
        free(w);
        relay_unref(r);
}

static int in_write_send(struct in_write *w)
{
        Grpc__WriteStreamRequest req = GRPC__WRITE_STREAM_REQUEST__INIT;

        req.container_id = w->r->cid;
        req.exec_id = w->r->eid;
        req.data.data = w->data + w->off;
        req.data.len = w->len - w->off;
        if (hull_agent_call(w->r->agent, "WriteStdin", &req.base, &grpc__write_stream_response__descriptor, 0,
                            in_write_done, w, NULL) < 0)
                return -EIO;
        relay_ref(w->r);
        return 0;
}

/* Read one chunk and send it; stdin is not read again until the guest took it. */
static void in_read(struct hull_stdio_relay *r)
{
        uint8_t *buf;
        ssize_t n;
        struct in_write *w;

        if (r->dead || r->in_fd < 0 || r->in_writing || r->in_sent_close)
                return;
        buf = malloc(HULL_STDIN_CHUNK);
        if (!buf)
                return in_send_close(r);
        do
                n = read(r->in_fd, buf, HULL_STDIN_CHUNK);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && r->in_pollable) {
                free(buf);
                if (r->in_closing) /* CloseIO: what was written before it has been sent */
                        return in_send_close(r);
                hull_loop_source_set_events(r->in_src, EPOLLIN, NULL);
                return;
        }
        if (n <= 0) { /* EOF, or EIO from a pty whose master closed */
                free(buf);
                r->in_eof = true;
                return in_send_close(r);
        }
        w = calloc(1, sizeof(*w));
        if (!w) {
                free(buf);
                return in_send_close(r);
        }
        w->r = r;
        w->data = buf;
        w->len = (size_t)n;
        if (r->in_src)
                hull_loop_source_set_events(r->in_src, 0, NULL);
        r->in_writing = true;
        if (in_write_send(w) < 0) {
                r->in_writing = false;
                free(buf);
                free(w);
                in_send_close(r);
        }
}

static int in_readable(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        in_read(userdata);
        return 0;
}

static int add_fd(struct hull_loop *loop, int fd, hull_loop_fd_cb cb, void *ud, struct hull_loop_source **ret,
                  bool *pollable, struct hull_error **err)
{
        _cleanup_error_ struct hull_error *e = NULL;
        int r = hull_loop_add_fd(loop, fd, 0, cb, ud, ret, &e);

        if (r == -EPERM) { /* regular files and /dev/null: always ready */
                *pollable = false;
                *ret = NULL;
                return 0;
        }
        if (r < 0) {
                if (err)
                        *err = TAKE_PTR(e);
                return r;
        }
        *pollable = true;
        return 0;
}

int hull_stdio_relay_start(const struct hull_stdio_relay_opts *o, struct hull_stdio_relay **ret,
                           struct hull_error **err)
{
        struct hull_stdio_relay *r = calloc(1, sizeof(*r));
        int fds[2] = { o->out_fd, o->err_fd }, rc;

        if (!r || !(r->cid = strdup(o->container_id)) || !(r->eid = strdup(o->exec_id ? o->exec_id : ""))) {
                if (r) {
                        free(r->cid);
                        free(r);
                }
                for (int i = 0; i < 2; i++)
                        if (fds[i] >= 0)
                                close(fds[i]);
                if (o->in_fd >= 0)
                        close(o->in_fd);
                return hull_error_oom(err);
        }
        r->refs = 1;
        r->loop = o->loop;
        r->agent = o->agent;
        r->terminal = o->terminal;
        r->on_eof = o->on_eof;
        r->userdata = o->userdata;
        r->in_fd = o->in_fd;
        for (int i = 0; i < 2; i++) {
                struct out_stream *s = &r->out[i];
                s->r = r;
                s->method = i == 0 ? "ReadStdout" : "ReadStderr";
                s->fd = fds[i];
        }
        *ret = r;
        for (int i = 0; i < 2; i++) {
                struct out_stream *s = &r->out[i];
                if (s->fd >= 0) {
                        rc = add_fd(r->loop, s->fd, out_writable, s, &s->src, &s->pollable, err);
                        if (rc < 0)
                                return rc;
                }
        }
        if (r->in_fd >= 0) {
                rc = add_fd(r->loop, r->in_fd, in_readable, r, &r->in_src, &r->in_pollable, err);
                if (rc < 0)
                        return rc;
        }
        if (r->terminal) /* one pty stream in the guest: stdout carries everything */
                r->out[1].eof = true;
        for (int i = 0; i < 2; i++)
                if (!r->out[i].eof)
                        out_read(&r->out[i]);
        if (r->in_fd >= 0)
                in_read(r);
        else
                in_send_close(r); /* no stdin: the process reads EOF */
        return 0;
}

bool hull_stdio_relay_eof(const struct hull_stdio_relay *r)
{
        return !r || (r->out[0].eof && r->out[1].eof);
}

void hull_stdio_relay_close_stdin(struct hull_stdio_relay *r)
{
        if (!r || r->in_sent_close)
                return;
        /* containerd's CloseIO comes right after its client closed the stdin FIFO, possibly before the relay read
         * what it wrote: read on to what is there now (never wait), then close. */
        r->in_closing = true;
        if (r->in_writing)
                return;
        if (r->in_fd >= 0 && r->in_pollable)
                in_read(r);
        else
                in_send_close(r);
}

void hull_stdio_relay_abort(struct hull_stdio_relay *r)
{
        if (!r)
                return;
        r->notified = true;
        for (int i = 0; i < 2; i++) {
                struct out_stream *s = &r->out[i];
                if (s->fd >= 0 && s->pending)
                        out_flush(s);
                out_finish(s);
        }
}

int hull_stdio_relay_tty(const struct hull_stdio_relay *r)
{
        return r && r->terminal && r->out[0].fd >= 0 && isatty(r->out[0].fd) ? r->out[0].fd : -1;
}

struct hull_stdio_relay *hull_stdio_relay_free(struct hull_stdio_relay *r)
{
        if (!r)
                return NULL;
        r->dead = true;
        for (int i = 0; i < 2; i++)
                out_release(&r->out[i]);
        hull_loop_source_remove(r->in_src);
        if (r->in_fd >= 0)
                close(r->in_fd);
        r->in_fd = -1;
        relay_unref(r);
        return NULL;
}
