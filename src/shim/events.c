/* Task events to containerd: the containerd.events.Task* messages as Anys, and the publisher that delivers them in
 * order through containerd's ttrpc events service (Forward) or, without TTRPC_ADDRESS, `containerd publish`. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "containerd_api_events_task.pb-c.h"
#include "containerd_api_services_ttrpc_events_v1_events.pb-c.h"
#include "google_protobuf_any.pb-c.h"
#include "google_protobuf_timestamp.pb-c.h"

#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"
#include "rpc/client.h"
#include "sandbox/task-service.h"
#include "shim.h"

#define FORWARD_TIMEOUT_USEC (5ull * 1000 * 1000)
#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"

/* Each event's topic and containerd message, by kind. */
static const struct {
        const char *topic;
        const ProtobufCMessageDescriptor *message;
} events[] = {
        [HULL_TASK_EVENT_CREATE] = { "/tasks/create", &containerd__events__task_create__descriptor },
        [HULL_TASK_EVENT_START] = { "/tasks/start", &containerd__events__task_start__descriptor },
        [HULL_TASK_EVENT_EXIT] = { "/tasks/exit", &containerd__events__task_exit__descriptor },
        [HULL_TASK_EVENT_DELETE] = { "/tasks/delete", &containerd__events__task_delete__descriptor },
        [HULL_TASK_EVENT_EXEC_ADDED] = { "/tasks/exec-added", &containerd__events__task_exec_added__descriptor },
        [HULL_TASK_EVENT_EXEC_STARTED] = { "/tasks/exec-started", &containerd__events__task_exec_started__descriptor },
        [HULL_TASK_EVENT_PAUSED] = { "/tasks/paused", &containerd__events__task_paused__descriptor },
        [HULL_TASK_EVENT_RESUMED] = { "/tasks/resumed", &containerd__events__task_resumed__descriptor },
        [HULL_TASK_EVENT_OOM] = { "/tasks/oom", &containerd__events__task_oom__descriptor },
};

const char *hull_shim_event_topic(const struct hull_task_event *ev)
{
        return (unsigned)ev->kind < ARRAY_SIZE(events) ? events[ev->kind].topic : NULL;
}

static void timestamp_from_ns(Google__Protobuf__Timestamp *ts, uint64_t ns)
{
        ts->seconds = (int64_t)(ns / 1000000000ull);
        ts->nanos = (int32_t)(ns % 1000000000ull);
}

static int pack(const ProtobufCMessage *m, uint8_t **ret, size_t *ret_len, struct hull_error **err)
{
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n ? n : 1);

        if (!buf)
                return hull_error_oom(err);
        protobuf_c_message_pack(m, buf);
        *ret = buf;
        *ret_len = n;
        return 0;
}

/* The singular field `name` of msg if it has one of that type, else NULL. */
static void *field(ProtobufCMessage *msg, const char *name, ProtobufCType type)
{
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);

        return f && f->type == type && f->label != PROTOBUF_C_LABEL_REPEATED ? (char *)msg + f->offset : NULL;
}

static void set_string(ProtobufCMessage *msg, const char *name, const char *value)
{
        char **p = field(msg, name, PROTOBUF_C_TYPE_STRING);

        if (p)
                *p = (char *)value;
}

static void set_uint32(ProtobufCMessage *msg, const char *name, uint32_t value)
{
        uint32_t *p = field(msg, name, PROTOBUF_C_TYPE_UINT32);

        if (p)
                *p = value;
}

