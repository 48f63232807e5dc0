/* protobuf-c glue: packing into hull buffers and budgeted unpacking. */
#include "pb.h"

#include <stdbool.h>

#include "buf.h"
#include "error.h"

int hull_pb_pack(const ProtobufCMessage *msg, struct hull_buf *out, struct hull_error **err)
{
        size_t n = protobuf_c_message_get_packed_size(msg);

        if (hull_buf_reserve(out, n) < 0)
                return hull_error_oom(err);
        if (protobuf_c_message_pack(msg, (uint8_t *)out->data + out->len) != n)
                return hull_error_set(err, EPROTO, "protobuf: packing %s gave an unexpected size",
                                      msg->descriptor->name);
        out->len += n;
        out->data[out->len] = '\0';
        return 0;
}

struct budget {
        size_t left;
        bool exceeded;
};

static void *budget_alloc(void *data, size_t size)
{
        struct budget *b = data;

        if (size > b->left) {
                b->exceeded = true;
                return NULL;
        }
        b->left -= size;
        return malloc(size);
}

static void budget_free(void *data, void *p)
{
        free(p);
}

int hull_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, ProtobufCMessage **ret,
                   struct hull_error **err)
{
        struct budget b = { .left = (1u << 20) + 16 * len };
        ProtobufCAllocator a = { .alloc = budget_alloc, .free = budget_free, .allocator_data = &b };
        ProtobufCMessage *m;

        m = protobuf_c_message_unpack(desc, &a, len, data);
        if (!m) {
                if (b.exceeded)
                        return hull_error_set(err, EBADMSG, "protobuf: %s of %zu bytes needs too much memory",
                                              desc->name, len);
                return hull_error_set(err, EBADMSG, "protobuf: malformed %s (%zu bytes)", desc->name, len);
        }
        *ret = m;
        return 0;
}
