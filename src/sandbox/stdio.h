/* A process's stdio between the Task API's stdio strings (docs/sandbox.md) and the agent's long-poll I/O calls:
 * URI parsing, opening (FIFOs, files, another process's fds through pidfd_getfd, a host pty sent to a console
 * socket) and the relay with back-pressure. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macros.h"

struct hull_agent;
struct hull_error;
struct hull_loop;
struct hull_stdio_relay;

enum hull_stdio_kind {
        HULL_STDIO_NONE = 0, /* "" */
        HULL_STDIO_PATH, /* "/path" or "fifo:///path" or "file:///path" */
        HULL_STDIO_FD, /* "hull-fd://PID/FD" */
        HULL_STDIO_CONSOLE, /* "hull-console://PATH" */
};

struct hull_stdio_uri {
        enum hull_stdio_kind kind;
        pid_t pid; /* FD */
        int fd; /* FD */
        char path[4096]; /* PATH, CONSOLE */
};

/* Largest ReadStdout/ReadStderr asked for: the agent buffers up to 1 MiB per stream, and each read is a round trip
 * through the guest (100 MiB through `hull run` under TCG: 8.7 s with 64 KiB reads, 5.6 s with 1 MiB). */
#define HULL_STDIO_CHUNK (1024u * 1024u)
/* Largest WriteStdin: the guest's pipe takes 64 KiB at a time; more only comes back as a partial write. */
#define HULL_STDIN_CHUNK 65536u

int hull_stdio_parse(const char *s, struct hull_stdio_uri *ret, struct hull_error **err);
/* An fd for the process's side: for_write (stdout/stderr) or not (stdin). NONE gives -1 (success). FIFOs and
 * character devices get their own non-blocking open file description (the caller's stays as it was). */
int hull_stdio_open(const struct hull_stdio_uri *u, bool for_write, int *ret_fd, struct hull_error **err);
/* Make a host pty, send its master to the unix socket at path (runc's --console-socket protocol: one message
 * carrying the pty's name and the fd), put the slave in raw mode and return it. */
int hull_stdio_console(const char *path, int *ret_slave, struct hull_error **err);

struct hull_stdio_relay_opts {
        struct hull_loop *loop;
        struct hull_agent *agent;
        const char *container_id;
        const char *exec_id;
        int in_fd, out_fd, err_fd; /* -1: none (out/err: read from the guest and dropped). Owned by the relay. */
        bool terminal; /* the guest has one pty stream: stdout only */
        void (*on_eof)(struct hull_stdio_relay *r, void *userdata); /* once stdout and stderr both ended */
        void *userdata;
};

/* Start relaying (after the process exists in the guest). The fds pass to the relay even on failure. */
int hull_stdio_relay_start(const struct hull_stdio_relay_opts *opts, struct hull_stdio_relay **ret,
                           struct hull_error **err);
bool hull_stdio_relay_eof(const struct hull_stdio_relay *r);
/* Stop reading stdin and tell the guest (CloseStdin) once what was read is written. */
void hull_stdio_relay_close_stdin(struct hull_stdio_relay *r);
/* The output side is over (the guest is gone): count both streams as ended, no callback. */
void hull_stdio_relay_abort(struct hull_stdio_relay *r);
/* The out fd when it is a tty (for window size forwarding), else -1. */
int hull_stdio_relay_tty(const struct hull_stdio_relay *r);
struct hull_stdio_relay *hull_stdio_relay_free(struct hull_stdio_relay *r);
HULL_DEFINE_FREEP(struct hull_stdio_relay, hull_stdio_relay_free)
