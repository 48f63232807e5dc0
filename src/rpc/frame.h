/* ttrpc framing: the 10-byte big-endian message header and the protocol's limits (containerd/ttrpc PROTOCOL.md). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macros.h"

struct hull_error;

#define HULL_TTRPC_HEADER_SIZE 10
/* Largest Data Length a peer may send or receive; anything above is a protocol violation. */
#define HULL_TTRPC_MESSAGE_MAX (4u << 20)

enum hull_ttrpc_type {
        HULL_TTRPC_TYPE_REQUEST = 1,
        HULL_TTRPC_TYPE_RESPONSE = 2,
        HULL_TTRPC_TYPE_DATA = 3,
};

/* Request flags (streaming); a unary request carries none. */
#define HULL_TTRPC_FLAG_REMOTE_CLOSED 0x01u
#define HULL_TTRPC_FLAG_REMOTE_OPEN 0x02u

struct hull_ttrpc_header {
        uint32_t length; /* bytes after the header */
        uint32_t stream_id; /* odd: client-initiated */
        uint8_t type; /* enum hull_ttrpc_type */
        uint8_t flags;
};

void hull_ttrpc_header_pack(const struct hull_ttrpc_header *h, uint8_t out[HULL_TTRPC_HEADER_SIZE]);
void hull_ttrpc_header_unpack(const uint8_t in[HULL_TTRPC_HEADER_SIZE], struct hull_ttrpc_header *ret);

/* Checks what a header alone can tell: the length limit and a known message type. */
int hull_ttrpc_header_check(const struct hull_ttrpc_header *h, struct hull_error **err);

const char *hull_ttrpc_type_name(uint8_t type);

struct hull_buf;

/* Build a frame in a buffer: begin() appends room for the header, end() fills it in once the body is there.
 * end() fails with -EMSGSIZE when the body went over HULL_TTRPC_MESSAGE_MAX. */
int hull_ttrpc_frame_begin(struct hull_buf *b, size_t *ret_start);
int hull_ttrpc_frame_end(struct hull_buf *b, size_t start, uint32_t stream_id, uint8_t type, uint8_t flags,
                         struct hull_error **err);
