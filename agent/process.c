/* Process stdio and lifetime for hull-agent: pipes or a pty, bounded output buffers, long-poll reads, waits. */
#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

#include "buf.h"
#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"

struct stream {
        int fd; /* parent's read end; -1 once at EOF */
        struct hull_loop_source *src;
        struct hull_buf buf;
        bool eof;
        bool eof_delivered; /* a reader was told: the host knows the stream is over */
        struct hull_agent_read *reads;
};

struct hull_agent_process {
        struct hull_loop *loop;
        char *exec_id;
        pid_t pid;
        bool tty;
        int stdin_fd; /* parent's write end (the pty master's dup with a tty) */
        int master; /* pty master, -1 without a tty or until the child passed it */
        bool stdin_closed; /* CloseStdin before the terminal came */
        unsigned rows, cols; /* a resize before the terminal came */
        struct stream out[2];
        bool exited, waited;
        int exit_code;
        struct hull_agent_wait *waits;
};

void hull_agent_stdio_close(struct hull_agent_stdio *s)
{
        int fds[3] = { s->in, s->out, s->err };

        for (int i = 0; i < 3; i++) {
                bool seen = false;
                for (int j = 0; j < i; j++)
                        seen |= fds[j] == fds[i];
                if (fds[i] >= 0 && !seen)
                        close(fds[i]);
        }
        s->in = s->out = s->err = -1;
}

