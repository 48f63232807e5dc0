/* Containers and processes: agent calls chained on the loop; every pending call holds a container reference. */
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "agent.pb-c.h"
#include "error.h"
#include "log.h"
#include "loop.h"
#include "sandbox/agent-client.h"
#include "sandbox/container.h"
#include "sandbox/sandbox.h"
#include "sandbox/spec.h"
#include "sandbox/state.h"
#include "sandbox/stdio.h"

#define MAX_PROCESSES 1024
#define CALL_TIMEOUT_USEC (60ull * 1000000ull)

struct hull_process {
        struct hull_container *c;
        char *exec_id;
        enum hull_process_status status;
        struct hull_process_io io;
        int fds[3];
        Grpc__Process *exec_spec;
        struct hull_stdio_relay *relay;
        bool waited, exited, starting;
        bool close_stdin; /* CloseIO came before the relay existed: close once it has sent what stdin holds */
        bool wait_sent; /* WaitProcess is out (sent once: at start, or by a signal before it) */
        int agent_status;
        uint32_t exit_status;
        uint64_t exited_at;
};

struct hull_container {
        unsigned refs;
        struct hull_loop *loop;
        char *id, *bundle;
        struct json_object *spec;
        struct hull_sandbox *sb;
        struct hull_agent *agent;
        bool in_guest, paused, shared, gone;
        struct hull_process **procs;
        size_t n_procs;
        hull_process_exit_cb on_exit;
        void *userdata;
};

struct op {
        struct hull_container *c;
        struct hull_process *p;
        hull_op_cb cb;
        hull_stats_cb stats_cb;
        void *userdata;
        const char *what;
};

static void process_free(struct hull_process *p)
{
        if (!p)
                return;
        p->relay = hull_stdio_relay_free(p->relay);
        for (int i = 0; i < 3; i++)
                if (p->fds[i] >= 0)
                        close(p->fds[i]);
        if (p->exec_spec)
                protobuf_c_message_free_unpacked(&p->exec_spec->base, NULL);
        free((char *)p->io.stdin_uri);
        free((char *)p->io.stdout_uri);
        free((char *)p->io.stderr_uri);
        free(p->exec_id);
        free(p);
}

struct hull_container *hull_container_ref(struct hull_container *c)
{
        c->refs++;
        return c;
}

struct hull_container *hull_container_unref(struct hull_container *c)
{
        if (!c || --c->refs > 0)
                return NULL;
        for (size_t i = 0; i < c->n_procs; i++)
                process_free(c->procs[i]);
        free(c->procs);
        if (c->spec)
                json_object_put(c->spec);
        free(c->id);
        free(c->bundle);
        free(c);
        return NULL;
}

static struct hull_process *process_new(struct hull_container *c, const char *exec_id)
{
        struct hull_process *p, **v;

        if (c->n_procs >= MAX_PROCESSES)
                return NULL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->fds[0] = p->fds[1] = p->fds[2] = -1;
        p->c = c;
        p->exec_id = strdup(exec_id);
        v = realloc(c->procs, (c->n_procs + 1) * sizeof(*v));
        if (!p->exec_id || !v) {
                free(p->exec_id);
                free(p);
                if (v)
                        c->procs = v;
                return NULL;
        }
        c->procs = v;
        c->procs[c->n_procs++] = p;
        return p;
}

int hull_container_new(struct hull_loop *loop, const char *id, const char *bundle, struct json_object *spec,
                       hull_process_exit_cb on_exit, void *userdata, struct hull_container **ret,
                       struct hull_error **err)
{
        struct hull_container *c = calloc(1, sizeof(*c));

        if (!c) {
                json_object_put(spec);
                return hull_error_oom(err);
        }
        c->refs = 1;
        c->loop = loop;
        c->spec = spec;
        c->on_exit = on_exit;
        c->userdata = userdata;
        if (!(c->id = strdup(id)) || !(c->bundle = strdup(bundle)) || !process_new(c, "")) {
                hull_container_unref(c);
                return hull_error_oom(err);
        }
        *ret = c;
        return 0;
}

static int io_copy(struct hull_process_io *dst, const struct hull_process_io *src)
{
        dst->terminal = src->terminal;
        if (!(dst->stdin_uri = strdup(src->stdin_uri ? src->stdin_uri : "")) ||
            !(dst->stdout_uri = strdup(src->stdout_uri ? src->stdout_uri : "")) ||
            !(dst->stderr_uri = strdup(src->stderr_uri ? src->stderr_uri : "")))
                return -ENOMEM;
        return 0;
}

