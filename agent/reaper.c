/* SIGCHLD reaper for PID 1: waitpid(-1) until nothing is left, then hand each status to its watcher. */
#include "reaper.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "error.h"
#include "log.h"
#include "loop.h"

struct watch {
        pid_t pid;
        hull_agent_exit_cb cb;
        void *userdata;
};

struct hull_agent_reaper {
        struct hull_loop_source *sigchld;
        struct watch *watches;
        size_t n_watches, cap_watches;
        unsigned long orphans;
};

static int on_sigchld(struct hull_loop_source *src, int signo, void *userdata)
{
        hull_agent_reaper_reap(userdata);
        return 0;
}

int hull_agent_reaper_new(struct hull_loop *loop, struct hull_agent_reaper **ret, struct hull_error **err)
{
        struct hull_agent_reaper *r = calloc(1, sizeof(*r));
        int k;

        if (!r)
                return hull_error_oom(err);
        k = hull_loop_add_signal(loop, SIGCHLD, on_sigchld, r, &r->sigchld, err);
        if (k < 0) {
                free(r);
                return k;
        }
        *ret = r;
        /* Children that exited before the signal was blocked raised no event the signalfd will see. */
        hull_agent_reaper_reap(r);
        return 0;
}

struct hull_agent_reaper *hull_agent_reaper_free(struct hull_agent_reaper *r)
{
        if (!r)
                return NULL;
        hull_loop_source_remove(r->sigchld);
        free(r->watches);
        free(r);
        return NULL;
}

int hull_agent_reaper_watch(struct hull_agent_reaper *r, pid_t pid, hull_agent_exit_cb cb, void *userdata,
                            struct hull_error **err)
{
        if (r->n_watches == r->cap_watches) {
                size_t cap = r->cap_watches ? r->cap_watches * 2 : 16;
                struct watch *w = reallocarray(r->watches, cap, sizeof(*w));
                if (!w)
                        return hull_error_oom(err);
                r->watches = w;
                r->cap_watches = cap;
        }
        r->watches[r->n_watches++] = (struct watch){ .pid = pid, .cb = cb, .userdata = userdata };
        return 0;
}

static ssize_t find_watch(struct hull_agent_reaper *r, pid_t pid)
{
        for (size_t i = 0; i < r->n_watches; i++)
                if (r->watches[i].pid == pid)
                        return (ssize_t)i;
        return -1;
}

void hull_agent_reaper_unwatch(struct hull_agent_reaper *r, pid_t pid)
{
        ssize_t i = find_watch(r, pid);

        if (i >= 0)
                r->watches[i] = r->watches[--r->n_watches];
}

int hull_agent_reaper_reap(struct hull_agent_reaper *r)
{
        int n = 0, status;
        pid_t pid;

        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                ssize_t i = find_watch(r, pid);
                n++;
                if (i < 0) {
                        r->orphans++;
                        log_debug("reaped orphan pid=%d status=0x%x", (int)pid, status);
                        continue;
                }
                struct watch w = r->watches[i];
                r->watches[i] = r->watches[--r->n_watches];
                w.cb(pid, status, w.userdata);
        }
        return n;
}

unsigned long hull_agent_reaper_orphans(const struct hull_agent_reaper *r)
{
        return r->orphans;
}

void hull_agent_signals_reset(void)
{
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t all;

        for (int s = 1; s < NSIG; s++)
                (void)sigaction(s, &sa, NULL);
        sigemptyset(&all);
        (void)sigprocmask(SIG_SETMASK, &all, NULL);
}