int hull_agent_exit_code(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

static int make_pipe(int fds[2], struct hull_error **err)
{
        if (pipe2(fds, O_CLOEXEC) < 0)
                return hull_error_errno(err, errno, "pipe");
        return 0;
}

int hull_agent_process_new(struct hull_loop *loop, const char *exec_id, bool tty, struct hull_agent_process **ret,
                           struct hull_agent_stdio *ret_child, struct hull_error **err)
{
        struct hull_agent_process *p = calloc(1, sizeof(*p));
        struct hull_agent_stdio child = { -1, -1, -1 };
        int r;

        if (!p)
                return hull_error_oom(err);
        *p = (struct hull_agent_process){ .loop = loop, .tty = tty, .stdin_fd = -1, .master = -1, .pid = -1 };
        p->out[0] = p->out[1] = (struct stream){ .fd = -1, .buf = HULL_BUF_INIT };
        p->exec_id = strdup(exec_id ? exec_id : "");
        if (!p->exec_id) {
                free(p);
                return hull_error_oom(err);
        }
        if (tty) {
                /* The child opens the pty from the container's devpts and passes the master back
                 * (hull_agent_process_set_terminal()). A tty merges stderr into stdout: stderr is at EOF from the
                 * start. */
                p->out[HULL_AGENT_STDERR].eof = true;
                p->out[HULL_AGENT_STDERR].eof_delivered = true;
        } else {
                int in[2], out[2], errp[2];
                if ((r = make_pipe(in, err)) < 0)
                        goto fail;
                child.in = in[0];
                p->stdin_fd = in[1];
                if ((r = make_pipe(out, err)) < 0)
                        goto fail;
                child.out = out[1];
                p->out[HULL_AGENT_STDOUT].fd = out[0];
                if ((r = make_pipe(errp, err)) < 0)
                        goto fail;
                child.err = errp[1];
                p->out[HULL_AGENT_STDERR].fd = errp[0];
        }
        for (int i = 0; i < 2; i++)
                if (p->out[i].fd >= 0 && (r = hull_fd_set_nonblock(p->out[i].fd, 1, err)) < 0)
                        goto fail;
        if (p->stdin_fd >= 0 && (r = hull_fd_set_nonblock(p->stdin_fd, 1, err)) < 0)
                goto fail;
        *ret = p;
        *ret_child = child;
        return 0;
fail:
        hull_agent_stdio_close(&child);
        hull_agent_process_free(p);
        return r;
}

static void stream_close(struct stream *s)
{
        hull_loop_source_remove(s->src);
        s->src = NULL;
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
}

struct hull_agent_process *hull_agent_process_free(struct hull_agent_process *p)
{
        if (!p)
                return NULL;
        /* Whoever still waits learns that it is over: reads end (EOF), waits get "killed" (128+SIGKILL). */
        for (int i = 0; i < 2; i++) {
                stream_close(&p->out[i]);
                hull_buf_free(&p->out[i].buf);
                while (p->out[i].reads) {
                        struct hull_agent_read *rd = p->out[i].reads;
                        p->out[i].reads = rd->next;
                        rd->next = NULL;
                        rd->owner = NULL;
                        rd->cb(rd, NULL, 0, rd->userdata);
                }
        }
        while (p->waits) {
                struct hull_agent_wait *w = p->waits;
                p->waits = w->next;
                w->next = NULL;
                w->owner = NULL;
                w->cb(w, p->exited ? p->exit_code : 128 + SIGKILL, w->userdata);
        }
        hull_closep(&p->stdin_fd);
        hull_closep(&p->master);
        free(p->exec_id);
        free(p);
        return NULL;
}

const char *hull_agent_process_exec_id(const struct hull_agent_process *p)
{
        return p->exec_id;
}

pid_t hull_agent_process_pid(const struct hull_agent_process *p)
{
        return p->pid;
}

bool hull_agent_process_tty(const struct hull_agent_process *p)
{
        return p->tty;
}

/* Hand buffered data (or EOF) to queued readers, first come first served. */
static void stream_serve(struct hull_agent_process *p, struct stream *s)
{
        while (s->reads && (s->buf.len > 0 || s->eof)) {
                struct hull_agent_read *rd = s->reads;
                size_t n = MIN(s->buf.len, rd->max);
                s->reads = rd->next;
                rd->next = NULL;
                rd->owner = NULL;
                if (n > 0) {
                        /* Copy out first: the callback may queue another read on this stream. */
                        _cleanup_free_ char *chunk = malloc(n);
                        if (!chunk) {
                                rd->cb(rd, NULL, 0, rd->userdata);
                                continue;
                        }
                        memcpy(chunk, s->buf.data, n);
                        hull_buf_consume(&s->buf, n);
                        rd->cb(rd, chunk, n, rd->userdata);
                } else {
                        s->eof_delivered = true;
                        rd->cb(rd, NULL, 0, rd->userdata);
                }
        }
        /* Room again: resume reading from the process. */
        if (s->src && s->buf.len < HULL_AGENT_STREAM_BUFFER)
                (void)hull_loop_source_set_events(s->src, EPOLLIN, NULL);
}

static int on_output(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_agent_process *p = userdata;
        struct stream *s = &p->out[fd == p->out[0].fd ? 0 : 1];

        while (s->buf.len < HULL_AGENT_STREAM_BUFFER) {
                size_t room = HULL_AGENT_STREAM_BUFFER - s->buf.len;
                ssize_t n;
                if (hull_buf_reserve(&s->buf, MIN(room, 65536)) < 0)
                        break;
                n = read(fd, s->buf.data + s->buf.len, MIN(room, 65536));
                if (n > 0) {
                        s->buf.len += (size_t)n;
                        s->buf.data[s->buf.len] = '\0';
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                /* 0: every writer closed it. EIO: a pty whose slave side is gone. */
                s->eof = true;
                stream_close(s);
                break;
        }
        if (s->src && s->buf.len >= HULL_AGENT_STREAM_BUFFER)
                (void)hull_loop_source_set_events(s->src, 0, NULL);
        stream_serve(p, s);
        return 0;
}

static void stream_watch(struct hull_agent_process *p, struct stream *s)
{
        _cleanup_error_ struct hull_error *e = NULL;

        if (s->fd < 0 || s->src)
                return;
        if (hull_loop_add_fd(p->loop, s->fd, EPOLLIN, on_output, p, &s->src, &e) < 0) {
                log_warn("process %s: cannot watch its output: %s", p->exec_id, hull_error_message(e));
                s->eof = true;
                stream_close(s);
        }
}

void hull_agent_process_started(struct hull_agent_process *p, pid_t pid)
{
        p->pid = pid;
        for (int i = 0; i < 2; i++)
                stream_watch(p, &p->out[i]);
}

static int send_eof_char(struct hull_agent_process *p)
{
        /* A terminal has no half-close: send the EOF character, as a user typing ^D would. */
        struct termios t;
        char eof = 4;

        if (tcgetattr(p->master, &t) == 0)
                eof = (char)t.c_cc[VEOF];
        return write(p->stdin_fd, &eof, 1) == 1 ? 0 : -errno;
}

int hull_agent_process_set_terminal(struct hull_agent_process *p, int master, struct hull_error **err)
{
        _cleanup_close_ int fd = master, in = -1, out = -1;
        int r;

        if (!p->tty || p->master >= 0)
                return hull_error_set(err, EPROTO, "process %s: unexpected terminal", p->exec_id);
        in = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        out = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (in < 0 || out < 0)
                return hull_error_errno(err, errno, "process %s: terminal: dup", p->exec_id);
        if ((r = hull_fd_set_nonblock(in, 1, err)) < 0 || (r = hull_fd_set_nonblock(out, 1, err)) < 0)
                return r;
        p->master = TAKE_FD(fd);
        p->stdin_fd = TAKE_FD(in);
        p->out[HULL_AGENT_STDOUT].fd = TAKE_FD(out);
        if (p->rows && p->cols) {
                struct winsize ws = { .ws_row = (unsigned short)p->rows, .ws_col = (unsigned short)p->cols };
                (void)ioctl(p->master, TIOCSWINSZ, &ws);
        }
        if (p->stdin_closed) {
                (void)send_eof_char(p);
                hull_closep(&p->stdin_fd);
                p->stdin_fd = -1;
        }
        if (p->pid > 0)
                stream_watch(p, &p->out[HULL_AGENT_STDOUT]);
        return 0;
}

void hull_agent_process_exited(struct hull_agent_process *p, int status)
{
        p->exited = true;
        p->exit_code = hull_agent_exit_code(status);
        while (p->waits) {
                struct hull_agent_wait *w = p->waits;
                p->waits = w->next;
                w->next = NULL;
                w->owner = NULL;
                w->cb(w, p->exit_code, w->userdata);
        }
}

bool hull_agent_process_has_exited(const struct hull_agent_process *p, int *ret_exit_code)
{
        if (p->exited && ret_exit_code)
                *ret_exit_code = p->exit_code;
        return p->exited;
}

int hull_agent_process_write(struct hull_agent_process *p, const void *data, size_t len, size_t *ret_written,
                             struct hull_error **err)
{
        size_t done = 0;

        if (p->stdin_fd < 0)
                return hull_error_set(err, EPIPE, "process %s: stdin is closed", p->exec_id);
        while (done < len) {
                ssize_t n = write(p->stdin_fd, (const char *)data + done, len - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return hull_error_errno(err, errno, "process %s: write stdin", p->exec_id);
                }
                done += (size_t)n;
        }
        *ret_written = done;
        return 0;
}

int hull_agent_process_close_stdin(struct hull_agent_process *p, struct hull_error **err)
{
        if (p->tty && p->stdin_fd >= 0)
                (void)send_eof_char(p);
        p->stdin_closed = true;
        hull_closep(&p->stdin_fd);
        p->stdin_fd = -1;
        return 0;
}

int hull_agent_process_resize(struct hull_agent_process *p, unsigned rows, unsigned cols, struct hull_error **err)
{
        struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

        if (!p->tty)
                return hull_error_set(err, EINVAL, "process %s has no terminal", p->exec_id);
        if (rows > 0xffff || cols > 0xffff)
                return hull_error_set(err, EINVAL, "terminal size %ux%u out of range", rows, cols);
        if (p->master < 0) {
                /* The child has not passed its terminal yet: applied when it does. */
                p->rows = rows;
                p->cols = cols;
                return 0;
        }
        if (ioctl(p->master, TIOCSWINSZ, &ws) < 0)
                return hull_error_errno(err, errno, "process %s: TIOCSWINSZ", p->exec_id);
        return 0;
}

int hull_agent_process_signal(struct hull_agent_process *p, int sig, struct hull_error **err)
{
        if (sig < 0 || sig >= NSIG)
                return hull_error_set(err, EINVAL, "signal %d out of range", sig);
        if (p->exited || p->pid <= 0)
                return hull_error_set(err, ESRCH, "process %s is not running", p->exec_id);
        if (kill(p->pid, sig) < 0)
                return hull_error_errno(err, errno, "process %s: kill %d", p->exec_id, sig);
        return 0;
}

void hull_agent_process_read(struct hull_agent_process *p, enum hull_agent_stream s, struct hull_agent_read *rd)
{
        struct stream *st = &p->out[s];
        struct hull_agent_read **tail = &st->reads;

        if (rd->max == 0 || rd->max > HULL_AGENT_READ_MAX)
                rd->max = HULL_AGENT_READ_MAX;
        log_debug("process %s: read %d queued (buffered %zu, eof %d, fd %d)", p->exec_id, (int)s, st->buf.len, st->eof,
                  st->fd);
        rd->owner = p;
        rd->stream = s;
        rd->next = NULL;
        while (*tail)
                tail = &(*tail)->next;
        *tail = rd;
        stream_serve(p, st);
}

void hull_agent_process_read_cancel(struct hull_agent_read *rd)
{
        struct hull_agent_read **pp;

        if (!rd->owner)
                return;
        for (pp = &rd->owner->out[rd->stream].reads; *pp; pp = &(*pp)->next)
                if (*pp == rd) {
                        *pp = rd->next;
                        break;
                }
        rd->owner = NULL;
        rd->next = NULL;
}

void hull_agent_process_wait(struct hull_agent_process *p, struct hull_agent_wait *w)
{
        if (p->exited) {
                w->owner = NULL;
                w->cb(w, p->exit_code, w->userdata);
                return;
        }
        w->owner = p;
        w->next = p->waits;
        p->waits = w;
}

void hull_agent_process_wait_cancel(struct hull_agent_wait *w)
{
        struct hull_agent_wait **pp;

        if (!w->owner)
                return;
        for (pp = &w->owner->waits; *pp; pp = &(*pp)->next)
                if (*pp == w) {
                        *pp = w->next;
                        break;
                }
        w->owner = NULL;
        w->next = NULL;
}

void hull_agent_process_mark_waited(struct hull_agent_process *p)
{
        p->waited = true;
}

bool hull_agent_process_finished(const struct hull_agent_process *p)
{
        for (int i = 0; i < 2; i++)
                if (!p->out[i].eof_delivered || p->out[i].buf.len > 0 || p->out[i].reads)
                        return false;
        return p->exited && p->waited && !p->waits;
}
