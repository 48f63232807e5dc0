/* A sandbox's state.json (docs/sandbox.md): written atomically before each resource is made and on every status
 * change; read tolerantly (garbage, wrong types and unknown keys never crash a reader). Plus the lock helpers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macros.h"

struct hull_error;
struct json_object;

#define HULL_STATE_VERSION 1
#define HULL_STATE_FILE "state.json"
#define HULL_STATE_MAX_SIZE (1u << 20)
#define HULL_STATE_MAX_PROCESSES 64
#define HULL_STATE_MAX_INTERFACES 8
#define HULL_STATE_IFNAME_MAX 16 /* IFNAMSIZ */

struct hull_state_process {
        char what[32]; /* "qemu", "virtiofsd", ... */
        pid_t pid;
        uint64_t start_time; /* field 22 of /proc/<pid>/stat */
};

/* A pod interface hull mirrors into the VM (src/sandbox/network.c): recorded before the tap and the tc filters are
 * made, so that whoever cleans up after a crash can remove them. */
struct hull_state_interface {
        char veth[HULL_STATE_IFNAME_MAX]; /* the pod's device (carries the filter veth -> tap) */
        char tap[HULL_STATE_IFNAME_MAX]; /* the tap hull makes */
        bool own_ingress; /* the veth had no ingress qdisc: hull adds it and removes it */
};

struct hull_state {
        char *id;
        char *bundle;
        char *config;
        char *created; /* RFC 3339 UTC with nanoseconds */
        char *status; /* creating|created|running|paused|stopped */
        pid_t monitor_pid; /* the process serving the Task API (monitor or shim) */
        uint64_t monitor_start_time;
        int exit_status; /* -1: none */
        struct json_object *annotations; /* an object or NULL */
        struct hull_state_process processes[HULL_STATE_MAX_PROCESSES];
        size_t n_processes;
        char *netns; /* the pod's network namespace (a path) holding the interfaces below; NULL: none */
        struct hull_state_interface interfaces[HULL_STATE_MAX_INTERFACES];
        size_t n_interfaces;
};

/* An empty state (exit_status -1); free what it points to with hull_state_clear(). */
void hull_state_init(struct hull_state *st);
void hull_state_clear(struct hull_state *st);
/* Set a string field (a copy; NULL clears it). */
int hull_state_set(char **field, const char *value);
/* Record a process (replacing one with the same what); NULL-safe on pid <= 0 (nothing recorded). */
int hull_state_add_process(struct hull_state *st, const char *what, pid_t pid);
void hull_state_remove_process(struct hull_state *st, const char *what);

int hull_state_to_json(const struct hull_state *st, char **ret, struct hull_error **err);
/* Parse a document; a field of the wrong type is left at its default. -EBADMSG when data is no JSON object. */
int hull_state_from_json(const char *data, size_t len, struct hull_state *st, struct hull_error **err);

/* <dir>/state.json, written through a temp file + rename (mode 0600). */
int hull_state_write(const char *dir, const struct hull_state *st, struct hull_error **err);
/* -ENOENT when there is none. */
int hull_state_read(const char *dir, struct hull_state *st, struct hull_error **err);

/* flock() <dir>/lock (created 0600): shared or exclusive, blocking or not (-EWOULDBLOCK). Returns the fd. */
int hull_state_lock(const char *dir, bool exclusive, bool wait, struct hull_error **err);

/* Field 22 of /proc/<pid>/stat (the start time in clock ticks since boot); -ESRCH when pid is gone. */
int hull_proc_start_time(pid_t pid, uint64_t *ret);
/* Does pid still name the process that had start_time? */
bool hull_proc_matches(pid_t pid, uint64_t start_time);
/* Now as RFC 3339 UTC with nanoseconds ("2026-11-24T19:00:00.123456789Z") into buf[40]. */
void hull_state_format_time(uint64_t realtime_ns, char buf[static 40]);
uint64_t hull_realtime_ns(void);
