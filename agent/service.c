/* AgentService and Health handlers: decode, act on the sandbox's containers, reply (now or when a long poll ends). */
#include "service.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "cgroup.h"
#include "container.h"
#include "error.h"
#include "fd.h"
#include "google_protobuf_empty.pb-c.h"
#include "health.pb-c.h"
#include "log.h"
#include "loop.h"
#include "modules.h"
#include "netlink.h"
#include "network.h"
#include "pause.h"
#include "reaper.h"
#include "process.h"
#include "server.h"
#include "status.h"
#include "storage.h"

#define MAX_CONTAINERS 1024
#define MAX_OOM_QUEUE 64

struct pending_create;

struct ctr {
        struct hull_agent_container *c;
        struct pending_create *creating; /* CreateContainer not answered yet */
        char **storages; /* mount points this container added */
        size_t n_storages;
        int oom_wd;
        uint64_t oom_seen;
};

struct hull_agent_service {
        struct hull_agent_service_config cfg;
        struct hull_ttrpc_server *server;
        struct hull_agent_storages *storages;
        struct hull_agent_container_env env;
        struct ctr *ctrs;
        size_t n_ctrs;
        char *sandbox_id;
        bool sandbox_created;
        pid_t pause_pid; /* the sandbox's shared pid namespace, 0: none */
        char pause_ns[64];
        int inotify_fd;
        struct hull_loop_source *inotify_src;
        struct hull_loop_source *gc_timer;
        bool gc_armed;
        char *oom_queue[MAX_OOM_QUEUE];
        size_t n_oom;
        struct pending_oom *oom_waiters;
};

static const Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;

/* ---- containers ---- */

static struct ctr *find_ctr(struct hull_agent_service *s, const char *id)
{
        for (size_t i = 0; id && i < s->n_ctrs; i++)
                if (streq(hull_agent_container_id(s->ctrs[i].c), id))
                        return &s->ctrs[i];
        return NULL;
}

struct pending_create {
        struct hull_ttrpc_request *req;
        struct hull_agent_service *s;
};

static void create_abandoned(struct pending_create *p)
{
        hull_ttrpc_request_reply_status(p->req, HULL_GRPC_ABORTED, "container removed while it was being created");
        free(p);
}

static void remove_ctr(struct hull_agent_service *s, struct ctr *x);

static void on_created(struct hull_agent_container *c, const struct hull_error *e, void *userdata)
{
        struct pending_create *p = userdata;
        struct hull_agent_service *s = p->s;
        struct ctr *x = NULL;

        for (size_t i = 0; i < s->n_ctrs; i++)
                if (s->ctrs[i].c == c)
                        x = &s->ctrs[i];
        if (!x)
                return; /* cannot happen: removal drops the callback */
        x->creating = NULL;
        if (!e) {
                hull_ttrpc_request_reply(p->req, &empty.base);
                free(p);
                return;
        }
        log_warn("CreateContainer %s: %s", hull_agent_container_id(c), hull_error_message(e));
        hull_ttrpc_request_reply_status(p->req, hull_grpc_code_from_errno(hull_error_code(e)), "CreateContainer %s: %s",
                                        hull_agent_container_id(c), hull_error_message(e));
        free(p);
        remove_ctr(s, x);
}

static void remove_ctr(struct hull_agent_service *s, struct ctr *x)
{
        struct ctr gone = *x;

        /* Out of the table first: callbacks that run while it is destroyed must not find it. */
        *x = s->ctrs[--s->n_ctrs];
        if (gone.creating)
                create_abandoned(gone.creating);
        if (gone.oom_wd >= 0 && s->inotify_fd >= 0)
                (void)inotify_rm_watch(s->inotify_fd, gone.oom_wd);
        hull_agent_container_destroy(gone.c);
        for (size_t i = 0; i < gone.n_storages; i++) {
                hull_agent_storage_release(s->storages, gone.storages[i]);
                free(gone.storages[i]);
        }
        free(gone.storages);
}

/* The container a request names, or NULL with the request answered: there is none, or it is still being created. */
static struct ctr *request_ctr(struct hull_ttrpc_request *req, struct hull_agent_service *s, const char *id)
{
        struct ctr *x = find_ctr(s, id);

        if (!x) {
                hull_ttrpc_request_reply_errno(req, ENOENT, "container '%s' not found", id ? id : "");
                return NULL;
        }
        if (x->creating) {
                hull_ttrpc_request_reply_errno(req, EAGAIN, "container '%s' is still being created", id);
                return NULL;
        }
        return x;
}

/* The process a request names, or NULL with the request answered. */
static struct hull_agent_process *request_process(struct hull_ttrpc_request *req, struct hull_agent_service *s,
                                                  const char *cid, const char *eid)
{
        struct ctr *x = request_ctr(req, s, cid);
        struct hull_agent_process *proc;

        if (!x)
                return NULL;
        proc = hull_agent_container_process(x->c, eid);
        if (!proc)
                hull_ttrpc_request_reply_errno(req, ENOENT, "container %s: process '%s' not found", cid,
                                               eid ? eid : "");
        return proc;
}

