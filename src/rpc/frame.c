/* ttrpc framing: packing, unpacking and checking the 10-byte message header. */
#include "frame.h"

#include "buf.h"
#include "error.h"

static void put_be32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void hull_ttrpc_header_pack(const struct hull_ttrpc_header *h, uint8_t out[HULL_TTRPC_HEADER_SIZE])
{
        put_be32(out, h->length);
        put_be32(out + 4, h->stream_id);
        out[8] = h->type;
        out[9] = h->flags;
}

void hull_ttrpc_header_unpack(const uint8_t in[HULL_TTRPC_HEADER_SIZE], struct hull_ttrpc_header *ret)
{
        ret->length = get_be32(in);
        ret->stream_id = get_be32(in + 4);
        ret->type = in[8];
        ret->flags = in[9];
}

int hull_ttrpc_header_check(const struct hull_ttrpc_header *h, struct hull_error **err)
{
        if (h->length > HULL_TTRPC_MESSAGE_MAX)
                return hull_error_set(err, EMSGSIZE, "frame of %u bytes on stream %u exceeds the %u byte limit",
                                      h->length, h->stream_id, HULL_TTRPC_MESSAGE_MAX);
        if (h->type < HULL_TTRPC_TYPE_REQUEST || h->type > HULL_TTRPC_TYPE_DATA)
                return hull_error_set(err, EPROTO, "unknown message type %u on stream %u", h->type, h->stream_id);
        return 0;
}

const char *hull_ttrpc_type_name(uint8_t type)
{
        switch (type) {
        case HULL_TTRPC_TYPE_REQUEST:
                return "request";
        case HULL_TTRPC_TYPE_RESPONSE:
                return "response";
        case HULL_TTRPC_TYPE_DATA:
                return "data";
        }
        return "unknown";
}

int hull_ttrpc_frame_begin(struct hull_buf *b, size_t *ret_start)
{
        static const uint8_t zero[HULL_TTRPC_HEADER_SIZE];
        size_t start = b->len;
        int r;

        r = hull_buf_append(b, zero, sizeof(zero));
        if (r < 0)
                return r;
        *ret_start = start;
        return 0;
}

int hull_ttrpc_frame_end(struct hull_buf *b, size_t start, uint32_t stream_id, uint8_t type, uint8_t flags,
                         struct hull_error **err)
{
        size_t body = b->len - start - HULL_TTRPC_HEADER_SIZE;
        struct hull_ttrpc_header h = { .stream_id = stream_id, .type = type, .flags = flags };

        if (body > HULL_TTRPC_MESSAGE_MAX)
                return hull_error_set(err, EMSGSIZE, "message of %zu bytes exceeds the ttrpc limit of %u bytes", body,
                                      HULL_TTRPC_MESSAGE_MAX);
        h.length = (uint32_t)body;
        hull_ttrpc_header_pack(&h, (uint8_t *)b->data + start);
        return 0;
}
