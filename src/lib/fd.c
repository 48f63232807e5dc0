/* fd and file helpers: bounded reads, full writes, atomic file replacement, unix sockets. */
#include "fd.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "error.h"

int hull_fd_set_nonblock(int fd, int on, struct hull_error **err)
{
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return hull_error_errno(err, errno, "fcntl(F_GETFL)");
        flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        if (fcntl(fd, F_SETFL, flags) < 0)
                return hull_error_errno(err, errno, "fcntl(F_SETFL)");
        return 0;
}

int hull_fd_set_cloexec(int fd, int on, struct hull_error **err)
{
        int flags = fcntl(fd, F_GETFD);

        if (flags < 0)
                return hull_error_errno(err, errno, "fcntl(F_GETFD)");
        flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
        if (fcntl(fd, F_SETFD, flags) < 0)
                return hull_error_errno(err, errno, "fcntl(F_SETFD)");
        return 0;
}

int hull_write_all(int fd, const void *buf, size_t len, struct hull_error **err)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return hull_error_errno(err, errno, "write");
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

ssize_t hull_read_full(int fd, void *buf, size_t len, struct hull_error **err)
{
        char *p = buf;
        size_t got = 0;

        while (got < len) {
                ssize_t n = read(fd, p + got, len - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return hull_error_errno(err, errno, "read");
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        return (ssize_t)got;
}

int hull_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len, struct hull_error **err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *data = NULL;
        size_t len = 0, cap = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return hull_error_errno(err, errno, "open %s", path);
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        char *p;
                        if (cap > max)
                                return hull_error_set(err, EFBIG, "%s: larger than %zu bytes", path, max);
                        cap = cap ? cap * 2 : 4096;
                        p = realloc(data, cap + 1);
                        if (!p)
                                return hull_error_oom(err);
                        data = p;
                }
                n = read(fd, data + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return hull_error_errno(err, errno, "read %s", path);
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return hull_error_set(err, EFBIG, "%s: larger than %zu bytes", path, max);
        }
        if (!data) {
                data = malloc(1);
                if (!data)
                        return hull_error_oom(err);
        }
        data[len] = '\0';
        *ret_data = TAKE_PTR(data);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int hull_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct hull_error **err)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
                return hull_error_oom(err);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return hull_error_errno(err, errno, "create %s", tmp);
        r = hull_write_all(fd, data, len, err);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = hull_error_errno(err, errno, "chmod %s", tmp);
        if (r >= 0 && rename(tmp, path) < 0)
                r = hull_error_errno(err, errno, "rename %s", tmp);
        if (r < 0) {
                unlink(tmp);
                return hull_error_prefix(err, "write %s", path);
        }
        return 0;
}

int hull_mkdir_p(const char *path, mode_t mode, struct hull_error **err)
{
        _cleanup_free_ char *copy = strdup(path);

        if (!copy)
                return hull_error_oom(err);
        for (char *p = copy + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(copy, mode) < 0 && errno != EEXIST)
                        return hull_error_errno(err, errno, "mkdir %s", copy);
                *p = '/';
        }
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
                return hull_error_errno(err, errno, "mkdir %s", copy);
        return 0;
}

/* A unix stream socket (close-on-exec) and the address for path. */
static int unix_socket(const char *path, struct sockaddr_un *sa, struct hull_error **err)
{
        int fd;

        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        if (strlen(path) >= sizeof(sa->sun_path))
                return hull_error_set(err, ENAMETOOLONG, "socket path too long (%zu bytes, at most %zu): %s",
                                      strlen(path), sizeof(sa->sun_path) - 1, path);
        strcpy(sa->sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return hull_error_errno(err, errno, "socket");
        return fd;
}

int hull_unix_listen(const char *path, struct hull_error **err)
{
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa;

        fd = unix_socket(path, &sa, err);
        if (fd < 0)
                return fd;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return hull_error_errno(err, errno, "bind %s", path);
        if (listen(fd, 128) < 0)
                return hull_error_errno(err, errno, "listen %s", path);
        return TAKE_FD(fd);
}

int hull_unix_connect(const char *path, struct hull_error **err)
{
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa;

        fd = unix_socket(path, &sa, err);
        if (fd < 0)
                return fd;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return hull_error_errno(err, errno, "connect %s", path);
        return TAKE_FD(fd);
}