/* Fill any (type_url, value) with the event; value.data is malloc'd. */
static int event_to_any(const struct hull_task_event *ev, Google__Protobuf__Any *any, struct hull_error **err)
{
        Google__Protobuf__Timestamp exited_at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        /* The process id containerd expects: the exec id, or for a container's init the container id. */
        const char *cid = ev->container_id ? ev->container_id : "";
        const char *pid_id = ev->exec_id && *ev->exec_id ? ev->exec_id : cid;
        /* Room for any one of the messages in events[]. */
        union {
                ProtobufCMessage base;
                Containerd__Events__TaskCreate create;
                Containerd__Events__TaskStart start;
                Containerd__Events__TaskExit exit;
                Containerd__Events__TaskDelete del;
                Containerd__Events__TaskExecAdded exec_added;
                Containerd__Events__TaskExecStarted exec_started;
                Containerd__Events__TaskPaused paused;
                Containerd__Events__TaskResumed resumed;
                Containerd__Events__TaskOOM oom;
        } m;
        Google__Protobuf__Timestamp **ts;

        if ((unsigned)ev->kind >= ARRAY_SIZE(events) || !events[ev->kind].message)
                return hull_error_set(err, EINVAL, "unknown task event kind %d", (int)ev->kind);
        protobuf_c_message_init(events[ev->kind].message, &m);
        /* Every containerd.events.Task* message has some of these fields; each gets those it has. */
        set_string(&m.base, "container_id", cid);
        set_string(&m.base, "id", pid_id);
        set_string(&m.base, "exec_id", ev->exec_id ? ev->exec_id : "");
        set_uint32(&m.base, "pid", ev->pid);
        set_uint32(&m.base, "exit_status", ev->exit_status);
        ts = field(&m.base, "exited_at", PROTOBUF_C_TYPE_MESSAGE);
        if (ts) {
                timestamp_from_ns(&exited_at, ev->exited_at_ns);
                *ts = &exited_at;
        }
        /* containerd's typeurl names events by their proto message name (no type.googleapis.com/ prefix). */
        any->type_url = (char *)m.base.descriptor->name;
        return pack(&m.base, &any->value.data, &any->value.len, err);
}

int hull_shim_event_any(const struct hull_task_event *ev, uint8_t **ret_any, size_t *ret_len, struct hull_error **err)
{
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        int r = event_to_any(ev, &any, err);

        if (r < 0)
                return r;
        r = pack(&any.base, ret_any, ret_len, err);
        free(any.value.data);
        return r;
}

int hull_shim_event_forward_request(const char *namespace_, const struct hull_task_event *ev, uint64_t timestamp_ns,
                                    uint8_t **ret, size_t *ret_len, struct hull_error **err)
{
        Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
                CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
        Containerd__Services__Events__Ttrpc__V1__Envelope env = CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        const char *topic = hull_shim_event_topic(ev);
        int r;

        if (!topic)
                return hull_error_set(err, EINVAL, "unknown task event kind %d", (int)ev->kind);
        r = event_to_any(ev, &any, err);
        if (r < 0)
                return r;
        timestamp_from_ns(&ts, timestamp_ns);
        env.timestamp = &ts;
        env.namespace_ = (char *)namespace_;
        env.topic = (char *)topic;
        env.event = &any;
        req.envelope = &env;
        r = pack(&req.base, ret, ret_len, err);
        free(any.value.data);
        return r;
}

/* ---- the publisher ---- */

struct pending {
        struct pending *next;
        char *topic;
        uint8_t *data; /* a ForwardRequest (ttrpc) or an Any (publish binary) */
        size_t len;
        unsigned attempts;
};

struct hull_shim_publisher {
        struct hull_loop *loop;
        char *namespace_;
        char *ttrpc_address;
        char *publish_binary;
        char *containerd_address;
        struct pending *head, *tail;
        size_t queued;
        bool in_flight;
        struct hull_ttrpc_client *client;
        struct hull_loop_source *retry_timer;
        struct hull_loop_source *child;
        uint64_t delivered, dropped;
};

static void deliver(struct hull_shim_publisher *p);

static uint64_t realtime_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pending_free(struct pending *e)
{
        if (!e)
                return;
        free(e->topic);
        free(e->data);
        free(e);
}

static void pop(struct hull_shim_publisher *p)
{
        struct pending *e = p->head;

        p->head = e->next;
        if (!p->head)
                p->tail = NULL;
        p->queued--;
        pending_free(e);
}

static int retry_cb(struct hull_loop_source *src, void *userdata)
{
        struct hull_shim_publisher *p = userdata;

        deliver(p);
        return 0;
}