/* Ends a request whose reply is Empty with the outcome of its call: r < 0 answers the error the call left in *e. */
static void reply_empty(struct hull_ttrpc_request *req, int r, struct hull_error *const *e)
{
        if (r < 0)
                hull_ttrpc_request_reply_error(req, *e);
        else
                hull_ttrpc_request_reply(req, &empty.base);
}

/* Exec processes the host is done with are freed from a timer, never from inside a process's own callback. */
static int on_gc(struct hull_loop_source *src, void *userdata)
{
        struct hull_agent_service *s = userdata;

        s->gc_armed = false;
        for (size_t i = 0; i < s->n_ctrs; i++)
                hull_agent_container_forget_finished(s->ctrs[i].c);
        return 0;
}

static void gc(struct hull_agent_service *s, const char *cid)
{
        if (s->gc_armed || !s->gc_timer)
                return;
        s->gc_armed = hull_loop_timer_arm(s->gc_timer, 1, NULL) >= 0;
}

/* ---- OOM events: memory.events of every container, through inotify ---- */

struct pending_oom {
        struct hull_ttrpc_request *req;
        struct hull_agent_service *s;
        struct pending_oom *next;
};

static void oom_serve(struct hull_agent_service *s)
{
        while (s->oom_waiters && s->n_oom > 0) {
                struct pending_oom *p = s->oom_waiters;
                Grpc__OOMEvent ev = GRPC__OOMEVENT__INIT;
                ev.container_id = s->oom_queue[0];
                s->oom_waiters = p->next;
                hull_ttrpc_request_reply(p->req, &ev.base);
                free(s->oom_queue[0]);
                memmove(s->oom_queue, s->oom_queue + 1, (--s->n_oom) * sizeof(char *));
                free(p);
        }
}

static int on_inotify(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_agent_service *s = userdata;
        char buf[4096];

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        for (size_t i = 0; i < s->n_ctrs; i++) {
                const char *cg = hull_agent_container_cgroup(s->ctrs[i].c);
                uint64_t kills = 0;
                if (!cg || hull_agent_cgroup_read_key(cg, "memory.events", "oom_kill", &kills, NULL) < 0)
                        continue;
                if (kills > s->ctrs[i].oom_seen && s->n_oom < MAX_OOM_QUEUE) {
                        char *id = strdup(hull_agent_container_id(s->ctrs[i].c));
                        if (id)
                                s->oom_queue[s->n_oom++] = id;
                        log_info("container %s: OOM kill", hull_agent_container_id(s->ctrs[i].c));
                }
                s->ctrs[i].oom_seen = kills;
        }
        oom_serve(s);
        return 0;
}

