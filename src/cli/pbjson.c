/* A generic JSON mapping for protobuf-c messages, driven by the generated descriptors. */
#include "pbjson.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "error.h"

#define MAX_DEPTH 32

static int decode_message(const ProtobufCMessageDescriptor *desc, struct json_object *obj, ProtobufCMessage **ret,
                          int depth, struct hull_error **err);

/* "container_id" matches "container_id", "containerId" and "ContainerID" alike. */
static bool name_matches(const char *field, const char *key)
{
        while (*field || *key) {
                if (*field == '_') {
                        field++;
                        continue;
                }
                if (*key == '_') {
                        key++;
                        continue;
                }
                if (!*field || !*key || (*field | 0x20) != (*key | 0x20))
                        return false;
                field++;
                key++;
        }
        return true;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc, const char *key)
{
        for (unsigned i = 0; i < desc->n_fields; i++)
                if (streq(desc->fields[i].name, key))
                        return &desc->fields[i];
        for (unsigned i = 0; i < desc->n_fields; i++)
                if (name_matches(desc->fields[i].name, key))
                        return &desc->fields[i];
        return NULL;
}

static size_t scalar_size(ProtobufCType t)
{
        switch (t) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
        case PROTOBUF_C_TYPE_FLOAT:
        case PROTOBUF_C_TYPE_ENUM:
                return 4;
        case PROTOBUF_C_TYPE_BOOL:
                return sizeof(protobuf_c_boolean);
        case PROTOBUF_C_TYPE_STRING:
        case PROTOBUF_C_TYPE_MESSAGE:
                return sizeof(void *);
        case PROTOBUF_C_TYPE_BYTES:
                return sizeof(ProtobufCBinaryData);
        default:
                return 8;
        }
}

static int b64_value(int c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+' || c == '-')
                return 62;
        if (c == '/' || c == '_')
                return 63;
        return -1;
}

static int b64_decode(const char *s, ProtobufCBinaryData *out)
{
        size_t n = strlen(s), o = 0;
        uint32_t acc = 0;
        int bits = 0;
        uint8_t *d = malloc(n * 3 / 4 + 3);

        if (!d)
                return -ENOMEM;
        for (; *s; s++) {
                int v;
                if (*s == '=' || *s == '\n' || *s == '\r')
                        continue;
                v = b64_value((unsigned char)*s);
                if (v < 0) {
                        free(d);
                        return -EINVAL;
                }
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        d[o++] = (uint8_t)(acc >> bits);
                }
        }
        out->data = d;
        out->len = o;
        return 0;
}

static int b64_encode(struct hull_buf *b, const uint8_t *d, size_t n)
{
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                        (i + 2 < n ? d[i + 2] : 0);
                char q[4] = { tbl[v >> 18 & 63], tbl[v >> 12 & 63], i + 1 < n ? tbl[v >> 6 & 63] : '=',
                              i + 2 < n ? tbl[v & 63] : '=' };
                if (hull_buf_append(b, q, 4) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int json_int(struct json_object *v, const char *field, int64_t *ret, struct hull_error **err)
{
        if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
                *ret = json_object_get_int64(v);
                return 0;
        }
        if (json_object_is_type(v, json_type_string)) {
                char *end;
                errno = 0;
                *ret = strtoll(json_object_get_string(v), &end, 0);
                if (!errno && !*end && end != json_object_get_string(v))
                        return 0;
        }
        return hull_error_set(err, EINVAL, "field %s: expected a number", field);
}

/* Decode one value of field f into dst (a slot of the field's storage type). */
static int decode_value(const ProtobufCFieldDescriptor *f, struct json_object *v, void *dst, int depth,
                        struct hull_error **err)
{
        int64_t i;
        int r;

        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
                if (!json_object_is_type(v, json_type_string))
                        return hull_error_set(err, EINVAL, "field %s: expected a string", f->name);
                *(char **)dst = strdup(json_object_get_string(v));
                return *(char **)dst ? 0 : hull_error_oom(err);
        case PROTOBUF_C_TYPE_BYTES:
                if (!json_object_is_type(v, json_type_string))
                        return hull_error_set(err, EINVAL, "field %s: expected base64 text", f->name);
                r = b64_decode(json_object_get_string(v), dst);
                if (r == -ENOMEM)
                        return hull_error_oom(err);
                return r < 0 ? hull_error_set(err, EINVAL, "field %s: bad base64", f->name) : 0;
        case PROTOBUF_C_TYPE_BOOL:
                if (!json_object_is_type(v, json_type_boolean))
                        return hull_error_set(err, EINVAL, "field %s: expected true or false", f->name);
                *(protobuf_c_boolean *)dst = json_object_get_boolean(v);
                return 0;
        case PROTOBUF_C_TYPE_MESSAGE:
                return decode_message(f->descriptor, v, (ProtobufCMessage **)dst, depth + 1, err);
        case PROTOBUF_C_TYPE_ENUM:
                if (json_object_is_type(v, json_type_string)) {
                        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(
                                f->descriptor, json_object_get_string(v));
                        if (!ev)
                                return hull_error_set(err, EINVAL, "field %s: unknown value %s", f->name,
                                                      json_object_get_string(v));
                        *(int *)dst = ev->value;
                        return 0;
                }
                if ((r = json_int(v, f->name, &i, err)) < 0)
                        return r;
                *(int *)dst = (int)i;
                return 0;
        case PROTOBUF_C_TYPE_FLOAT:
                *(float *)dst = (float)json_object_get_double(v);
                return 0;
        case PROTOBUF_C_TYPE_DOUBLE:
                *(double *)dst = json_object_get_double(v);
                return 0;
        default:
                if ((r = json_int(v, f->name, &i, err)) < 0)
                        return r;
                if (scalar_size(f->type) == 4)
                        *(int32_t *)dst = (int32_t)i;
                else
                        *(int64_t *)dst = i;
                return 0;
        }
}

