/* The last steps of a container process, in the forked child: stdio, rlimits, oom_score_adj, user and groups,
 * the five capability sets, no_new_privs, seccomp, cwd, environment, and execve. A failing step writes its
 * message to the report fd (a close-on-exec unix socket: EOF there means the exec happened) and the child exits. */
#pragma once

#include <seccomp.h>
#include <stdbool.h>

#include "oci.pb-c.h"
#include "process.h"

struct hull_error;

/* The executable for args[0], searched in the spec's PATH (the agent's own PATH is not the container's). */
int hull_agent_child_lookup(const Grpc__Process *p, char **ret_path, struct hull_error **err);

struct hull_agent_pty {
        int master, slave;
};
void hull_agent_pty_close(struct hull_agent_pty *pty);

/* With process.terminal: a pty from the guest's /dev/ptmx, opened while the child still sees the agent's /dev (the
 * fallback of hull_agent_child_terminal()); both fds -1 otherwise or on failure. */
void hull_agent_child_terminal_fallback(const Grpc__Process *p, struct hull_agent_pty *ret);
/* With process.terminal, once the child is inside the container's mounts: open a pty from the container's
 * /dev/ptmx (else take *fallback; it is closed either way), set its initial size, pass the master to the agent over
 * report_fd (a unix socket: the byte 'T' with SCM_RIGHTS) and return the slave as the child's stdio. */
int hull_agent_child_terminal(const Grpc__Process *p, struct hull_agent_pty *fallback, int report_fd,
                              struct hull_agent_stdio *ret_stdio, struct hull_error **err);

/* Everything up to (not including) the exec; with a tty, also makes it the controlling terminal. */
int hull_agent_child_prepare(const Grpc__Process *p, const struct hull_agent_stdio *stdio, scmp_filter_ctx seccomp,
                             struct hull_error **err);
/* no_new_privs + seccomp when the spec asks for no_new_privs, then execve(path). Returns only on failure. */
int hull_agent_child_exec(const Grpc__Process *p, const char *path, scmp_filter_ctx seccomp, struct hull_error **err);

/* Close every fd from 3 up except those in keep: a child must not hold the agent's channel (a virtio-serial port
 * opens once at a time) or other containers' pipes while it waits for its exec. */
void hull_agent_child_close_fds(const int *keep, size_t n_keep);

/* Write "message" to fd and _exit(code): how a child reports a failed step. */
_Noreturn void hull_agent_child_fail(int report_fd, const struct hull_error *e, int code);
