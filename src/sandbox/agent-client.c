/* Agent client: a hull_ttrpc_client on the channel fd, replies decoded with a budget, Health.Check retries. */
#include <linux/vm_sockets.h>
#include <string.h>
#include <sys/socket.h>

#include "agent.pb-c.h"
#include "error.h"
#include "fd.h"
#include "health.pb-c.h"
#include "hypervisor/hypervisor.h"
#include "log.h"
#include "loop.h"
#include "rpc/ttrpc.h"
#include "sandbox/agent-client.h"

#define HEALTH_TRY_USEC (1000ull * 1000ull)

struct hull_agent {
        struct hull_loop *loop;
        struct hull_ttrpc_client *client;
        hull_agent_closed_cb close_cb;
        void *close_userdata;
        struct health_wait *wait;
};

struct call {
        const ProtobufCMessageDescriptor *resp_desc;
        hull_agent_reply_cb cb;
        void *userdata;
};

struct health_wait {
        struct hull_agent *a;
        uint64_t deadline;
        uint64_t timeout_usec;
        hull_agent_reply_cb cb;
        void *userdata;
        unsigned tries;
        struct hull_loop_source *retry;
};

static int connect_vsock(uint32_t cid, uint32_t port, struct hull_error **err)
{
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
        _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return hull_error_errno(err, errno, "vsock socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return hull_error_errno(err, errno, "connect vsock %u:%u", cid, port);
        return TAKE_FD(fd);
}

/* Hybrid vsock: "CONNECT <port>\n" answered by "OK <n>\n" (bounded line). */
static int connect_hybrid(const char *path, uint32_t port, struct hull_error **err)
{
        _cleanup_close_ int fd = hull_unix_connect(path, err);
        char line[64];
        size_t n = 0;

        if (fd < 0)
                return fd;
        snprintf(line, sizeof(line), "CONNECT %u\n", port);
        if (hull_write_all(fd, line, strlen(line), err) < 0)
                return -EIO;
        while (n < sizeof(line) - 1) {
                ssize_t k = read(fd, line + n, 1);
                if (k <= 0)
                        return hull_error_set(err, ECONNREFUSED, "hybrid vsock %s: no answer to CONNECT", path);
                if (line[n++] == '\n')
                        break;
        }
        line[n] = '\0';
        if (!strneq(line, "OK ", 3))
                return hull_error_set(err, ECONNREFUSED, "hybrid vsock %s: refused", path);
        return TAKE_FD(fd);
}

static void client_closed(struct hull_ttrpc_client *c, const struct hull_error *reason, void *userdata)
{
        struct hull_agent *a = userdata;

        if (a->close_cb)
                a->close_cb(a, reason, a->close_userdata);
}

int hull_agent_connect(struct hull_loop *loop, const struct hull_hv_channel *ch, const char *name,
                       struct hull_agent **ret, struct hull_error **err)
{
        _cleanup_free_ struct hull_agent *a = calloc(1, sizeof(*a));
        _cleanup_close_ int fd = -1;
        int r;

        if (!a)
                return hull_error_oom(err);
        switch (ch->kind) {
        case HULL_HV_CAP_VSOCK:
                fd = connect_vsock(ch->cid, ch->port, err);
                break;
        case HULL_HV_CAP_HYBRID_VSOCK:
                fd = connect_hybrid(ch->path, ch->port, err);
                break;
        case HULL_HV_CAP_SERIAL_CHANNEL:
                fd = hull_unix_connect(ch->path, err);
                break;
        default:
                return hull_error_set(err, EINVAL, "unknown agent channel kind %#x", (unsigned)ch->kind);
        }
        if (fd < 0)
                return hull_error_prefix(err, "agent channel");
        r = hull_ttrpc_client_new(loop, fd, name, &a->client, err);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        a->loop = loop;
        hull_ttrpc_client_on_close(a->client, client_closed, a);
        *ret = TAKE_PTR(a);
        return 0;
}

static void wait_end(struct health_wait *w, int r, const struct hull_error *e)
{
        hull_agent_reply_cb cb = w->cb;
        void *ud = w->userdata;

        if (w->a)
                w->a->wait = NULL;
        hull_loop_source_remove(w->retry);
        free(w);
        cb(r, NULL, e, ud);
}

struct hull_agent *hull_agent_free(struct hull_agent *a)
{
        if (!a)
                return NULL;
        a->close_cb = NULL;
        if (a->wait) {
                struct hull_error e = { ECANCELED, (char *)"agent connection closed" };
                struct health_wait *w = a->wait;
                w->a = NULL;
                a->wait = NULL;
                hull_ttrpc_client_free(a->client); /* the outstanding Check ends (w->a is NULL: ignored) */
                a->client = NULL;
                wait_end(w, -ECANCELED, &e);
        }
        hull_ttrpc_client_free(a->client);
        free(a);
        return NULL;
}

void hull_agent_on_close(struct hull_agent *a, hull_agent_closed_cb cb, void *userdata)
{
        a->close_cb = cb;
        a->close_userdata = userdata;
}

static void call_done(int r, const uint8_t *payload, size_t len, const struct hull_error *err, void *userdata)
{
        struct call *k = userdata;
        _cleanup_error_ struct hull_error *e = NULL;
        ProtobufCMessage *resp = NULL;

        if (r >= 0) {
                r = hull_pb_unpack(k->resp_desc, payload, len, &resp, &e);
                if (r < 0)
                        hull_error_prefix(&e, "agent reply");
                err = e;
        }
        k->cb(r, resp, err, k->userdata);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        free(k);
}

static int call_service(struct hull_agent *a, const char *service, const char *method, const ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_usec, hull_agent_reply_cb cb,
                        void *userdata, struct hull_error **err)
{
        struct hull_ttrpc_call_opts opts = { .timeout_usec = timeout_usec };
        struct call *k = calloc(1, sizeof(*k));
        int r;

        if (!k)
                return hull_error_oom(err);
        k->resp_desc = resp_desc;
        k->cb = cb;
        k->userdata = userdata;
        r = hull_ttrpc_client_call(a->client, service, method, req, &opts, call_done, k, NULL, err);
        if (r < 0)
                free(k);
        return r;
}

int hull_agent_call(struct hull_agent *a, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_usec, hull_agent_reply_cb cb,
                    void *userdata, struct hull_error **err)
{
        if (!a || !a->client || hull_ttrpc_client_is_closed(a->client))
                return hull_error_set(err, ECONNRESET, "agent %s: the connection to the agent is closed", method);
        return call_service(a, HULL_AGENT_SERVICE, method, req, resp_desc, timeout_usec, cb, userdata, err);
}

static int send_check(struct health_wait *w, struct hull_error **err);

static int retry_fired(struct hull_loop_source *src, void *userdata)
{
        struct health_wait *w = userdata;
        _cleanup_error_ struct hull_error *e = NULL;

        if (send_check(w, &e) < 0)
                wait_end(w, hull_error_code(e), e);
        return 0;
}

static void check_done(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct health_wait *w = userdata;
        uint64_t now = hull_now_usec();
        _cleanup_error_ struct hull_error *e = NULL;

        if (!w->a)
                return; /* agent freed: wait_end already ran */
        if (r >= 0) {
                const Grpc__HealthCheckResponse *h = (const Grpc__HealthCheckResponse *)resp;
                if (h->status == GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
                        log_debug("agent: SERVING after %u tries", w->tries);
                        wait_end(w, 0, NULL);
                        return;
                }
        }
        if (r == -ECONNRESET || r == -ECANCELED || now >= w->deadline) {
                hull_error_set(&e, ETIMEDOUT, "agent did not answer within %.0f s%s%s", (double)w->timeout_usec / 1e6,
                               err ? ": " : "", err ? hull_error_message(err) : "");
                wait_end(w, r == -ECONNRESET ? -ECONNRESET : -ETIMEDOUT, e);
                return;
        }
        /* A quick failure (the agent answered with an error) is tried again after a while, never in a tight loop. */
        if (r != -ETIMEDOUT) {
                if (hull_loop_add_timer(w->a->loop, 100 * 1000, retry_fired, w, &w->retry, &e) < 0)
                        wait_end(w, hull_error_code(e), e);
                return;
        }
        if (send_check(w, &e) < 0)
                wait_end(w, hull_error_code(e), e);
}

static int send_check(struct health_wait *w, struct hull_error **err)
{
        Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
        uint64_t now = hull_now_usec(), left = w->deadline > now ? w->deadline - now : 1;

        if (w->retry) {
                hull_loop_source_remove(w->retry);
                w->retry = NULL;
        }
        w->tries++;
        return call_service(w->a, HULL_HEALTH_SERVICE, "Check", &req.base, &grpc__health_check_response__descriptor,
                            MIN(left, HEALTH_TRY_USEC), check_done, w, err);
}

int hull_agent_wait_ready(struct hull_agent *a, uint64_t timeout_usec, hull_agent_reply_cb cb, void *userdata,
                          struct hull_error **err)
{
        struct health_wait *w;
        int r;

        if (a->wait)
                return hull_error_set(err, EBUSY, "agent: already waiting for the agent");
        w = calloc(1, sizeof(*w));
        if (!w)
                return hull_error_oom(err);
        w->a = a;
        w->timeout_usec = timeout_usec;
        w->deadline = hull_now_usec() + timeout_usec;
        w->cb = cb;
        w->userdata = userdata;
        r = send_check(w, err);
        if (r < 0) {
                free(w);
                return r;
        }
        a->wait = w;
        return 0;
}
