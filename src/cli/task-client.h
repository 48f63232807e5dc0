/* A synchronous client of one sandbox's Task API (containerd.task.v2.Task) on <root>/<id>/monitor.sock: what every
 * `hull start/state/kill/exec/ps/pause/resume/delete` call goes through (docs/sandbox.md). */
#pragma once

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "macros.h"

struct hull_error;
struct hull_task_client;

#define HULL_TASK_SERVICE "containerd.task.v2.Task"
/* A call that the monitor answers at once (state, kill, pause ...). Create/Start/Exec boot or reach the VM: longer. */
#define HULL_TASK_TIMEOUT_SHORT_USEC (30ull * 1000000ull)
#define HULL_TASK_TIMEOUT_LONG_USEC (600ull * 1000000ull)

/* Connect to state_dir/monitor.sock (paths longer than a sun_path are reached through the directory's fd). */
int hull_task_client_connect(const char *state_dir, struct hull_task_client **ret, struct hull_error **err);
struct hull_task_client *hull_task_client_free(struct hull_task_client *c);
HULL_DEFINE_FREEP(struct hull_task_client, hull_task_client_free)

/* The loop the client runs on (callers add their own sources: signals, a console) and its ttrpc connection (for
 * asynchronous calls: hull_ttrpc_client_call with HULL_TASK_SERVICE). */
struct hull_loop *hull_task_client_loop(struct hull_task_client *c);
struct hull_ttrpc_client *hull_task_client_ttrpc(struct hull_task_client *c);

/* One call of method on the Task service; *ret_resp (of resp_desc) is freed with protobuf_c_message_free_unpacked().
 * timeout_usec 0: none. Errors carry the service's message prefixed with nothing (callers say what they did). */
int hull_task_client_call(struct hull_task_client *c, const char *method, const ProtobufCMessage *req,
                          const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_usec,
                          ProtobufCMessage **ret_resp, struct hull_error **err);
/* The same for the methods that answer google.protobuf.Empty. */
int hull_task_client_call_empty(struct hull_task_client *c, const char *method, const ProtobufCMessage *req,
                                uint64_t timeout_usec, struct hull_error **err);
