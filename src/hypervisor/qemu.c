/* The QEMU driver: decides accelerator and agent channel, runs virtiofsd and QEMU as hull's children, knows QEMU is
 * up from the QMP greeting, drives pause/resume/quit over QMP, and turns QEMU's exit (pidfd) into an event. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "argv.h"
#include "buf.h"
#include "child.h"
#include "driver.h"
#include "error.h"
#include "fd.h"
#include "host/host.h"
#include "host/kvm-probe.h"
#include "log.h"
#include "loop.h"
#include "qemu.h"
#include "qmp.h"
#include "tsc.h"
#include "virtiofsd.h"
#include "vsock-cid.h"

#define QMP_CALL_TIMEOUT_MS 5000
#define QUIT_TIMEOUT_MS 1000
/* After QMP broke during start, how long QEMU gets to finish exiting so that its own error can be shown. */
#define EXIT_GRACE_MS 2000

struct qemu {
        enum hull_qemu_machine machine;
        bool kvm;
        char *binary;
        enum hull_hv_capability channel;
        uint32_t cid;
        int vhost_fd; /* holds the CID reservation until QEMU is gone */
        char *qmp_path, *agent_path, *vfs_path;
        char *console_log, *qemu_log, *vfs_log;

        struct hull_child child;
        struct hull_loop_source *watch;
        struct hull_qmp *qmp;
        struct hull_virtiofsd *vfs;
        bool guest_shutdown;
        bool shutting_down; /* QMP said SHUTDOWN: QEMU is on its way out */
        char version[32];
};

/* QEMU prefixes its messages with its program name, or just "qemu". */
static const char *const log_prefixes[] = { "qemu-system-x86_64", "/usr/bin/qemu-system-x86_64", "qemu", NULL };

/* ---- create ------------------------------------------------------------------------------------------------ */