static void oom_cancel(struct hull_ttrpc_request *req, void *userdata)
{
        struct pending_oom *p = userdata, **pp;

        for (pp = &p->s->oom_waiters; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        hull_ttrpc_request_reply_status(req, HULL_GRPC_CANCELLED, "cancelled");
        free(p);
}

static void get_oom_event(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_agent_service *s = userdata;
        struct pending_oom *p = calloc(1, sizeof(*p));

        if (!p) {
                hull_ttrpc_request_reply_errno(req, ENOMEM, "out of memory");
                return;
        }
        *p = (struct pending_oom){ .req = req, .s = s, .next = s->oom_waiters };
        s->oom_waiters = p;
        hull_ttrpc_request_on_cancel(req, oom_cancel, p);
        oom_serve(s);
}

/* ---- sandbox ---- */

static int load_module(struct hull_agent_service *s, const Grpc__KernelModule *m, struct hull_error **err)
{
        _cleanup_free_ char *params = NULL;
        size_t len = 1;

        if (!s->cfg.modules_dir)
                return hull_error_set(err, ENOTSUP, "kernel module %s: no modules in this guest", m->name);
        for (size_t i = 0; i < m->n_parameters; i++)
                len += strlen(m->parameters[i]) + 1;
        if (len > 65536)
                return hull_error_set(err, E2BIG, "kernel module %s: parameters too long", m->name);
        params = calloc(1, len);
        if (!params)
                return hull_error_oom(err);
        for (size_t i = 0; i < m->n_parameters; i++) {
                if (i)
                        strcat(params, " ");
                strcat(params, m->parameters[i]);
        }
        return hull_agent_module_load(s->cfg.modules_dir, m->name, params, err) < 0 ? -EIO : 0;
}

static void on_pause_exit(pid_t pid, int status, void *userdata)
{
        struct hull_agent_service *s = userdata;

        log_warn("sandbox: the pause process %d exited (%d); containers now get pid namespaces of their own", (int)pid,
                 status);
        s->pause_pid = 0;
}

static void stop_pause(struct hull_agent_service *s)
{
        if (!s->pause_pid)
                return;
        hull_agent_reaper_unwatch(s->cfg.reaper, s->pause_pid);
        /* SIGKILL is not refused, and the process has nothing to flush: collect it now rather than leave it to
         * whoever reaps after the agent. Not with a blocking waitpid(): the namespace's init exits only once every
         * process of its namespace is reaped (zap_pid_ns_processes), and the container processes there are the
         * agent's children: reap them meanwhile (5 s at most; the kernel kills them with the init). */
        if (kill(s->pause_pid, SIGKILL) == 0) {
                for (int i = 0; i < 5000; i++) {
                        pid_t r;

                        (void)hull_agent_reaper_reap(s->cfg.reaper);
                        r = waitpid(s->pause_pid, NULL, WNOHANG);
                        if (r == s->pause_pid || (r < 0 && errno != EINTR))
                                break; /* collected, here or by the reaper (ECHILD) */
                        (void)usleep(1000);
                }
        }
        s->pause_pid = 0;
}

/* CreateSandbox's work: the hostname, kernel modules, storages and the pause process of a shared pid namespace. */
static int setup_sandbox(struct hull_agent_service *s, const Grpc__CreateSandboxRequest *m, struct hull_error **err)
{
        _cleanup_error_ struct hull_error *e = NULL;
        pid_t pid;

        if (m->hostname && *m->hostname && sethostname(m->hostname, strlen(m->hostname)) < 0)
                return hull_error_set(err, errno, "hostname %s", m->hostname);
        for (size_t i = 0; i < m->n_kernel_modules; i++)
                if (load_module(s, m->kernel_modules[i], err) < 0)
                        return -EIO;
        for (size_t i = 0; i < m->n_storages; i++)
                if (hull_agent_storage_add(s->storages, m->storages[i], err) < 0)
                        return -EIO;
        if (!m->sandbox_pidns || s->pause_pid)
                return 0;
        pid = hull_agent_pause_start(err);
        if (pid < 0)
                return -EIO;
        s->pause_pid = pid;
        snprintf(s->pause_ns, sizeof(s->pause_ns), "/proc/%d/ns/pid", (int)pid);
        if (hull_agent_reaper_watch(s->cfg.reaper, pid, on_pause_exit, s, &e) < 0)
                log_warn("sandbox: %s", hull_error_message(e));
        return 0;
}

static void create_sandbox(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_agent_service *s = userdata;
        const Grpc__CreateSandboxRequest *m = (const void *)hull_ttrpc_request_message(req);
        _cleanup_error_ struct hull_error *e = NULL;

        if (s->sandbox_created) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_ALREADY_EXISTS, "sandbox %s already created",
                                                s->sandbox_id ? s->sandbox_id : "");
                return;
        }
        if (setup_sandbox(s, m, &e) < 0) {
                hull_error_prefix(&e, "CreateSandbox");
                hull_ttrpc_request_reply_error(req, e);
                return;
        }
        free(s->sandbox_id);
        s->sandbox_id = strdup(m->sandbox_id ? m->sandbox_id : "");
        s->sandbox_created = true;
        log_info("sandbox %s: created (%zu storages)", s->sandbox_id ? s->sandbox_id : "", m->n_storages);
        hull_ttrpc_request_reply(req, &empty.base);
}

static void destroy_sandbox(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_agent_service *s = userdata;

        while (s->n_ctrs > 0)
                remove_ctr(s, &s->ctrs[s->n_ctrs - 1]);
        stop_pause(s);
        s->storages = hull_agent_storages_free(s->storages);
        (void)hull_agent_storages_new(&s->storages, NULL);
        s->sandbox_created = false;
        log_info("sandbox %s: destroyed", s->sandbox_id ? s->sandbox_id : "");
        hull_ttrpc_request_reply(req, &empty.base);
        if (s->cfg.on_destroyed)
                s->cfg.on_destroyed(s->cfg.userdata);
}

/* ---- containers ---- */

static bool valid_id(const char *id)
{
        size_t n = id ? strlen(id) : 0;

        if (n == 0 || n > 256)
                return false;
        for (const char *p = id; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                      *p == '_' || *p == '.'))
                        return false;
        return id[0] != '.';
}