/* The head's delivery ended: next one, or the same one again later. */
static void delivered(struct hull_shim_publisher *p, bool ok, const char *why)
{
        struct pending *e = p->head;
        _cleanup_error_ struct hull_error *err = NULL;

        p->in_flight = false;
        if (!e)
                return;
        if (ok) {
                log_debug("event %s published", e->topic);
                p->delivered++;
                pop(p);
                deliver(p);
                return;
        }
        e->attempts++;
        if (e->attempts > HULL_SHIM_PUBLISH_RETRIES) {
                log_error("event %s dropped after %u attempts: %s", e->topic, e->attempts, why);
                p->dropped++;
                pop(p);
                deliver(p);
                return;
        }
        log_warn("event %s: publish failed (%s), retrying in %u s", e->topic, why, e->attempts);
        if (hull_loop_timer_arm(p->retry_timer, (uint64_t)e->attempts * 1000000ull, &err) < 0) {
                log_error("event %s dropped: %s", e->topic, hull_error_message(err));
                p->dropped++;
                pop(p);
        }
}

static void forward_reply(int r, const uint8_t *payload, size_t len, const struct hull_error *e, void *userdata)
{
        struct hull_shim_publisher *p = userdata;

        if (r == -ECANCELED)
                return; /* the publisher is being freed */
        if (r < 0 && p->client && hull_ttrpc_client_is_closed(p->client))
                p->client = hull_ttrpc_client_free(p->client);
        delivered(p, r == 0, r == 0 ? "" : hull_error_message(e) ? hull_error_message(e) : strerror(-r));
}

