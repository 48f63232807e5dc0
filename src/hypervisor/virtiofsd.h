/* One virtiofsd per sandbox: hull makes its vhost-user socket (so it is there before the VMM connects, with no
 * waiting), starts the daemon on it, notices when it dies, and stops and reaps it. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "macros.h"

struct hull_error;
struct hull_loop;
struct hull_virtiofsd;

struct hull_virtiofsd_config {
        const char *binary; /* Debian's /usr/lib/qemu/virtiofsd (QEMU's C daemon) */
        const char *source; /* the directory to export */
        const char *socket_path; /* made here; the VMM connects to it */
        const char *log_path; /* the daemon's stderr */
        const char *cache; /* auto, always, none (Kata's "never" is accepted as none); NULL: auto */
        char **extra_args; /* appended as they are; NULL-terminated or NULL */
        bool debug;
};

/* The daemon's argv for cfg, with the listening socket as fd 3 (--fd=3). For tests and logs. */
int hull_virtiofsd_build_argv(const struct hull_virtiofsd_config *cfg, char ***ret_argv, struct hull_error **err);

int hull_virtiofsd_start(const struct hull_virtiofsd_config *cfg, struct hull_virtiofsd **ret, struct hull_error **err);

/* Call cb once if the daemon exits before hull_virtiofsd_stop(); message is like "virtiofsd exited with status 1:
 * ...". The daemon is reaped by then. */
typedef void (*hull_virtiofsd_exit_cb)(struct hull_virtiofsd *v, pid_t pid, int status, const char *message,
                                       void *userdata);
int hull_virtiofsd_watch(struct hull_virtiofsd *v, struct hull_loop *loop, hull_virtiofsd_exit_cb cb, void *userdata,
                         struct hull_error **err);

pid_t hull_virtiofsd_pid(const struct hull_virtiofsd *v); /* 0 once reaped */

/* The daemon exits by itself when the VMM disconnects; wait up to timeout_ms for that, then SIGTERM, then SIGKILL.
 * Removes the socket. *ret_status (may be NULL) gets its wait status. Idempotent. */
int hull_virtiofsd_stop(struct hull_virtiofsd *v, int timeout_ms, int *ret_status);

/* Kills the daemon if it still runs. NULL is accepted. */
struct hull_virtiofsd *hull_virtiofsd_free(struct hull_virtiofsd *v);
HULL_DEFINE_FREEP(struct hull_virtiofsd, hull_virtiofsd_free)
