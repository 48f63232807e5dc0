/* One sandbox: its configuration, its VM (through src/hypervisor), the shared directory virtiofsd exports and
 * the agent connection, from the first container's Create to the last container's Delete. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macros.h"

struct hull_agent;
struct hull_config;
struct hull_error;
struct hull_hv_desc;
struct hull_loop;
struct hull_state;
struct hull_sandbox;
struct json_object;
typedef struct Google__Protobuf__Any Google__Protobuf__Any;

#define HULL_ANNOTATION_HV_PREFIX "io.katacontainers.config.hypervisor."
#define HULL_ANNOTATION_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
#define HULL_ANNOTATION_CONTAINER_TYPE "io.kubernetes.cri.container-type"
#define HULL_RUNTIMEOPTIONS_TYPE "runtimeoptions.v1.Options"

/* Which configuration file a new sandbox uses: explicit (the front end's --config) when not NULL, else the
 * config_path of Create's options when they are a runtimeoptions.v1.Options (containerd's ConfigPath), else
 * $HULL_CONF_FILE, else the default search (hull_config_find()). */
int hull_sandbox_resolve_config(const char *explicit_path, const Google__Protobuf__Any *options, char **ret_path,
                                struct hull_error **err);
/* io.katacontainers.config.hypervisor.{default_vcpus,default_memory,kernel_params} from the spec's annotations
 * into desc, each only where the configuration's enable_annotations allows it (a list of regular expressions
 * matched against the part after the prefix); one that is not allowed is an error, as in Kata. */
int hull_sandbox_apply_annotations(const struct hull_config *cfg, struct json_object *spec, struct hull_hv_desc *desc,
                                   struct hull_error **err);

typedef void (*hull_sandbox_ready_cb)(struct hull_sandbox *sb, int r, const struct hull_error *err, void *userdata);
/* The VM is gone (VMM died, virtiofsd died, agent connection lost): reason is one line. */
typedef void (*hull_sandbox_dead_cb)(struct hull_sandbox *sb, const char *reason, void *userdata);

struct hull_sandbox_opts {
        struct hull_loop *loop;
        const char *id;
        const char *state_dir; /* exists; the VM's sockets and logs and shared/ go here */
        const char *config_path;
        struct json_object *spec; /* the first container's config.json (annotations) */
        struct hull_state *state; /* the front end's state.json, updated and written before each resource */
        hull_sandbox_dead_cb on_dead;
        void *userdata;
        bool debug;
};

/* Load the configuration and describe the VM; nothing started. */
int hull_sandbox_new(const struct hull_sandbox_opts *opts, struct hull_sandbox **ret, struct hull_error **err);
/* Private mount namespace (once per process), shared/ as a shared bind mount, start the VMM and virtiofsd,
 * connect to the agent, wait for its Health.Check (bounded by dial_timeout), CreateSandbox; cb tells the end. */
int hull_sandbox_start(struct hull_sandbox *sb, hull_sandbox_ready_cb cb, void *userdata, struct hull_error **err);
struct hull_agent *hull_sandbox_agent(struct hull_sandbox *sb);
const char *hull_sandbox_shared_dir(const struct hull_sandbox *sb);
const char *hull_sandbox_id(const struct hull_sandbox *sb);
const char *hull_sandbox_config_path(const struct hull_sandbox *sb);
bool hull_sandbox_running(const struct hull_sandbox *sb);
/* Bind src to shared/<rel> (a directory or a file, read-only when asked). */
int hull_sandbox_share(struct hull_sandbox *sb, const char *src, const char *rel, bool readonly,
                       struct hull_error **err);
/* Undo the shares under shared/<rel> (lazy unmounts) and remove them. */
void hull_sandbox_unshare(struct hull_sandbox *sb, const char *rel);
/* Stop the VM (QMP quit, SIGKILL after a bound) and virtiofsd, close the agent, undo the shares. Idempotent. */
void hull_sandbox_stop(struct hull_sandbox *sb);
struct hull_sandbox *hull_sandbox_free(struct hull_sandbox *sb);
HULL_DEFINE_FREEP(struct hull_sandbox, hull_sandbox_free)

/* Unmount everything at or below path (deepest first, lazily), then remove the directories and empty files left
 * (purge: every file): only once nothing is mounted there, never following links or crossing file systems.
 * -EBUSY (nothing removed) when a mount stays. */
int hull_sandbox_remove_tree(const char *path, bool purge);

/* unshare(CLONE_NEWNS) and make every mount a slave, once per process (docs/sandbox.md). */
int hull_sandbox_private_mounts(struct hull_error **err);
