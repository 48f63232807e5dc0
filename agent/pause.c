/* A pid namespace's init for the sandbox: sleeps, and reaps the orphans re-parented to it. */
#include "pause.h"

#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "child.h"
#include "error.h"
#include "reaper.h"

static void reap(int signo)
{
        int saved = errno;

        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        errno = saved;
}

_Noreturn static void pause_main(void)
{
        struct sigaction sa = { .sa_handler = reap, .sa_flags = SA_RESTART | SA_NOCLDSTOP };

        hull_agent_signals_reset();
        hull_agent_child_close_fds(NULL, 0);
        (void)prctl(PR_SET_NAME, "hull-pause", 0, 0, 0);
        (void)sigaction(SIGCHLD, &sa, NULL);
        for (;;)
                pause();
}

pid_t hull_agent_pause_start(struct hull_error **err)
{
        struct clone_args args = { .flags = CLONE_NEWPID, .exit_signal = SIGCHLD };
        pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));

        if (pid < 0)
                return hull_error_errno(err, errno, "sandbox pid namespace: clone3");
        if (pid == 0)
                pause_main();
        return pid;
}
