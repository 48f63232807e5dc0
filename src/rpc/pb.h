/* protobuf-c helpers: pack into a hull_buf, unpack with a memory budget so a hostile message cannot balloon. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "macros.h"

struct hull_buf;
struct hull_error;

/* Append msg's encoding to out. */
int hull_pb_pack(const ProtobufCMessage *msg, struct hull_buf *out, struct hull_error **err);

/* Decode; -EBADMSG for malformed input or one that would need more than 1 MiB + 16 bytes per input byte.
 * Free the result with protobuf_c_message_free_unpacked(msg, NULL). */
int hull_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, ProtobufCMessage **ret,
                   struct hull_error **err);

static inline void hull_pb_freep(void *p)
{
        ProtobufCMessage **m = p;
        if (*m)
                protobuf_c_message_free_unpacked(*m, NULL);
}
#define _cleanup_pb_ _cleanup_(hull_pb_freep)
