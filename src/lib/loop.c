/* The shared event loop: one epoll set; timers, signals and children become fds (timerfd, signalfd, pidfd). */
#include "loop.h"

#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>

#include "error.h"

enum source_kind { SOURCE_FD, SOURCE_TIMER, SOURCE_SIGNAL, SOURCE_CHILD };

struct hull_loop_source {
        struct hull_loop *loop;
        enum source_kind kind;
        int fd; /* owned except for SOURCE_FD */
        bool removed;
        pid_t pid;
        int signo;
        union {
                hull_loop_fd_cb fd;
                hull_loop_timer_cb timer;
                hull_loop_signal_cb signal;
                hull_loop_child_cb child;
        } cb;
        void *userdata;
        struct hull_loop_source *prev, *next; /* live list, or dead list once removed */
};

struct hull_loop {
        int epfd;
        bool quit;
        int quit_code;
        struct hull_loop_source *live;
        struct hull_loop_source *dead; /* removed during dispatch; freed when the batch is done */
};

uint64_t hull_now_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

int hull_loop_new(struct hull_loop **ret_loop, struct hull_error **err)
{
        struct hull_loop *loop = calloc(1, sizeof(*loop));

        if (!loop)
                return hull_error_oom(err);
        loop->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (loop->epfd < 0) {
                int e = errno;
                free(loop);
                return hull_error_errno(err, e, "epoll_create1");
        }
        *ret_loop = loop;
        return 0;
}

static void list_unlink(struct hull_loop_source **head, struct hull_loop_source *s)
{
        if (s->prev)
                s->prev->next = s->next;
        else
                *head = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->prev = s->next = NULL;
}

static void list_push(struct hull_loop_source **head, struct hull_loop_source *s)
{
        s->prev = NULL;
        s->next = *head;
        if (*head)
                (*head)->prev = s;
        *head = s;
}

static void source_release(struct hull_loop_source *s)
{
        if (s->kind != SOURCE_FD && s->fd >= 0)
                close(s->fd);
        free(s);
}

struct hull_loop *hull_loop_free(struct hull_loop *loop)
{
        if (!loop)
                return NULL;
        while (loop->live) {
                struct hull_loop_source *s = loop->live;
                list_unlink(&loop->live, s);
                source_release(s);
        }
        while (loop->dead) {
                struct hull_loop_source *s = loop->dead;
                list_unlink(&loop->dead, s);
                source_release(s);
        }
        if (loop->epfd >= 0)
                close(loop->epfd);
        free(loop);
        return NULL;
}

static int source_attach(struct hull_loop *loop, struct hull_loop_source *s, uint32_t events,
                         struct hull_loop_source **ret_src, struct hull_error **err)
{
        struct epoll_event ev = { .events = events, .data.ptr = s };

        s->loop = loop;
        if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
                int e = errno;
                source_release(s);
                return hull_error_errno(err, e, "epoll_ctl(ADD)");
        }
        list_push(&loop->live, s);
        if (ret_src)
                *ret_src = s;
        return 0;
}

int hull_loop_add_fd(struct hull_loop *loop, int fd, uint32_t events, hull_loop_fd_cb cb, void *userdata,
                     struct hull_loop_source **ret_src, struct hull_error **err)
{
        struct hull_loop_source *s = calloc(1, sizeof(*s));

        if (!s)
                return hull_error_oom(err);
        s->kind = SOURCE_FD;
        s->fd = fd;
        s->cb.fd = cb;
        s->userdata = userdata;
        return source_attach(loop, s, events, ret_src, err);
}

int hull_loop_source_set_events(struct hull_loop_source *src, uint32_t events, struct hull_error **err)
{
        struct epoll_event ev = { .events = events, .data.ptr = src };

        if (src->removed)
                return hull_error_set(err, EINVAL, "event source already removed");
        if (epoll_ctl(src->loop->epfd, EPOLL_CTL_MOD, src->fd, &ev) < 0)
                return hull_error_errno(err, errno, "epoll_ctl(MOD)");
        return 0;
}

int hull_loop_timer_arm(struct hull_loop_source *src, uint64_t usec, struct hull_error **err)
{
        struct itimerspec its = { 0 };

        if (src->kind != SOURCE_TIMER)
                return hull_error_set(err, EINVAL, "not a timer source");
        /* A zero it_value would disarm the timer: "now" is one nanosecond from now. */
        its.it_value.tv_sec = (time_t)(usec / 1000000ULL);
        its.it_value.tv_nsec = (long)(usec % 1000000ULL) * 1000L;
        if (usec == 0)
                its.it_value.tv_nsec = 1;
        if (timerfd_settime(src->fd, 0, &its, NULL) < 0)
                return hull_error_errno(err, errno, "timerfd_settime");
        return 0;
}

