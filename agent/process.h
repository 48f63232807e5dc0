/* A process the agent runs in a container (the container's init or an exec): its stdio as pipes or a pty, output
 * buffered until the host reads it (long-poll reads, EOF only after the stream closed, nothing lost after exit),
 * stdin writes, its exit status and the callers waiting for it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct hull_error;
struct hull_loop;
struct hull_agent_process;

/* Output kept per stream while nobody reads; past it the agent stops reading and the process blocks on write. */
#define HULL_AGENT_STREAM_BUFFER (1u << 20)
/* The most one ReadStdout/ReadStderr returns. */
#define HULL_AGENT_READ_MAX (1u << 20)

enum hull_agent_stream {
        HULL_AGENT_STDOUT = 0,
        HULL_AGENT_STDERR = 1,
};

/* The child's ends: dup2 them onto 0, 1, 2. With a tty all three are -1: the child opens the pty itself. */
struct hull_agent_stdio {
        int in, out, err;
};
void hull_agent_stdio_close(struct hull_agent_stdio *s);

/* A pending read. len 0 with eof set: end of stream. data is valid only during the call. */
struct hull_agent_read;
typedef void (*hull_agent_read_cb)(struct hull_agent_read *rd, const void *data, size_t len, void *userdata);
struct hull_agent_read {
        hull_agent_read_cb cb;
        void *userdata;
        size_t max;
        struct hull_agent_read *next; /* owned by the process while queued */
        struct hull_agent_process *owner;
        enum hull_agent_stream stream;
};

/* exit_code: the exit status, or 128+n for a process killed by signal n. */
struct hull_agent_wait;
typedef void (*hull_agent_wait_cb)(struct hull_agent_wait *w, int exit_code, void *userdata);
struct hull_agent_wait {
        hull_agent_wait_cb cb;
        void *userdata;
        struct hull_agent_wait *next;
        struct hull_agent_process *owner;
};

/* With tty, the process has no stdio until hull_agent_process_set_terminal(): the child opens the pty from the
 * container's devpts (so that it is a terminal the container can name) and passes the master back. */
int hull_agent_process_new(struct hull_loop *loop, const char *exec_id, bool tty, struct hull_agent_process **ret,
                           struct hull_agent_stdio *ret_child, struct hull_error **err);
/* The pty master the child passed (taken, also on failure): its stdin and output from now on; a resize or a
 * CloseStdin that came before it is applied. */
int hull_agent_process_set_terminal(struct hull_agent_process *p, int master, struct hull_error **err);
/* Ends queued reads (EOF) and waits (128+SIGKILL unless it exited), closes every fd. NULL is fine. */
struct hull_agent_process *hull_agent_process_free(struct hull_agent_process *p);

const char *hull_agent_process_exec_id(const struct hull_agent_process *p);
pid_t hull_agent_process_pid(const struct hull_agent_process *p);
bool hull_agent_process_tty(const struct hull_agent_process *p);
/* Forked: start reading its output. */
void hull_agent_process_started(struct hull_agent_process *p, pid_t pid);
/* Reaped with this waitpid() status. */
void hull_agent_process_exited(struct hull_agent_process *p, int status);
bool hull_agent_process_has_exited(const struct hull_agent_process *p, int *ret_exit_code);
int hull_agent_exit_code(int status);

/* Write to stdin without blocking; *ret_written may be short (0 when the pipe is full). */
int hull_agent_process_write(struct hull_agent_process *p, const void *data, size_t len, size_t *ret_written,
                             struct hull_error **err);
int hull_agent_process_close_stdin(struct hull_agent_process *p, struct hull_error **err);
int hull_agent_process_resize(struct hull_agent_process *p, unsigned rows, unsigned cols, struct hull_error **err);
int hull_agent_process_signal(struct hull_agent_process *p, int sig, struct hull_error **err);

/* Answer now when data or EOF is there, else queue rd until it is. */
void hull_agent_process_read(struct hull_agent_process *p, enum hull_agent_stream s, struct hull_agent_read *rd);
void hull_agent_process_read_cancel(struct hull_agent_read *rd);
/* Answer now when exited, else queue w until it exits. */
void hull_agent_process_wait(struct hull_agent_process *p, struct hull_agent_wait *w);
void hull_agent_process_wait_cancel(struct hull_agent_wait *w);

/* WaitProcess has reported its status to the host. */
void hull_agent_process_mark_waited(struct hull_agent_process *p);
/* Exited, waited for, and both streams read to their EOF: nothing left that the host can ask for. */
bool hull_agent_process_finished(const struct hull_agent_process *p);