static int decode_map(const ProtobufCFieldDescriptor *f, struct json_object *obj, ProtobufCMessage *msg, int depth,
                      struct hull_error **err)
{
        const ProtobufCMessageDescriptor *entry = f->descriptor;
        size_t n = (size_t)json_object_object_length(obj), k = 0;
        ProtobufCMessage **arr = calloc(n ? n : 1, sizeof(*arr));

        if (!arr)
                return hull_error_oom(err);
        *(size_t *)((char *)msg + f->quantifier_offset) = 0;
        *(void **)((char *)msg + f->offset) = arr;
        json_object_object_foreach(obj, key, val)
        {
                struct json_object *pair = json_object_new_object();
                int r;
                if (!pair)
                        return hull_error_oom(err);
                json_object_object_add(pair, "key", json_object_new_string(key));
                json_object_object_add(pair, "value", json_object_get(val));
                r = decode_message(entry, pair, &arr[k], depth + 1, err);
                json_object_put(pair);
                if (r < 0)
                        return r;
                *(size_t *)((char *)msg + f->quantifier_offset) = ++k;
        }
        return 0;
}

static int decode_message(const ProtobufCMessageDescriptor *desc, struct json_object *obj, ProtobufCMessage **ret,
                          int depth, struct hull_error **err)
{
        ProtobufCMessage *msg;
        int r = 0;

        if (depth > MAX_DEPTH)
                return hull_error_set(err, EINVAL, "%s: nested deeper than %d", desc->name, MAX_DEPTH);
        if (obj && !json_object_is_type(obj, json_type_object))
                return hull_error_set(err, EINVAL, "%s: expected a JSON object", desc->name);
        msg = calloc(1, desc->sizeof_message);
        if (!msg)
                return hull_error_oom(err);
        desc->message_init(msg);
        *ret = msg;
        if (!obj)
                return 0;
        json_object_object_foreach(obj, key, val)
        {
                const ProtobufCFieldDescriptor *f = find_field(desc, key);
                char *slot;
                if (!f)
                        return hull_error_set(err, EINVAL, "%s has no field '%s'", desc->name, key);
                if (json_object_is_type(val, json_type_null))
                        continue;
                slot = (char *)msg + f->offset;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n, size = scalar_size(f->type);
                        char *arr;
                        if (f->type == PROTOBUF_C_TYPE_MESSAGE && json_object_is_type(val, json_type_object)) {
                                r = decode_map(f, val, msg, depth, err);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (!json_object_is_type(val, json_type_array))
                                return hull_error_set(err, EINVAL, "field %s: expected an array", f->name);
                        n = json_object_array_length(val);
                        arr = calloc(n ? n : 1, size);
                        if (!arr)
                                return hull_error_oom(err);
                        *(void **)slot = arr;
                        for (size_t i = 0; i < n; i++) {
                                r = decode_value(f, json_object_array_get_idx(val, i), arr + i * size, depth, err);
                                if (r < 0)
                                        return r;
                                *(size_t *)((char *)msg + f->quantifier_offset) = i + 1;
                        }
                        continue;
                }
                r = decode_value(f, val, slot, depth, err);
                if (r < 0)
                        return r;
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                        *(uint32_t *)((char *)msg + f->quantifier_offset) = f->id;
                else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                         f->type != PROTOBUF_C_TYPE_MESSAGE)
                        *(protobuf_c_boolean *)((char *)msg + f->quantifier_offset) = 1;
        }
        return 0;
}

int hull_pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *json, ProtobufCMessage **ret,
                       struct hull_error **err)
{
        struct json_object *obj = NULL;
        ProtobufCMessage *msg = NULL;
        enum json_tokener_error jerr;
        int r;

