/* PID 1's reaper: every child and every orphan re-parented to the agent is reaped on SIGCHLD (through the shared
 * loop's signalfd); the exit status goes to whoever watches that pid. The agent never uses hull_loop_add_child():
 * waitpid(-1) here would race it. */
#pragma once

#include <sys/types.h>

struct hull_error;
struct hull_loop;
struct hull_agent_reaper;

/* status as from waitpid(). */
typedef void (*hull_agent_exit_cb)(pid_t pid, int status, void *userdata);

int hull_agent_reaper_new(struct hull_loop *loop, struct hull_agent_reaper **ret, struct hull_error **err);
struct hull_agent_reaper *hull_agent_reaper_free(struct hull_agent_reaper *r);

/* Register right after fork(), before returning to the loop, so the exit cannot be missed. */
int hull_agent_reaper_watch(struct hull_agent_reaper *r, pid_t pid, hull_agent_exit_cb cb, void *userdata,
                            struct hull_error **err);
void hull_agent_reaper_unwatch(struct hull_agent_reaper *r, pid_t pid);
/* Reap whatever has exited now (also called from the SIGCHLD handler). Returns how many were reaped. */
int hull_agent_reaper_reap(struct hull_agent_reaper *r);
/* Orphans reaped with nobody watching, since start. */
unsigned long hull_agent_reaper_orphans(const struct hull_agent_reaper *r);

/* In a forked child before exec: unblock every signal and restore default dispositions (the agent blocks the
 * signals its loop reads through signalfd, and a blocked mask survives exec). */
void hull_agent_signals_reset(void);