static void create_container(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_agent_service *s = userdata;
        const Grpc__CreateContainerRequest *m = (const void *)hull_ttrpc_request_message(req);
        _cleanup_error_ struct hull_error *e = NULL;
        struct ctr x = { .oom_wd = -1 }, *grown;

        if (!valid_id(m->container_id)) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_INVALID_ARGUMENT, "CreateContainer: bad container id");
                return;
        }
        if (find_ctr(s, m->container_id)) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_ALREADY_EXISTS, "container %s already exists",
                                                m->container_id);
                return;
        }
        if (!m->oci) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_INVALID_ARGUMENT, "CreateContainer: no OCI spec");
                return;
        }
        if (s->n_ctrs >= MAX_CONTAINERS) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_RESOURCE_EXHAUSTED, "too many containers");
                return;
        }
        x.storages = calloc(m->n_storages ? m->n_storages : 1, sizeof(char *));
        if (!x.storages)
                goto oom;
        for (size_t i = 0; i < m->n_storages; i++) {
                if (hull_agent_storage_add(s->storages, m->storages[i], &e) < 0)
                        goto fail;
                x.storages[x.n_storages] = strdup(m->storages[i]->mount_point);
                if (!x.storages[x.n_storages]) {
                        hull_agent_storage_release(s->storages, m->storages[i]->mount_point);
                        goto oom;
                }
                x.n_storages++;
        }
        struct hull_agent_container_env env = s->env;
        /* As Kata: a container asking for the sandbox's pid namespace shares the pause process's. */
        if (m->sandbox_pidns && s->pause_pid)
                env.shared_pid_ns = s->pause_ns;
        grown = reallocarray(s->ctrs, s->n_ctrs + 1, sizeof(*grown));
        if (!grown)
                goto oom;
        s->ctrs = grown;
        x.creating = calloc(1, sizeof(*x.creating));
        if (!x.creating)
                goto oom;
        *x.creating = (struct pending_create){ .req = req, .s = s };
        if (hull_agent_container_create_async(&env, m->container_id, m->oci, on_created, x.creating, &x.c, &e) < 0) {
                free(x.creating);
                goto fail;
        }
        if (s->inotify_fd >= 0 && hull_agent_container_cgroup(x.c)) {
                _cleanup_free_ char *events = NULL;
                if (asprintf(&events, "%s/memory.events", hull_agent_container_cgroup(x.c)) >= 0)
                        x.oom_wd = inotify_add_watch(s->inotify_fd, events, IN_MODIFY);
        }
        /* Answered by on_created() once the container's init has built it. */
        s->ctrs[s->n_ctrs++] = x;
        return;
oom:
        hull_error_oom(&e);
fail:
        for (size_t i = 0; i < x.n_storages; i++) {
                hull_agent_storage_release(s->storages, x.storages[i]);
                free(x.storages[i]);
        }
        free(x.storages);
        hull_error_prefix(&e, "CreateContainer %s", m->container_id);
        log_warn("%s", hull_error_message(e));
        hull_ttrpc_request_reply_error(req, e);
}

/* StartContainer and ExecProcess are answered from the loop once the process exec'd (or failed to). */
static void on_started(struct hull_agent_container *c, const struct hull_error *e, void *userdata)
{
        struct hull_ttrpc_request *req = userdata;

        if (e) {
                log_warn("%s: %s", hull_ttrpc_request_method(req), hull_error_message(e));
                hull_ttrpc_request_reply_error(req, e);
                return;
        }
        hull_ttrpc_request_reply(req, &empty.base);
}

static void start_container(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__StartContainerRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct ctr *x = request_ctr(req, userdata, m->container_id);
        _cleanup_error_ struct hull_error *e = NULL;

        if (x && hull_agent_container_start_async(x->c, on_started, req, &e) < 0)
                hull_ttrpc_request_reply_error(req, e);
}

static void remove_container(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__RemoveContainerRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct ctr *x = request_ctr(req, userdata, m->container_id);

        if (!x)
                return;
        remove_ctr(userdata, x);
        hull_ttrpc_request_reply(req, &empty.base);
}

static void exec_process(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__ExecProcessRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct ctr *x = request_ctr(req, userdata, m->container_id);
        _cleanup_error_ struct hull_error *e = NULL;

        if (x && hull_agent_container_exec_async(x->c, m->exec_id, m->process, on_started, req, &e) < 0)
                hull_ttrpc_request_reply_error(req, e);
}

static void signal_process(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__SignalProcessRequest *m = (const void *)hull_ttrpc_request_message(req);
        bool all = !m->exec_id || !*m->exec_id;
        struct ctr *x = request_ctr(req, userdata, m->container_id); /* NULL: answered, m is gone */
        _cleanup_error_ struct hull_error *e = NULL;

        if (x)
                reply_empty(req, hull_agent_container_signal(x->c, m->exec_id, (int)m->signal, all, &e), &e);
}

/* WaitProcess and ReadStdout/ReadStderr are long polls: answered once the process exits or has output. */
struct pending_poll {
        struct hull_ttrpc_request *req;
        struct hull_agent_service *s;
        char *cid;
        bool reading; /* rd, else w */
        union {
                struct hull_agent_wait w;
                struct hull_agent_read rd;
        };
};

/* NULL with the request answered when out of memory. */
static struct pending_poll *poll_new(struct hull_ttrpc_request *req, struct hull_agent_service *s, const char *cid)
{
        struct pending_poll *p = calloc(1, sizeof(*p));

        if (!p || !(p->cid = strdup(cid))) {
                free(p);
                hull_ttrpc_request_reply_errno(req, ENOMEM, "out of memory");
                return NULL;
        }
        p->req = req;
        p->s = s;
        return p;
}

static void poll_free(struct pending_poll *p)
{
        free(p->cid);
        free(p);
}

static void poll_cancel(struct hull_ttrpc_request *req, void *userdata)
{
        struct pending_poll *p = userdata;

        if (p->reading)
                hull_agent_process_read_cancel(&p->rd);
        else
                hull_agent_process_wait_cancel(&p->w);
        hull_ttrpc_request_reply_status(req, HULL_GRPC_CANCELLED, "cancelled");
        poll_free(p);
}

