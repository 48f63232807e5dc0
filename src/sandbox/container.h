/* A container of the sandbox and its processes (the init and execs): OCI bundle -> agent CreateContainer with
 * the rootfs and bind-mount sources shared, start/exec with the stdio relay and WaitProcess, signals,
 * pause/resume, stats, removal; exits reported once the process ended and both its streams reached EOF. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macros.h"

struct hull_agent;
struct hull_error;
struct hull_loop;
struct hull_sandbox;
struct hull_container;
struct hull_process;
struct json_object;
typedef struct Grpc__StatsContainerResponse Grpc__StatsContainerResponse;

enum hull_process_status {
        HULL_PROCESS_CREATED = 0,
        HULL_PROCESS_RUNNING,
        HULL_PROCESS_STOPPED,
};

/* An asynchronous operation's end. */
typedef void (*hull_op_cb)(int r, const struct hull_error *err, void *userdata);
/* A process ended (status 128+n for a signal); ctr and p stay valid during the call. */
typedef void (*hull_process_exit_cb)(struct hull_process *p, void *userdata);

struct hull_process_io {
        bool terminal;
        const char *stdin_uri, *stdout_uri, *stderr_uri; /* docs/sandbox.md */
};

/* Parse the bundle's spec and make the container (nothing in the guest yet). spec is taken over. */
int hull_container_new(struct hull_loop *loop, const char *id, const char *bundle, struct json_object *spec,
                       hull_process_exit_cb on_exit, void *userdata, struct hull_container **ret,
                       struct hull_error **err);
/* The init's stdio: opened now (the caller's fds are taken while it waits for Create). */
int hull_container_set_io(struct hull_container *c, const struct hull_process_io *io, struct hull_error **err);
/* Share the rootfs and bind mounts under the sandbox's shared dir, then CreateContainer. */
int hull_container_create(struct hull_container *c, struct hull_sandbox *sb, hull_op_cb cb, void *userdata,
                          struct hull_error **err);

/* A new exec process from a runtime-spec Process (JSON); -EEXIST for a known exec id. */
int hull_container_add_exec(struct hull_container *c, const char *exec_id, const char *process_json, size_t len,
                            const struct hull_process_io *io, struct hull_process **ret, struct hull_error **err);
/* Start a process (StartContainer for the init, ExecProcess for an exec), then relay its stdio and wait for it. */
int hull_process_start(struct hull_process *p, hull_op_cb cb, void *userdata, struct hull_error **err);
/* SignalProcess; all: every process of the container. */
int hull_process_kill(struct hull_process *p, uint32_t signo, bool all, hull_op_cb cb, void *userdata,
                      struct hull_error **err);
int hull_process_resize(struct hull_process *p, uint32_t width, uint32_t height, hull_op_cb cb, void *userdata,
                        struct hull_error **err);
void hull_process_close_stdin(struct hull_process *p);
/* The forwarded host tty changed size: tell the guest (no reply wanted). */
void hull_process_tty_changed(struct hull_process *p);
/* The VM is gone: every process not yet exited exits now with status (no output after this). */
void hull_container_vm_gone(struct hull_container *c, uint32_t status);

int hull_container_pause(struct hull_container *c, bool pause, hull_op_cb cb, void *userdata, struct hull_error **err);
/* New cgroup limits for a created or running container (UpdateContainer); resources stays the caller's. */
int hull_container_update(struct hull_container *c, Grpc__LinuxResources *resources, hull_op_cb cb, void *userdata,
                          struct hull_error **err);
typedef void (*hull_stats_cb)(int r, const Grpc__StatsContainerResponse *resp, const struct hull_error *err,
                              void *userdata);
int hull_container_stats(struct hull_container *c, hull_stats_cb cb, void *userdata, struct hull_error **err);
/* RemoveContainer in the guest (when it was created there), then the shares go. */
int hull_container_remove(struct hull_container *c, hull_op_cb cb, void *userdata, struct hull_error **err);

struct hull_process *hull_container_process(struct hull_container *c, const char *exec_id); /* "" / NULL: init */
struct hull_process *hull_container_init(struct hull_container *c);
/* Forget an exited exec process (Delete of an exec). */
void hull_container_drop_process(struct hull_container *c, struct hull_process *p);
size_t hull_container_processes(struct hull_container *c, struct hull_process ***ret);
const char *hull_container_id(const struct hull_container *c);
const char *hull_container_bundle(const struct hull_container *c);
struct json_object *hull_container_spec(const struct hull_container *c);
bool hull_container_paused(const struct hull_container *c);
void hull_container_set_paused(struct hull_container *c, bool paused);
bool hull_container_in_guest(const struct hull_container *c);

struct hull_container *hull_process_container(const struct hull_process *p);
const char *hull_process_exec_id(const struct hull_process *p);
enum hull_process_status hull_process_status(const struct hull_process *p);
uint32_t hull_process_exit_status(const struct hull_process *p);
uint64_t hull_process_exited_at(const struct hull_process *p);
const struct hull_process_io *hull_process_io(const struct hull_process *p);
int hull_process_tty(const struct hull_process *p);

struct hull_container *hull_container_ref(struct hull_container *c);
struct hull_container *hull_container_unref(struct hull_container *c);
HULL_DEFINE_FREEP(struct hull_container, hull_container_unref)
