/* The shim daemon: hull's Task service on the sandbox's socket, its events published to containerd. */
#pragma once

#include "shim.h"

struct hull_shim_serve_opts {
        const struct hull_shim_args *args;
        const struct hull_shim_paths *paths;
        const char *sandbox_id;
        const char *bundle; /* the first container's bundle: its `log` fifo is the shim's log */
        const char *config_path; /* from the runtime options on start's stdin; NULL: the service decides */
        int listen_fd; /* the socket `start` bound; taken */
        int state_lock_fd; /* held for the daemon's life; taken */
        int ready_fd; /* "ok", or an error message, then closed; taken */
        int log_fd; /* containerd's log fifo or -1; taken */
};

/* Runs in the forked child of `start`; returns its exit status. */
int hull_shim_serve(const struct hull_shim_serve_opts *o);
