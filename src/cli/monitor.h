/* The per-sandbox monitor: the small process `hull create` leaves behind, serving the sandbox's Task API
 * (src/sandbox/task-service.h) on <root>/<id>/monitor.sock until the sandbox is gone. See docs/sandbox.md. */
#pragma once

#include <sys/types.h>

#include "cli.h"

struct hull_error;

/* Make the state directory <root>/<id> (mode 0700; -EEXIST when it exists), write state.json (status "creating",
 * the monitor's pid) and fork the monitor once (no double fork: it stays a child of the caller's parent's
 * subreaper, e.g. conmon, once the caller exits). The monitor starts its own session, points its stdio at
 * /dev/null, unshares its mount namespace, listens on <root>/<id>/monitor.sock and serves the Task service there;
 * the configuration file is ctx->config_path (NULL: resolved at the first Create, see task-service.h) and its log
 * goes to ctx->log_path (NULL: <root>/<id>/monitor.log). This returns once the socket accepts connections, with
 * the monitor's pid in *ret_pid (what --pid-file and `hull state` report); on failure the directory is removed.
 *
 * The caller then connects (task-client.h) and calls Create with bundle and stdio (hull-fd://<its pid>/<fd>, or
 * hull-console://PATH): the monitor takes the caller's fds during that call, so the caller stays alive until
 * Create returned. The monitor exits with the exit status of the sandbox container's init (128+n for a signal;
 * 255 when the VM died first) as soon as that init exits, after stopping the VM and writing status "stopped" and
 * exit_status to state.json: the directory stays for `hull state` and `hull delete` (which removes it; the
 * mounts died with the monitor's namespace). When the sandbox ends through the Task API instead (Delete of its
 * last container, or Shutdown), the monitor removes the directory itself and exits 0 (or the init's status).
 * SIGTERM/SIGINT stop the VM and end it at once, status "stopped", directory kept. */
int hull_monitor_spawn(const struct hull_cli_ctx *ctx, const char *id, const char *bundle, pid_t *ret_pid,
                       struct hull_error **err);
