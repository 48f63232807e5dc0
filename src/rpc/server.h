/* ttrpc server: services registered by name, handlers that may reply later (long polls such as WaitProcess),
 * deadlines from the request's timeout_nano enforced, many connections on one loop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "envelope.h"
#include "macros.h"

struct hull_error;
struct hull_loop;
struct hull_ttrpc_server;
struct hull_ttrpc_request;

/* Concurrent requests one connection may have open; more get RESOURCE_EXHAUSTED. */
#define HULL_TTRPC_SERVER_MAX_INFLIGHT 1024
/* Connections one server accepts at a time; more are closed on arrival. */
#define HULL_TTRPC_SERVER_MAX_CONNS 256

/* A handler must end every request exactly once with one of the hull_ttrpc_request_reply*() calls, now or later;
 * the request (and its message) stays valid until then. */
typedef void (*hull_ttrpc_handler)(struct hull_ttrpc_request *req, void *userdata);
/* The request ended before its reply: the deadline passed (the client got DEADLINE_EXCEEDED), the connection
 * closed or the server was freed. The handler still replies (which then sends nothing) to free it. */
typedef void (*hull_ttrpc_cancel_cb)(struct hull_ttrpc_request *req, void *userdata);
typedef void (*hull_ttrpc_disconnect_cb)(struct hull_ttrpc_server *s, const struct hull_error *reason, void *userdata);

int hull_ttrpc_server_new(struct hull_loop *loop, struct hull_ttrpc_server **ret, struct hull_error **err);
/* Closes listeners and connections, cancels open requests. Safe inside a handler. */
struct hull_ttrpc_server *hull_ttrpc_server_free(struct hull_ttrpc_server *s);
HULL_DEFINE_FREEP(struct hull_ttrpc_server, hull_ttrpc_server_free)

/* input NULL: the handler reads the raw payload; otherwise the payload is decoded first and a malformed one is
 * answered with INVALID_ARGUMENT without calling the handler. */
int hull_ttrpc_server_register(struct hull_ttrpc_server *s, const char *service, const char *method,
                               const ProtobufCMessageDescriptor *input, hull_ttrpc_handler handler, void *userdata,
                               struct hull_error **err);
/* The same for a protoc-c generated service: the service name and input type come from its descriptor. */
int hull_ttrpc_server_register_pb(struct hull_ttrpc_server *s, const ProtobufCServiceDescriptor *service,
                                  const char *method, hull_ttrpc_handler handler, void *userdata,
                                  struct hull_error **err);

/* Serve one connected fd / accept on a listening fd. Both take ownership of fd on success. */
int hull_ttrpc_server_add_conn(struct hull_ttrpc_server *s, int fd, struct hull_error **err);
int hull_ttrpc_server_listen(struct hull_ttrpc_server *s, int listen_fd, struct hull_error **err);
size_t hull_ttrpc_server_n_conns(const struct hull_ttrpc_server *s);
/* Called whenever a connection ends by itself (the peer hung up or broke the protocol). */
void hull_ttrpc_server_on_disconnect(struct hull_ttrpc_server *s, hull_ttrpc_disconnect_cb cb, void *userdata);

const char *hull_ttrpc_request_service(const struct hull_ttrpc_request *req);
const char *hull_ttrpc_request_method(const struct hull_ttrpc_request *req);
/* The decoded request when the method was registered with an input descriptor, else NULL. */
const ProtobufCMessage *hull_ttrpc_request_message(const struct hull_ttrpc_request *req);
/* The raw payload, for methods registered without an input descriptor (NULL and 0 otherwise). */
const uint8_t *hull_ttrpc_request_payload(const struct hull_ttrpc_request *req, size_t *ret_len);
/* First value of a metadata key (case-insensitive), or NULL. */
const char *hull_ttrpc_request_metadata(const struct hull_ttrpc_request *req, const char *key);
/* CLOCK_MONOTONIC usec from the client's timeout_nano; 0 when the client set none. */
uint64_t hull_ttrpc_request_deadline(const struct hull_ttrpc_request *req);
bool hull_ttrpc_request_cancelled(const struct hull_ttrpc_request *req);
void hull_ttrpc_request_on_cancel(struct hull_ttrpc_request *req, hull_ttrpc_cancel_cb cb, void *userdata);

/* End the request. All free it; they return 0 when the reply went out, or a negative errno when it could not
 * (-ETIMEDOUT: the deadline had passed, -ECONNRESET: the connection is gone). */
int hull_ttrpc_request_reply(struct hull_ttrpc_request *req, const ProtobufCMessage *resp);
int hull_ttrpc_request_reply_raw(struct hull_ttrpc_request *req, const void *data, size_t len);
int hull_ttrpc_request_reply_status(struct hull_ttrpc_request *req, int grpc_code, const char *fmt, ...) _printf_(3, 4);
/* An errno-based failure: the code comes from hull_grpc_code_from_errno(), the message from the error. */
int hull_ttrpc_request_reply_error(struct hull_ttrpc_request *req, const struct hull_error *e);
int hull_ttrpc_request_reply_errno(struct hull_ttrpc_request *req, int error, const char *fmt, ...) _printf_(3, 4);