static void reply_exit(struct hull_ttrpc_request *req, int code)
{
        Grpc__WaitProcessResponse resp = GRPC__WAIT_PROCESS_RESPONSE__INIT;

        resp.status = code;
        hull_ttrpc_request_reply(req, &resp.base);
}

static void wait_done(struct hull_agent_wait *w, int code, void *userdata)
{
        struct pending_poll *p = userdata;

        reply_exit(p->req, code);
        gc(p->s, p->cid);
        poll_free(p);
}

static void wait_process(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_agent_service *s = userdata;
        const Grpc__WaitProcessRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_agent_process *proc = request_process(req, s, m->container_id, m->exec_id);
        struct pending_poll *p;
        int code;

        if (!proc)
                return;
        hull_agent_process_mark_waited(proc);
        if (hull_agent_process_has_exited(proc, &code)) {
                gc(s, m->container_id); /* before the reply, which frees m */
                reply_exit(req, code);
                return;
        }
        p = poll_new(req, s, m->container_id);
        if (!p)
                return;
        p->w = (struct hull_agent_wait){ .cb = wait_done, .userdata = p };
        hull_ttrpc_request_on_cancel(req, poll_cancel, p);
        hull_agent_process_wait(proc, &p->w);
}

static void write_stdin(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__WriteStreamRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_agent_process *proc = request_process(req, userdata, m->container_id, m->exec_id);
        Grpc__WriteStreamResponse resp = GRPC__WRITE_STREAM_RESPONSE__INIT;
        _cleanup_error_ struct hull_error *e = NULL;
        size_t written = 0;

        if (!proc)
                return;
        if (hull_agent_process_write(proc, m->data.data, m->data.len, &written, &e) < 0) {
                hull_ttrpc_request_reply_error(req, e);
                return;
        }
        resp.len = (uint32_t)written;
        hull_ttrpc_request_reply(req, &resp.base);
}

static void close_stdin(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__CloseStdinRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_agent_process *proc = request_process(req, userdata, m->container_id, m->exec_id);
        _cleanup_error_ struct hull_error *e = NULL;

        if (proc)
                reply_empty(req, hull_agent_process_close_stdin(proc, &e), &e);
}

static void tty_win_resize(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__TtyWinResizeRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_agent_process *proc = request_process(req, userdata, m->container_id, m->exec_id);
        _cleanup_error_ struct hull_error *e = NULL;

        if (proc)
                reply_empty(req, hull_agent_process_resize(proc, m->row, m->column, &e), &e);
}

static void read_done(struct hull_agent_read *rd, const void *data, size_t len, void *userdata)
{
        struct pending_poll *p = userdata;
        Grpc__ReadStreamResponse resp = GRPC__READ_STREAM_RESPONSE__INIT;

        resp.data.data = (uint8_t *)data;
        resp.data.len = len;
        hull_ttrpc_request_reply(p->req, &resp.base);
        if (len == 0)
                gc(p->s, p->cid);
        poll_free(p);
}

static void read_stream(struct hull_ttrpc_request *req, void *userdata, enum hull_agent_stream which)
{
        struct hull_agent_service *s = userdata;
        const Grpc__ReadStreamRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct hull_agent_process *proc = request_process(req, s, m->container_id, m->exec_id);
        struct pending_poll *p;

        if (!proc)
                return;
        p = poll_new(req, s, m->container_id);
        if (!p)
                return;
        p->reading = true;
        p->rd = (struct hull_agent_read){ .cb = read_done, .userdata = p, .max = m->len };
        hull_ttrpc_request_on_cancel(req, poll_cancel, p);
        hull_agent_process_read(proc, which, &p->rd);
}

static void read_stdout(struct hull_ttrpc_request *req, void *userdata)
{
        read_stream(req, userdata, HULL_AGENT_STDOUT);
}

static void read_stderr(struct hull_ttrpc_request *req, void *userdata)
{
        read_stream(req, userdata, HULL_AGENT_STDERR);
}

static void pause_or_resume(struct hull_ttrpc_request *req, void *userdata, bool pause)
{
        /* PauseContainerRequest and ResumeContainerRequest have the same single field. */
        const Grpc__PauseContainerRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct ctr *x = request_ctr(req, userdata, m->container_id);
        _cleanup_error_ struct hull_error *e = NULL;

        if (x)
                reply_empty(req, hull_agent_container_pause(x->c, pause, &e), &e);
}

static void pause_container(struct hull_ttrpc_request *req, void *userdata)
{
        pause_or_resume(req, userdata, true);
}

static void resume_container(struct hull_ttrpc_request *req, void *userdata)
{
        pause_or_resume(req, userdata, false);
}