static int state_path(const struct hull_hypervisor *hv, const char *name, bool is_socket, char **ret,
                      struct hull_error **err)
{
        if (asprintf(ret, "%s/%s", hv->desc.state_dir, name) < 0) {
                *ret = NULL;
                return hull_error_oom(err);
        }
        if (is_socket && strlen(*ret) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                return hull_error_set(err, ENAMETOOLONG, "socket path %s is too long for a unix socket", *ret);
        return 0;
}

static int choose_channel(struct hull_hypervisor *hv, struct qemu *q, struct hull_error **err)
{
        _cleanup_error_ struct hull_error *e = NULL;
        int fd;

        if (hv->desc.channel == HULL_HV_CHANNEL_SERIAL) {
                q->channel = HULL_HV_CAP_SERIAL_CHANNEL;
                return 0;
        }
        fd = hull_vsock_cid_reserve(NULL, HULL_VSOCK_CID_FIRST, &q->cid, &e);
        if (fd >= 0) {
                q->vhost_fd = fd;
                q->channel = HULL_HV_CAP_VSOCK;
                log_debug("sandbox=%s qemu: agent over vhost-vsock, guest CID %u", hull_hv_id(hv), q->cid);
                return 0;
        }
        if (hv->desc.channel == HULL_HV_CHANNEL_VSOCK)
                return hull_error_set(err, -hull_error_code(e), "agent channel: %s", hull_error_message(e));
        q->channel = HULL_HV_CAP_SERIAL_CHANNEL;
        log_info("sandbox=%s qemu: agent over virtio-serial (no vhost-vsock: %s)", hull_hv_id(hv),
                 hull_error_message(e));
        return 0;
}

static int qemu_create(struct hull_hypervisor *hv, struct hull_error **err)
{
        const struct hull_hv_desc *d = &hv->desc;
        struct qemu *q;
        int r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return hull_error_oom(err);
        hv->priv = q;
        q->vhost_fd = -1;
        q->child = (struct hull_child)HULL_CHILD_INIT;

        r = hull_qemu_machine_from_string(d->machine_type, &q->machine, err);
        if (r < 0)
                return r;
        r = hull_host_find_binary(d->binary ? d->binary : HULL_QEMU_BINARY, NULL, &q->binary, err);
        if (r < 0)
                return hull_error_prefix(err, "qemu"), r;
        if (d->shared_dir && (r = hull_hv_check_fs_daemon(hv, err)) < 0)
                return r;

        switch (d->accel) {
        case HULL_HV_ACCEL_KVM:
                q->kvm = true;
                log_info("sandbox=%s qemu: accelerator KVM (asked for)", hull_hv_id(hv));
                break;
        case HULL_HV_ACCEL_TCG:
                q->kvm = false;
                log_info("sandbox=%s qemu: accelerator TCG (asked for)", hull_hv_id(hv));
                break;
        case HULL_HV_ACCEL_AUTO:
                q->kvm = hull_hv_kvm_probe()->usable;
                log_info("sandbox=%s qemu: accelerator %s (KVM probe: %s)", hull_hv_id(hv), q->kvm ? "KVM" : "TCG",
                         hull_hv_kvm_probe()->reason);
                break;
        }

        if ((r = state_path(hv, "qmp.sock", true, &q->qmp_path, err)) < 0 ||
            (r = state_path(hv, "agent.sock", true, &q->agent_path, err)) < 0 ||
            (r = state_path(hv, "virtiofsd.sock", true, &q->vfs_path, err)) < 0 ||
            (r = state_path(hv, "qemu.log", false, &q->qemu_log, err)) < 0 ||
            (r = state_path(hv, "virtiofsd.log", false, &q->vfs_log, err)) < 0)
                return hull_error_prefix(err, "qemu"), r;
        if (d->console_log)
                q->console_log = strdup(d->console_log);
        else if ((r = state_path(hv, "console.log", false, &q->console_log, err)) < 0)
                return r;
        if (!q->console_log)
                return hull_error_oom(err);
        return choose_channel(hv, q, err);
}

/* ---- running ------------------------------------------------------------------------------------------------ */

/* Everything but the QEMU process itself: QMP, virtiofsd, sockets, the CID. Safe to call again. */
static void release_runtime(struct qemu *q)
{
        q->qmp = hull_qmp_free(q->qmp);
        q->vfs = hull_hv_stop_virtiofsd(q->vfs);
        if (q->qmp_path)
                unlink(q->qmp_path);
        if (q->agent_path && q->channel == HULL_HV_CAP_SERIAL_CHANNEL)
                unlink(q->agent_path);
        if (q->vhost_fd >= 0) {
                close(q->vhost_fd);
                q->vhost_fd = -1;
        }
}

static int on_qemu_exit(struct hull_loop_source *src, pid_t pid, int status, void *userdata)
{
        struct hull_hypervisor *hv = userdata;
        struct qemu *q = hv->priv;
        char msg[768];
        struct hull_hv_event ev = { .kind = HULL_HV_EVENT_EXITED, .pid = pid, .status = status };

        q->watch = NULL;
        hull_child_set_reaped(&q->child, status);
        release_runtime(q);
        hull_child_describe_exit("qemu", status, q->qemu_log, log_prefixes, msg, sizeof(msg));
        if (q->guest_shutdown && WIFEXITED(status) && WEXITSTATUS(status) == 0)
                strncat(msg, " (the guest shut down)", sizeof(msg) - strlen(msg) - 1);
        ev.guest = q->guest_shutdown;
        ev.message = msg;
        log_debug("sandbox=%s %s", hull_hv_id(hv), msg);
        hull_hypervisor_emit(hv, &ev); /* last: the callback may free hv */
        return 0;
}

static void on_vfs_exit(struct hull_virtiofsd *v, pid_t pid, int status, const char *message, void *userdata)
{
        struct hull_hypervisor *hv = userdata;
        struct qemu *q = hv->priv;
        struct pollfd p = { .fd = q->child.pidfd, .events = POLLIN };
        struct hull_hv_event ev = {
                .kind = HULL_HV_EVENT_DAEMON_EXITED, .pid = pid, .status = status, .message = message
        };

        /* virtiofsd leaves when QEMU does; that is QEMU's exit, reported on its own. QEMU announces a shutdown on QMP
         * before it drops its vhost-user connections, so read QMP first. */
        if (q->qmp)
                hull_qmp_process(q->qmp);
        if (q->shutting_down || q->child.reaped || (q->child.pidfd >= 0 && poll(&p, 1, 0) > 0))
                return;
        hull_hypervisor_emit(hv, &ev);
}

static void on_qmp_event(struct hull_qmp *qmp, const struct hull_qmp_msg *msg, void *userdata)
{
        struct hull_hypervisor *hv = userdata;
        struct qemu *q = hv->priv;
        struct hull_hv_event ev = { 0 };
        struct json_object *v;

        if (streq(msg->event, "SHUTDOWN")) {
                ev.kind = HULL_HV_EVENT_SHUTDOWN;
                if (msg->data && json_object_object_get_ex(msg->data, "guest", &v) &&
                    json_object_is_type(v, json_type_boolean))
                        ev.guest = json_object_get_boolean(v);
                if (msg->data && json_object_object_get_ex(msg->data, "reason", &v) &&
                    json_object_is_type(v, json_type_string))
                        ev.message = json_object_get_string(v);
                else
                        ev.message = "shutdown";
                q->guest_shutdown = ev.guest;
                q->shutting_down = true;
        } else if (streq(msg->event, "STOP")) {
                ev.kind = HULL_HV_EVENT_PAUSED;
                ev.message = "paused";
        } else if (streq(msg->event, "RESUME")) {
                ev.kind = HULL_HV_EVENT_RESUMED;
                ev.message = "resumed";
        } else {
                log_debug("sandbox=%s qemu: QMP event %s", hull_hv_id(hv), msg->event);
                return;
        }
        hull_hypervisor_emit(hv, &ev);
}

static void on_qmp_close(struct hull_qmp *qmp, int code, const char *why, void *userdata)
{
        struct hull_hypervisor *hv = userdata;

        /* QEMU's exit, if that is why, arrives through the pidfd. */
        log_debug("sandbox=%s qemu: QMP closed: %s", hull_hv_id(hv), why);
}

static int close_fd(int fd)
{
        if (fd >= 0)
                close(fd);
        return -1;
}

static void json_putp(struct json_object **o)
{
        if (*o)
                json_object_put(*o);
}

/* QMP broke before QEMU answered: when QEMU exits, its own words are the error, not the broken socket. */
static int start_failed(struct qemu *q, int r, struct hull_error **err)
{
        char msg[768];

        if (r == -ETIMEDOUT || hull_child_wait(&q->child, EXIT_GRACE_MS) != 1)
                return hull_error_prefix(err, "qemu (pid %d) did not come up", (int)q->child.pid), r;
        hull_child_describe_exit("qemu", q->child.status, q->qemu_log, log_prefixes, msg, sizeof(msg));
        if (err) {
                *err = hull_error_free(*err);
        }
        return hull_error_set(err, EIO, "%s", msg);
}

static int do_start(struct hull_hypervisor *hv, struct qemu *q, struct hull_error **err)
{
        const struct hull_hv_desc *d = &hv->desc;
        _cleanup_close_ int qmp_listen = -1, agent_listen = -1, qmp_fd = -1, netns = -1;
        _cleanup_strv_ char **argv = NULL;
        _cleanup_free_ int *net_fds = NULL;
        int pass[HULL_CHILD_MAX_FDS];
        size_t n_pass = 0;
        struct hull_qemu_plan plan = { 0 };
        uint64_t t0 = hull_now_usec();
        unsigned timeout = d->start_timeout_ms ? d->start_timeout_ms : HULL_HV_START_TIMEOUT_MS;
        _cleanup_(hull_qmp_freep) struct hull_qmp *qmp = NULL;
        _cleanup_(json_putp) struct json_object *status = NULL;
        int r;

        /* Fresh logs: the tail of this run's log is what an error shows. */
        if ((unlink(q->qemu_log) < 0 && errno != ENOENT) || (unlink(q->vfs_log) < 0 && errno != ENOENT))
                return hull_error_errno(err, errno, "qemu: remove old logs in %s", d->state_dir);

        if (d->shared_dir) {
                r = hull_hv_start_virtiofsd(hv, q->vfs_path, q->vfs_log, on_vfs_exit, &q->vfs, err);
                if (r < 0)
                        return r;
                plan.virtiofsd_socket = q->vfs_path;
        }

        if (unlink(q->qmp_path) < 0 && errno != ENOENT)
                return hull_error_errno(err, errno, "qemu: remove stale %s", q->qmp_path);
        qmp_listen = hull_unix_listen(q->qmp_path, err);
        if (qmp_listen < 0)
                return hull_error_prefix(err, "qemu: QMP socket"), qmp_listen;
        plan.qmp_fd = 3 + (int)n_pass;
        pass[n_pass++] = qmp_listen;

        plan.channel = q->channel;
        plan.vhost_fd = -1;
        if (q->channel == HULL_HV_CAP_VSOCK) {
                plan.cid = q->cid;
                plan.vhost_fd = 3 + (int)n_pass;
                pass[n_pass++] = q->vhost_fd;
        } else {
                if (unlink(q->agent_path) < 0 && errno != ENOENT)
                        return hull_error_errno(err, errno, "qemu: remove stale %s", q->agent_path);
                agent_listen = hull_unix_listen(q->agent_path, err);
                if (agent_listen < 0)
                        return hull_error_prefix(err, "qemu: agent socket"), agent_listen;
                plan.agent_fd = 3 + (int)n_pass;
                pass[n_pass++] = agent_listen;
        }
        if (d->n_devices > 0) {
                net_fds = calloc(d->n_devices, sizeof(int));
                if (!net_fds)
                        return hull_error_oom(err);
                for (size_t i = 0; i < d->n_devices; i++) {
                        net_fds[i] = -1;
                        if (d->devices[i].kind != HULL_HV_DEVICE_NET)
                                continue;
                        if (n_pass == HULL_CHILD_MAX_FDS)
                                return hull_error_set(err, E2BIG, "qemu: too many net devices");
                        net_fds[i] = 3 + (int)n_pass;
                        pass[n_pass++] = d->devices[i].net.tap_fd;
                }
                plan.net_fds = net_fds;
        }
        plan.binary = q->binary;
        plan.machine = q->machine;
        plan.kvm = q->kvm;
        plan.tsc_khz = q->kvm ? 0 : hull_hv_host_tsc_khz();
        plan.console_log = q->console_log;

        r = hull_qemu_build_argv(d, &plan, &argv, err);
        if (r < 0)
                return hull_error_prefix(err, "qemu"), r;
        if (hull_log_get_level() >= HULL_LOG_DEBUG) {
                _cleanup_buf_ struct hull_buf line = HULL_BUF_INIT;
                for (char **a = argv; *a; a++)
                        hull_buf_printf(&line, "%s%s", a == argv ? "" : " ", *a);
                log_debug("sandbox=%s qemu: %s", hull_hv_id(hv), line.data ? line.data : "");
        }
        /* The pod's network namespace is where the VMM runs (its taps are there; the unix sockets are paths). */
        if (d->netns_path) {
                netns = open(d->netns_path, O_RDONLY | O_CLOEXEC);
                if (netns < 0)
                        return hull_error_errno(err, errno, "qemu: network namespace %s", d->netns_path);
        }
        r = hull_child_spawn_netns(argv, pass, n_pass, q->qemu_log, netns, &q->child, err);
        if (r < 0)
                return hull_error_prefix(err, "qemu"), r;

        /* Connect while our copy of the listening socket still exists, then drop our copy: from here the socket
         * lives only in QEMU, and if QEMU dies the connection breaks instead of waiting in a backlog forever. */
        qmp_fd = hull_unix_connect(q->qmp_path, err);
        qmp_listen = close_fd(qmp_listen);
        agent_listen = close_fd(agent_listen);
        if (qmp_fd < 0)
                return hull_error_prefix(err, "qemu: QMP"), qmp_fd;
        r = hull_qmp_new(TAKE_FD(qmp_fd), 0, &qmp, err);
        if (r < 0)
                return r;
        r = hull_qmp_handshake(qmp, (int)timeout, q->version, sizeof(q->version), err);
        if (r < 0)
                return start_failed(q, r, err);
        r = hull_qmp_call(qmp, "query-status", NULL, QMP_CALL_TIMEOUT_MS, &status, err);
        if (r < 0)
                return start_failed(q, r, err);
        r = hull_qmp_attach(qmp, hv->loop, on_qmp_event, on_qmp_close, hv, err);
        if (r < 0)
                return r;
        q->qmp = TAKE_PTR(qmp);
        r = hull_loop_add_child(hv->loop, q->child.pid, on_qemu_exit, hv, &q->watch, err);
        if (r < 0)
                return r;
        {
                struct json_object *s = NULL;
                const char *st = json_object_object_get_ex(status, "status", &s) ? json_object_get_string(s) : "?";
                log_info("sandbox=%s qemu: pid %d up in %llu ms (QEMU %s, %s, %s, agent over %s), status %s",
                         hull_hv_id(hv), (int)q->child.pid, (unsigned long long)((hull_now_usec() - t0) / 1000),
                         q->version, q->machine == HULL_QEMU_MICROVM ? "microvm" : "q35", q->kvm ? "KVM" : "TCG",
                         q->channel == HULL_HV_CAP_VSOCK ? "vhost-vsock" : "virtio-serial", st ? st : "?");
        }
        return 0;
}

static int qemu_start(struct hull_hypervisor *hv, struct hull_error **err)
{
        struct qemu *q = hv->priv;
        int r = do_start(hv, q, err);

        if (r < 0) {
                hull_loop_source_remove(q->watch);
                q->watch = NULL;
                hull_child_release(&q->child);
                release_runtime(q);
        }
        return r;
}

static int qemu_stop(struct hull_hypervisor *hv, unsigned timeout_ms, int *ret_status, struct hull_error **err)
{
        struct qemu *q = hv->priv;

        if (q->child.pid > 0 && !q->child.reaped) {
                /* From here we reap QEMU ourselves: no exit event for a stop the caller asked for. */
                hull_loop_source_remove(q->watch);
                q->watch = NULL;
                if (q->qmp && !hull_qmp_is_broken(q->qmp)) {
                        _cleanup_error_ struct hull_error *e = NULL;
                        if (hull_qmp_call(q->qmp, "quit", NULL, QUIT_TIMEOUT_MS, NULL, &e) < 0)
                                log_debug("sandbox=%s qemu: %s", hull_hv_id(hv), hull_error_message(e));
                }
                if (hull_child_wait(&q->child, (int)timeout_ms) != 1) {
                        log_warn("sandbox=%s qemu: pid %d did not quit within %u ms, killing it", hull_hv_id(hv),
                                 (int)q->child.pid, timeout_ms);
                        hull_child_terminate(&q->child, SIGKILL, 0);
                }
        }
        release_runtime(q);
        if (ret_status)
                *ret_status = q->child.status;
        return 0;
}

static int qmp_simple(struct hull_hypervisor *hv, const char *command, struct hull_error **err)
{
        struct qemu *q = hv->priv;
        int r;

        if (!q->qmp)
                return hull_error_set(err, ENOTCONN, "qemu: not running");
        r = hull_qmp_call(q->qmp, command, NULL, QMP_CALL_TIMEOUT_MS, NULL, err);
        return r < 0 ? (hull_error_prefix(err, "qemu"), r) : 0;
}

static int qemu_pause(struct hull_hypervisor *hv, struct hull_error **err)
{
        return qmp_simple(hv, "stop", err);
}

static int qemu_resume(struct hull_hypervisor *hv, struct hull_error **err)
{
        return qmp_simple(hv, "cont", err);
}

static int qemu_agent_channel(struct hull_hypervisor *hv, struct hull_hv_channel *ret, struct hull_error **err)
{
        struct qemu *q = hv->priv;
        struct hull_hv_channel c = { .kind = q->channel };

        if (q->channel == HULL_HV_CAP_VSOCK) {
                c.cid = q->cid;
                c.port = hv->desc.agent_port ? hv->desc.agent_port : HULL_HV_AGENT_PORT;
        } else
                snprintf(c.path, sizeof(c.path), "%s", q->agent_path);
        *ret = c;
        return 0;
}

static uint32_t qemu_capabilities(struct hull_hypervisor *hv)
{
        struct qemu *q = hv->priv;

        return HULL_HV_CAP_SHARED_FS | HULL_HV_CAP_BLOCK_DEVICES | HULL_HV_CAP_NET_DEVICES | HULL_HV_CAP_PAUSE |
                (uint32_t)q->channel;
}

static size_t qemu_pids(struct hull_hypervisor *hv, pid_t *ret, size_t max)
{
        struct qemu *q = hv->priv;
        size_t n = hull_hv_add_pid(ret, max, 0, q->child.reaped ? 0 : q->child.pid);

        return hull_hv_add_pid(ret, max, n, q->vfs ? hull_virtiofsd_pid(q->vfs) : 0);
}

static void qemu_destroy(struct hull_hypervisor *hv)
{
        struct qemu *q = hv->priv;

        if (!q)
                return;
        hull_loop_source_remove(q->watch);
        hull_child_release(&q->child);
        release_runtime(q);
        free(q->binary);
        free(q->qmp_path);
        free(q->agent_path);
        free(q->vfs_path);
        free(q->console_log);
        free(q->qemu_log);
        free(q->vfs_log);
        free(q);
        hv->priv = NULL;
}

const struct hull_hypervisor_ops hull_qemu_ops = {
        .name = "qemu",
        .create = qemu_create,
        .start = qemu_start,
        .stop = qemu_stop,
        .pause = qemu_pause,
        .resume = qemu_resume,
        .add_device = NULL, /* no hotplug yet: q35 needs pcie-root-ports for it */
        .remove_device = NULL,
        .resize_vcpus = NULL,
        .resize_memory = NULL,
        .agent_channel = qemu_agent_channel,
        .capabilities = qemu_capabilities,
        .pids = qemu_pids,
        .destroy = qemu_destroy,
};
