/* The sandbox's one long-lived connection to hull-agent (grpc.AgentService + grpc.Health over ttrpc) on the
 * hypervisor's agent channel: virtio-serial unix socket, vsock or hybrid vsock. Every call is asynchronous. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "macros.h"

struct hull_error;
struct hull_hv_channel;
struct hull_loop;
struct hull_agent;

#define HULL_AGENT_SERVICE "grpc.AgentService"
#define HULL_HEALTH_SERVICE "grpc.Health"

/* resp: the decoded reply (NULL when r < 0), valid during the callback only. */
typedef void (*hull_agent_reply_cb)(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata);
typedef void (*hull_agent_closed_cb)(struct hull_agent *a, const struct hull_error *reason, void *userdata);

/* Open the channel (no agent needs to answer yet: a serial port or vsock connects before the guest is up). */
int hull_agent_connect(struct hull_loop *loop, const struct hull_hv_channel *ch, const char *name,
                       struct hull_agent **ret, struct hull_error **err);
/* Pending calls end with -ECANCELED (their callbacks run inside this call). NULL is accepted. */
struct hull_agent *hull_agent_free(struct hull_agent *a);
HULL_DEFINE_FREEP(struct hull_agent, hull_agent_free)
void hull_agent_on_close(struct hull_agent *a, hull_agent_closed_cb cb, void *userdata);

/* One AgentService call; resp_desc decodes the reply. timeout_usec 0: none. */
int hull_agent_call(struct hull_agent *a, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_usec, hull_agent_reply_cb cb,
                    void *userdata, struct hull_error **err);

/* Health.Check until the agent says SERVING, each try bounded (a request written while the guest's end of the
 * channel is still closed is lost, so it is sent again), all of it bounded by timeout_usec; cb gets 0 or
 * -ETIMEDOUT ("agent did not answer within N s"). */
int hull_agent_wait_ready(struct hull_agent *a, uint64_t timeout_usec, hull_agent_reply_cb cb, void *userdata,
                          struct hull_error **err);
