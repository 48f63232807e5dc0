/* A QMP (QEMU Machine Protocol) client on a connected unix socket: JSON lines with bounded length and nesting,
 * synchronous calls with deadlines, and asynchronous replies and events on the event loop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macros.h"

struct hull_error;
struct hull_loop;
struct json_object;
struct hull_qmp;

/* QEMU's longest ordinary answers (query-qmp-schema) are a few hundred KiB; hull asks for nothing near that. */
#define HULL_QMP_MAX_LINE_DEFAULT (256u * 1024u)
#define HULL_QMP_MAX_DEPTH 32
#define HULL_QMP_MAX_QUEUED 256 /* messages read during a synchronous call, waiting for the loop */

enum hull_qmp_msg_kind {
        HULL_QMP_MSG_GREETING = 0, /* {"QMP": {"version": ..., "capabilities": [...]}} */
        HULL_QMP_MSG_RETURN, /* {"return": ..., "id": N} */
        HULL_QMP_MSG_ERROR, /* {"error": {"class": ..., "desc": ...}, "id": N} */
        HULL_QMP_MSG_EVENT, /* {"event": NAME, "data": {...}, "timestamp": {...}} */
};

/* One parsed message; the pointers point into root, which the message owns. */
struct hull_qmp_msg {
        enum hull_qmp_msg_kind kind;
        int64_t id; /* RETURN, ERROR: the command's id; -1 when absent or not an integer */
        const char *event; /* EVENT */
        struct json_object *data; /* GREETING: the "QMP" object; RETURN: "return"; EVENT: "data" or NULL */
        const char *error_class; /* ERROR */
        const char *error_desc; /* ERROR */
        struct json_object *root;
};

void hull_qmp_msg_clear(struct hull_qmp_msg *msg);

/* Parse one line (without its newline; a trailing '\r' is fine). -EBADMSG for anything that is not a QMP
 * message: bad JSON, NUL bytes, nesting deeper than HULL_QMP_MAX_DEPTH, wrong member types. */
int hull_qmp_parse(const char *line, size_t len, struct hull_qmp_msg *ret, struct hull_error **err);

/* Takes fd (a connected stream socket) in every case; max_line 0 means HULL_QMP_MAX_LINE_DEFAULT. */
int hull_qmp_new(int fd, size_t max_line, struct hull_qmp **ret, struct hull_error **err);
/* Pending asynchronous calls get their callback with an error first. NULL is accepted. */
struct hull_qmp *hull_qmp_free(struct hull_qmp *q);
HULL_DEFINE_FREEP(struct hull_qmp, hull_qmp_free)

int hull_qmp_fd(const struct hull_qmp *q);
/* Whether the connection broke (closed by the peer, a line too long, garbage): every later call fails. */
bool hull_qmp_is_broken(const struct hull_qmp *q);

/* The next message from the socket, waiting up to timeout_ms (-1: no limit). Returns 1 with *ret filled, 0 on
 * timeout, or an error: -ECONNRESET when the peer closed, -EMSGSIZE for a line longer than the limit, -EBADMSG
 * for a line that is not QMP. Low level: does not look at the queue of the synchronous calls. */
int hull_qmp_read(struct hull_qmp *q, int timeout_ms, struct hull_qmp_msg *ret, struct hull_error **err);

/* Send {"execute": command, "arguments": args, "id": N}; args (borrowed) may be NULL. */
int hull_qmp_send(struct hull_qmp *q, const char *command, struct json_object *args, int64_t *ret_id,
                  struct hull_error **err);

/* Wait for the greeting, then negotiate with qmp_capabilities. *ret_version (may be NULL) gets "7.2.22". */
int hull_qmp_handshake(struct hull_qmp *q, int timeout_ms, char *ret_version, size_t version_len,
                       struct hull_error **err);

/* Send a command and wait up to timeout_ms for its reply. A QMP error becomes -EIO with "<command>: <desc>".
 * *ret_return (may be NULL) gets a reference to the "return" value. Events and other replies read meanwhile are
 * delivered later on the loop when attached. */
int hull_qmp_call(struct hull_qmp *q, const char *command, struct json_object *args, int timeout_ms,
                  struct json_object **ret_return, struct hull_error **err);

/* Asynchronous side. msg is valid during the callback only. None of them may free q. */
typedef void (*hull_qmp_event_cb)(struct hull_qmp *q, const struct hull_qmp_msg *msg, void *userdata);
/* reply is NULL when the connection broke or q was freed first; then err says why. */
typedef void (*hull_qmp_reply_cb)(struct hull_qmp *q, const struct hull_qmp_msg *reply, const struct hull_error *err,
                                  void *userdata);
/* The connection broke (code negative errno, why one line); called once. */
typedef void (*hull_qmp_close_cb)(struct hull_qmp *q, int code, const char *why, void *userdata);

/* Watch the socket on loop: events go to event_cb, replies to their hull_qmp_call_async() callback. */
int hull_qmp_attach(struct hull_qmp *q, struct hull_loop *loop, hull_qmp_event_cb event_cb, hull_qmp_close_cb close_cb,
                    void *userdata, struct hull_error **err);
/* Deliver, now, whatever the socket and the queue hold (as the loop would): for a caller that must know what QEMU
 * said before acting on another source's event. */
void hull_qmp_process(struct hull_qmp *q);
int hull_qmp_call_async(struct hull_qmp *q, const char *command, struct json_object *args, hull_qmp_reply_cb cb,
                        void *userdata, struct hull_error **err);
