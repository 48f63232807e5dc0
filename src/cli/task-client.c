/* The CLI's side of the monitor's Task API: one connection, one loop, calls run to completion. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "fd.h"
#include "google_protobuf_empty.pb-c.h"
#include "loop.h"
#include "rpc/client.h"
#include "task-client.h"

struct hull_task_client {
        struct hull_loop *loop;
        struct hull_ttrpc_client *ttrpc;
};

struct hull_task_client *hull_task_client_free(struct hull_task_client *c)
{
        if (!c)
                return NULL;
        hull_ttrpc_client_free(c->ttrpc);
        hull_loop_free(c->loop);
        free(c);
        return NULL;
}

static int connect_monitor(const char *state_dir, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int dfd = -1;
        char short_path[64];

        if (asprintf(&path, "%s/monitor.sock", state_dir) < 0)
                return hull_error_oom(err);
        if (strlen(path) < 100)
                return hull_unix_connect(path, err);
        /* A deep --root: the same socket through /proc/self/fd/N of its directory fits in a sun_path. */
        dfd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return hull_error_errno(err, errno, "open %s", state_dir);
        snprintf(short_path, sizeof(short_path), "/proc/self/fd/%d/monitor.sock", dfd);
        return hull_unix_connect(short_path, err);
}

int hull_task_client_connect(const char *state_dir, struct hull_task_client **ret, struct hull_error **err)
{
        _cleanup_(hull_task_client_freep) struct hull_task_client *c = NULL;
        int fd, r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return hull_error_oom(err);
        r = hull_loop_new(&c->loop, err);
        if (r < 0)
                return r;
        fd = connect_monitor(state_dir, err);
        if (fd < 0)
                return hull_error_prefix(err, "connect to the sandbox monitor");
        r = hull_ttrpc_client_new(c->loop, fd, "monitor", &c->ttrpc, err);
        if (r < 0) {
                close(fd);
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

struct hull_loop *hull_task_client_loop(struct hull_task_client *c)
{
        return c->loop;
}

struct hull_ttrpc_client *hull_task_client_ttrpc(struct hull_task_client *c)
{
        return c->ttrpc;
}

int hull_task_client_call(struct hull_task_client *c, const char *method, const ProtobufCMessage *req,
                          const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_usec,
                          ProtobufCMessage **ret_resp, struct hull_error **err)
{
        return hull_ttrpc_call(c->ttrpc, HULL_TASK_SERVICE, method, req, resp_desc, timeout_usec, ret_resp, err);
}

int hull_task_client_call_empty(struct hull_task_client *c, const char *method, const ProtobufCMessage *req,
                                uint64_t timeout_usec, struct hull_error **err)
{
        ProtobufCMessage *resp = NULL;
        int r;

        r = hull_task_client_call(c, method, req, &google__protobuf__empty__descriptor, timeout_usec, &resp, err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        return r;
}
