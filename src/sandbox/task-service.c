/* containerd.task.v2.Task on hull's ttrpc server: requests checked, containers and processes looked up, the
 * asynchronous work done by container.c/sandbox.c, replies sent when it ends; events and state.json kept. */
#include <json-c/json.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "hull-build-config.h"
#include "agent.pb-c.h"
#include "containerd_api_types_task_task.pb-c.h"
#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "error.h"
#include "google_protobuf_any.pb-c.h"
#include "google_protobuf_empty.pb-c.h"
#include "google_protobuf_timestamp.pb-c.h"
#include "buf.h"
#include "log.h"
#include "loop.h"
#include "rpc/ttrpc.h"
#include "sandbox/container.h"
#include "sandbox/sandbox.h"
#include "sandbox/spec.h"
#include "sandbox/state.h"
#include "sandbox/task-service.h"

#define MAX_CONTAINERS 256
#define MAX_WAITERS 4096
#define VM_GONE_STATUS 255

struct waiter {
        struct hull_ttrpc_request *req;
        struct hull_container *c; /* ref */
        char *exec_id;
        struct waiter *next;
};

struct hull_task_service {
        struct hull_loop *loop;
        char *state_dir, *sandbox_id, *config_path;
        pid_t pid;
        hull_task_event_cb on_event;
        void *userdata;
        bool debug;
        struct hull_state state;
        struct hull_sandbox *sb;
        bool sb_ready, booting;
        struct hull_container **ctrs;
        size_t n_ctrs;
        struct waiter *waiters;
        size_t n_waiters;
        bool done;
        void (*done_cb)(struct hull_task_service *ts, void *userdata);
        void *done_userdata;
        void (*shutdown_cb)(struct hull_task_service *ts, void *userdata);
        void *shutdown_userdata;
        struct hull_loop_source *stop_timer;
        struct hull_loop_source *winch;
};

/* ---- small helpers ---- */

static void emit(struct hull_task_service *ts, enum hull_task_event_kind kind, const char *cid, const char *eid,
                 uint32_t status, uint64_t at)
{
        struct hull_task_event ev = { .kind = kind,
                                      .container_id = cid,
                                      .exec_id = eid ? eid : "",
                                      .pid = (uint32_t)ts->pid,
                                      .exit_status = status,
                                      .exited_at_ns = at };

        if (ts->on_event)
                ts->on_event(ts, &ev, ts->userdata);
}

static void write_state(struct hull_task_service *ts, const char *status)
{
        _cleanup_error_ struct hull_error *e = NULL;

        if (status && hull_state_set(&ts->state.status, status) < 0)
                return;
        if (hull_state_write(ts->state_dir, &ts->state, &e) < 0)
                log_warn("sandbox %s: %s", ts->sandbox_id, hull_error_message(e));
}

static struct hull_container *find_ctr(struct hull_task_service *ts, const char *id)
{
        for (size_t i = 0; i < ts->n_ctrs; i++)
                if (streq(hull_container_id(ts->ctrs[i]), id))
                        return ts->ctrs[i];
        return NULL;
}

static Google__Protobuf__Timestamp *timestamp(uint64_t ns, Google__Protobuf__Timestamp *t)
{
        if (!ns)
                return NULL;
        google__protobuf__timestamp__init(t);
        t->seconds = (int64_t)(ns / 1000000000ull);
        t->nanos = (int32_t)(ns % 1000000000ull);
        return t;
}

static void reply_empty(struct hull_ttrpc_request *req)
{
        Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;

        hull_ttrpc_request_reply(req, &e.base);
}

/* The container id names, or NULL with the request answered NotFound. */
static struct hull_container *lookup_ctr(struct hull_task_service *ts, struct hull_ttrpc_request *req, const char *id)
{
        struct hull_container *c = find_ctr(ts, id ? id : "");

        if (!c)
                hull_ttrpc_request_reply_status(req, HULL_GRPC_NOT_FOUND, "container %s: not found", id ? id : "");
        return c;
}

/* The process id/exec_id names (hull_process_container() gives its container), or NULL with the request answered
 * NotFound. */
static struct hull_process *lookup(struct hull_task_service *ts, struct hull_ttrpc_request *req, const char *id,
                                   const char *exec_id)
{
        struct hull_container *c = lookup_ctr(ts, req, id);
        struct hull_process *p = c ? hull_container_process(c, exec_id) : NULL;

        if (c && !p)
                hull_ttrpc_request_reply_status(req, HULL_GRPC_NOT_FOUND, "process %s/%s: not found", id, exec_id);
        return p;
}

/* ---- the end of the sandbox ---- */

/* The VM and its helpers go; state.json says so. */
static void drop_sandbox(struct hull_task_service *ts)
{
        /* Detached first: the teardown fails the agent calls still out, and their callbacks (a RemoveContainer's
         * deleted(), say) come back here while the sandbox is being freed. */
        struct hull_sandbox *sb = TAKE_PTR(ts->sb);

        ts->sb_ready = false;
        hull_sandbox_free(sb);
        hull_state_remove_process(&ts->state, "qemu");
        hull_state_remove_process(&ts->state, "virtiofsd");
        write_state(ts, "stopped");
}

static void finish(struct hull_task_service *ts)
{
        if (ts->done)
                return;
        ts->done = true; /* before the teardown, which may call back into finish() */
        drop_sandbox(ts);
        log_info("sandbox %s: done", ts->sandbox_id);
        if (ts->done_cb)
                ts->done_cb(ts, ts->done_userdata);
}

