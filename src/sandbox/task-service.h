/* The Task service: containerd's shim v2 Task API (containerd.task.v2.Task) served by hull's sandbox service.
 * It is the one implementation of container lifecycle behind both front ends: containerd-shim-hull-v2 serves it to
 * containerd, and the `hull` OCI CLI's per-sandbox monitor process serves it on <root>/<id>/monitor.sock to the
 * later `hull start/state/kill/exec/ps/pause/resume/delete` calls. See docs/sandbox.md. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macros.h"

struct hull_error;
struct hull_loop;
struct hull_ttrpc_server;
struct hull_task_service;

/* What the service tells its front end (the shim publishes these to containerd; the monitor records them). */
enum hull_task_event_kind {
        HULL_TASK_EVENT_CREATE = 0, /* container_id, pid */
        HULL_TASK_EVENT_START, /* container_id, pid */
        HULL_TASK_EVENT_EXIT, /* container_id, exec_id ("" for the init), pid, exit_status, exited_at */
        HULL_TASK_EVENT_DELETE, /* container_id, pid, exit_status, exited_at */
        HULL_TASK_EVENT_EXEC_ADDED, /* container_id, exec_id */
        HULL_TASK_EVENT_EXEC_STARTED, /* container_id, exec_id, pid */
        HULL_TASK_EVENT_PAUSED, /* container_id */
        HULL_TASK_EVENT_RESUMED, /* container_id */
        HULL_TASK_EVENT_OOM, /* container_id */
};

struct hull_task_event {
        enum hull_task_event_kind kind;
        const char *container_id;
        const char *exec_id; /* "" for a container's init */
        uint32_t pid; /* the pid the Task API reports for the process (see docs/sandbox.md) */
        uint32_t exit_status; /* 128+n for a signal */
        uint64_t exited_at_ns; /* CLOCK_REALTIME */
};

typedef void (*hull_task_event_cb)(struct hull_task_service *ts, const struct hull_task_event *ev, void *userdata);

struct hull_task_service_opts {
        const char *state_dir; /* <root>/<sandbox id>: exists, owned by the caller, locked by the caller */
        const char *sandbox_id;
        const char *config_path; /* configuration-<hypervisor>.toml; NULL: the default search (config.h) */
        /* The pid the Task API reports for every process of the sandbox (Kata reports the shim's/VMM's pid):
         * the monitor or shim itself. 0: getpid(). */
        pid_t reported_pid;
        hull_task_event_cb on_event; /* may be NULL */
        void *userdata;
        bool debug;
};

int hull_task_service_new(struct hull_loop *loop, const struct hull_task_service_opts *opts,
                          struct hull_task_service **ret, struct hull_error **err);
/* Register every Task method on srv (which the caller listens with). */
int hull_task_service_register(struct hull_task_service *ts, struct hull_ttrpc_server *srv, struct hull_error **err);
/* True once the sandbox is gone (its last container deleted or Shutdown called, VM stopped, state cleaned up):
 * the front end then exits. hull_task_service_on_done() is told once when that happens. */
bool hull_task_service_done(const struct hull_task_service *ts);
void hull_task_service_on_done(struct hull_task_service *ts, void (*cb)(struct hull_task_service *ts, void *userdata),
                               void *userdata);
/* Told when a client calls Shutdown (after the service acted on it): containerd's last word to a shim. The shim
 * stays until then even when its sandbox is already gone, as runc's shim does; a shim that left first would send
 * containerd down its dead-shim cleanup path. */
void hull_task_service_on_shutdown(struct hull_task_service *ts,
                                   void (*cb)(struct hull_task_service *ts, void *userdata), void *userdata);
/* Stop the VM and everything the sandbox made now (SIGTERM to the front end, a dying containerd). */
void hull_task_service_abort(struct hull_task_service *ts);
struct hull_task_service *hull_task_service_free(struct hull_task_service *ts);
HULL_DEFINE_FREEP(struct hull_task_service, hull_task_service_free)
