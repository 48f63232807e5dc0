/* ttrpc client: many calls in flight on one connection, replies matched by stream id, per-call deadlines,
 * metadata; every call ends exactly once, with a reply, an error status, a timeout or the connection's end. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "envelope.h"
#include "macros.h"

struct hull_error;
struct hull_loop;
struct hull_ttrpc_client;

struct hull_ttrpc_call_opts {
        uint64_t timeout_usec; /* 0: no deadline (the connection's end still ends the call) */
        const struct hull_ttrpc_md *metadata;
        size_t n_metadata;
};

/* How a call ended. r is 0 or a negative errno: a status from the server maps through hull_grpc_code_to_errno()
 * (err then holds the server's message), a missed deadline is -ETIMEDOUT, the connection's end -ECONNRESET,
 * hull_ttrpc_client_free() -ECANCELED. payload is only valid during the callback. */
typedef void (*hull_ttrpc_reply_cb)(int r, const uint8_t *payload, size_t len, const struct hull_error *err,
                                    void *userdata);
/* The connection ended by itself (peer hung up, I/O error, protocol violation); pending calls have failed. */
typedef void (*hull_ttrpc_client_closed_cb)(struct hull_ttrpc_client *c, const struct hull_error *reason,
                                            void *userdata);

/* On success the client owns fd (any connected byte stream: unix socket, vsock, virtio-serial port). */
int hull_ttrpc_client_new(struct hull_loop *loop, int fd, const char *name, struct hull_ttrpc_client **ret,
                          struct hull_error **err);
/* Closes the connection; calls still pending end with -ECANCELED. Safe inside any callback. */
struct hull_ttrpc_client *hull_ttrpc_client_free(struct hull_ttrpc_client *c);
HULL_DEFINE_FREEP(struct hull_ttrpc_client, hull_ttrpc_client_free)

void hull_ttrpc_client_on_close(struct hull_ttrpc_client *c, hull_ttrpc_client_closed_cb cb, void *userdata);
bool hull_ttrpc_client_is_closed(const struct hull_ttrpc_client *c);
size_t hull_ttrpc_client_pending(const struct hull_ttrpc_client *c);

/* Start a call with an already encoded payload. cb runs later on the loop, never from inside this function.
 * ret_stream_id (optional) identifies the call for hull_ttrpc_client_cancel(). */
int hull_ttrpc_client_call_raw(struct hull_ttrpc_client *c, const char *service, const char *method,
                               const void *payload, size_t len, const struct hull_ttrpc_call_opts *opts,
                               hull_ttrpc_reply_cb cb, void *userdata, uint32_t *ret_stream_id,
                               struct hull_error **err);
/* The same with a protobuf-c message as the request. */
int hull_ttrpc_client_call(struct hull_ttrpc_client *c, const char *service, const char *method,
                           const ProtobufCMessage *req, const struct hull_ttrpc_call_opts *opts, hull_ttrpc_reply_cb cb,
                           void *userdata, uint32_t *ret_stream_id, struct hull_error **err);
/* Forget a pending call: its callback will not run. -ENOENT when it already ended. */
int hull_ttrpc_client_cancel(struct hull_ttrpc_client *c, uint32_t stream_id);

/* Synchronous helpers for CLI-style users: run the client's loop until the reply is in. Do not call them from a
 * callback of that same loop. *ret_resp is freed with protobuf_c_message_free_unpacked(resp, NULL). */
int hull_ttrpc_call(struct hull_ttrpc_client *c, const char *service, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_desc, uint64_t timeout_usec, ProtobufCMessage **ret_resp,
                    struct hull_error **err);
int hull_ttrpc_call_raw(struct hull_ttrpc_client *c, const char *service, const char *method, const void *payload,
                        size_t len, const struct hull_ttrpc_call_opts *opts, void **ret_payload, size_t *ret_len,
                        struct hull_error **err);