static int stop_timer_fired(struct hull_loop_source *src, void *userdata)
{
        struct hull_task_service *ts = userdata;

        hull_loop_source_remove(ts->stop_timer);
        ts->stop_timer = NULL;
        if (ts->sb && !hull_sandbox_running(ts->sb)) {
                /* The VM died: what is left of it (virtiofsd, sockets, shares) goes now. */
                hull_sandbox_stop(ts->sb);
                write_state(ts, NULL);
        }
        if (ts->n_ctrs == 0)
                finish(ts);
        return 0;
}

static void schedule_stop(struct hull_task_service *ts)
{
        if (!ts->stop_timer && hull_loop_add_timer(ts->loop, 0, stop_timer_fired, ts, &ts->stop_timer, NULL) < 0)
                log_warn("sandbox %s: cannot schedule the VM's cleanup", ts->sandbox_id);
}

static void sandbox_dead(struct hull_sandbox *sb, const char *reason, void *userdata)
{
        struct hull_task_service *ts = userdata;

        log_error("sandbox %s: the VM is gone (%s): every process exits with status %d", ts->sandbox_id, reason,
                  VM_GONE_STATUS);
        ts->sb_ready = false;
        for (size_t i = 0; i < ts->n_ctrs; i++)
                hull_container_vm_gone(ts->ctrs[i], VM_GONE_STATUS);
        schedule_stop(ts);
}

/* ---- exits and waiters ---- */

static void waiter_free(struct waiter *w)
{
        hull_container_unref(w->c);
        free(w->exec_id);
        free(w);
}

static void reply_wait(struct hull_ttrpc_request *req, struct hull_process *p)
{
        Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
        Google__Protobuf__Timestamp t;

        resp.exit_status = hull_process_exit_status(p);
        resp.exited_at = timestamp(hull_process_exited_at(p), &t);
        hull_ttrpc_request_reply(req, &resp.base);
}

static void process_exited(struct hull_process *p, void *userdata)
{
        struct hull_task_service *ts = userdata;
        struct hull_container *c = hull_process_container(p);
        const char *eid = hull_process_exec_id(p);
        struct waiter **w = &ts->waiters;

        while (*w) {
                struct waiter *k = *w;
                if (k->c == c && streq(k->exec_id, eid)) {
                        *w = k->next;
                        ts->n_waiters--;
                        reply_wait(k->req, p);
                        waiter_free(k);
                        continue;
                }
                w = &k->next;
        }
        if (!*eid && streq(hull_container_id(c), ts->sandbox_id)) {
                ts->state.exit_status = (int)hull_process_exit_status(p);
                write_state(ts, "stopped");
        }
        emit(ts, HULL_TASK_EVENT_EXIT, hull_container_id(c), eid, hull_process_exit_status(p),
             hull_process_exited_at(p));
}

static void waiter_cancelled(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;

        for (struct waiter **w = &ts->waiters; *w; w = &(*w)->next)
                if ((*w)->req == req) {
                        struct waiter *k = *w;
                        *w = k->next;
                        ts->n_waiters--;
                        hull_ttrpc_request_reply_status(req, HULL_GRPC_CANCELLED, "cancelled");
                        waiter_free(k);
                        return;
                }
}

/* ---- request context for asynchronous replies ---- */

struct pending {
        struct hull_task_service *ts;
        struct hull_ttrpc_request *req;
        struct hull_container *c; /* ref, may be NULL */
        struct hull_process *p;
        char *id, *exec_id;
        bool new_container;
};

/* NULL when out of memory, the request then answered. */
static struct pending *pending_new(struct hull_task_service *ts, struct hull_ttrpc_request *req,
                                   struct hull_container *c, struct hull_process *p)
{
        struct pending *x = calloc(1, sizeof(*x));

        if (!x)
                goto oom;
        x->ts = ts;
        x->req = req;
        x->c = c ? hull_container_ref(c) : NULL;
        x->p = p;
        if (c &&
            (!(x->id = strdup(hull_container_id(c))) || !(x->exec_id = strdup(p ? hull_process_exec_id(p) : "")))) {
                hull_container_unref(x->c);
                free(x->id);
                free(x);
                goto oom;
        }
        return x;
oom:
        hull_ttrpc_request_reply_errno(req, ENOMEM, "%s: out of memory", hull_ttrpc_request_method(req));
        return NULL;
}

static void pending_free(struct pending *x)
{
        hull_container_unref(x->c);
        free(x->id);
        free(x->exec_id);
        free(x);
}

static void reply_err(struct hull_ttrpc_request *req, int r, const struct hull_error *err)
{
        if (err)
                hull_ttrpc_request_reply_error(req, err);
        else
                hull_ttrpc_request_reply_errno(req, -r, "%s", strerror(-r));
}

/* Ends a pending request with its call's error (err, else -r). */
static void pending_fail(struct pending *x, int r, const struct hull_error *err)
{
        reply_err(x->req, r, err);
        pending_free(x);
}

/* Generic end of a call whose reply is Empty. */
static void op_empty_done(int r, const struct hull_error *err, void *userdata)
{
        struct pending *x = userdata;

        if (r < 0)
                return pending_fail(x, r, err);
        reply_empty(x->req);
        pending_free(x);
}

/* ---- Create ---- */