static void stats_container(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__StatsContainerRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct ctr *x = request_ctr(req, userdata, m->container_id);
        _cleanup_error_ struct hull_error *e = NULL;
        Grpc__StatsContainerResponse resp = GRPC__STATS_CONTAINER_RESPONSE__INIT;
        Grpc__CgroupStats cg = GRPC__CGROUP_STATS__INIT;
        Grpc__CpuStats cpu = GRPC__CPU_STATS__INIT;
        Grpc__CpuUsage usage = GRPC__CPU_USAGE__INIT;
        Grpc__MemoryStats mem = GRPC__MEMORY_STATS__INIT;
        Grpc__MemoryData mdata = GRPC__MEMORY_DATA__INIT;
        Grpc__PidsStats pids = GRPC__PIDS_STATS__INIT;
        struct hull_agent_cgroup_stats st;

        if (!x)
                return;
        if (!hull_agent_container_cgroup(x->c)) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_UNIMPLEMENTED, "container %s has no cgroup",
                                                m->container_id);
                return;
        }
        if (hull_agent_cgroup_stats(hull_agent_container_cgroup(x->c), &st, &e) < 0) {
                hull_ttrpc_request_reply_error(req, e);
                return;
        }
        usage.total_usage = st.cpu_usage_usec * 1000;
        usage.usage_in_usermode = st.cpu_user_usec * 1000;
        usage.usage_in_kernelmode = st.cpu_system_usec * 1000;
        cpu.cpu_usage = &usage;
        mdata.usage = st.memory_current;
        mdata.max_usage = st.memory_peak;
        mdata.limit = st.memory_max;
        mdata.failcnt = st.oom_kills;
        mem.usage = &mdata;
        mem.use_hierarchy = true;
        pids.current = st.pids_current;
        pids.limit = st.pids_max;
        cg.cpu_stats = &cpu;
        cg.memory_stats = &mem;
        cg.pids_stats = &pids;
        resp.cgroup_stats = &cg;
        hull_ttrpc_request_reply(req, &resp.base);
}

/* UpdateContainer: the new cgroup v2 limits (cpu, memory, pids, cpuset) of a running container. */
static void update_container(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__UpdateContainerRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct ctr *x = request_ctr(req, userdata, m->container_id);
        _cleanup_error_ struct hull_error *e = NULL;

        if (!x)
                return;
        if (!hull_agent_container_cgroup(x->c)) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_FAILED_PRECONDITION,
                                                "UpdateContainer %s: the container has no cgroup", m->container_id);
                return;
        }
        if (!m->resources) {
                hull_ttrpc_request_reply(req, &empty.base);
                return;
        }
        if (hull_agent_cgroup_apply(hull_agent_container_cgroup(x->c), m->resources, &e) < 0) {
                hull_error_prefix(&e, "UpdateContainer %s", m->container_id);
                hull_ttrpc_request_reply_error(req, e);
                return;
        }
        hull_ttrpc_request_reply(req, &empty.base);
}

/* SetGuestDateTime: the guest's wall clock from the host's (Kata sends it after a VM is resumed or restored). */
static void set_guest_date_time(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__SetGuestDateTimeRequest *m = (const void *)hull_ttrpc_request_message(req);
        struct timespec ts;

        if (m->sec < 0 || m->usec < 0 || m->usec >= 1000000) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_INVALID_ARGUMENT,
                                                "SetGuestDateTime: bad time %" PRId64 " s %" PRId64 " us", m->sec,
                                                m->usec);
                return;
        }
        ts = (struct timespec){ .tv_sec = (time_t)m->sec, .tv_nsec = (long)m->usec * 1000 };
        if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
                hull_ttrpc_request_reply_errno(req, errno, "SetGuestDateTime: clock_settime");
                return;
        }
        log_info("guest clock set to %" PRId64 ".%06" PRId64, m->sec, m->usec);
        hull_ttrpc_request_reply(req, &empty.base);
}

/* ---- networking: UpdateInterface, UpdateRoutes, ListInterfaces, ListRoutes ---- */

/* A networking call's reply, a tree network.c built, in the member its call fills. */
struct net_reply {
        Types__Interface *interface;
        Grpc__Interfaces *interfaces;
        Grpc__Routes *routes;
};

static void net_reply_free(struct net_reply *out)
{
        hull_agent_net_interface_free(out->interface);
        hull_agent_net_interfaces_free(out->interfaces);
        hull_agent_net_routes_free(out->routes);
}

/* Each call returns the message to send (inside *out), or NULL with *err set. */
static const ProtobufCMessage *net_update_interface(struct hull_nl *nl, const ProtobufCMessage *msg,
                                                    struct net_reply *out, struct hull_error **err)
{
        const Grpc__UpdateInterfaceRequest *m = (const void *)msg;
        const Types__Interface *i;

        if (hull_agent_net_update_interface(nl, m->interface, &out->interface, err) < 0)
                return NULL;
        i = out->interface;
        log_info("UpdateInterface: %s (%s), %zu addresses, mtu %llu", i->name, i->hwaddr, i->n_ipaddresses,
                 (unsigned long long)i->mtu);
        return &i->base;
}

