/* The shared event loop: epoll over fds, timers (timerfd), signals (signalfd) and child exits (pidfd). */
#pragma once

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/types.h>

#include "macros.h"

struct hull_error;
struct hull_loop;
struct hull_loop_source;

/* events: EPOLLIN/EPOLLOUT/EPOLLHUP/EPOLLERR as delivered by epoll. Return < 0 to stop the loop with that code. */
typedef int (*hull_loop_fd_cb)(struct hull_loop_source *src, int fd, uint32_t events, void *userdata);
typedef int (*hull_loop_timer_cb)(struct hull_loop_source *src, void *userdata);
typedef int (*hull_loop_signal_cb)(struct hull_loop_source *src, int signo, void *userdata);
/* status is as from waitpid(): use WIFEXITED() etc. The child has been reaped. */
typedef int (*hull_loop_child_cb)(struct hull_loop_source *src, pid_t pid, int status, void *userdata);

int hull_loop_new(struct hull_loop **ret_loop, struct hull_error **err);
struct hull_loop *hull_loop_free(struct hull_loop *loop);
HULL_DEFINE_FREEP(struct hull_loop, hull_loop_free)

/* The loop does not own fd; the caller closes it after removing the source. */
int hull_loop_add_fd(struct hull_loop *loop, int fd, uint32_t events, hull_loop_fd_cb cb, void *userdata,
                     struct hull_loop_source **ret_src, struct hull_error **err);
int hull_loop_source_set_events(struct hull_loop_source *src, uint32_t events, struct hull_error **err);

/* One-shot timer after usec microseconds (CLOCK_MONOTONIC); re-arm with hull_loop_timer_arm(). */
int hull_loop_add_timer(struct hull_loop *loop, uint64_t usec, hull_loop_timer_cb cb, void *userdata,
                        struct hull_loop_source **ret_src, struct hull_error **err);
int hull_loop_timer_arm(struct hull_loop_source *src, uint64_t usec, struct hull_error **err);

/* Blocks signo in the calling thread and delivers it through a signalfd. */
int hull_loop_add_signal(struct hull_loop *loop, int signo, hull_loop_signal_cb cb, void *userdata,
                         struct hull_loop_source **ret_src, struct hull_error **err);

/* Watches a child through a pidfd and reaps it when it exits. */
int hull_loop_add_child(struct hull_loop *loop, pid_t pid, hull_loop_child_cb cb, void *userdata,
                        struct hull_loop_source **ret_src, struct hull_error **err);

/* Removing a source (also from inside its own callback) is always safe. NULL is accepted. */
void hull_loop_source_remove(struct hull_loop_source *src);

/* Run one iteration, waiting at most timeout_ms (-1: forever). Returns 0, or the negative code a callback returned. */
int hull_loop_run_once(struct hull_loop *loop, int timeout_ms);
/* Run until hull_loop_quit() or a callback fails. Returns 0 or the quit code. */
int hull_loop_run(struct hull_loop *loop);
void hull_loop_quit(struct hull_loop *loop, int code);

uint64_t hull_now_usec(void); /* CLOCK_MONOTONIC */