static void remove_ctr(struct hull_task_service *ts, struct hull_container *c)
{
        for (size_t i = 0; i < ts->n_ctrs; i++)
                if (ts->ctrs[i] == c) {
                        memmove(&ts->ctrs[i], &ts->ctrs[i + 1], (ts->n_ctrs - i - 1) * sizeof(*ts->ctrs));
                        ts->n_ctrs--;
                        hull_container_unref(c);
                        return;
                }
}

static void create_failed(struct pending *x, int r, const struct hull_error *err)
{
        struct hull_task_service *ts = x->ts;

        reply_err(x->req, r, err);
        remove_ctr(ts, x->c);
        if (x->new_container && ts->n_ctrs == 0)
                drop_sandbox(ts); /* the sandbox's first container failed: the VM goes with it */
        pending_free(x);
}

static void created(int r, const struct hull_error *err, void *userdata)
{
        struct pending *x = userdata;
        struct hull_task_service *ts = x->ts;
        Containerd__Task__V2__CreateTaskResponse resp = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;

        if (r < 0) {
                create_failed(x, r, err);
                return;
        }
        if (streq(x->id, ts->sandbox_id))
                write_state(ts, "created");
        resp.pid = (uint32_t)ts->pid;
        hull_ttrpc_request_reply(x->req, &resp.base);
        emit(ts, HULL_TASK_EVENT_CREATE, x->id, "", 0, 0);
        pending_free(x);
}

static void sandbox_ready(struct hull_sandbox *sb, int r, const struct hull_error *err, void *userdata)
{
        struct pending *x = userdata;
        struct hull_task_service *ts = x->ts;
        _cleanup_error_ struct hull_error *e = NULL;

        ts->booting = false;
        if (r < 0) {
                hull_error_set(&e, -r, "create %s: start sandbox: %s", x->id, hull_error_message(err));
                create_failed(x, r, e);
                return;
        }
        ts->sb_ready = true;
        if (hull_container_create(x->c, ts->sb, created, x, &e) < 0)
                create_failed(x, hull_error_code(e), e);
}

/* containerd hands the rootfs as mounts to make at <bundle>/rootfs (in our private namespace). */
static int mount_rootfs(const char *bundle, Containerd__Types__Mount **mounts, size_t n, struct hull_error **err)
{
        _cleanup_free_ char *target = NULL;

        if (n == 0)
                return 0;
        if (hull_sandbox_private_mounts(err) < 0)
                return -EIO;
        if (asprintf(&target, "%s/rootfs", bundle) < 0)
                return hull_error_oom(err);
        for (size_t i = 0; i < n; i++) {
                Containerd__Types__Mount *m = mounts[i];
                struct hull_buf data = HULL_BUF_INIT;
                unsigned long flags = 0;
                int r;
                for (size_t k = 0; k < m->n_options; k++) {
                        const char *o = m->options[k];
                        if (streq(o, "ro"))
                                flags |= MS_RDONLY;
                        else if (streq(o, "bind"))
                                flags |= MS_BIND;
                        else if (streq(o, "rbind"))
                                flags |= MS_BIND | MS_REC;
                        else if (streq(o, "nosuid"))
                                flags |= MS_NOSUID;
                        else if (streq(o, "nodev"))
                                flags |= MS_NODEV;
                        else if (streq(o, "noexec"))
                                flags |= MS_NOEXEC;
                        else if (!streq(o, "rw") && (data.len ? hull_buf_putc(&data, ',') : 0) >= 0)
                                hull_buf_puts(&data, o);
                }
                r = mount(m->source, target, m->type, flags, data.len ? data.data : NULL);
                hull_buf_free(&data);
                if (r < 0)
                        return hull_error_errno(err, errno, "mount the rootfs (%s) on %s", m->type, target);
        }
        return 0;
}