int hull_loop_add_timer(struct hull_loop *loop, uint64_t usec, hull_loop_timer_cb cb, void *userdata,
                        struct hull_loop_source **ret_src, struct hull_error **err)
{
        struct hull_loop_source *s = calloc(1, sizeof(*s)), *added = NULL;
        int r;

        if (!s)
                return hull_error_oom(err);
        s->kind = SOURCE_TIMER;
        s->cb.timer = cb;
        s->userdata = userdata;
        s->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (s->fd < 0) {
                int e = errno;
                free(s);
                return hull_error_errno(err, e, "timerfd_create");
        }
        r = source_attach(loop, s, EPOLLIN, &added, err);
        if (r < 0)
                return r;
        r = hull_loop_timer_arm(added, usec, err);
        if (r < 0) {
                hull_loop_source_remove(added);
                return r;
        }
        if (ret_src)
                *ret_src = added;
        return 0;
}

int hull_loop_add_signal(struct hull_loop *loop, int signo, hull_loop_signal_cb cb, void *userdata,
                         struct hull_loop_source **ret_src, struct hull_error **err)
{
        struct hull_loop_source *s;
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, signo);
        if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
                return hull_error_set(err, EINVAL, "block signal %d", signo);
        s = calloc(1, sizeof(*s));
        if (!s)
                return hull_error_oom(err);
        s->kind = SOURCE_SIGNAL;
        s->signo = signo;
        s->cb.signal = cb;
        s->userdata = userdata;
        s->fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (s->fd < 0) {
                int e = errno;
                free(s);
                return hull_error_errno(err, e, "signalfd");
        }
        return source_attach(loop, s, EPOLLIN, ret_src, err);
}

int hull_loop_add_child(struct hull_loop *loop, pid_t pid, hull_loop_child_cb cb, void *userdata,
                        struct hull_loop_source **ret_src, struct hull_error **err)
{
        struct hull_loop_source *s = calloc(1, sizeof(*s));

        if (!s)
                return hull_error_oom(err);
        s->kind = SOURCE_CHILD;
        s->pid = pid;
        s->cb.child = cb;
        s->userdata = userdata;
        s->fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (s->fd < 0) {
                int e = errno;
                free(s);
                return hull_error_errno(err, e, "pidfd_open(%d)", (int)pid);
        }
        return source_attach(loop, s, EPOLLIN, ret_src, err);
}

void hull_loop_source_remove(struct hull_loop_source *src)
{
        struct hull_loop *loop;

        if (!src || src->removed)
                return;
        loop = src->loop;
        src->removed = true;
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, src->fd, NULL);
        list_unlink(&loop->live, src);
        /* Not freed yet: an event for it may still sit in the batch being dispatched. */
        list_push(&loop->dead, src);
}

static int source_dispatch(struct hull_loop_source *s, uint32_t events)
{
        switch (s->kind) {
        case SOURCE_FD:
                return s->cb.fd(s, s->fd, events, s->userdata);
        case SOURCE_TIMER: {
                uint64_t expirations;
                if (read(s->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
                        return 0; /* spurious: re-armed or already read */
                return s->cb.timer(s, s->userdata);
        }
        case SOURCE_SIGNAL: {
                struct signalfd_siginfo si;
                if (read(s->fd, &si, sizeof(si)) != sizeof(si))
                        return 0;
                return s->cb.signal(s, (int)si.ssi_signo, s->userdata);
        }
        case SOURCE_CHILD: {
                int status = 0, r;
                pid_t p = waitpid(s->pid, &status, WNOHANG);
                if (p == 0)
                        return 0; /* pidfd readable means exited; be defensive anyway */
                if (p < 0) /* reaped by someone else: report what we cannot know as exit 255 */
                        status = 255 << 8;
                r = s->cb.child(s, s->pid, status, s->userdata);
                hull_loop_source_remove(s);
                return r;
        }
        }
        return 0;
}

int hull_loop_run_once(struct hull_loop *loop, int timeout_ms)
{
        struct epoll_event events[64];
        int n, r = 0;

        n = epoll_wait(loop->epfd, events, (int)ARRAY_SIZE(events), timeout_ms);
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        for (int i = 0; i < n && r >= 0; i++) {
                struct hull_loop_source *s = events[i].data.ptr;
                if (s->removed)
                        continue;
                r = source_dispatch(s, events[i].events);
        }
        while (loop->dead) {
                struct hull_loop_source *s = loop->dead;
                list_unlink(&loop->dead, s);
                source_release(s);
        }
        return r < 0 ? r : 0;
}

int hull_loop_run(struct hull_loop *loop)
{
        loop->quit = false;
        loop->quit_code = 0;
        while (!loop->quit) {
                int r = hull_loop_run_once(loop, -1);
                if (r < 0)
                        return r;
        }
        return loop->quit_code;
}

void hull_loop_quit(struct hull_loop *loop, int code)
{
        loop->quit = true;
        loop->quit_code = code;
}
