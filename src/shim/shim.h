/* containerd-shim-hull-v2's internals: command-line flags, where a sandbox's socket and state live, the bundle and
 * runtime-option facts `start` reads, the locks that group containers into one shim per sandbox, and the events
 * publisher. See docs/shim.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macros.h"

struct hull_error;
struct hull_loop;
struct hull_task_event;

/* Default root of the shims' state: <root>/<namespace>/<sandbox id>/ (the Task service's state_dir) and
 * <root>/s/<hash> (sockets and start locks). $HULL_SHIM_ROOT overrides it (tests run a private containerd). */
#define HULL_SHIM_DEFAULT_ROOT "/run/hull/shim"
#define HULL_SHIM_ROOT_ENV "HULL_SHIM_ROOT"
/* The OCI annotation CRI sets on every container of a pod (the sandbox's own container included). */
#define HULL_SHIM_SANDBOX_ID_ANNOTATION "io.kubernetes.cri.sandbox-id"
/* containerd's identifiers are at most 76 characters; namespaces the same. */
#define HULL_SHIM_MAX_ID 76

/* The flags containerd passes (Go flag syntax: -flag value, -flag=value, --flag; bool flags take no value). */
struct hull_shim_args {
        const char *namespace_;
        const char *address; /* containerd's gRPC socket */
        const char *publish_binary; /* containerd's own binary (`containerd publish`) */
        const char *id; /* the container (task) id */
        const char *bundle; /* "" / NULL: the working directory */
        const char *socket; /* accepted for compatibility with containerd's Go shims; unused */
        bool debug;
        bool version;
        const char *action; /* "start", "delete", NULL: run as the daemon (internal: "serve") */
};

/* Parse argv (argv[0] skipped). Strings point into argv. Unknown flags and missing values are errors. */
int hull_shim_parse_args(int argc, char **argv, struct hull_shim_args *ret, struct hull_error **err);

/* A containerd identifier that is safe as a path component: [A-Za-z0-9] runs joined by single '.', '_' or '-'. */
bool hull_shim_id_valid(const char *id);

/* The sandbox a container belongs to: the bundle's config.json annotation io.kubernetes.cri.sandbox-id, else the
 * container's own id. *ret_sandbox_id is malloc'd. */
int hull_shim_sandbox_id(const char *bundle, const char *id, char **ret_sandbox_id, struct hull_error **err);

/* config_path of a marshalled google.protobuf.Any holding a runtimeoptions.v1.Options (what containerd writes to
 * `start`'s stdin and puts in CreateTaskRequest.options). *ret is NULL when the Any holds no such option. */
int hull_shim_options_config_path(const uint8_t *data, size_t len, char **ret, struct hull_error **err);

/* The paths of one sandbox's shim. */
struct hull_shim_paths {
        char *root; /* HULL_SHIM_ROOT or the default */
        char *state_dir; /* <root>/<namespace>/<sandbox id> */
        char *state_lock; /* <state_dir>/lock: held by the running shim daemon for its whole life */
        char *socket; /* <root>/s/<hash>: the Task API */
        char *start_lock; /* <root>/s/<hash>.lock: serialises start, delete and the daemon's exit */
};

/* Fill paths for (containerd address, namespace, sandbox id); the hash names the socket short enough for
 * sun_path however long the ids are, and keeps two containerd instances apart. */
int hull_shim_paths_init(struct hull_shim_paths *p, const char *root, const char *containerd_address,
                         const char *namespace_, const char *sandbox_id, struct hull_error **err);
void hull_shim_paths_done(struct hull_shim_paths *p);

/* Take the start lock (blocking flock, retried when the file was unlinked while waiting). Returns the fd. */
int hull_shim_start_lock(const struct hull_shim_paths *p, struct hull_error **err);
/* Try the state lock without blocking: returns the fd holding it, -EWOULDBLOCK when a live shim holds it. */
int hull_shim_state_lock(const struct hull_shim_paths *p, struct hull_error **err);

/* Kill what a dead shim's sandbox left behind (state.json's monitor and processes, each only while its
 * /proc/<pid>/stat start time still matches), then remove the state directory and the socket. The caller holds
 * both locks. Returns 0 also when there was nothing to clean. */
int hull_shim_cleanup_dead(const struct hull_shim_paths *p, struct hull_error **err);

/* The daemon records its pid in <state_dir>/shim.pid. A shim killed with SIGKILL closes its sockets before its
 * last files are released (the kernel's deferred fput runs last-closed first), so containerd may run `delete`
 * while the dying shim still holds the state lock: wait (on a pidfd, at most timeout_ms) until that pid has
 * exited. 0: it has; -ETIMEDOUT: it is alive. */
int hull_shim_wait_dying(const struct hull_shim_paths *p, int timeout_ms);

/* Whether the process in <state_dir>/shim.pid is exiting (PF_EXITING, or a zombie): a SIGKILLed shim whose
 * listening socket may still take connections for a moment. */
bool hull_shim_exiting(const struct hull_shim_paths *p);

/* The last step of a sandbox's life (the caller holds the start lock): unlink the start lock file and the
 * namespace directory when it is empty. */
void hull_shim_release(const struct hull_shim_paths *p);

/* Events: the topic of a Task event and the event as a marshalled google.protobuf.Any
 * (type_url "containerd.events.TaskExit" ...). *ret_any is malloc'd. */
const char *hull_shim_event_topic(const struct hull_task_event *ev);
int hull_shim_event_any(const struct hull_task_event *ev, uint8_t **ret_any, size_t *ret_len, struct hull_error **err);
/* The containerd.services.events.ttrpc.v1.ForwardRequest for an event (envelope: timestamp_ns, namespace, topic). */
int hull_shim_event_forward_request(const char *namespace_, const struct hull_task_event *ev, uint64_t timestamp_ns,
                                    uint8_t **ret, size_t *ret_len, struct hull_error **err);

/* The publisher: events queued in order, one delivery at a time, retried with a growing delay (at most
 * HULL_SHIM_PUBLISH_RETRIES times), failures logged and never fatal. Delivery goes to containerd's ttrpc events
 * service (TTRPC_ADDRESS) when it is known, else through `<publish_binary> publish`. */
#define HULL_SHIM_PUBLISH_RETRIES 5
#define HULL_SHIM_PUBLISH_QUEUE_MAX 4096
struct hull_shim_publisher;
struct hull_shim_publisher_opts {
        const char *namespace_;
        const char *ttrpc_address; /* NULL or "": use publish_binary */
        const char *publish_binary;
        const char *containerd_address;
};
int hull_shim_publisher_new(struct hull_loop *loop, const struct hull_shim_publisher_opts *opts,
                            struct hull_shim_publisher **ret, struct hull_error **err);
void hull_shim_publisher_publish(struct hull_shim_publisher *p, const struct hull_task_event *ev);
/* Nothing queued or in flight. */
bool hull_shim_publisher_idle(const struct hull_shim_publisher *p);
/* How many events were delivered / dropped so far. */
uint64_t hull_shim_publisher_delivered(const struct hull_shim_publisher *p);
uint64_t hull_shim_publisher_dropped(const struct hull_shim_publisher *p);
struct hull_shim_publisher *hull_shim_publisher_free(struct hull_shim_publisher *p);
HULL_DEFINE_FREEP(struct hull_shim_publisher, hull_shim_publisher_free)

/* The subcommands (main.c dispatches). Each returns the process exit status. */
int hull_shim_cmd_start(const struct hull_shim_args *args);
int hull_shim_cmd_delete(const struct hull_shim_args *args);