static void h_create(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        const Containerd__Task__V2__CreateTaskRequest *m = (const void *)hull_ttrpc_request_message(req);
        _cleanup_error_ struct hull_error *e = NULL;
        struct json_object *spec = NULL;
        struct hull_container *c = NULL;
        struct hull_process_io io = { m->terminal, m->stdin, m->stdout, m->stderr };
        struct pending *x;
        const char *sid;
        int r;

        if (ts->done)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_FAILED_PRECONDITION, "sandbox %s is gone",
                                                             ts->sandbox_id);
        if (!*m->id || !*m->bundle || m->bundle[0] != '/')
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_INVALID_ARGUMENT,
                                                             "create: an id and an absolute bundle path are required");
        if (find_ctr(ts, m->id))
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_ALREADY_EXISTS, "container %s exists",
                                                             m->id);
        if (*m->checkpoint)
                return (void)hull_ttrpc_request_reply_status(
                        req, HULL_GRPC_UNIMPLEMENTED, "create %s: restoring a checkpoint is not supported", m->id);
        if (ts->n_ctrs >= MAX_CONTAINERS)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_RESOURCE_EXHAUSTED,
                                                             "sandbox %s: too many containers", ts->sandbox_id);
        if (ts->booting)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_UNAVAILABLE, "sandbox %s is still starting",
                                                             ts->sandbox_id);
        r = mount_rootfs(m->bundle, m->rootfs, m->n_rootfs, &e);
        if (r >= 0)
                r = hull_spec_load(m->bundle, &spec, &e);
        if (r < 0)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_INVALID_ARGUMENT, "create %s: %s", m->id,
                                                             hull_error_message(e));
        sid = hull_spec_annotation(spec, HULL_ANNOTATION_SANDBOX_ID);
        if (ts->n_ctrs > 0 || ts->sb) {
                /* A second container joins only when it names this sandbox. */
                if (!sid || !streq(sid, ts->sandbox_id)) {
                        json_object_put(spec);
                        return (void)hull_ttrpc_request_reply_status(
                                req, HULL_GRPC_FAILED_PRECONDITION,
                                "create %s: sandbox %s already has a container; another one joins it with the "
                                "annotation " HULL_ANNOTATION_SANDBOX_ID "=%s",
                                m->id, ts->sandbox_id, ts->sandbox_id);
                }
                if (!ts->sb_ready) {
                        json_object_put(spec);
                        return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_FAILED_PRECONDITION,
                                                                     "create %s: the sandbox's VM is gone", m->id);
                }
        }
        r = hull_container_new(ts->loop, m->id, m->bundle, spec, process_exited, ts, &c, &e);
        if (r >= 0)
                r = hull_container_set_io(c, &io, &e);
        if (r < 0) {
                hull_container_unref(c);
                hull_error_prefix(&e, "create %s", m->id);
                return (void)hull_ttrpc_request_reply_error(req, e);
        }
        x = pending_new(ts, req, c, NULL);
        if (!x) {
                hull_container_unref(c);
                return;
        }
        {
                struct hull_container **v = realloc(ts->ctrs, (ts->n_ctrs + 1) * sizeof(*v));
                if (!v) {
                        pending_free(x);
                        hull_container_unref(c);
                        return (void)hull_ttrpc_request_reply_errno(req, ENOMEM, "create: out of memory");
                }
                ts->ctrs = v;
                ts->ctrs[ts->n_ctrs++] = c; /* the list's reference */
        }
        if (ts->sb) {
                if (hull_container_create(c, ts->sb, created, x, &e) < 0)
                        create_failed(x, hull_error_code(e), e);
                return;
        }

        /* The first container makes the VM. */
        x->new_container = true;
        {
                struct hull_sandbox_opts so = { 0 };
                _cleanup_free_ char *config = NULL;
                r = hull_sandbox_resolve_config(ts->config_path, m->options, &config, &e);
                if (r >= 0) {
                        hull_state_set(&ts->state.config, config);
                        if (!ts->state.bundle)
                                hull_state_set(&ts->state.bundle, m->bundle);
                        if (ts->state.annotations)
                                json_object_put(ts->state.annotations);
                        ts->state.annotations = NULL;
                        {
                                struct json_object *a;
                                if (json_object_object_get_ex(spec, "annotations", &a) &&
                                    json_object_is_type(a, json_type_object))
                                        ts->state.annotations = json_object_get(a);
                        }
                        so.loop = ts->loop;
                        so.id = ts->sandbox_id;
                        so.state_dir = ts->state_dir;
                        so.config_path = config;
                        so.spec = spec;
                        so.state = &ts->state;
                        so.on_dead = sandbox_dead;
                        so.userdata = ts;
                        so.debug = ts->debug;
                        r = hull_sandbox_new(&so, &ts->sb, &e);
                }
                if (r >= 0) {
                        ts->booting = true;
                        r = hull_sandbox_start(ts->sb, sandbox_ready, x, &e);
                        if (r < 0)
                                ts->booting = false;
                }
                if (r < 0) {
                        hull_error_prefix(&e, "create %s", m->id);
                        create_failed(x, r, e);
                }
        }
}

/* ---- Start ---- */

static void start_done(int r, const struct hull_error *err, void *userdata)
{
        struct pending *x = userdata;
        struct hull_task_service *ts = x->ts;
        Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;

        if (r < 0)
                return pending_fail(x, r, err);
        if (!*x->exec_id && streq(x->id, ts->sandbox_id) && ts->state.exit_status < 0)
                write_state(ts, "running");
        resp.pid = (uint32_t)ts->pid;
        hull_ttrpc_request_reply(x->req, &resp.base);
        emit(ts, *x->exec_id ? HULL_TASK_EVENT_EXEC_STARTED : HULL_TASK_EVENT_START, x->id, x->exec_id, 0, 0);
        pending_free(x);
}

static void h_start(struct hull_ttrpc_request *req, void *userdata)
{
        const Containerd__Task__V2__StartRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_process *p = lookup(userdata, req, m->id, m->exec_id);
        struct pending *x = p ? pending_new(userdata, req, hull_process_container(p), p) : NULL;
        _cleanup_error_ struct hull_error *e = NULL;

        if (x && hull_process_start(p, start_done, x, &e) < 0) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_FAILED_PRECONDITION, "start %s: %s", m->id,
                                                hull_error_message(e));
                pending_free(x);
        }
}

/* ---- Delete ---- */

static void reply_delete(struct hull_ttrpc_request *req, struct hull_task_service *ts, struct hull_process *p)
{
        Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
        Google__Protobuf__Timestamp t;

        resp.pid = (uint32_t)ts->pid;
        resp.exit_status = p ? hull_process_exit_status(p) : 0;
        resp.exited_at = p ? timestamp(hull_process_exited_at(p), &t) : NULL;
        hull_ttrpc_request_reply(req, &resp.base);
}