        if (json && *json) {
                obj = json_tokener_parse_verbose(json, &jerr);
                if (!obj)
                        return hull_error_set(err, EINVAL, "request JSON: %s", json_tokener_error_desc(jerr));
        }
        r = decode_message(desc, obj, &msg, 0, err);
        json_object_put(obj);
        if (r < 0) {
                if (msg)
                        protobuf_c_message_free_unpacked(msg, NULL);
                return r;
        }
        *ret = msg;
        return 0;
}

static int encode_message(struct hull_buf *b, const ProtobufCMessage *msg, int depth);

static int encode_string(struct hull_buf *b, const char *s)
{
        struct json_object *o = json_object_new_string(s ? s : "");
        int r;

        if (!o)
                return -ENOMEM;
        r = hull_buf_puts(b,
                          json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return r;
}

static int encode_value(struct hull_buf *b, const ProtobufCFieldDescriptor *f, const void *v, int depth)
{
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
                return encode_string(b, *(char *const *)v);
        case PROTOBUF_C_TYPE_BYTES: {
                const ProtobufCBinaryData *d = v;
                int r = hull_buf_putc(b, '"');
                if (r >= 0)
                        r = b64_encode(b, d->data, d->len);
                return r < 0 ? r : hull_buf_putc(b, '"');
        }
        case PROTOBUF_C_TYPE_BOOL:
                return hull_buf_puts(b, *(const protobuf_c_boolean *)v ? "true" : "false");
        case PROTOBUF_C_TYPE_MESSAGE:
                return *(ProtobufCMessage *const *)v ? encode_message(b, *(ProtobufCMessage *const *)v, depth + 1)
                                                     : hull_buf_puts(b, "null");
        case PROTOBUF_C_TYPE_ENUM: {
                const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)v);
                return ev ? encode_string(b, ev->name) : hull_buf_printf(b, "%d", *(const int *)v);
        }
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
                return hull_buf_printf(b, "%d", *(const int32_t *)v);
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
                return hull_buf_printf(b, "%u", *(const uint32_t *)v);
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                return hull_buf_printf(b, "%llu", (unsigned long long)*(const uint64_t *)v);
        case PROTOBUF_C_TYPE_FLOAT:
                return hull_buf_printf(b, "%g", (double)*(const float *)v);
        case PROTOBUF_C_TYPE_DOUBLE:
                return hull_buf_printf(b, "%g", *(const double *)v);
        default:
                return hull_buf_printf(b, "%lld", (long long)*(const int64_t *)v);
        }
}

static bool is_default(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
        const char *slot = (const char *)msg + f->offset;

        if (f->label == PROTOBUF_C_LABEL_REPEATED)
                return *(const size_t *)((const char *)msg + f->quantifier_offset) == 0;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                return *(const uint32_t *)((const char *)msg + f->quantifier_offset) != f->id;
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING: {
                const char *s = *(char *const *)slot;
                return !s || !*s;
        }
        case PROTOBUF_C_TYPE_MESSAGE:
                return *(void *const *)slot == NULL;
        case PROTOBUF_C_TYPE_BYTES:
                return ((const ProtobufCBinaryData *)slot)->len == 0;
        default: {
                size_t n = scalar_size(f->type);
                for (size_t i = 0; i < n; i++)
                        if (slot[i])
                                return false;
                return true;
        }
        }
}

static int encode_message(struct hull_buf *b, const ProtobufCMessage *msg, int depth)
{
        const ProtobufCMessageDescriptor *desc = msg->descriptor;
        bool first = true;
        int r;

        if (depth > MAX_DEPTH)
                return -ELOOP;
        if ((r = hull_buf_putc(b, '{')) < 0)
                return r;
        for (unsigned i = 0; i < desc->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &desc->fields[i];
                if (is_default(f, msg))
                        continue;
                if ((r = hull_buf_printf(b, "%s\"%s\":", first ? "" : ",", f->name)) < 0)
                        return r;
                first = false;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
                        const char *arr = *(char *const *)((const char *)msg + f->offset);
                        if ((r = hull_buf_putc(b, '[')) < 0)
                                return r;
                        for (size_t j = 0; j < n; j++) {
                                if (j && (r = hull_buf_putc(b, ',')) < 0)
                                        return r;
                                if ((r = encode_value(b, f, arr + j * scalar_size(f->type), depth)) < 0)
                                        return r;
                        }
                        if ((r = hull_buf_putc(b, ']')) < 0)
                                return r;
                } else if ((r = encode_value(b, f, (const char *)msg + f->offset, depth)) < 0) {
                        return r;
                }
        }
        return hull_buf_putc(b, '}');
}

int hull_pbjson_encode(const ProtobufCMessage *msg, char **ret, struct hull_error **err)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;
        int r = encode_message(&b, msg, 0);

        if (r < 0)
                return r == -ENOMEM ? hull_error_oom(err) : hull_error_set(err, -r, "encode %s", msg->descriptor->name);
        *ret = hull_buf_steal(&b);
        return *ret ? 0 : hull_error_oom(err);
}
