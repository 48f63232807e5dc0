/* --console-socket's receiving end and the terminal relay of a foreground `hull run -t` / `hull exec -t`. */
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"
#include "error.h"
#include "fd.h"
#include "loop.h"

#define RELAY_CHUNK 4096

struct hull_cli_console {
        char *dir;
        char *path;
        int listen_fd;
        int master;
        struct hull_loop_source *stdin_src, *master_src;
        struct termios saved;
        bool raw;
};

int hull_cli_console_new(struct hull_cli_console **ret, struct hull_error **err)
{
        _cleanup_(hull_cli_console_freep) struct hull_cli_console *c = NULL;
        char tmpl[] = "/tmp/hull-console-XXXXXX";

        c = calloc(1, sizeof(*c));
        if (!c)
                return hull_error_oom(err);
        c->listen_fd = c->master = -1;
        if (!mkdtemp(tmpl))
                return hull_error_errno(err, errno, "console: mkdtemp");
        c->dir = strdup(tmpl);
        if (!c->dir || asprintf(&c->path, "%s/console.sock", tmpl) < 0) {
                rmdir(tmpl);
                return hull_error_oom(err);
        }
        c->listen_fd = hull_unix_listen(c->path, err);
        if (c->listen_fd < 0)
                return hull_error_prefix(err, "console");
        *ret = TAKE_PTR(c);
        return 0;
}

const char *hull_cli_console_path(const struct hull_cli_console *c)
{
        return c->path;
}

int hull_cli_recv_fd(int sock, int *ret_fd, struct hull_error **err)
{
        char name[256];
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) };
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        struct cmsghdr *cm;
        ssize_t n;
        int fd;

        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return hull_error_errno(err, errno, "console: recvmsg");
        cm = CMSG_FIRSTHDR(&msg);
        if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
                return hull_error_set(err, EPROTO, "console: the message carried no terminal");
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        if (msg.msg_flags & MSG_CTRUNC) {
                close(fd);
                return hull_error_set(err, EPROTO, "console: control message truncated");
        }
        *ret_fd = fd;
        return 0;
}

static int relay(int from, int to)
{
        char buf[RELAY_CHUNK];
        ssize_t n;

        n = read(from, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0)
                return -1;
        return hull_write_all(to, buf, (size_t)n, NULL) < 0 ? -1 : 1;
}

static int on_stdin(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_cli_console *c = userdata;

        if (relay(STDIN_FILENO, c->master) < 0) {
                /* Our stdin ended: the terminal's end-of-file character tells the process (canonical mode). */
                static const char eof = 4;
                (void)!write(c->master, &eof, 1);
                hull_loop_source_remove(src);
                c->stdin_src = NULL;
        }
        return 0;
}

static int on_master(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_cli_console *c = userdata;

        if (relay(c->master, STDOUT_FILENO) < 0) {
                hull_loop_source_remove(src);
                c->master_src = NULL;
        }
        return 0;
}

int hull_cli_console_attach(struct hull_cli_console *c, struct hull_loop *loop, int timeout_ms, struct hull_error **err)
{
        _cleanup_close_ int conn = -1;
        struct pollfd p = { .fd = c->listen_fd, .events = POLLIN };
        struct termios raw;
        int r;

        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return hull_error_errno(err, errno, "console: poll");
        if (r == 0)
                return hull_error_set(err, ETIMEDOUT, "console: no terminal received in %d ms", timeout_ms);
        conn = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0)
                return hull_error_errno(err, errno, "console: accept");
        r = hull_cli_recv_fd(conn, &c->master, err);
        if (r < 0)
                return r;
        r = hull_fd_set_nonblock(c->master, 1, err);
        if (r < 0)
                return r;
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &c->saved) == 0) {
                raw = c->saved;
                cfmakeraw(&raw);
                raw.c_oflag |= OPOST | ONLCR; /* keep our own output readable; the pty does the rest */
                if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
                        c->raw = true;
        }
        r = hull_loop_add_fd(loop, c->master, EPOLLIN, on_master, c, &c->master_src, err);
        if (r < 0)
                return r;
        if (fcntl(STDIN_FILENO, F_GETFD) >= 0) {
                r = hull_loop_add_fd(loop, STDIN_FILENO, EPOLLIN, on_stdin, c, &c->stdin_src, NULL);
                if (r < 0)
                        c->stdin_src = NULL; /* a regular file or /dev/null: epoll refuses it; nothing to relay */
        }
        return 0;
}

int hull_cli_console_size(uint32_t *ret_width, uint32_t *ret_height)
{
        struct winsize ws;

        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
                return -ENOTTY;
        *ret_width = ws.ws_col;
        *ret_height = ws.ws_row;
        return 0;
}

void hull_cli_console_drain(struct hull_cli_console *c)
{
        if (c->master < 0)
                return;
        for (int i = 0; i < 1024; i++)
                if (relay(c->master, STDOUT_FILENO) <= 0)
                        break;
}

struct hull_cli_console *hull_cli_console_free(struct hull_cli_console *c)
{
        if (!c)
                return NULL;
        hull_loop_source_remove(c->stdin_src);
        hull_loop_source_remove(c->master_src);
        if (c->raw)
                tcsetattr(STDIN_FILENO, TCSANOW, &c->saved);
        if (c->master >= 0)
                close(c->master);
        if (c->listen_fd >= 0)
                close(c->listen_fd);
        if (c->path)
                unlink(c->path);
        if (c->dir)
                rmdir(c->dir);
        free(c->path);
        free(c->dir);
        free(c);
        return NULL;
}