static void deleted(int r, const struct hull_error *err, void *userdata)
{
        struct pending *x = userdata;
        struct hull_task_service *ts = x->ts;
        struct hull_process *init = hull_container_init(x->c);

        if (r < 0)
                log_warn("delete %s: %s (removed anyway)", x->id, hull_error_message(err));
        reply_delete(x->req, ts, init);
        emit(ts, HULL_TASK_EVENT_DELETE, x->id, "", hull_process_exit_status(init), hull_process_exited_at(init));
        remove_ctr(ts, x->c);
        pending_free(x);
        if (ts->n_ctrs == 0)
                finish(ts);
}

static void h_delete(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        const Containerd__Task__V2__DeleteRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_process *p = lookup(ts, req, m->id, m->exec_id);
        struct hull_container *c = p ? hull_process_container(p) : NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        struct pending *x;

        if (!p)
                return;
        if (hull_process_status(p) == HULL_PROCESS_RUNNING)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_FAILED_PRECONDITION,
                                                             "delete %s%s%s: the process is running", m->id,
                                                             *m->exec_id ? "/" : "", m->exec_id);
        if (*m->exec_id) {
                reply_delete(req, ts, p);
                hull_container_drop_process(c, p);
                return;
        }
        x = pending_new(ts, req, c, p);
        if (!x)
                return;
        if (hull_container_remove(c, deleted, x, &e) < 0)
                deleted(hull_error_code(e), e, x);
}

/* ---- Exec ---- */

static void h_exec(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        const Containerd__Task__V2__ExecProcessRequest *m = (const void *)hull_ttrpc_request_message(req);
        Containerd__Task__V2__ExecProcessResponse resp = CONTAINERD__TASK__V2__EXEC_PROCESS_RESPONSE__INIT;
        struct hull_process_io io = { m->terminal, m->stdin, m->stdout, m->stderr };
        struct hull_container *c = lookup_ctr(ts, req, m->id); /* NULL: answered, m is gone */
        _cleanup_error_ struct hull_error *e = NULL;
        struct hull_process *p;

        if (!c)
                return;
        if (!m->spec || !m->spec->value.len)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_INVALID_ARGUMENT,
                                                             "exec %s: a process spec is required", m->id);
        if (hull_process_status(hull_container_init(c)) != HULL_PROCESS_RUNNING)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_FAILED_PRECONDITION,
                                                             "exec %s: the container is not running", m->id);
        if (hull_container_add_exec(c, m->exec_id, (const char *)m->spec->value.data, m->spec->value.len, &io, &p, &e) <
            0)
                return (void)hull_ttrpc_request_reply_error(req, e);
        /* Before the reply, which frees m (runc's shim also sends the event first). */
        emit(ts, HULL_TASK_EVENT_EXEC_ADDED, m->id, m->exec_id, 0, 0);
        hull_ttrpc_request_reply(req, &resp.base);
}

/* ---- State, Wait, Pids, Connect ---- */

static Containerd__V1__Types__Status status_of(struct hull_container *c, struct hull_process *p)
{
        switch (hull_process_status(p)) {
        case HULL_PROCESS_CREATED:
                return CONTAINERD__V1__TYPES__STATUS__CREATED;
        case HULL_PROCESS_RUNNING:
                return hull_container_paused(c) ? CONTAINERD__V1__TYPES__STATUS__PAUSED
                                                : CONTAINERD__V1__TYPES__STATUS__RUNNING;
        default:
                return CONTAINERD__V1__TYPES__STATUS__STOPPED;
        }
}

static void h_state(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        const Containerd__Task__V2__StateRequest *m = (const void *)hull_ttrpc_request_message(req);
        Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
        Google__Protobuf__Timestamp t;
        struct hull_process *p = lookup(ts, req, m->id, m->exec_id);
        struct hull_container *c;
        const struct hull_process_io *io;

        if (!p)
                return;
        c = hull_process_container(p);
        io = hull_process_io(p);
        resp.id = (char *)hull_container_id(c);
        resp.exec_id = (char *)hull_process_exec_id(p);
        resp.bundle = (char *)hull_container_bundle(c);
        resp.pid = (uint32_t)ts->pid;
        resp.status = status_of(c, p);
        resp.stdin = (char *)(io->stdin_uri ? io->stdin_uri : "");
        resp.stdout = (char *)(io->stdout_uri ? io->stdout_uri : "");
        resp.stderr = (char *)(io->stderr_uri ? io->stderr_uri : "");
        resp.terminal = io->terminal;
        if (hull_process_status(p) == HULL_PROCESS_STOPPED) {
                resp.exit_status = hull_process_exit_status(p);
                resp.exited_at = timestamp(hull_process_exited_at(p), &t);
        }
        hull_ttrpc_request_reply(req, &resp.base);
}

static void h_wait(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        const Containerd__Task__V2__WaitRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_process *p = lookup(ts, req, m->id, m->exec_id);
        struct waiter *w;

        if (!p)
                return;
        if (hull_process_status(p) == HULL_PROCESS_STOPPED)
                return reply_wait(req, p);
        if (ts->n_waiters >= MAX_WAITERS)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_RESOURCE_EXHAUSTED, "too many waiters");
        w = calloc(1, sizeof(*w));
        if (!w || !(w->exec_id = strdup(hull_process_exec_id(p)))) {
                free(w);
                return (void)hull_ttrpc_request_reply_errno(req, ENOMEM, "wait: out of memory");
        }
        w->req = req;
        w->c = hull_container_ref(hull_process_container(p));
        w->next = ts->waiters;
        ts->waiters = w;
        ts->n_waiters++;
        hull_ttrpc_request_on_cancel(req, waiter_cancelled, ts);
}

