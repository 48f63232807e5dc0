/* A ttrpc channel: framed, non-blocking I/O on one connected byte-stream fd, driven by the shared event loop.
 * Internal to src/rpc: the client and the server each put their protocol rules on top of it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "macros.h"

struct hull_buf;
struct hull_error;
struct hull_loop;
struct hull_ttrpc_channel;

/* Bytes of replies or requests queued for a peer that does not read; more closes the channel. */
#define HULL_TTRPC_WRITE_QUEUE_MAX (64u << 20)

struct hull_ttrpc_channel_ops {
        /* A complete frame with a valid header; payload is only valid during the call. */
        void (*frame)(struct hull_ttrpc_channel *ch, const struct hull_ttrpc_header *h, const uint8_t *payload,
                      void *userdata);
        /* The channel closed by itself: the peer hung up, an I/O error, or a protocol violation (which the
         * channel has logged). Not called for hull_ttrpc_channel_close(). */
        void (*closed)(struct hull_ttrpc_channel *ch, const struct hull_error *reason, void *userdata);
};

/* Takes ownership of fd on success (it is made non-blocking). name labels log lines. */
int hull_ttrpc_channel_new(struct hull_loop *loop, int fd, const char *name, const struct hull_ttrpc_channel_ops *ops,
                           void *userdata, struct hull_ttrpc_channel **ret, struct hull_error **err);

struct hull_ttrpc_channel *hull_ttrpc_channel_ref(struct hull_ttrpc_channel *ch);
struct hull_ttrpc_channel *hull_ttrpc_channel_unref(struct hull_ttrpc_channel *ch);
HULL_DEFINE_FREEP(struct hull_ttrpc_channel, hull_ttrpc_channel_unref)

/* Queue a complete frame (see hull_ttrpc_frame_begin/end); its bytes are taken from frame, which is left empty. */
int hull_ttrpc_channel_send(struct hull_ttrpc_channel *ch, struct hull_buf *frame, struct hull_error **err);

/* Close because of a protocol violation or error: logs "name: reason", closes the fd, calls ops->closed. */
void hull_ttrpc_channel_fail(struct hull_ttrpc_channel *ch, int code, const char *fmt, ...) _printf_(3, 4);
/* Close quietly at the owner's request; ops->closed is not called. */
void hull_ttrpc_channel_close(struct hull_ttrpc_channel *ch);
bool hull_ttrpc_channel_is_closed(const struct hull_ttrpc_channel *ch);
const char *hull_ttrpc_channel_name(const struct hull_ttrpc_channel *ch);
struct hull_loop *hull_ttrpc_channel_loop(const struct hull_ttrpc_channel *ch);