static int process_open_io(struct hull_process *p, const struct hull_process_io *io, struct hull_error **err)
{
        struct hull_stdio_uri u[3];
        const char *s[3] = { io->stdin_uri, io->stdout_uri, io->stderr_uri };
        int r;

        if (io_copy(&p->io, io) < 0)
                return hull_error_oom(err);
        for (int i = 0; i < 3; i++) {
                r = hull_stdio_parse(s[i], &u[i], err);
                if (r < 0)
                        return r;
        }
        if (u[1].kind == HULL_STDIO_CONSOLE || u[0].kind == HULL_STDIO_CONSOLE) {
                const struct hull_stdio_uri *cu = u[1].kind == HULL_STDIO_CONSOLE ? &u[1] : &u[0];
                int slave;
                if (!io->terminal)
                        return hull_error_set(err, EINVAL, "hull-console:// needs terminal=true");
                r = hull_stdio_console(cu->path, &slave, err);
                if (r < 0)
                        return r;
                p->fds[1] = slave;
                p->fds[0] = fcntl(slave, F_DUPFD_CLOEXEC, 3);
                if (p->fds[0] < 0)
                        return hull_error_errno(err, errno, "dup the console");
                return 0;
        }
        for (int i = 0; i < 3; i++) {
                r = hull_stdio_open(&u[i], i > 0, &p->fds[i], err);
                if (r < 0)
                        return hull_error_prefix(err, "%s", i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
        }
        return 0;
}

int hull_container_set_io(struct hull_container *c, const struct hull_process_io *io, struct hull_error **err)
{
        return process_open_io(hull_container_init(c), io, err);
}

static struct op *op_new(struct hull_container *c, struct hull_process *p, hull_op_cb cb, void *ud, const char *what)
{
        struct op *o = calloc(1, sizeof(*o));

        if (!o)
                return NULL;
        o->c = hull_container_ref(c);
        o->p = p;
        o->cb = cb;
        o->userdata = ud;
        o->what = what;
        return o;
}

static void op_end(struct op *o, int r, const struct hull_error *err)
{
        if (o->cb)
                o->cb(r, err, o->userdata);
        hull_container_unref(o->c);
        free(o);
}

static int op_call(struct op *o, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout, hull_agent_reply_cb done,
                   struct hull_error **err)
{
        int r;

        if (!o)
                return hull_error_oom(err);
        if (o->c->gone) {
                r = hull_error_set(err, ESRCH, "container %s: the VM is gone", o->c->id);
        } else {
                r = hull_agent_call(o->c->agent, method, req, resp_desc, timeout, done, o, err);
                if (r >= 0)
                        return 0;
        }
        o->cb = NULL;
        op_end(o, r, NULL);
        return r;
}

/* The reply of a call that only needs passing on. */
static void simple_done(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct op *o = userdata;

        op_end(o, r, err);
}

static void create_done(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct op *o = userdata;

        if (r >= 0) {
                o->c->in_guest = true;
                /* A phase mark of the start-time split (docs/performance.md, bench/hullbench/figures.py). */
                log_debug("container %s: CreateContainer done", o->c->id);
        }
        op_end(o, r, err);
}

int hull_container_create(struct hull_container *c, struct hull_sandbox *sb, hull_op_cb cb, void *userdata,
                          struct hull_error **err)
{
        Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
        Grpc__Spec *aspec = NULL;
        struct hull_spec_bind *binds = NULL;
        size_t nb = 0;
        struct json_object *root, *path;
        _cleanup_free_ char *rootfs = NULL, *rel = NULL;
        int r;

        c->sb = sb;
        c->agent = hull_sandbox_agent(sb);
        if (!json_object_object_get_ex(c->spec, "root", &root) || !json_object_object_get_ex(root, "path", &path) ||
            !json_object_is_type(path, json_type_string))
                return hull_error_set(err, EINVAL, "container %s: config.json has no root.path", c->id);
        if (json_object_get_string(path)[0] == '/')
                rootfs = strdup(json_object_get_string(path));
        else if (asprintf(&rootfs, "%s/%s", c->bundle, json_object_get_string(path)) < 0)
                rootfs = NULL;
        if (!rootfs)
                return hull_error_oom(err);
        r = hull_spec_to_agent(c->spec, &aspec, err);
        if (r < 0)
                return hull_error_prefix(err, "container %s: config.json", c->id);
        r = hull_spec_constrain(aspec, c->id, &binds, &nb, err);
        if (r < 0)
                goto out;
        c->shared = true;
        if (asprintf(&rel, "%s/rootfs", c->id) < 0) {
                r = hull_error_oom(err);
                goto out;
        }
        r = hull_sandbox_share(sb, rootfs, rel, false, err);
        if (r < 0) {
                hull_error_prefix(err, "container %s: rootfs", c->id);
                goto out;
        }
        for (size_t i = 0; i < nb; i++) {
                _cleanup_free_ char *src = NULL;
                if (binds[i].source[0] == '/')
                        src = strdup(binds[i].source);
                else if (asprintf(&src, "%s/%s", c->bundle, binds[i].source) < 0)
                        src = NULL;
                if (!src) {
                        r = hull_error_oom(err);
                        goto out;
                }
                r = hull_sandbox_share(sb, src, binds[i].target, binds[i].readonly, err);
                if (r < 0) {
                        hull_error_prefix(err, "container %s: mount", c->id);
                        goto out;
                }
        }
        req.container_id = c->id;
        req.exec_id = c->id;
        req.oci = aspec;
        r = op_call(op_new(c, hull_container_init(c), cb, userdata, "CreateContainer"), "CreateContainer", &req.base,
                    &google__protobuf__empty__descriptor, CALL_TIMEOUT_USEC, create_done, err);
out:
        hull_spec_binds_free(binds, nb);
        if (aspec)
                protobuf_c_message_free_unpacked(&aspec->base, NULL);
        return r;
}

int hull_container_add_exec(struct hull_container *c, const char *exec_id, const char *process_json, size_t len,
                            const struct hull_process_io *io, struct hull_process **ret, struct hull_error **err)
{
        struct json_object *o = NULL;
        struct hull_process *p;
        int r;

        if (!exec_id || !*exec_id)
                return hull_error_set(err, EINVAL, "exec: an exec id is required");
        if (hull_container_process(c, exec_id))
                return hull_error_set(err, EEXIST, "exec %s/%s already exists", c->id, exec_id);
        r = hull_spec_parse(process_json, len, &o, err);
        if (r < 0)
                return hull_error_prefix(err, "exec %s/%s: process", c->id, exec_id);
        p = process_new(c, exec_id);
        if (!p) {
                json_object_put(o);
                return hull_error_oom(err);
        }
        r = hull_spec_process_to_agent(o, &p->exec_spec, err);
        json_object_put(o);
        if (r >= 0)
                r = process_open_io(p, io, err);
        if (r < 0) {
                hull_container_drop_process(c, p);
                return hull_error_prefix(err, "exec %s/%s", c->id, exec_id);
        }
        *ret = p;
        return 0;
}

static void check_exit(struct hull_process *p)
{
        /* While it starts, its output relay is not there yet: started() looks again. */
        if (p->exited || !p->waited || p->starting || !hull_stdio_relay_eof(p->relay))
                return;
        p->exited = true;
        p->status = HULL_PROCESS_STOPPED;
        p->exit_status = (uint32_t)p->agent_status;
        p->exited_at = hull_realtime_ns();
        log_info("container %s%s%s: exited with status %u", p->c->id, *p->exec_id ? "/" : "", p->exec_id,
                 p->exit_status);
        if (p->c->on_exit)
                p->c->on_exit(p, p->c->userdata);
}

static void relay_eof(struct hull_stdio_relay *r, void *userdata)
{
        check_exit(userdata);
}

static void wait_done(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct op *o = userdata;
        struct hull_process *p = o->p;

        if (o->c->gone) {
                /* the process was reported by hull_container_vm_gone() (and may be freed since) */
        } else if (r >= 0 && !p->exited) {
                p->agent_status = ((const Grpc__WaitProcessResponse *)resp)->status;
                if (p->agent_status < 0 || p->agent_status > 255)
                        p->agent_status = 255;
                p->waited = true;
                check_exit(p);
        } else if (r < 0 && r != -ECANCELED) {
                log_warn("container %s: WaitProcess %s: %s", o->c->id, p->exec_id, hull_error_message(err));
        }
        op_end(o, 0, NULL);
}

/* WaitProcess for p, once: from its start, or from a signal sent to it before (see kill_done()). */
static void process_wait(struct hull_container *c, struct hull_process *p)
{
        Grpc__WaitProcessRequest wreq = GRPC__WAIT_PROCESS_REQUEST__INIT;
        _cleanup_error_ struct hull_error *e = NULL;

        if (p->wait_sent)
                return;
        wreq.container_id = c->id;
        wreq.exec_id = p->exec_id;
        p->wait_sent = true;
        if (op_call(op_new(c, p, NULL, NULL, "WaitProcess"), "WaitProcess", &wreq.base,
                    &grpc__wait_process_response__descriptor, 0, wait_done, &e) < 0) {
                p->wait_sent = false;
                log_warn("container %s: WaitProcess: %s", c->id, hull_error_message(e));
        }
}

static void started(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct op *o = userdata;
        struct hull_process *p = o->p;
        struct hull_stdio_relay_opts ro = { 0 };
        _cleanup_error_ struct hull_error *e = NULL;

        p->starting = false;
        if (r < 0 || o->c->gone) {
                /* A start refused because the init already ended (killed before it): its WaitProcess tells. */
                check_exit(p);
                op_end(o, r < 0 ? r : -ESRCH, err);
                return;
        }
        p->status = HULL_PROCESS_RUNNING;
        /* A phase mark of the start-time split (docs/performance.md, bench/hullbench/figures.py). */
        if (*p->exec_id)
                log_debug("container %s/%s: ExecProcess done", o->c->id, p->exec_id);
        else
                log_debug("container %s: StartContainer done", o->c->id);
        ro.loop = o->c->loop;
        ro.agent = o->c->agent;
        ro.container_id = o->c->id;
        ro.exec_id = p->exec_id;
        ro.in_fd = TAKE_FD(p->fds[0]);
        ro.out_fd = TAKE_FD(p->fds[1]);
        ro.err_fd = TAKE_FD(p->fds[2]);
        ro.terminal = p->io.terminal;
        ro.on_eof = relay_eof;
        ro.userdata = p;
        if (hull_stdio_relay_start(&ro, &p->relay, &e) < 0)
                log_warn("container %s: stdio: %s", o->c->id, hull_error_message(e));
        else if (p->close_stdin)
                hull_stdio_relay_close_stdin(p->relay);
        hull_process_tty_changed(p);
        process_wait(o->c, p);
        /* It may have ended already (its WaitProcess came back while the start was under way). */
        check_exit(p);
        op_end(o, 0, NULL);
}

int hull_process_start(struct hull_process *p, hull_op_cb cb, void *userdata, struct hull_error **err)
{
        struct hull_container *c = p->c;

        if (p->status == HULL_PROCESS_STOPPED)
                return hull_error_set(err, EINVAL, "%s%s%s: cannot start a stopped process", c->id,
                                      *p->exec_id ? "/" : "", p->exec_id);
        if (p->status != HULL_PROCESS_CREATED || p->starting)
                return hull_error_set(err, EINVAL, "%s%s%s: already started", c->id, *p->exec_id ? "/" : "",
                                      p->exec_id);
        p->starting = true;
        if (!*p->exec_id) {
                Grpc__StartContainerRequest req = GRPC__START_CONTAINER_REQUEST__INIT;
                req.container_id = c->id;
                return op_call(op_new(c, p, cb, userdata, "StartContainer"), "StartContainer", &req.base,
                               &google__protobuf__empty__descriptor, CALL_TIMEOUT_USEC, started, err);
        } else {
                Grpc__ExecProcessRequest req = GRPC__EXEC_PROCESS_REQUEST__INIT;
                req.container_id = c->id;
                req.exec_id = p->exec_id;
                req.process = p->exec_spec;
                if (p->exec_spec)
                        p->exec_spec->terminal = p->io.terminal;
                return op_call(op_new(c, p, cb, userdata, "ExecProcess"), "ExecProcess", &req.base,
                               &google__protobuf__empty__descriptor, CALL_TIMEOUT_USEC, started, err);
        }
}

static void kill_done(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct op *o = userdata;
        struct hull_process *init = hull_container_init(o->c);

        /* A created container's init, signalled before its start, may end there (the agent's init waits for start
         * with default signal dispositions); runc then reports the container stopped. Learn its end as a started
         * process's: WaitProcess. */
        if (r >= 0 && !o->c->gone && o->c->in_guest && o->p == init && init->status == HULL_PROCESS_CREATED &&
            !init->starting)
                process_wait(o->c, init);
        op_end(o, r, err);
}

int hull_process_kill(struct hull_process *p, uint32_t signo, bool all, hull_op_cb cb, void *userdata,
                      struct hull_error **err)
{
        Grpc__SignalProcessRequest req = GRPC__SIGNAL_PROCESS_REQUEST__INIT;

        if (signo == 0 || signo > 64)
                return hull_error_set(err, EINVAL, "signal %u is out of range", signo);
        req.container_id = p->c->id;
        req.exec_id = all ? (char *)"" : p->exec_id;
        req.signal = signo;
        return op_call(op_new(p->c, p, cb, userdata, "SignalProcess"), "SignalProcess", &req.base,
                       &google__protobuf__empty__descriptor, CALL_TIMEOUT_USEC, kill_done, err);
}

int hull_process_resize(struct hull_process *p, uint32_t width, uint32_t height, hull_op_cb cb, void *userdata,
                        struct hull_error **err)
{
        Grpc__TtyWinResizeRequest req = GRPC__TTY_WIN_RESIZE_REQUEST__INIT;
        int tty = hull_process_tty(p);

        if (tty >= 0) { /* keep the host pty's size in step, so the next change is seen as one */
                struct winsize ws = { .ws_row = (unsigned short)height, .ws_col = (unsigned short)width };
                ioctl(tty, TIOCSWINSZ, &ws);
        }
        req.container_id = p->c->id;
        req.exec_id = p->exec_id;
        req.row = height;
        req.column = width;
        return op_call(op_new(p->c, p, cb, userdata, "TtyWinResize"), "TtyWinResize", &req.base,
                       &google__protobuf__empty__descriptor, CALL_TIMEOUT_USEC, simple_done, err);
}

void hull_process_tty_changed(struct hull_process *p)
{
        struct winsize ws;
        int tty = hull_process_tty(p);

        if (tty < 0 || ioctl(tty, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0)
                return;
        hull_process_resize(p, ws.ws_col, ws.ws_row, NULL, NULL, NULL);
}

void hull_process_close_stdin(struct hull_process *p)
{
        /* Before the start the relay does not exist yet: what the client wrote before its CloseIO still goes in. */
        if (p->relay)
                hull_stdio_relay_close_stdin(p->relay);
        else
                p->close_stdin = true;
}

void hull_container_vm_gone(struct hull_container *c, uint32_t status)
{
        c->gone = true;
        c->in_guest = false;
        for (size_t i = 0; i < c->n_procs; i++) {
                struct hull_process *p = c->procs[i];
                if (p->exited)
                        continue;
                hull_stdio_relay_abort(p->relay);
                if (p->status == HULL_PROCESS_CREATED && !p->starting && *p->exec_id)
                        continue; /* an exec never started has nothing to report */
                p->agent_status = (int)status;
                p->waited = true;
                check_exit(p);
        }
}

int hull_container_pause(struct hull_container *c, bool pause, hull_op_cb cb, void *userdata, struct hull_error **err)
{
        Grpc__PauseContainerRequest req = GRPC__PAUSE_CONTAINER_REQUEST__INIT;

        req.container_id = c->id;
        if (pause)
                return op_call(op_new(c, NULL, cb, userdata, "PauseContainer"), "PauseContainer", &req.base,
                               &google__protobuf__empty__descriptor, CALL_TIMEOUT_USEC, simple_done, err);
        /* ResumeContainerRequest has the same single field. */
        return op_call(op_new(c, NULL, cb, userdata, "ResumeContainer"), "ResumeContainer", &req.base,
                       &google__protobuf__empty__descriptor, CALL_TIMEOUT_USEC, simple_done, err);
}

int hull_container_update(struct hull_container *c, Grpc__LinuxResources *resources, hull_op_cb cb, void *userdata,
                          struct hull_error **err)
{
        Grpc__UpdateContainerRequest req = GRPC__UPDATE_CONTAINER_REQUEST__INIT;

        req.container_id = c->id;
        req.resources = resources;
        return op_call(op_new(c, NULL, cb, userdata, "UpdateContainer"), "UpdateContainer", &req.base,
                       &google__protobuf__empty__descriptor, CALL_TIMEOUT_USEC, simple_done, err);
}

static void stats_done(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct op *o = userdata;

        if (o->stats_cb)
                o->stats_cb(r, (const Grpc__StatsContainerResponse *)resp, err, o->userdata);
        o->cb = NULL;
        op_end(o, 0, NULL);
}

int hull_container_stats(struct hull_container *c, hull_stats_cb cb, void *userdata, struct hull_error **err)
{
        Grpc__StatsContainerRequest req = GRPC__STATS_CONTAINER_REQUEST__INIT;
        struct op *o = op_new(c, NULL, NULL, userdata, "StatsContainer");

        if (o)
                o->stats_cb = cb;
        req.container_id = c->id;
        return op_call(o, "StatsContainer", &req.base, &grpc__stats_container_response__descriptor, CALL_TIMEOUT_USEC,
                       stats_done, err);
}

static void unshare_all(struct hull_container *c)
{
        if (c->shared && c->sb && hull_sandbox_running(c->sb))
                hull_sandbox_unshare(c->sb, c->id);
        c->shared = false;
}

static void remove_done(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct op *o = userdata;

        o->c->in_guest = false;
        unshare_all(o->c);
        op_end(o, r, err);
}

int hull_container_remove(struct hull_container *c, hull_op_cb cb, void *userdata, struct hull_error **err)
{
        Grpc__RemoveContainerRequest req = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
        struct op *o;

        if (!c->in_guest || c->gone) {
                unshare_all(c);
                o = op_new(c, NULL, cb, userdata, "RemoveContainer");
                if (!o)
                        return hull_error_oom(err);
                op_end(o, 0, NULL);
                return 0;
        }
        req.container_id = c->id;
        return op_call(op_new(c, NULL, cb, userdata, "RemoveContainer"), "RemoveContainer", &req.base,
                       &google__protobuf__empty__descriptor, CALL_TIMEOUT_USEC, remove_done, err);
}

struct hull_process *hull_container_process(struct hull_container *c, const char *exec_id)
{
        if (!exec_id)
                exec_id = "";
        for (size_t i = 0; i < c->n_procs; i++)
                if (streq(c->procs[i]->exec_id, exec_id))
                        return c->procs[i];
        return NULL;
}

struct hull_process *hull_container_init(struct hull_container *c)
{
        return c->procs[0];
}

void hull_container_drop_process(struct hull_container *c, struct hull_process *p)
{
        for (size_t i = 1; i < c->n_procs; i++)
                if (c->procs[i] == p) {
                        memmove(&c->procs[i], &c->procs[i + 1], (c->n_procs - i - 1) * sizeof(*c->procs));
                        c->n_procs--;
                        process_free(p);
                        return;
                }
}

size_t hull_container_processes(struct hull_container *c, struct hull_process ***ret)
{
        *ret = c->procs;
        return c->n_procs;
}

const char *hull_container_id(const struct hull_container *c)
{
        return c->id;
}

const char *hull_container_bundle(const struct hull_container *c)
{
        return c->bundle;
}

struct json_object *hull_container_spec(const struct hull_container *c)
{
        return c->spec;
}

void hull_container_set_paused(struct hull_container *c, bool paused)
{
        c->paused = paused;
}

bool hull_container_paused(const struct hull_container *c)
{
        return c->paused;
}

bool hull_container_in_guest(const struct hull_container *c)
{
        return c->in_guest;
}

struct hull_container *hull_process_container(const struct hull_process *p)
{
        return p->c;
}

const char *hull_process_exec_id(const struct hull_process *p)
{
        return p->exec_id;
}

enum hull_process_status hull_process_status(const struct hull_process *p)
{
        return p->status;
}

uint32_t hull_process_exit_status(const struct hull_process *p)
{
        return p->exit_status;
}

uint64_t hull_process_exited_at(const struct hull_process *p)
{
        return p->exited_at;
}

const struct hull_process_io *hull_process_io(const struct hull_process *p)
{
        return &p->io;
}

int hull_process_tty(const struct hull_process *p)
{
        return hull_stdio_relay_tty(p->relay);
}