static void h_pids(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        const Containerd__Task__V2__PidsRequest *m = (const void *)hull_ttrpc_request_message(req);
        Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
        struct hull_container *c = lookup_ctr(ts, req, m->id);
        Containerd__V1__Types__ProcessInfo info = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT, *infos[1] = { &info };

        if (!c)
                return;
        /* Guest processes have no host pid: the one pid reported for the sandbox stands for them. */
        if (hull_process_status(hull_container_init(c)) == HULL_PROCESS_RUNNING) {
                info.pid = (uint32_t)ts->pid;
                resp.processes = infos;
                resp.n_processes = 1;
        }
        hull_ttrpc_request_reply(req, &resp.base);
}

static void h_connect(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;

        resp.shim_pid = (uint32_t)ts->pid;
        resp.task_pid = (uint32_t)ts->pid;
        resp.version = (char *)"hull " HULL_VERSION;
        hull_ttrpc_request_reply(req, &resp.base);
}

/* ---- Kill, ResizePty, CloseIO, Pause, Resume ---- */

static void h_kill(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        const Containerd__Task__V2__KillRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_process *p = lookup(ts, req, m->id, m->exec_id);
        _cleanup_error_ struct hull_error *e = NULL;
        struct pending *x;

        if (!p)
                return;
        if (hull_process_status(p) == HULL_PROCESS_STOPPED && !m->all)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_NOT_FOUND,
                                                             "kill %s: the process already finished", m->id);
        if (!ts->sb_ready)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_NOT_FOUND, "kill %s: the VM is gone",
                                                             m->id);
        x = pending_new(ts, req, hull_process_container(p), p);
        if (x && hull_process_kill(p, m->signal, m->all, op_empty_done, x, &e) < 0)
                pending_fail(x, hull_error_code(e), e);
}

static void h_resize_pty(struct hull_ttrpc_request *req, void *userdata)
{
        const Containerd__Task__V2__ResizePtyRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_process *p = lookup(userdata, req, m->id, m->exec_id);
        _cleanup_error_ struct hull_error *e = NULL;
        struct pending *x;

        if (!p)
                return;
        if (hull_process_status(p) != HULL_PROCESS_RUNNING || !hull_process_io(p)->terminal)
                return reply_empty(req); /* nothing to resize (yet): as runc's shim, not an error */
        x = pending_new(userdata, req, hull_process_container(p), p);
        if (x && hull_process_resize(p, m->width, m->height, op_empty_done, x, &e) < 0)
                pending_fail(x, hull_error_code(e), e);
}

static void h_close_io(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        const Containerd__Task__V2__CloseIORequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_process *p = lookup(ts, req, m->id, m->exec_id);

        if (!p)
                return;
        if (m->stdin)
                hull_process_close_stdin(p);
        reply_empty(req);
}

static void paused_done(int r, const struct hull_error *err, void *userdata)
{
        struct pending *x = userdata;
        bool pause = x->p == NULL; /* see h_pause_resume */

        if (r >= 0) {
                hull_container_set_paused(x->c, pause);
                if (streq(x->id, x->ts->sandbox_id))
                        write_state(x->ts, pause ? "paused" : "running");
                emit(x->ts, pause ? HULL_TASK_EVENT_PAUSED : HULL_TASK_EVENT_RESUMED, x->id, "", 0, 0);
        }
        op_empty_done(r, err, x);
}

static void pause_resume(struct hull_task_service *ts, struct hull_ttrpc_request *req, const char *id, bool pause)
{
        struct hull_container *c = lookup_ctr(ts, req, id);
        _cleanup_error_ struct hull_error *e = NULL;
        struct pending *x;

        if (!c)
                return;
        if (hull_process_status(hull_container_init(c)) != HULL_PROCESS_RUNNING)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_FAILED_PRECONDITION,
                                                             "%s %s: the container is not running",
                                                             pause ? "pause" : "resume", id);
        if (hull_container_paused(c) == pause)
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_FAILED_PRECONDITION,
                                                             "%s %s: the container is %s", pause ? "pause" : "resume",
                                                             id, pause ? "paused already" : "not paused");
        /* x->p carries the direction: NULL for pause, the init for resume. */
        x = pending_new(ts, req, c, pause ? NULL : hull_container_init(c));
        if (x && hull_container_pause(c, pause, paused_done, x, &e) < 0)
                pending_fail(x, hull_error_code(e), e);
}

static void h_pause(struct hull_ttrpc_request *req, void *userdata)
{
        const Containerd__Task__V2__PauseRequest *m = (const void *)hull_ttrpc_request_message(req);
        pause_resume(userdata, req, m->id, true);
}

static void h_resume(struct hull_ttrpc_request *req, void *userdata)
{
        const Containerd__Task__V2__ResumeRequest *m = (const void *)hull_ttrpc_request_message(req);
        pause_resume(userdata, req, m->id, false);
}

/* ---- Stats: the agent's cgroup stats as io.containerd.cgroups.v2.Metrics ---- */

static void pb_varint(struct hull_buf *b, uint64_t v)
{
        do {
                uint8_t c = (uint8_t)(v & 0x7f);
                v >>= 7;
                if (v)
                        c |= 0x80;
                hull_buf_putc(b, (char)c);
        } while (v);
}

