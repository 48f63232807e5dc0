/* The processes a driver runs (the VMM, virtiofsd): spawned with chosen fds and stderr to a log file, waited for
 * through a pidfd with a deadline, and their exit told in one line with the last words of their log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "macros.h"

struct hull_error;

#define HULL_CHILD_MAX_FDS 16

struct hull_child {
        pid_t pid; /* 0: none */
        int pidfd; /* -1: none */
        bool reaped;
        int status; /* when reaped, as from waitpid() */
};

#define HULL_CHILD_INIT                                             \
        {                                                           \
                .pid = 0, .pidfd = -1, .reaped = false, .status = 0 \
        }

/* Start argv[0] (an absolute path) with stdin /dev/null and stdout+stderr appended to log_path. pass_fds[i] becomes
 * fd 3+i in the child (so "--fd=3" names pass_fds[0]); every other fd is closed. The child gets SIGKILL when the
 * forking thread dies (PR_SET_PDEATHSIG), so a crashed hull leaves no VMM behind. An exec failure is reported
 * here, not as an exit status. */
int hull_child_spawn(char *const argv[], const int *pass_fds, size_t n_pass_fds, const char *log_path,
                     struct hull_child *ret, struct hull_error **err);
/* The same, the child entering the network namespace netns_fd (setns, before exec; -1: the caller's). */
int hull_child_spawn_netns(char *const argv[], const int *pass_fds, size_t n_pass_fds, const char *log_path,
                           int netns_fd, struct hull_child *ret, struct hull_error **err);

/* Wait up to timeout_ms (-1: forever) for the child to exit and reap it. Returns 1 when it exited (status in
 * child->status), 0 on timeout. */
int hull_child_wait(struct hull_child *child, int timeout_ms);

/* Send signo (unless reaped), wait up to timeout_ms; if it still runs, SIGKILL and wait for it. Returns 0 once
 * reaped. */
int hull_child_terminate(struct hull_child *child, int signo, int timeout_ms);

/* The child has been reaped by someone else (the event loop): record status, drop the pidfd. */
void hull_child_set_reaped(struct hull_child *child, int status);

/* Kill (SIGKILL) and reap if still running, close the pidfd. */
void hull_child_release(struct hull_child *child);

/* "<name> exited with status 1: <last log lines>" or "<name> was killed by signal 9 (Killed)", into buf. Log lines
 * have "<prog>: " prefixes dropped (prefixes lists them, NULL-terminated) and are joined with "; ". */
void hull_child_describe_exit(const char *name, int status, const char *log_path, const char *const *prefixes,
                              char *buf, size_t len);

/* The last at most max_lines non-empty lines of the file's last 4 KiB, joined with "; ", prefixes dropped. "" when
 * unreadable. */
void hull_child_log_tail(const char *log_path, unsigned max_lines, const char *const *prefixes, char *buf, size_t len);