static int publish_child_cb(struct hull_loop_source *src, pid_t pid, int status, void *userdata)
{
        struct hull_shim_publisher *p = userdata;
        char why[64];

        p->child = NULL;
        hull_loop_source_remove(src);
        snprintf(why, sizeof(why), "publish binary exited with status %d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        delivered(p, WIFEXITED(status) && WEXITSTATUS(status) == 0, why);
        return 0;
}

static int deliver_binary(struct hull_shim_publisher *p, struct pending *e, struct hull_error **err)
{
        _cleanup_close_ int rd = -1, wr = -1;
        int fds[2];
        pid_t pid;
        int r;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return hull_error_errno(err, errno, "pipe");
        rd = fds[0];
        wr = fds[1];
        /* An event is far below a pipe's capacity: write it all before the child reads. */
        if (e->len > 65536)
                return hull_error_set(err, EMSGSIZE, "event too large for the publish pipe");
        r = hull_write_all(wr, e->data, e->len, err);
        if (r < 0)
                return r;
        close(TAKE_FD(wr));
        pid = fork();
        if (pid < 0)
                return hull_error_errno(err, errno, "fork");
        if (pid == 0) {
                const char *argv[] = { p->publish_binary, "--address",   p->containerd_address, "publish", "--topic",
                                       e->topic,          "--namespace", p->namespace_,         NULL };
                sigset_t all;

                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                if (dup2(rd, STDIN_FILENO) < 0)
                        _exit(127);
                execvp(argv[0], (char **)argv);
                _exit(127);
        }
        return hull_loop_add_child(p->loop, pid, publish_child_cb, p, &p->child, err);
}

static int deliver_ttrpc(struct hull_shim_publisher *p, struct pending *e, struct hull_error **err)
{
        const struct hull_ttrpc_call_opts opts = { .timeout_usec = FORWARD_TIMEOUT_USEC };
        int r;

        if (!p->client) {
                _cleanup_close_ int fd = -1;
                const char *path = p->ttrpc_address;

                if (strneq(path, "unix://", 7))
                        path += 7;
                fd = hull_unix_connect(path, err);
                if (fd < 0)
                        return fd;
                r = hull_ttrpc_client_new(p->loop, fd, "containerd-events", &p->client, err);
                if (r < 0)
                        return r;
                TAKE_FD(fd);
        }
        return hull_ttrpc_client_call_raw(p->client, EVENTS_SERVICE, "Forward", e->data, e->len, &opts, forward_reply,
                                          p, NULL, err);
}

static void deliver(struct hull_shim_publisher *p)
{
        _cleanup_error_ struct hull_error *err = NULL;
        struct pending *e = p->head;
        int r;

        if (!e || p->in_flight)
                return;
        p->in_flight = true;
        if (p->ttrpc_address)
                r = deliver_ttrpc(p, e, &err);
        else
                r = deliver_binary(p, e, &err);
        if (r < 0) {
                if (p->client && hull_ttrpc_client_is_closed(p->client))
                        p->client = hull_ttrpc_client_free(p->client);
                delivered(p, false, hull_error_message(err) ? hull_error_message(err) : "failed");
        }
}

int hull_shim_publisher_new(struct hull_loop *loop, const struct hull_shim_publisher_opts *opts,
                            struct hull_shim_publisher **ret, struct hull_error **err)
{
        struct hull_shim_publisher *p;
        int r;

        if (!opts->namespace_)
                return hull_error_set(err, EINVAL, "publisher: no namespace");
        if ((!opts->ttrpc_address || !*opts->ttrpc_address) &&
            (!opts->publish_binary || !*opts->publish_binary || !opts->containerd_address ||
             !*opts->containerd_address))
                return hull_error_set(err, EINVAL, "publisher: neither TTRPC_ADDRESS nor -publish-binary/-address");
        p = calloc(1, sizeof(*p));
        if (!p)
                return hull_error_oom(err);
        p->loop = loop;
        if (!(p->namespace_ = strdup(opts->namespace_)) ||
            (opts->ttrpc_address && *opts->ttrpc_address && !(p->ttrpc_address = strdup(opts->ttrpc_address))) ||
            (opts->publish_binary && !(p->publish_binary = strdup(opts->publish_binary))) ||
            (opts->containerd_address && !(p->containerd_address = strdup(opts->containerd_address)))) {
                hull_shim_publisher_free(p);
                return hull_error_oom(err);
        }
        r = hull_loop_add_timer(loop, 0, retry_cb, p, &p->retry_timer, err);
        if (r < 0) {
                hull_shim_publisher_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

void hull_shim_publisher_publish(struct hull_shim_publisher *p, const struct hull_task_event *ev)
{
        _cleanup_error_ struct hull_error *err = NULL;
        const char *topic = hull_shim_event_topic(ev);
        struct pending *e;
        int r;

        if (!topic) {
                log_error("event of unknown kind %d not published", (int)ev->kind);
                return;
        }
        if (p->queued >= HULL_SHIM_PUBLISH_QUEUE_MAX) {
                log_error("event %s dropped: %zu events queued already", topic, p->queued);
                p->dropped++;
                return;
        }
        e = calloc(1, sizeof(*e));
        if (!e || !(e->topic = strdup(topic))) {
                free(e);
                log_error("event %s dropped: out of memory", topic);
                p->dropped++;
                return;
        }
        if (p->ttrpc_address)
                r = hull_shim_event_forward_request(p->namespace_, ev, realtime_ns(), &e->data, &e->len, &err);
        else
                r = hull_shim_event_any(ev, &e->data, &e->len, &err);
        if (r < 0) {
                log_error("event %s dropped: %s", topic, hull_error_message(err));
                pending_free(e);
                p->dropped++;
                return;
        }
        log_debug("event %s container=%s exec=%s pid=%u status=%u queued", topic, ev->container_id ?: "",
                  ev->exec_id ?: "", ev->pid, ev->exit_status);
        if (p->tail)
                p->tail->next = e;
        else
                p->head = e;
        p->tail = e;
        p->queued++;
        deliver(p);
}

bool hull_shim_publisher_idle(const struct hull_shim_publisher *p)
{
        return !p || (!p->head && !p->in_flight);
}

uint64_t hull_shim_publisher_delivered(const struct hull_shim_publisher *p)
{
        return p->delivered;
}

uint64_t hull_shim_publisher_dropped(const struct hull_shim_publisher *p)
{
        return p->dropped;
}

struct hull_shim_publisher *hull_shim_publisher_free(struct hull_shim_publisher *p)
{
        if (!p)
                return NULL;
        hull_ttrpc_client_free(p->client);
        hull_loop_source_remove(p->retry_timer);
        /* A publish child still running is left to finish by itself; its pidfd source goes. */
        hull_loop_source_remove(p->child);
        while (p->head)
                pop(p);
        free(p->namespace_);
        free(p->ttrpc_address);
        free(p->publish_binary);
        free(p->containerd_address);
        free(p);
        return NULL;
}