static void pb_u64(struct hull_buf *b, unsigned field, uint64_t v)
{
        if (!v)
                return;
        pb_varint(b, (uint64_t)field << 3);
        pb_varint(b, v);
}

static void pb_sub(struct hull_buf *b, unsigned field, const struct hull_buf *sub)
{
        if (!sub->len)
                return;
        pb_varint(b, ((uint64_t)field << 3) | 2);
        pb_varint(b, sub->len);
        hull_buf_append(b, sub->data, sub->len);
}

static void stats_done(int r, const Grpc__StatsContainerResponse *resp, const struct hull_error *err, void *userdata)
{
        struct pending *x = userdata;
        Containerd__Task__V2__StatsResponse out = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        _cleanup_buf_ struct hull_buf m = HULL_BUF_INIT, pids = HULL_BUF_INIT, cpu = HULL_BUF_INIT, mem = HULL_BUF_INIT;
        const Grpc__CgroupStats *cg;

        if (r < 0)
                return pending_fail(x, r, err);
        cg = resp->cgroup_stats;
        if (cg && cg->pids_stats) {
                pb_u64(&pids, 1, cg->pids_stats->current);
                pb_u64(&pids, 2, cg->pids_stats->limit);
        }
        if (cg && cg->cpu_stats && cg->cpu_stats->cpu_usage) {
                const Grpc__CpuUsage *u = cg->cpu_stats->cpu_usage;
                pb_u64(&cpu, 1, u->total_usage / 1000);
                pb_u64(&cpu, 2, u->usage_in_usermode / 1000);
                pb_u64(&cpu, 3, u->usage_in_kernelmode / 1000);
        }
        if (cg && cg->memory_stats && cg->memory_stats->usage) {
                pb_u64(&mem, 32, cg->memory_stats->usage->usage);
                pb_u64(&mem, 33, cg->memory_stats->usage->limit);
        }
        pb_sub(&m, 1, &pids);
        pb_sub(&m, 2, &cpu);
        pb_sub(&m, 4, &mem);
        any.type_url = (char *)"io.containerd.cgroups.v2.Metrics";
        any.value.data = (uint8_t *)m.data;
        any.value.len = m.len;
        out.stats = &any;
        hull_ttrpc_request_reply(x->req, &out.base);
        pending_free(x);
}

static void h_stats(struct hull_ttrpc_request *req, void *userdata)
{
        const Containerd__Task__V2__StatsRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_container *c = lookup_ctr(userdata, req, m->id);
        struct pending *x = c ? pending_new(userdata, req, c, NULL) : NULL;
        _cleanup_error_ struct hull_error *e = NULL;

        if (x && hull_container_stats(c, stats_done, x, &e) < 0)
                pending_fail(x, hull_error_code(e), e);
}

/* ---- Update, Checkpoint, Shutdown ---- */

/* containerd's Update: resources is an Any holding runtime-spec LinuxResources as JSON (containerd's typeurl for a
 * Go type that is no protobuf message); the agent applies them to the container's cgroup in the guest. */
static void h_update(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        const Containerd__Task__V2__UpdateTaskRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_container *c = lookup_ctr(ts, req, m->id); /* NULL: answered, m is gone */
        Grpc__LinuxResources *res = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        const char *type, *suffix;
        struct pending *x;

        if (!c)
                return;
        if (!m->resources || !m->resources->value.len)
                return reply_empty(req);
        type = m->resources->type_url ? m->resources->type_url : "";
        suffix = strrchr(type, '/');
        if (!suffix || !streq(suffix, "/LinuxResources"))
                return (void)hull_ttrpc_request_reply_status(req, HULL_GRPC_INVALID_ARGUMENT,
                                                             "update %s: resources of type \"%s\": only "
                                                             "runtime-spec LinuxResources apply to a Linux guest",
                                                             m->id, type);
        if (!hull_container_in_guest(c))
                return (void)hull_ttrpc_request_reply_status(
                        req, HULL_GRPC_FAILED_PRECONDITION, "update %s: the container is not created in the VM", m->id);
        if (hull_spec_resources_to_agent((const char *)m->resources->value.data, m->resources->value.len, &res, &e) <
            0) {
                hull_error_prefix(&e, "update %s", m->id);
                return (void)hull_ttrpc_request_reply_error(req, e);
        }
        x = pending_new(ts, req, c, NULL);
        if (x && hull_container_update(c, res, op_empty_done, x, &e) < 0)
                pending_fail(x, hull_error_code(e), e);
        protobuf_c_message_free_unpacked(&res->base, NULL);
}

static void h_checkpoint(struct hull_ttrpc_request *req, void *userdata)
{
        hull_ttrpc_request_reply_status(req, HULL_GRPC_UNIMPLEMENTED,
                                        "checkpoint: not supported by hull (the container runs in a VM)");
}

static void h_shutdown(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_task_service *ts = userdata;
        const Containerd__Task__V2__ShutdownRequest *m = (const void *)hull_ttrpc_request_message(req);
        bool now = m->now; /* the reply frees the request and its message */

        reply_empty(req);
        if (now || ts->n_ctrs == 0)
                hull_task_service_abort(ts);
        if (ts->shutdown_cb)
                ts->shutdown_cb(ts, ts->shutdown_userdata);
}

/* ---- the service ---- */

