/* TOML 1.0 parser: text -> a tree of values that remembers where each one was written. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macros.h"

struct hull_error;

/* Tables, arrays and inline tables may nest this deep (the root table is level 0), so hostile input cannot
 * exhaust the stack of the parser or of code that walks the tree recursively. */
#define HULL_TOML_MAX_DEPTH 128
/* Larger documents are refused with EFBIG (a configuration file is a few kilobytes). */
#define HULL_TOML_MAX_SIZE (64u << 20)

enum hull_toml_type {
        HULL_TOML_STRING,
        HULL_TOML_INTEGER,
        HULL_TOML_FLOAT,
        HULL_TOML_BOOL,
        HULL_TOML_DATETIME, /* offset date-time, e.g. 1979-05-27T07:32:00Z */
        HULL_TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
        HULL_TOML_DATE_LOCAL, /* 1979-05-27 */
        HULL_TOML_TIME_LOCAL, /* 07:32:00 */
        HULL_TOML_ARRAY,
        HULL_TOML_TABLE,
};

struct hull_toml_value;

struct hull_toml_kv {
        char *key; /* NUL-terminated, but a quoted key may hold U+0000 ("\u0000"): key_len is its length */
        size_t key_len;
        struct hull_toml_value *value;
};

struct hull_toml_value {
        enum hull_toml_type type;
        unsigned line; /* 1-based position where the value (or table header) was written */
        unsigned column;
        union {
                struct {
                        char *ptr; /* NUL-terminated; len excludes the NUL (strings may hold \u0000) */
                        size_t len;
                } string;
                int64_t integer;
                double floating;
                bool boolean;
                char *datetime; /* the text as written, with 'T' normalised; see toml.c */
                struct {
                        struct hull_toml_value **items;
                        size_t len;
                } array;
                struct {
                        struct hull_toml_kv *items; /* in the order written */
                        size_t len;
                } table;
        };
};

/* Parse len bytes of TOML. filename is used in error messages only: "<filename>:<line>:<column>: <what>". */
int hull_toml_parse(const char *data, size_t len, const char *filename, struct hull_toml_value **ret_root,
                    struct hull_error **err);

/* NULL when key is absent or table is not a table. key is a C string, so it never matches a key holding U+0000. */
const struct hull_toml_value *hull_toml_table_get(const struct hull_toml_value *table, const char *key);

const char *hull_toml_type_name(enum hull_toml_type type);

struct hull_toml_value *hull_toml_free(struct hull_toml_value *v);
HULL_DEFINE_FREEP(struct hull_toml_value, hull_toml_free)