static const ProtobufCMessage *net_update_routes(struct hull_nl *nl, const ProtobufCMessage *msg, struct net_reply *out,
                                                 struct hull_error **err)
{
        const Grpc__UpdateRoutesRequest *m = (const void *)msg;

        if (hull_agent_net_update_routes(nl, m->routes, &out->routes, err) < 0)
                return NULL;
        log_info("UpdateRoutes: %zu requested, %zu in the main table", m->routes ? m->routes->n_routes : 0,
                 out->routes->n_routes);
        return &out->routes->base;
}

static const ProtobufCMessage *net_list_interfaces(struct hull_nl *nl, const ProtobufCMessage *msg,
                                                   struct net_reply *out, struct hull_error **err)
{
        return hull_agent_net_list_interfaces(nl, &out->interfaces, err) < 0 ? NULL : &out->interfaces->base;
}

static const ProtobufCMessage *net_list_routes(struct hull_nl *nl, const ProtobufCMessage *msg, struct net_reply *out,
                                               struct hull_error **err)
{
        return hull_agent_net_list_routes(nl, &out->routes, err) < 0 ? NULL : &out->routes->base;
}

static const struct net_method {
        const char *method;
        const ProtobufCMessage *(*call)(struct hull_nl *nl, const ProtobufCMessage *msg, struct net_reply *out,
                                        struct hull_error **err);
} net_methods[] = {
        { "UpdateInterface", net_update_interface },
        { "UpdateRoutes", net_update_routes },
        { "ListInterfaces", net_list_interfaces },
        { "ListRoutes", net_list_routes },
};

/* The handler of every net_methods entry (its userdata): one rtnetlink socket per call, the agent's network
 * namespace being the sandbox's. */
static void serve_net(struct hull_ttrpc_request *req, void *userdata)
{
        const struct net_method *nm = userdata;
        _cleanup_(net_reply_free) struct net_reply out = { 0 };
        _cleanup_(hull_nl_closep) struct hull_nl *nl = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        const ProtobufCMessage *resp = NULL;

        if (hull_nl_open(&nl, &e) >= 0)
                resp = nm->call(nl, hull_ttrpc_request_message(req), &out, &e);
        if (!resp) {
                hull_error_prefix(&e, "%s", nm->method);
                hull_ttrpc_request_reply_error(req, e);
                return;
        }
        hull_ttrpc_request_reply(req, resp);
}

static void get_guest_details(struct hull_ttrpc_request *req, void *userdata)
{
        struct hull_agent_service *s = userdata;
        Grpc__GuestDetailsResponse resp = GRPC__GUEST_DETAILS_RESPONSE__INIT;
        Grpc__AgentDetails details = GRPC__AGENT_DETAILS__INIT;
        static char *storage_handlers[] = { "virtio-fs", "blk", "local", "ephemeral", "bind" };
        _cleanup_free_ char *block = NULL;

        if (hull_read_file("/sys/devices/system/memory/block_size_bytes", 64, &block, NULL, NULL) == 0)
                resp.mem_block_size_bytes = strtoull(block, NULL, 16);
        details.version = (char *)HULL_AGENT_VERSION;
        details.init_daemon = s->cfg.init_daemon;
        details.storage_handlers = storage_handlers;
        details.n_storage_handlers = ARRAY_SIZE(storage_handlers);
        details.supports_seccomp = true;
        resp.agent_details = &details;
        hull_ttrpc_request_reply(req, &resp.base);
}

static void copy_file(struct hull_ttrpc_request *req, void *userdata)
{
        const Grpc__CopyFileRequest *m = (const void *)hull_ttrpc_request_message(req);
        _cleanup_error_ struct hull_error *e = NULL;
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -1;
        char *slash;

        if (!m->path || m->path[0] != '/' || strstr(m->path, "/../") || strlen(m->path) > 4096) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_INVALID_ARGUMENT, "CopyFile: bad path");
                return;
        }
        if (m->file_size < 0 || m->file_size > HULL_AGENT_COPY_FILE_MAX || m->offset < 0 || m->offset > m->file_size ||
            (int64_t)m->data.len > m->file_size - m->offset) {
                hull_ttrpc_request_reply_status(req, HULL_GRPC_INVALID_ARGUMENT,
                                                "CopyFile %s: size %lld, offset %lld, %zu bytes: over the limit "
                                                "(%lld) or past the end",
                                                m->path, (long long)m->file_size, (long long)m->offset, m->data.len,
                                                (long long)HULL_AGENT_COPY_FILE_MAX);
                return;
        }
        dir = strdup(m->path);
        if (!dir) {
                hull_ttrpc_request_reply_errno(req, ENOMEM, "out of memory");
                return;
        }
        slash = strrchr(dir, '/');
        *slash = '\0';
        if (*dir && hull_mkdir_p(dir, m->dir_mode ? m->dir_mode & 07777 : 0755, &e) < 0) {
                hull_ttrpc_request_reply_error(req, e);
                return;
        }
        fd = open(m->path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (m->offset == 0 ? O_TRUNC : 0),
                  m->file_mode ? m->file_mode & 07777 : 0644);
        if (fd < 0 || (m->data.len && pwrite(fd, m->data.data, m->data.len, m->offset) != (ssize_t)m->data.len)) {
                hull_ttrpc_request_reply_errno(req, errno, "CopyFile %s", m->path);
                return;
        }
        (void)fchmod(fd, m->file_mode ? m->file_mode & 07777 : 0644);
        (void)fchown(fd, m->uid, m->gid);
        hull_ttrpc_request_reply(req, &empty.base);
}