static int winch(struct hull_loop_source *src, int signo, void *userdata)
{
        struct hull_task_service *ts = userdata;
        struct hull_process **procs;

        for (size_t i = 0; i < ts->n_ctrs; i++) {
                size_t n = hull_container_processes(ts->ctrs[i], &procs);
                for (size_t k = 0; k < n; k++)
                        if (hull_process_status(procs[k]) == HULL_PROCESS_RUNNING)
                                hull_process_tty_changed(procs[k]);
        }
        return 0;
}

int hull_task_service_new(struct hull_loop *loop, const struct hull_task_service_opts *o,
                          struct hull_task_service **ret, struct hull_error **err)
{
        struct hull_task_service *ts;

        if (!o->state_dir || !o->sandbox_id)
                return hull_error_set(err, EINVAL, "task service: state_dir and sandbox_id are required");
        ts = calloc(1, sizeof(*ts));
        if (!ts)
                return hull_error_oom(err);
        ts->loop = loop;
        ts->pid = o->reported_pid > 0 ? o->reported_pid : getpid();
        ts->on_event = o->on_event;
        ts->userdata = o->userdata;
        ts->debug = o->debug;
        if (!(ts->state_dir = strdup(o->state_dir)) || !(ts->sandbox_id = strdup(o->sandbox_id)) ||
            (o->config_path && !(ts->config_path = strdup(o->config_path)))) {
                hull_task_service_free(ts);
                return hull_error_oom(err);
        }
        /* Keep what the front end recorded (monitor pid, created); start one otherwise. */
        if (hull_state_read(ts->state_dir, &ts->state, NULL) < 0)
                hull_state_init(&ts->state);
        if (!ts->state.id)
                hull_state_set(&ts->state.id, ts->sandbox_id);
        if (!ts->state.created) {
                char now[40];
                hull_state_format_time(hull_realtime_ns(), now);
                hull_state_set(&ts->state.created, now);
        }
        if (!ts->state.monitor_pid) {
                ts->state.monitor_pid = ts->pid;
                hull_proc_start_time(ts->pid, &ts->state.monitor_start_time);
        }
        /* A session leader (the monitor) gets the first console as its controlling tty: its size changes then
         * arrive as SIGWINCH and are forwarded. Others (the shim) rely on ResizePty. */
        if (getsid(0) == getpid())
                hull_loop_add_signal(loop, SIGWINCH, winch, ts, &ts->winch, NULL);
        *ret = ts;
        return 0;
}

int hull_task_service_register(struct hull_task_service *ts, struct hull_ttrpc_server *srv, struct hull_error **err)
{
        static const struct {
                const char *name;
                hull_ttrpc_handler h;
        } methods[] = {
                { "Create", h_create },    { "Start", h_start },       { "Delete", h_delete },
                { "Exec", h_exec },        { "State", h_state },       { "Kill", h_kill },
                { "Wait", h_wait },        { "Pids", h_pids },         { "ResizePty", h_resize_pty },
                { "CloseIO", h_close_io }, { "Pause", h_pause },       { "Resume", h_resume },
                { "Update", h_update },    { "Stats", h_stats },       { "Checkpoint", h_checkpoint },
                { "Connect", h_connect },  { "Shutdown", h_shutdown },
        };

        for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
                int r = hull_ttrpc_server_register_pb(srv, &containerd__task__v2__task__descriptor, methods[i].name,
                                                      methods[i].h, ts, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool hull_task_service_done(const struct hull_task_service *ts)
{
        return ts->done;
}

void hull_task_service_on_done(struct hull_task_service *ts, void (*cb)(struct hull_task_service *ts, void *userdata),
                               void *userdata)
{
        ts->done_cb = cb;
        ts->done_userdata = userdata;
}

void hull_task_service_on_shutdown(struct hull_task_service *ts,
                                   void (*cb)(struct hull_task_service *ts, void *userdata), void *userdata)
{
        ts->shutdown_cb = cb;
        ts->shutdown_userdata = userdata;
}

void hull_task_service_abort(struct hull_task_service *ts)
{
        if (ts->done)
                return;
        log_info("sandbox %s: stopping", ts->sandbox_id);
        ts->sb_ready = false;
        for (size_t i = 0; i < ts->n_ctrs; i++)
                hull_container_vm_gone(ts->ctrs[i], 128 + SIGKILL);
        while (ts->n_ctrs > 0)
                remove_ctr(ts, ts->ctrs[ts->n_ctrs - 1]);
        finish(ts);
}

struct hull_task_service *hull_task_service_free(struct hull_task_service *ts)
{
        if (!ts)
                return NULL;
        ts->done_cb = NULL;
        ts->on_event = NULL;
        while (ts->waiters) {
                struct waiter *w = ts->waiters;
                ts->waiters = w->next;
                hull_ttrpc_request_reply_status(w->req, HULL_GRPC_UNAVAILABLE, "the sandbox service ended");
                waiter_free(w);
        }
        /* The agent goes first: calls still out end now, and their callbacks find no sandbox and no finish() to
         * run. */
        ts->done = true;
        hull_sandbox_free(TAKE_PTR(ts->sb));
        while (ts->n_ctrs > 0)
                remove_ctr(ts, ts->ctrs[ts->n_ctrs - 1]);
        free(ts->ctrs);
        hull_loop_source_remove(ts->stop_timer);
        hull_loop_source_remove(ts->winch);
        hull_state_clear(&ts->state);
        free(ts->state_dir);
        free(ts->sandbox_id);
        free(ts->config_path);
        free(ts);
        return NULL;
}
