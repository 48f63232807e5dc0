/* fd and file helpers: bounded reads, full writes, close-on-exec, non-blocking, unix sockets. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "macros.h"

struct hull_error;

int hull_fd_set_nonblock(int fd, int on, struct hull_error **err);
int hull_fd_set_cloexec(int fd, int on, struct hull_error **err);

/* write() all of buf, retrying on EINTR/short writes (blocking fds). */
int hull_write_all(int fd, const void *buf, size_t len, struct hull_error **err);
/* read() until len bytes or EOF; returns bytes read. */
ssize_t hull_read_full(int fd, void *buf, size_t len, struct hull_error **err);

/* Read a whole file, at most max bytes (more is -EFBIG); result is NUL-terminated. */
int hull_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len, struct hull_error **err);
/* Write data to path atomically (temp file + rename) with mode. */
int hull_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct hull_error **err);

int hull_mkdir_p(const char *path, mode_t mode, struct hull_error **err);

/* Unix stream sockets (SOCK_CLOEXEC). */
int hull_unix_listen(const char *path, struct hull_error **err);
int hull_unix_connect(const char *path, struct hull_error **err);
