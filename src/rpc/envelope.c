/* The ttrpc envelope (Request/Response) in hand-written protobuf: strict, bounded, no allocation per field. */
#include "envelope.h"

#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "error.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ---- reading ---- */

struct reader {
        const uint8_t *p;
        const uint8_t *end;
};

static int read_varint(struct reader *rd, uint64_t *ret)
{
        uint64_t v = 0;

        for (unsigned shift = 0; shift < 64; shift += 7) {
                uint8_t b;
                if (rd->p >= rd->end)
                        return -EBADMSG;
                b = *rd->p++;
                /* The tenth byte holds bit 63 only. */
                if (shift == 63 && b > 1)
                        return -EBADMSG;
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return -EBADMSG;
}

struct field {
        uint32_t number;
        unsigned wire;
        uint64_t varint;
        const uint8_t *data; /* WT_LEN */
        size_t len;
};

static int read_field(struct reader *rd, struct field *f)
{
        uint64_t key, n;

        if (read_varint(rd, &key) < 0)
                return -EBADMSG;
        f->number = (uint32_t)(key >> 3);
        f->wire = (unsigned)(key & 7);
        if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
                return -EBADMSG;
        switch (f->wire) {
        case WT_VARINT:
                return read_varint(rd, &f->varint);
        case WT_I64:
        case WT_I32:
                n = f->wire == WT_I64 ? 8 : 4;
                if ((uint64_t)(rd->end - rd->p) < n)
                        return -EBADMSG;
                rd->p += n;
                return 0;
        case WT_LEN:
                if (read_varint(rd, &n) < 0 || n > (uint64_t)(rd->end - rd->p))
                        return -EBADMSG;
                f->data = rd->p;
                f->len = (size_t)n;
                rd->p += n;
                return 0;
        default: /* groups (3, 4) are not proto3; 6 and 7 do not exist */
                return -EBADMSG;
        }
}

/* Strings that name things (service, method, metadata) must not hide a NUL from C readers. */
static int arena_string(char **arena, const struct field *f, const char **ret)
{
        if (f->wire != WT_LEN || memchr(f->data, '\0', f->len))
                return -EBADMSG;
        memcpy(*arena, f->data, f->len);
        (*arena)[f->len] = '\0';
        *ret = *arena;
        *arena += f->len + 1;
        return 0;
}

static int decode_kv(const struct field *outer, char **arena, struct hull_ttrpc_md *ret)
{
        struct reader rd = { outer->data, outer->data + outer->len };
        struct field f;

        ret->key = ret->value = "";
        while (rd.p < rd.end) {
                if (read_field(&rd, &f) < 0)
                        return -EBADMSG;
                if (f.number == 1 && arena_string(arena, &f, &ret->key) < 0)
                        return -EBADMSG;
                if (f.number == 2 && arena_string(arena, &f, &ret->value) < 0)
                        return -EBADMSG;
        }
        return 0;
}

static int bad(struct hull_error **err, const char *what)
{
        return hull_error_set(err, EBADMSG, "malformed ttrpc %s", what);
}

int hull_ttrpc_request_decode(const uint8_t *data, size_t len, struct hull_ttrpc_request_msg *ret,
                              struct hull_error **err)
{
        struct hull_ttrpc_request_msg m = { .service = "", .method = "" };
        struct reader rd = { data, data + len };
        size_t md_cap = 0;
        char *arena;
        struct field f;

        /* Every string costs at least a tag and a length byte on the wire, so len + 1 bytes hold them all
         * with their terminating NULs. */
        arena = malloc(len + 1);
        if (!arena)
                return hull_error_oom(err);
        m.arena_ = arena;
        while (rd.p < rd.end) {
                if (read_field(&rd, &f) < 0)
                        goto malformed;
                switch (f.number) {
                case 1:
                        if (arena_string(&arena, &f, &m.service) < 0)
                                goto malformed;
                        break;
                case 2:
                        if (arena_string(&arena, &f, &m.method) < 0)
                                goto malformed;
                        break;
                case 3:
                        if (f.wire != WT_LEN)
                                goto malformed;
                        m.payload = f.data;
                        m.payload_len = f.len;
                        break;
                case 4:
                        if (f.wire != WT_VARINT)
                                goto malformed;
                        m.timeout_nano = (int64_t)f.varint;
                        break;
                case 5:
                        if (f.wire != WT_LEN)
                                goto malformed;
                        if (m.n_metadata == md_cap) {
                                struct hull_ttrpc_md *n;
                                if (md_cap == HULL_TTRPC_METADATA_MAX) {
                                        hull_ttrpc_request_msg_done(&m);
                                        return hull_error_set(err, EBADMSG,
                                                              "malformed ttrpc request: more than %d metadata pairs",
                                                              HULL_TTRPC_METADATA_MAX);
                                }
                                md_cap = md_cap ? md_cap * 2 : 4;
                                n = realloc(m.md_, md_cap * sizeof(*n));
                                if (!n) {
                                        hull_ttrpc_request_msg_done(&m);
                                        return hull_error_oom(err);
                                }
                                m.md_ = n;
                        }
                        if (decode_kv(&f, &arena, &m.md_[m.n_metadata]) < 0)
                                goto malformed;
                        m.n_metadata++;
                        break;
                default: /* unknown fields are skipped, as protobuf requires */
                        break;
                }
        }
        m.metadata = m.md_;
        if (!m.payload)
                m.payload = data + len; /* an empty payload: a valid pointer with length 0 */
        *ret = m;
        return 0;
malformed:
        hull_ttrpc_request_msg_done(&m);
        return bad(err, "request");
}

void hull_ttrpc_request_msg_done(struct hull_ttrpc_request_msg *m)
{
        free(m->arena_);
        free(m->md_);
        m->arena_ = NULL;
        m->md_ = NULL;
        m->metadata = NULL;
        m->n_metadata = 0;
}

static int decode_status(const struct field *outer, struct hull_ttrpc_response_msg *m)
{
        struct reader rd = { outer->data, outer->data + outer->len };
        struct field f;

        while (rd.p < rd.end) {
                if (read_field(&rd, &f) < 0)
                        return -EBADMSG;
                if (f.number == 1) {
                        if (f.wire != WT_VARINT)
                                return -EBADMSG;
                        m->code = (int32_t)(uint32_t)f.varint; /* int32: negative values are sign-extended */
                } else if (f.number == 2) {
                        char *s;
                        if (f.wire != WT_LEN)
                                return -EBADMSG;
                        s = strndup((const char *)f.data, f.len);
                        if (!s)
                                return -ENOMEM;
                        free(m->message_);
                        m->message_ = s;
                }
                /* details (3, repeated Any) are not used */
        }
        return 0;
}

int hull_ttrpc_response_decode(const uint8_t *data, size_t len, struct hull_ttrpc_response_msg *ret,
                               struct hull_error **err)
{
        struct hull_ttrpc_response_msg m = { 0 };
        struct reader rd = { data, data + len };
        struct field f;
        int r;

        while (rd.p < rd.end) {
                if (read_field(&rd, &f) < 0)
                        goto malformed;
                if (f.number == 1) {
                        if (f.wire != WT_LEN)
                                goto malformed;
                        r = decode_status(&f, &m);
                        if (r == -ENOMEM) {
                                hull_ttrpc_response_msg_done(&m);
                                return hull_error_oom(err);
                        }
                        if (r < 0)
                                goto malformed;
                } else if (f.number == 2) {
                        if (f.wire != WT_LEN)
                                goto malformed;
                        m.payload = f.data;
                        m.payload_len = f.len;
                }
        }
        if (!m.payload)
                m.payload = data + len;
        m.message = m.message_ ? m.message_ : "";
        *ret = m;
        return 0;
malformed:
        hull_ttrpc_response_msg_done(&m);
        return bad(err, "response");
}

void hull_ttrpc_response_msg_done(struct hull_ttrpc_response_msg *m)
{
        free(m->message_);
        m->message_ = NULL;
        m->message = "";
}

/* ---- writing ---- */

static size_t varint_size(uint64_t v)
{
        size_t n = 1;

        while (v >= 0x80) {
                v >>= 7;
                n++;
        }
        return n;
}

static int put_varint(struct hull_buf *b, uint64_t v)
{
        uint8_t tmp[10];
        size_t n = 0;

        while (v >= 0x80) {
                tmp[n++] = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        tmp[n++] = (uint8_t)v;
        return hull_buf_append(b, tmp, n);
}

static int put_key(struct hull_buf *b, uint32_t number, unsigned wire)
{
        return put_varint(b, (uint64_t)number << 3 | wire);
}

/* proto3: empty strings and bytes are not written. */
static int put_bytes(struct hull_buf *b, uint32_t number, const void *data, size_t len)
{
        int r;

        if (len == 0)
                return 0;
        r = put_key(b, number, WT_LEN);
        if (r >= 0)
                r = put_varint(b, len);
        if (r >= 0)
                r = hull_buf_append(b, data, len);
        return r;
}

static int put_string(struct hull_buf *b, uint32_t number, const char *s)
{
        return s ? put_bytes(b, number, s, strlen(s)) : 0;
}

int hull_ttrpc_request_encode(struct hull_buf *out, const char *service, const char *method, const void *payload,
                              size_t payload_len, int64_t timeout_nano, const struct hull_ttrpc_md *md, size_t n_md)
{
        int r;

        r = put_string(out, 1, service);
        if (r >= 0)
                r = put_string(out, 2, method);
        if (r >= 0)
                r = put_bytes(out, 3, payload, payload_len);
        if (r >= 0 && timeout_nano != 0) {
                r = put_key(out, 4, WT_VARINT);
                if (r >= 0)
                        r = put_varint(out, (uint64_t)timeout_nano);
        }
        for (size_t i = 0; r >= 0 && i < n_md; i++) {
                size_t kl = md[i].key ? strlen(md[i].key) : 0, vl = md[i].value ? strlen(md[i].value) : 0;
                size_t inner = (kl ? 1 + varint_size(kl) + kl : 0) + (vl ? 1 + varint_size(vl) + vl : 0);
                r = put_key(out, 5, WT_LEN);
                if (r >= 0)
                        r = put_varint(out, inner);
                if (r >= 0)
                        r = put_string(out, 1, md[i].key);
                if (r >= 0)
                        r = put_string(out, 2, md[i].value);
        }
        return r;
}

int hull_ttrpc_response_encode(struct hull_buf *out, int32_t code, const char *message, const void *payload,
                               size_t payload_len)
{
        int r = 0;

        /* An OK reply carries no status at all: the Go and Rust clients treat a missing status as OK. */
        if (code != 0 || (message && *message)) {
                size_t ml = message ? strlen(message) : 0;
                /* int32 is written as a sign-extended 64-bit varint. */
                uint64_t c = (uint64_t)(int64_t)code;
                size_t inner = (code ? 1 + varint_size(c) : 0) + (ml ? 1 + varint_size(ml) + ml : 0);
                r = put_key(out, 1, WT_LEN);
                if (r >= 0)
                        r = put_varint(out, inner);
                if (r >= 0 && code) {
                        r = put_key(out, 1, WT_VARINT);
                        if (r >= 0)
                                r = put_varint(out, c);
                }
                if (r >= 0)
                        r = put_string(out, 2, message);
        }
        if (r >= 0)
                r = put_bytes(out, 2, payload, payload_len);
        return r;
}
