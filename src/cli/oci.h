/* What the OCI commands (create, start, state, kill, delete, run, exec, ps, list, pause, resume) share: container ids,
 * the state directory and its state.json (docs/sandbox.md), liveness of the monitor, signals, pid files and the
 * OCI state document runc prints. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli.h"
#include "macros.h"

struct hull_error;
struct hull_task_client;
struct json_object;
struct hull_state_process;

/* The runtime-spec version `hull state`, `spec` and `features` speak. */
#define HULL_OCI_VERSION "1.0.2-dev"

/* One container as its state directory records it. */
struct hull_oci_container {
        char *id;
        char *dir; /* <root>/<id> */
        char *bundle;
        char *config; /* the configuration file the sandbox was made with ("" when not recorded) */
        char *created; /* RFC 3339, "" when not recorded */
        char *status; /* as recorded: creating|created|running|paused|stopped */
        pid_t monitor_pid; /* 0: none recorded */
        uint64_t monitor_start_time;
        int exit_status; /* -1: none recorded */
        struct json_object *annotations; /* an object, never NULL */
        struct hull_state_process *processes; /* see sandbox/state.h */
        size_t n_processes;
        bool has_state; /* false: the directory exists but state.json does not (an aborted create) */
};

/* runc's rule for ids: letters, digits, '_', '+', '-', '.'; not "." or ".."; here also at most 1024 bytes. */
int hull_oci_id_check(const char *id, struct hull_error **err);
/* path made absolute against the cwd (malloc'd). */
int hull_oci_absolute(const char *path, char **ret, struct hull_error **err);
/* "<root>/<id>", absolute (a relative --root is taken from the cwd). */
int hull_oci_state_dir(const struct hull_cli_ctx *ctx, const char *id, char **ret, struct hull_error **err);
/* Load <root>/<id>/state.json; -ENOENT with 'container "<id>" does not exist' when the directory is missing. */
int hull_oci_container_load(const struct hull_cli_ctx *ctx, const char *id, struct hull_oci_container **ret,
                            struct hull_error **err);
/* The same, but a state.json that does not parse is taken as none (a warning): for delete, which must be able to
 * remove any wreck. */
int hull_oci_container_load_any(const struct hull_cli_ctx *ctx, const char *id, struct hull_oci_container **ret,
                                struct hull_error **err);
struct hull_oci_container *hull_oci_container_free(struct hull_oci_container *c);
HULL_DEFINE_FREEP(struct hull_oci_container, hull_oci_container_free)

/* The monitor is alive and is the one recorded. */
bool hull_oci_monitor_alive(const struct hull_oci_container *c);
/* Connect to the container's monitor; -ESRCH when it is not running. */
int hull_oci_connect(const struct hull_oci_container *c, struct hull_task_client **ret, struct hull_error **err);

/* Clean up after a dead monitor, under the sandbox's lock: SIGKILL the processes state.json records (only those whose
 * start time still matches), wait for them, remove the state directory (never crossing a mount point). */
int hull_oci_delete_dead(const struct hull_oci_container *c, struct hull_error **err);

/* The live status and pid: from the monitor when it answers, else from state.json (a dead monitor reads as
 * "stopped"). ret_status is one of runc's: creating, created, running, paused, stopped. */
int hull_oci_container_status(const struct hull_oci_container *c, struct hull_task_client *client,
                              const char **ret_status, pid_t *ret_pid, struct hull_error **err);
/* The OCI state document (runc's shape: ociVersion, id, pid, status, bundle, rootfs, created, owner, annotations). */
int hull_oci_state_json(const struct hull_oci_container *c, const char *status, pid_t pid, struct json_object **ret,
                        struct hull_error **err);

/* "KILL", "SIGKILL", "kill", "9" -> 9; an unknown name or number is -EINVAL with a message. */
int hull_oci_parse_signal(const char *s, int *ret, struct hull_error **err);
/* The options create, run and exec take alike from runc (getopt values for their option tables). */
enum {
        HULL_OCI_OPT_PID_FILE = 0x200,
        HULL_OCI_OPT_CONSOLE_SOCKET,
        HULL_OCI_OPT_PRESERVE_FDS,
};
struct hull_oci_common_opts {
        const char *pid_file; /* --pid-file: write the pid there */
        const char *console_socket; /* --console-socket: send the terminal's master there */
};
/* Take c (and optarg) from getopt if it is one of the options above; false when it is not. --preserve-fds only warns:
 * no fd reaches the VM. */
bool hull_oci_common_option(int c, const char *arg, struct hull_oci_common_opts *o);
/* Write pid (decimal, no newline, like runc) to path atomically; path relative to the cwd. */
int hull_oci_write_pid_file(const char *path, pid_t pid, struct hull_error **err);
/* Read <bundle>/config.json (bounded) as a JSON object. */
int hull_oci_read_bundle_config(const char *bundle, struct json_object **ret, struct hull_error **err);
/* A random 32-hex-digit id for exec processes. */
int hull_oci_random_id(char ret[33], struct hull_error **err);
/* "hull-fd://PID/FD" for one of our fds, or "" when fd is not open. */
int hull_oci_fd_uri(int fd, char **ret, struct hull_error **err);
/* Wait until pid has exited (pidfd; pid need not be our child); -ETIMEDOUT after timeout_ms (< 0: forever). */
int hull_oci_wait_pid_gone(pid_t pid, int timeout_ms, struct hull_error **err);

/* A foreground `hull run` / `hull exec`: signals we get are forwarded to the container's process (its init, or the
 * exec process exec_id), a terminal is relayed, and we wait for the end. Signal sources go on the client's loop
 * at once, so that a signal during Create is remembered rather than killing us half way. */
struct hull_oci_fg;
struct hull_cli_console;
int hull_oci_fg_new(struct hull_task_client *client, const char *id, struct hull_oci_fg **ret, struct hull_error **err);
struct hull_oci_fg *hull_oci_fg_free(struct hull_oci_fg *fg);
HULL_DEFINE_FREEP(struct hull_oci_fg, hull_oci_fg_free)
/* From now on signals go to the process (exec_id NULL or "": the init); returns a signal that came before, or 0. */
int hull_oci_fg_started(struct hull_oci_fg *fg, const char *exec_id);
/* Relay the console (already attached by the caller) and keep its size in step with ours. */
void hull_oci_fg_set_console(struct hull_oci_fg *fg, struct hull_cli_console *console);
/* Run until the child pid (the monitor: our child) exits: its status, 128+n when it died of signal n. */
int hull_oci_fg_wait_child(struct hull_oci_fg *fg, pid_t pid, int *ret_status, struct hull_error **err);
/* Run until the Task API's Wait for the process answers: its exit status. */
int hull_oci_fg_wait_process(struct hull_oci_fg *fg, int *ret_status, struct hull_error **err);
