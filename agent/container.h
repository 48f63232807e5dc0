/* A container in the guest, built from CreateContainer's OCI spec like a small runc: namespaces, cgroup, rootfs,
 * the init process held before exec until StartContainer, extra processes (ExecProcess), signals, pause and
 * removal. Every failure names the step that failed. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "oci.pb-c.h"
#include "process.h"

struct hull_error;
struct hull_loop;
struct hull_agent_reaper;
struct hull_agent_container;

/* What every container of a sandbox shares. */
struct hull_agent_container_env {
        struct hull_loop *loop;
        struct hull_agent_reaper *reaper;
        const char *cgroup_root; /* NULL: no cgroups (a host without cgroup v2, in tests) */
        /* A container that asks for a new pid namespace joins this one instead (the sandbox's, a path such as
         * /proc/<pause>/ns/pid); NULL: it gets its own. */
        const char *shared_pid_ns;
};

enum hull_agent_container_status {
        HULL_AGENT_CONTAINER_CREATING, /* the init still builds the container */
        HULL_AGENT_CONTAINER_CREATED,
        HULL_AGENT_CONTAINER_RUNNING,
        HULL_AGENT_CONTAINER_PAUSED,
        HULL_AGENT_CONTAINER_STOPPED,
};

/* The init's setup ended: e NULL, the container is CREATED and its init waits for start; else it failed, and the
 * callback (or its caller later) destroys c. Called from the loop, never from inside create_async. */
typedef void (*hull_agent_container_created_cb)(struct hull_agent_container *c, const struct hull_error *e,
                                                void *userdata);

/* Start building a container; spec and env are copied. The rootfs setup (virtio-fs under TCG: seconds) runs in the
 * container's init while the agent keeps serving; cb reports the outcome. Destroying c before then drops cb. */
int hull_agent_container_create_async(const struct hull_agent_container_env *env, const char *id,
                                      const Grpc__Spec *spec, hull_agent_container_created_cb cb, void *userdata,
                                      struct hull_agent_container **ret, struct hull_error **err);
/* The same, running env->loop until the outcome is known (tools and tests; never from a loop callback). */
int hull_agent_container_create(const struct hull_agent_container_env *env, const char *id, const Grpc__Spec *spec,
                                struct hull_agent_container **ret, struct hull_error **err);
/* A start or an exec ended: e NULL, the process exec'd (an exec's process is then found by its id); else it did
 * not, and e says why. Called from the loop, never from inside the call that began it; destroying c before then
 * calls it with ECANCELED (c must not be touched in that callback). */
typedef void (*hull_agent_container_done_cb)(struct hull_agent_container *c, const struct hull_error *e,
                                             void *userdata);

/* Release the created container's init to exec the process of the spec. Whether the exec worked is learned from
 * the init's report, read from the loop (60 s at most) while the agent keeps serving; cb tells. */
int hull_agent_container_start_async(struct hull_agent_container *c, hull_agent_container_done_cb cb, void *userdata,
                                     struct hull_error **err);
/* A new process in the running container; exec_id must be new (also among execs not yet reported). proc is used
 * during the call only. The process is found by hull_agent_container_process() once cb reported success. */
int hull_agent_container_exec_async(struct hull_agent_container *c, const char *exec_id, const Grpc__Process *proc,
                                    hull_agent_container_done_cb cb, void *userdata, struct hull_error **err);
/* The same two, running env->loop until the outcome is known (tools and tests; never from a loop callback). */
int hull_agent_container_start(struct hull_agent_container *c, struct hull_error **err);
int hull_agent_container_exec(struct hull_agent_container *c, const char *exec_id, const Grpc__Process *proc,
                              struct hull_agent_process **ret, struct hull_error **err);
/* exec_id "" or the container's id: the init process. */
struct hull_agent_process *hull_agent_container_process(struct hull_agent_container *c, const char *exec_id);
/* all: every process of the container (the cgroup's, or init's pid namespace). */
int hull_agent_container_signal(struct hull_agent_container *c, const char *exec_id, int sig, bool all,
                                struct hull_error **err);
int hull_agent_container_pause(struct hull_agent_container *c, bool paused, struct hull_error **err);
/* Kill everything left, remove the cgroup, free. NULL is fine. */
struct hull_agent_container *hull_agent_container_destroy(struct hull_agent_container *c);

const char *hull_agent_container_id(const struct hull_agent_container *c);
const char *hull_agent_container_cgroup(const struct hull_agent_container *c);
enum hull_agent_container_status hull_agent_container_status(const struct hull_agent_container *c);
pid_t hull_agent_container_init_pid(const struct hull_agent_container *c);
size_t hull_agent_container_n_processes(const struct hull_agent_container *c);
/* Free the exec processes the host is done with (hull_agent_process_finished()); returns how many. */
size_t hull_agent_container_forget_finished(struct hull_agent_container *c);
