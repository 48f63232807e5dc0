/* The ttrpc envelope messages, hand-coded protobuf: Request{service=1, method=2, payload=3, timeout_nano=4,
 * metadata=5 (KeyValue{key=1, value=2})} and Response{status=1 (google.rpc.Status{code=1, message=2}), payload=2}. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macros.h"

struct hull_buf;
struct hull_error;

/* At most this many metadata pairs in one request; more is treated as a malformed request. */
#define HULL_TTRPC_METADATA_MAX 1024

/* One metadata pair. Keys are case-insensitive (the Go implementation lower-cases them). */
struct hull_ttrpc_md {
        const char *key;
        const char *value;
};

struct hull_ttrpc_request_msg {
        const char *service;
        const char *method;
        const uint8_t *payload; /* points into the decoded buffer */
        size_t payload_len;
        int64_t timeout_nano;
        const struct hull_ttrpc_md *metadata;
        size_t n_metadata;
        void *arena_; /* owns the strings */
        struct hull_ttrpc_md *md_;
};

struct hull_ttrpc_response_msg {
        int32_t code; /* google.rpc.Code; 0 when the status is absent */
        const char *message; /* "" when absent */
        const uint8_t *payload; /* points into the decoded buffer */
        size_t payload_len;
        char *message_;
};

/* Append an encoded Request / Response to out. */
int hull_ttrpc_request_encode(struct hull_buf *out, const char *service, const char *method, const void *payload,
                              size_t payload_len, int64_t timeout_nano, const struct hull_ttrpc_md *md, size_t n_md);
int hull_ttrpc_response_encode(struct hull_buf *out, int32_t code, const char *message, const void *payload,
                               size_t payload_len);

/* Decode; strings are copied, the payload stays a pointer into data. Malformed input is -EBADMSG. */
int hull_ttrpc_request_decode(const uint8_t *data, size_t len, struct hull_ttrpc_request_msg *ret,
                              struct hull_error **err);
void hull_ttrpc_request_msg_done(struct hull_ttrpc_request_msg *m);
int hull_ttrpc_response_decode(const uint8_t *data, size_t len, struct hull_ttrpc_response_msg *ret,
                               struct hull_error **err);
void hull_ttrpc_response_msg_done(struct hull_ttrpc_response_msg *m);