static void health_check(struct hull_ttrpc_request *req, void *userdata)
{
        Grpc__HealthCheckResponse resp = GRPC__HEALTH_CHECK_RESPONSE__INIT;

        resp.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        hull_ttrpc_request_reply(req, &resp.base);
}

static void health_version(struct hull_ttrpc_request *req, void *userdata)
{
        Grpc__VersionCheckResponse resp = GRPC__VERSION_CHECK_RESPONSE__INIT;

        resp.agent_version = (char *)HULL_AGENT_VERSION;
        resp.grpc_version = (char *)"ttrpc";
        hull_ttrpc_request_reply(req, &resp.base);
}

static const struct {
        const char *method;
        hull_ttrpc_handler handler;
} agent_methods[] = {
        { "CreateSandbox", create_sandbox },
        { "DestroySandbox", destroy_sandbox },
        { "CreateContainer", create_container },
        { "StartContainer", start_container },
        { "RemoveContainer", remove_container },
        { "ExecProcess", exec_process },
        { "SignalProcess", signal_process },
        { "WaitProcess", wait_process },
        { "WriteStdin", write_stdin },
        { "CloseStdin", close_stdin },
        { "ReadStdout", read_stdout },
        { "ReadStderr", read_stderr },
        { "TtyWinResize", tty_win_resize },
        { "PauseContainer", pause_container },
        { "ResumeContainer", resume_container },
        { "StatsContainer", stats_container },
        { "GetGuestDetails", get_guest_details },
        { "CopyFile", copy_file },
        { "GetOOMEvent", get_oom_event },
        { "UpdateContainer", update_container },
        { "SetGuestDateTime", set_guest_date_time },
};

int hull_agent_service_new(const struct hull_agent_service_config *cfg, struct hull_ttrpc_server *server,
                           struct hull_agent_service **ret, struct hull_error **err)
{
        struct hull_agent_service *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return hull_error_oom(err);
        s->cfg = *cfg;
        s->server = server;
        s->inotify_fd = -1;
        s->env = (struct hull_agent_container_env){ .loop = cfg->loop,
                                                    .reaper = cfg->reaper,
                                                    .cgroup_root = cfg->cgroup_root };
        r = hull_agent_storages_new(&s->storages, err);
        if (r < 0)
                goto fail;
        r = hull_loop_add_timer(cfg->loop, 0, on_gc, s, &s->gc_timer, err);
        if (r < 0)
                goto fail;
        if (cfg->cgroup_root) {
                s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
                if (s->inotify_fd < 0) {
                        r = hull_error_errno(err, errno, "inotify");
                        goto fail;
                }
                r = hull_loop_add_fd(cfg->loop, s->inotify_fd, EPOLLIN, on_inotify, s, &s->inotify_src, err);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < ARRAY_SIZE(agent_methods); i++) {
                r = hull_ttrpc_server_register_pb(server, &grpc__agent_service__descriptor, agent_methods[i].method,
                                                  agent_methods[i].handler, s, err);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < ARRAY_SIZE(net_methods); i++) {
                r = hull_ttrpc_server_register_pb(server, &grpc__agent_service__descriptor, net_methods[i].method,
                                                  serve_net, (void *)&net_methods[i], err);
                if (r < 0)
                        goto fail;
        }
        r = hull_ttrpc_server_register_pb(server, &grpc__health__descriptor, "Check", health_check, s, err);
        if (r >= 0)
                r = hull_ttrpc_server_register_pb(server, &grpc__health__descriptor, "Version", health_version, s, err);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        hull_agent_service_free(s);
        return r;
}

struct hull_agent_service *hull_agent_service_free(struct hull_agent_service *s)
{
        if (!s)
                return NULL;
        while (s->n_ctrs > 0)
                remove_ctr(s, &s->ctrs[s->n_ctrs - 1]);
        stop_pause(s);
        free(s->ctrs);
        hull_agent_storages_free(s->storages);
        hull_loop_source_remove(s->inotify_src);
        hull_loop_source_remove(s->gc_timer);
        hull_closep(&s->inotify_fd);
        while (s->oom_waiters) {
                struct pending_oom *p = s->oom_waiters;
                s->oom_waiters = p->next;
                hull_ttrpc_request_reply_status(p->req, HULL_GRPC_UNAVAILABLE, "agent stopping");
                free(p);
        }
        for (size_t i = 0; i < s->n_oom; i++)
                free(s->oom_queue[i]);
        free(s->sandbox_id);
        free(s);
        return NULL;
}
