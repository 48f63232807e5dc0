/* TOML 1.0 parser (https://toml.io/en/v1.0.0): checks the whole document is UTF-8, then parses it in one pass,
 * hanging each value into the tree as soon as it exists so that an error anywhere frees everything from the root. */
#include "toml/toml.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* What the parser remembers about each (table, key) to enforce TOML's rules on defining things twice. */
enum {
        KEY_IMPLICIT = 1 << 0, /* table made as the prefix of a [header]; one [header] of its own may still define it */
        KEY_DEFINED = 1 << 1, /* table defined by its own [header]: closed to dotted keys and further headers */
        KEY_DOTTED = 1 << 2, /* table made by a dotted key: closed to a [header] naming it */
        KEY_INLINE = 1 << 3, /* inline table or array value: immutable once written */
        KEY_AOT = 1 << 4, /* array made by [[header]]: later [[header]]s append to it */
};

/* One open-addressing hash over every (table, key) of the document: lookups stay O(1) on hostile documents
 * with many keys, and the flags above live here rather than in the public struct. */
struct key_slot {
        const struct hull_toml_value *table; /* NULL: an empty slot */
        const char *key; /* owned by the table's hull_toml_kv; may hold NUL */
        size_t key_len;
        struct hull_toml_value *value;
        uint64_t hash;
        unsigned flags;
};

struct key_index {
        struct key_slot *slots;
        size_t cap; /* 0 or a power of two */
        size_t used;
};

struct parser {
        const char *begin; /* the document after an optional byte order mark */
        const char *p;
        const char *end;
        const char *filename;
        unsigned line; /* line of p */
        const char *line_start; /* first byte of that line */
        const char *col_at; /* column cache on the current line: col_at is at column col */
        unsigned col;
        struct key_index index;
        struct hull_error **err;
};

/* A dotted key, split: every part with where it was written (for messages). */
struct key_path {
        struct {
                char *name; /* NUL-terminated, may hold U+0000: len is its length */
                size_t len;
                const char *at;
        } parts[HULL_TOML_MAX_DEPTH];
        size_t n;
};

static void key_path_done(struct key_path *kp)
{
        for (size_t i = 0; i < kp->n; i++)
                free(kp->parts[i].name);
        kp->n = 0;
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static bool is_bare_key_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-';
}

/* TOML forbids U+0000-U+0008, U+000A-U+001F and U+007F outside escapes; newlines are handled by the callers. */
static bool is_control(unsigned char c)
{
        return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* ---- positions and messages ---- */

static unsigned count_chars(const char *from, const char *to)
{
        unsigned n = 0;

        for (; from < to; from++)
                if (((unsigned char)*from & 0xc0) != 0x80)
                        n++;
        return n;
}

/* Line and column (in characters, 1-based) of any byte of the document. */
static void locate(const struct parser *ps, const char *at, unsigned *ret_line, unsigned *ret_col)
{
        const char *ls = ps->begin;
        unsigned line = 1;

        if (at >= ps->line_start && !memchr(ps->line_start, '\n', (size_t)(at - ps->line_start))) {
                *ret_line = ps->line;
                *ret_col = count_chars(ps->line_start, at) + 1;
                return;
        }
        for (const char *q = ps->begin; q < at; q++)
                if (*q == '\n') {
                        line++;
                        ls = q + 1;
                }
        *ret_line = line;
        *ret_col = count_chars(ls, at) + 1;
}

/* Column of a byte on the current line; positions asked for only move forward, so this stays linear. */
static unsigned column_of(struct parser *ps, const char *at)
{
        if (ps->col_at < ps->line_start || ps->col_at > at) {
                ps->col_at = ps->line_start;
                ps->col = 1;
        }
        ps->col += count_chars(ps->col_at, at);
        ps->col_at = at;
        return ps->col;
}

static void mark(struct parser *ps, struct hull_toml_value *v, const char *at)
{
        v->line = ps->line;
        v->column = column_of(ps, at);
}

_printf_(3, 4) static int fail(struct parser *ps, const char *at, const char *fmt, ...)
{
        char what[256];
        unsigned line, col;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        locate(ps, at, &line, &col);
        hull_error_set(ps->err, EINVAL, "%s:%u:%u: %s", ps->filename, line, col, what);
        return -EINVAL; /* a constant, so that callers (and analyzers) know a failure is negative */
}

static int oom(struct parser *ps)
{
        hull_error_oom(ps->err);
        return -ENOMEM;
}

/* The character at `at`, for "expected X, found Y". The input is valid UTF-8 by the time this runs. */
static const char *describe(const struct parser *ps, const char *at, char buf[static 16])
{
        const unsigned char *u = (const unsigned char *)at;
        unsigned cp;

        if (at >= ps->end)
                return "end of input";
        if (*u == '\n' || *u == '\r')
                return "end of line";
        if (*u >= 0x21 && *u < 0x7f) {
                snprintf(buf, 16, "'%c'", *u);
                return buf;
        }
        if (*u < 0x80)
                cp = *u;
        else if (*u < 0xe0)
                cp = (u[0] & 0x1fu) << 6 | (u[1] & 0x3fu);
        else if (*u < 0xf0)
                cp = (u[0] & 0x0fu) << 12 | (u[1] & 0x3fu) << 6 | (u[2] & 0x3fu);
        else
                cp = (u[0] & 0x07u) << 18 | (u[1] & 0x3fu) << 12 | (u[2] & 0x3fu) << 6 | (u[3] & 0x3fu);
        snprintf(buf, 16, "U+%04X", cp);
        return buf;
}

/* A key as it can appear in a message: bounded and without control characters. */
static const char *printable_key(const char *key, size_t len, char buf[static 64])
{
        const char *end = key + len;
        size_t o = 0;

        for (; key < end && o < 56; key++) {
                unsigned char c = (unsigned char)*key;

                if (c < 0x20 || c == 0x7f)
                        o += (size_t)snprintf(buf + o, 64 - o, "\\x%02X", c);
                else
                        buf[o++] = (char)c;
        }
        if (key < end) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o] = '\0';
        return buf;
}

/* ---- the document as bytes ---- */

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int check_utf8(struct parser *ps)
{
        const unsigned char *s = (const unsigned char *)ps->begin, *end = (const unsigned char *)ps->end;

        while (s < end) {
                unsigned char c = *s;
                unsigned char lo = 0x80, hi = 0xbf;
                size_t n;

                if (c < 0x80) {
                        s++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        n = 1;
                else if (c >= 0xe0 && c <= 0xef) {
                        n = 2;
                        if (c == 0xe0)
                                lo = 0xa0;
                        else if (c == 0xed)
                                hi = 0x9f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 3;
                        if (c == 0xf0)
                                lo = 0x90;
                        else if (c == 0xf4)
                                hi = 0x8f;
                } else
                        return fail(ps, (const char *)s, "invalid UTF-8 byte 0x%02X", c);
                if ((size_t)(end - s) <= n)
                        return fail(ps, (const char *)s, "truncated UTF-8 sequence");
                if (s[1] < lo || s[1] > hi)
                        return fail(ps, (const char *)s, "invalid UTF-8 sequence");
                for (size_t i = 2; i <= n; i++)
                        if ((s[i] & 0xc0) != 0x80)
                                return fail(ps, (const char *)s, "invalid UTF-8 sequence");
                s += n + 1;
        }
        return 0;
}

/* p is at '\n' or '\r': step over a newline (LF or CRLF); a lone CR is not one. */
static int eat_newline(struct parser *ps)
{
        if (*ps->p == '\r') {
                if (ps->end - ps->p < 2 || ps->p[1] != '\n')
                        return fail(ps, ps->p, "carriage return not followed by a line feed");
                ps->p++;
        }
        ps->p++;
        ps->line++;
        ps->line_start = ps->p;
        return 0;
}

static bool at_newline(const struct parser *ps)
{
        return ps->p < ps->end && (*ps->p == '\n' || *ps->p == '\r');
}

static void skip_ws(struct parser *ps)
{
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
                ps->p++;
}

/* p is at '#': up to (not over) the end of the line. */
static int skip_comment(struct parser *ps)
{
        for (ps->p++; ps->p < ps->end; ps->p++) {
                unsigned char c = (unsigned char)*ps->p;

                if (c == '\n' || (c == '\r' && ps->end - ps->p >= 2 && ps->p[1] == '\n'))
                        break;
                if (is_control(c))
                        return fail(ps, ps->p, "control character U+%04X in a comment", c);
        }
        return 0;
}

/* Whitespace, comments and newlines: what may stand between array elements. */
static int skip_blank(struct parser *ps)
{
        for (;;) {
                int r = 0;

                skip_ws(ps);
                if (ps->p >= ps->end)
                        return 0;
                if (*ps->p == '#')
                        r = skip_comment(ps);
                else if (at_newline(ps))
                        r = eat_newline(ps);
                else
                        return 0;
                if (r < 0)
                        return r;
        }
}

/* After a key/value pair or a header: optional whitespace and a comment, then a newline or the end. */
static int end_line(struct parser *ps, const char *after)
{
        char buf[16];
        int r;

        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '#') {
                r = skip_comment(ps);
                if (r < 0)
                        return r;
        }
        if (ps->p >= ps->end)
                return 0;
        if (at_newline(ps))
                return eat_newline(ps);
        return fail(ps, ps->p, "expected a newline after %s, found %s", after, describe(ps, ps->p, buf));
}

/* ---- the tree ---- */

static struct hull_toml_value *value_new(enum hull_toml_type type)
{
        struct hull_toml_value *v = calloc(1, sizeof(*v));

        if (v)
                v->type = type;
        return v;
}

struct hull_toml_value *hull_toml_free(struct hull_toml_value *v)
{
        if (!v)
                return NULL;
        switch (v->type) {
        case HULL_TOML_STRING:
                free(v->string.ptr);
                break;
        case HULL_TOML_DATETIME:
        case HULL_TOML_DATETIME_LOCAL:
        case HULL_TOML_DATE_LOCAL:
        case HULL_TOML_TIME_LOCAL:
                free(v->datetime);
                break;
        case HULL_TOML_ARRAY:
                /* Depth is bounded by the parser (HULL_TOML_MAX_DEPTH), so recursion is too. */
                for (size_t i = 0; i < v->array.len; i++)
                        hull_toml_free(v->array.items[i]);
                free(v->array.items);
                break;
        case HULL_TOML_TABLE:
                for (size_t i = 0; i < v->table.len; i++) {
                        free(v->table.items[i].key);
                        hull_toml_free(v->table.items[i].value);
                }
                free(v->table.items);
                break;
        default:
                break;
        }
        free(v);
        return NULL;
}

/* Room for one more item in an array whose capacity is implied by its length: 0, then 4, 8, 16 ... */
static int reserve_one(void **items, size_t len, size_t size)
{
        void *n;
        size_t cap;

        if (len != 0 && (len < 4 || (len & (len - 1)) != 0))
                return 0;
        cap = len == 0 ? 4 : len * 2;
        n = reallocarray(*items, cap, size);
        if (!n)
                return -ENOMEM;
        *items = n;
        return 0;
}

static uint64_t key_hash(const struct hull_toml_value *table, const char *key, size_t len)
{
        uint64_t h = 0xcbf29ce484222325ULL ^ ((uint64_t)(uintptr_t)table * 0x9e3779b97f4a7c15ULL);

        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char)key[i];
                h *= 0x100000001b3ULL;
        }
        return h ^ (h >> 29);
}

static struct key_slot *index_find(struct key_index *ix, const struct hull_toml_value *table, const char *key,
                                   size_t len)
{
        uint64_t h;

        if (ix->cap == 0)
                return NULL;
        h = key_hash(table, key, len);
        for (size_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
                struct key_slot *s = &ix->slots[i];

                if (!s->table)
                        return NULL;
                if (s->hash == h && s->table == table && s->key_len == len && memcmp(s->key, key, len) == 0)
                        return s;
        }
}

static void index_put(struct key_slot *slots, size_t cap, const struct key_slot *src)
{
        size_t i = src->hash & (cap - 1);

        while (slots[i].table)
                i = (i + 1) & (cap - 1);
        slots[i] = *src;
}

static int index_add(struct key_index *ix, const struct hull_toml_value *table, const char *key, size_t len,
                     struct hull_toml_value *value, unsigned flags)
{
        struct key_slot s = {
                .table = table,
                .key = key,
                .key_len = len,
                .value = value,
                .hash = key_hash(table, key, len),
                .flags = flags,
        };

        if ((ix->used + 1) * 2 > ix->cap) {
                size_t cap = ix->cap ? ix->cap * 2 : 64;
                struct key_slot *slots = calloc(cap, sizeof(*slots));

                if (!slots)
                        return -ENOMEM;
                for (size_t i = 0; i < ix->cap; i++)
                        if (ix->slots[i].table)
                                index_put(slots, cap, &ix->slots[i]);
                free(ix->slots);
                ix->slots = slots;
                ix->cap = cap;
        }
        index_put(ix->slots, ix->cap, &s);
        ix->used++;
        return 0;
}

/* Add key = value to a table; takes ownership of both, also on failure. */
static int table_add(struct parser *ps, struct hull_toml_value *table, char *key, size_t key_len,
                     struct hull_toml_value *value, unsigned flags)
{
        struct hull_toml_kv *kv;

        if (reserve_one((void **)&table->table.items, table->table.len, sizeof(*table->table.items)) < 0) {
                free(key);
                hull_toml_free(value);
                return oom(ps);
        }
        kv = &table->table.items[table->table.len++];
        kv->key = key;
        kv->key_len = key_len;
        kv->value = value;
        if (index_add(&ps->index, table, key, key_len, value, flags) < 0)
                return oom(ps);
        return 0;
}

/* Append to an array; takes ownership of the value, also on failure. */
static int array_add(struct parser *ps, struct hull_toml_value *array, struct hull_toml_value *value)
{
        if (reserve_one((void **)&array->array.items, array->array.len, sizeof(*array->array.items)) < 0) {
                hull_toml_free(value);
                return oom(ps);
        }
        array->array.items[array->array.len++] = value;
        return 0;
}

/* Make an empty table (or array) under key in table; returns it, owned by the tree. */
static int table_add_new(struct parser *ps, struct hull_toml_value *table, char *key, size_t key_len,
                         enum hull_toml_type type, unsigned flags, const char *at, struct hull_toml_value **ret)
{
        struct hull_toml_value *v = value_new(type);
        int r;

        if (!v) {
                free(key);
                return oom(ps);
        }
        mark(ps, v, at);
        r = table_add(ps, table, key, key_len, v, flags);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

/* "is already ...", for messages about keys defined twice. */
static const char *what_is(const struct hull_toml_value *v, unsigned flags)
{
        switch (v->type) {
        case HULL_TOML_TABLE:
                if (flags & KEY_INLINE)
                        return "an inline table";
                return flags & KEY_DOTTED ? "a table made by dotted keys" : "a table";
        case HULL_TOML_ARRAY:
                return flags & KEY_AOT ? "an array of tables" : "an array";
        case HULL_TOML_STRING:
                return "a string";
        case HULL_TOML_INTEGER:
                return "an integer";
        case HULL_TOML_FLOAT:
                return "a float";
        case HULL_TOML_BOOL:
                return "a boolean";
        case HULL_TOML_DATETIME:
                return "an offset date-time";
        case HULL_TOML_DATETIME_LOCAL:
                return "a local date-time";
        case HULL_TOML_DATE_LOCAL:
                return "a local date";
        case HULL_TOML_TIME_LOCAL:
                return "a local time";
        }
        return "a value";
}

/* ---- strings and keys ---- */

struct sbuf {
        char *ptr;
        size_t len;
        size_t cap;
};

static void sbuf_done(struct sbuf *b)
{
        free(b->ptr);
}

static int sbuf_add(struct parser *ps, struct sbuf *b, const char *s, size_t n)
{
        if (!b->ptr || b->cap - b->len <= n) {
                size_t cap = b->cap ? b->cap : 32;
                char *p;

                while (cap - b->len <= n)
                        cap *= 2;
                p = realloc(b->ptr, cap);
                if (!p)
                        return oom(ps);
                b->ptr = p;
                b->cap = cap;
        }
        memcpy(b->ptr + b->len, s, n);
        b->len += n;
        b->ptr[b->len] = '\0';
        return 0;
}

static int sbuf_add_utf8(struct parser *ps, struct sbuf *b, uint32_t cp)
{
        char u[4];
        size_t n;

        if (cp < 0x80) {
                u[0] = (char)cp;
                n = 1;
        } else if (cp < 0x800) {
                u[0] = (char)(0xc0 | cp >> 6);
                u[1] = (char)(0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                u[0] = (char)(0xe0 | cp >> 12);
                u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
                u[2] = (char)(0x80 | (cp & 0x3f));
                n = 3;
        } else {
                u[0] = (char)(0xf0 | cp >> 18);
                u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
                u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
                u[3] = (char)(0x80 | (cp & 0x3f));
                n = 4;
        }
        return sbuf_add(ps, b, u, n);
}

/* p is at a backslash in a basic string. */
static int parse_escape(struct parser *ps, struct sbuf *b)
{
        const char *at = ps->p;
        char buf[16];
        uint32_t cp = 0;
        int digits;

        if (ps->end - at < 2)
                return fail(ps, at, "unterminated escape sequence");
        ps->p += 2;
        switch (at[1]) {
        case 'b':
                return sbuf_add(ps, b, "\b", 1);
        case 't':
                return sbuf_add(ps, b, "\t", 1);
        case 'n':
                return sbuf_add(ps, b, "\n", 1);
        case 'f':
                return sbuf_add(ps, b, "\f", 1);
        case 'r':
                return sbuf_add(ps, b, "\r", 1);
        case '"':
                return sbuf_add(ps, b, "\"", 1);
        case '\\':
                return sbuf_add(ps, b, "\\", 1);
        case 'u':
        case 'U':
                digits = at[1] == 'u' ? 4 : 8;
                for (int i = 0; i < digits; i++, ps->p++) {
                        int d = ps->p < ps->end ? hex_value(*ps->p) : -1;

                        if (d < 0)
                                return fail(ps, at, "\\%c needs %d hexadecimal digits", at[1], digits);
                        cp = cp << 4 | (uint32_t)d;
                }
                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return fail(ps, at, "\\%c%.*s is not a Unicode scalar value", at[1], digits, at + 2);
                return sbuf_add_utf8(ps, b, cp);
        default:
                return fail(ps, at, "invalid escape sequence: backslash followed by %s", describe(ps, at + 1, buf));
        }
}

/* p is at a backslash in a multi-line basic string; true when it ends a line, and then skips the whitespace
 * and newlines that follow it. */
static int line_ending_backslash(struct parser *ps)
{
        const char *q = ps->p + 1;

        while (q < ps->end && (*q == ' ' || *q == '\t'))
                q++;
        if (q >= ps->end || (*q != '\n' && *q != '\r'))
                return 0;
        ps->p = q;
        for (;;) {
                int r;

                skip_ws(ps);
                if (!at_newline(ps))
                        return 1;
                r = eat_newline(ps);
                if (r < 0)
                        return r;
        }
}

/* Any of the four string forms; p is at the opening quote. A key may not be multi-line. */
static int parse_string(struct parser *ps, bool key, char **ret, size_t *ret_len)
{
        _cleanup_(sbuf_done) struct sbuf b = {};
        const char *start = ps->p;
        char q = *start;
        bool multi = ps->end - start >= 3 && start[1] == q && start[2] == q;
        int r;

        r = sbuf_add(ps, &b, "", 0);
        if (r < 0)
                return r;
        if (multi) {
                if (key)
                        return fail(ps, start, "a key cannot be a multi-line string");
                ps->p += 3;
                /* A newline right after the opening delimiter is trimmed. */
                if (at_newline(ps)) {
                        r = eat_newline(ps);
                        if (r < 0)
                                return r;
                }
        } else
                ps->p++;

        for (;;) {
                unsigned char c;

                if (ps->p >= ps->end)
                        return fail(ps, start, "unterminated string");
                c = (unsigned char)*ps->p;
                if (c == q) {
                        size_t n = 1;

                        if (!multi) {
                                ps->p++;
                                break;
                        }
                        /* Up to two quotes may stand right before the closing three. */
                        while (ps->p + n < ps->end && ps->p[n] == q)
                                n++;
                        if (n > 5)
                                return fail(ps, ps->p + 5, "too many quotes at the end of a multi-line string");
                        r = sbuf_add(ps, &b, ps->p, n >= 3 ? n - 3 : n);
                        if (r < 0)
                                return r;
                        ps->p += n;
                        if (n >= 3)
                                break;
                } else if (c == '\\' && q == '"') {
                        if (multi) {
                                r = line_ending_backslash(ps);
                                if (r < 0)
                                        return r;
                                if (r > 0)
                                        continue;
                        }
                        r = parse_escape(ps, &b);
                        if (r < 0)
                                return r;
                } else if (c == '\n' || c == '\r') {
                        if (!multi)
                                return fail(ps, ps->p, "newline in a single-line string");
                        r = eat_newline(ps);
                        if (r < 0)
                                return r;
                        /* CRLF is stored as LF, so a value does not depend on the file's line endings. */
                        r = sbuf_add(ps, &b, "\n", 1);
                        if (r < 0)
                                return r;
                } else if (is_control(c)) {
                        return fail(ps, ps->p, "control character U+%04X in a string", c);
                } else {
                        const char *s = ps->p;

                        while (ps->p < ps->end && *ps->p != q && *ps->p != '\\' && *ps->p != '\n' && *ps->p != '\r' &&
                               !is_control((unsigned char)*ps->p))
                                ps->p++;
                        if (ps->p == s) /* a backslash in a literal string */
                                ps->p++;
                        r = sbuf_add(ps, &b, s, (size_t)(ps->p - s));
                        if (r < 0)
                                return r;
                }
        }
        *ret_len = b.len;
        *ret = TAKE_PTR(b.ptr);
        return 0;
}

/* A key, dotted or not, with the whitespace around its parts. */
static int parse_key(struct parser *ps, struct key_path *kp)
{
        char buf[16];

        for (;;) {
                const char *at;
                char *name;
                size_t len;
                int r;

                skip_ws(ps);
                at = ps->p;
                if (kp->n == HULL_TOML_MAX_DEPTH)
                        return fail(ps, at, "key has more than %d parts", HULL_TOML_MAX_DEPTH);
                if (at < ps->end && (*at == '"' || *at == '\'')) {
                        r = parse_string(ps, true, &name, &len);
                        if (r < 0)
                                return r;
                } else {
                        while (ps->p < ps->end && is_bare_key_char(*ps->p))
                                ps->p++;
                        if (ps->p == at)
                                return fail(ps, at, "expected a key, found %s", describe(ps, at, buf));
                        len = (size_t)(ps->p - at);
                        name = strndup(at, len);
                        if (!name)
                                return oom(ps);
                }
                kp->parts[kp->n].name = name;
                kp->parts[kp->n].len = len;
                kp->parts[kp->n].at = at;
                kp->n++;
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != '.')
                        return 0;
                ps->p++;
        }
}

/* ---- scalars ---- */

static bool digits_at(const char *s, const char *end, int n)
{
        if (end - s < n)
                return false;
        for (int i = 0; i < n; i++)
                if (!is_digit(s[i]))
                        return false;
        return true;
}

static int two_digits(const char *s)
{
        return (s[0] - '0') * 10 + (s[1] - '0');
}

static int days_in_month(int year, int month)
{
        static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

        return month == 2 && leap ? 29 : days[month - 1];
}

/* Dates and times (RFC 3339 as TOML restricts it); p is at their first digit. */
static int parse_datetime(struct parser *ps, struct hull_toml_value **ret)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *v = NULL;
        const char *s = ps->p, *q = s, *end = ps->end;
        bool has_date = false, has_time = false, has_offset = false;
        enum hull_toml_type type;

        if (digits_at(q, end, 4) && end - q > 4 && q[4] == '-') {
                int year, month, day;

                if (!digits_at(q + 5, end, 2) || end - q < 8 || q[7] != '-' || !digits_at(q + 8, end, 2))
                        return fail(ps, s, "invalid date: expected YYYY-MM-DD");
                year = two_digits(q) * 100 + two_digits(q + 2);
                month = two_digits(q + 5);
                day = two_digits(q + 8);
                if (month < 1 || month > 12)
                        return fail(ps, q + 5, "invalid date: month %02d", month);
                if (day < 1 || day > days_in_month(year, month))
                        return fail(ps, q + 8, "invalid date: %04d-%02d has no day %02d", year, month, day);
                has_date = true;
                q += 10;
                /* RFC 3339 allows a space instead of 'T'; then a digit must follow. */
                if (q < end && (*q == 'T' || *q == 't' || (*q == ' ' && end - q > 1 && is_digit(q[1]))))
                        q++;
                else
                        goto done;
        }

        if (!digits_at(q, end, 2) || end - q < 3 || q[2] != ':' || !digits_at(q + 3, end, 2) || end - q < 6 ||
            q[5] != ':' || !digits_at(q + 6, end, 2))
                return fail(ps, q, "invalid time: expected HH:MM:SS");
        if (two_digits(q) > 23)
                return fail(ps, q, "invalid time: hour %02d", two_digits(q));
        if (two_digits(q + 3) > 59)
                return fail(ps, q + 3, "invalid time: minute %02d", two_digits(q + 3));
        if (two_digits(q + 6) > 60) /* 60: a leap second */
                return fail(ps, q + 6, "invalid time: second %02d", two_digits(q + 6));
        q += 8;
        if (q < end && *q == '.') {
                const char *f = ++q;

                while (q < end && is_digit(*q))
                        q++;
                if (q == f)
                        return fail(ps, q, "expected digits after the decimal point of a time");
        }
        has_time = true;
        if (has_date && q < end) {
                if (*q == 'Z' || *q == 'z') {
                        q++;
                        has_offset = true;
                } else if (*q == '+' || *q == '-') {
                        if (!digits_at(q + 1, end, 2) || end - q < 4 || q[3] != ':' || !digits_at(q + 4, end, 2))
                                return fail(ps, q, "invalid UTC offset: expected +HH:MM or -HH:MM");
                        if (two_digits(q + 1) > 23 || two_digits(q + 4) > 59)
                                return fail(ps, q, "invalid UTC offset %.6s", q);
                        q += 6;
                        has_offset = true;
                }
        }

done:
        type = has_offset              ? HULL_TOML_DATETIME
                : has_date && has_time ? HULL_TOML_DATETIME_LOCAL
                : has_date             ? HULL_TOML_DATE_LOCAL
                                       : HULL_TOML_TIME_LOCAL;
        v = value_new(type);
        if (!v)
                return oom(ps);
        v->datetime = strndup(s, (size_t)(q - s));
        if (!v->datetime)
                return oom(ps);
        if (has_date && has_time)
                v->datetime[10] = 'T';
        if (has_offset && v->datetime[q - s - 1] == 'z')
                v->datetime[q - s - 1] = 'Z';
        ps->p = q;
        *ret = TAKE_PTR(v);
        return 0;
}

/* Digits of a base with '_' only between two digits: the number of digits, or -1. */
static int count_digits(const char *s, const char *e, int base)
{
        int n = 0;

        for (const char *c = s; c < e; c++) {
                int d = hex_value(*c);

                if (*c == '_') {
                        if (c == s || c + 1 == e || hex_value(c[-1]) < 0 || hex_value(c[1]) < 0)
                                return -1;
                        continue;
                }
                if (d < 0 || d >= base)
                        return -1;
                n++;
        }
        return n;
}

static const char *span_digits(const char *s, const char *e)
{
        while (s < e && (is_digit(*s) || *s == '_'))
                s++;
        return s;
}

static int parse_integer(struct parser *ps, const char *s, const char *digits, const char *e, int base, bool neg,
                         int64_t *ret)
{
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, acc = 0;
        int n = count_digits(digits, e, base);

        if (n <= 0)
                return fail(ps, s, "invalid integer '%.*s'", (int)MIN(e - s, 64), s);
        if (base == 10 && *digits == '0' && n > 1)
                return fail(ps, s, "leading zeros are not allowed in '%.*s'", (int)MIN(e - s, 64), s);
        for (const char *c = digits; c < e; c++) {
                unsigned d;

                if (*c == '_')
                        continue;
                d = (unsigned)hex_value(*c);
                if (acc > (limit - d) / (unsigned)base)
                        return fail(ps, s, "integer '%.*s' does not fit in 64 bits", (int)MIN(e - s, 64), s);
                acc = acc * (unsigned)base + d;
        }
        if (!neg)
                *ret = (int64_t)acc;
        else if (acc == (uint64_t)INT64_MAX + 1)
                *ret = INT64_MIN;
        else
                *ret = -(int64_t)acc;
        return 0;
}

static int parse_float(struct parser *ps, const char *s, const char *digits, const char *e, double *ret)
{
        _cleanup_free_ char *clean = NULL;
        const char *q = span_digits(digits, e), *f;
        size_t o = 0;
        int n = count_digits(digits, q, 10);

        if (n <= 0)
                return fail(ps, s, "invalid float '%.*s'", (int)MIN(e - s, 64), s);
        if (*digits == '0' && n > 1)
                return fail(ps, s, "leading zeros are not allowed in '%.*s'", (int)MIN(e - s, 64), s);
        if (q < e && *q == '.') {
                f = span_digits(++q, e);
                if (count_digits(q, f, 10) <= 0)
                        return fail(ps, s, "invalid float '%.*s': expected digits after the decimal point",
                                    (int)MIN(e - s, 64), s);
                q = f;
        }
        if (q < e && (*q == 'e' || *q == 'E')) {
                q++;
                if (q < e && (*q == '+' || *q == '-'))
                        q++;
                f = span_digits(q, e);
                if (count_digits(q, f, 10) <= 0)
                        return fail(ps, s, "invalid float '%.*s': expected digits in the exponent", (int)MIN(e - s, 64),
                                    s);
                q = f;
        }
        if (q != e)
                return fail(ps, s, "invalid float '%.*s'", (int)MIN(e - s, 64), s);

        clean = malloc((size_t)(e - s) + 1);
        if (!clean)
                return oom(ps);
        for (const char *c = s; c < e; c++)
                if (*c != '_')
                        clean[o++] = *c;
        clean[o] = '\0';
        /* The token is now [sign] digits [. digits] [e [sign] digits]: strtod reads exactly that (in the C locale,
         * which a library never changes). Out-of-range values become ±inf or 0 as IEEE 754 rounds them. */
        *ret = strtod(clean, NULL);
        return 0;
}

/* Integers and floats, special floats included; p is at their first character. */
static int parse_number(struct parser *ps, struct hull_toml_value **ret)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *v = NULL;
        const char *s = ps->p, *e = s, *digits = s;
        bool neg = false, sign = false;
        int r;

        while (e < ps->end && (is_bare_key_char(*e) || *e == '.' || *e == '+'))
                e++;
        if (*digits == '+' || *digits == '-') {
                neg = *digits == '-';
                sign = true;
                digits++;
        }
        if (e - digits == 3 && (strneq(digits, "inf", 3) || strneq(digits, "nan", 3))) {
                v = value_new(HULL_TOML_FLOAT);
                if (!v)
                        return oom(ps);
                v->floating = digits[0] == 'i' ? (neg ? -HUGE_VAL : HUGE_VAL) : (neg ? -NAN : NAN);
        } else if (e - digits >= 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o' || digits[1] == 'b')) {
                int base = digits[1] == 'x' ? 16 : digits[1] == 'o' ? 8 : 2;

                if (sign)
                        return fail(ps, s, "a sign is not allowed on a hexadecimal, octal or binary integer");
                v = value_new(HULL_TOML_INTEGER);
                if (!v)
                        return oom(ps);
                r = parse_integer(ps, s, digits + 2, e, base, false, &v->integer);
                if (r < 0)
                        return r;
        } else if (memchr(digits, '.', (size_t)(e - digits)) || memchr(digits, 'e', (size_t)(e - digits)) ||
                   memchr(digits, 'E', (size_t)(e - digits))) {
                v = value_new(HULL_TOML_FLOAT);
                if (!v)
                        return oom(ps);
                r = parse_float(ps, s, digits, e, &v->floating);
                if (r < 0)
                        return r;
        } else {
                v = value_new(HULL_TOML_INTEGER);
                if (!v)
                        return oom(ps);
                r = parse_integer(ps, s, digits, e, 10, neg, &v->integer);
                if (r < 0)
                        return r;
        }
        ps->p = e;
        *ret = TAKE_PTR(v);
        return 0;
}

/* ---- values, arrays, inline tables ---- */

static int parse_keyval(struct parser *ps, struct hull_toml_value *table, unsigned depth);

static int parse_value(struct parser *ps, unsigned depth, struct hull_toml_value **ret);

static int parse_array(struct parser *ps, unsigned depth, struct hull_toml_value *a)
{
        const char *start = ps->p;
        char buf[16];
        int r;

        ps->p++;
        for (;;) {
                struct hull_toml_value *item = NULL;

                r = skip_blank(ps);
                if (r < 0)
                        return r;
                if (ps->p >= ps->end)
                        return fail(ps, start, "unterminated array");
                if (*ps->p == ']')
                        break;
                r = parse_value(ps, depth + 1, &item);
                if (r < 0)
                        return r;
                r = array_add(ps, a, item);
                if (r < 0)
                        return r;
                r = skip_blank(ps);
                if (r < 0)
                        return r;
                if (ps->p < ps->end && *ps->p == ',') {
                        ps->p++;
                        continue;
                }
                if (ps->p < ps->end && *ps->p == ']')
                        break;
                if (ps->p >= ps->end)
                        return fail(ps, start, "unterminated array");
                return fail(ps, ps->p, "expected ',' or ']' in an array, found %s", describe(ps, ps->p, buf));
        }
        ps->p++;
        return 0;
}

/* Inline tables fit on one line (TOML 1.0) and take no trailing comma. */
static int parse_inline_table(struct parser *ps, unsigned depth, struct hull_toml_value *t)
{
        char buf[16];
        int r;

        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                return 0;
        }
        for (;;) {
                r = parse_keyval(ps, t, depth);
                if (r < 0)
                        return r;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == ',') {
                        ps->p++;
                        skip_ws(ps);
                        if (ps->p < ps->end && *ps->p == '}')
                                return fail(ps, ps->p, "trailing comma in an inline table");
                        continue;
                }
                if (ps->p < ps->end && *ps->p == '}') {
                        ps->p++;
                        return 0;
                }
                if (ps->p >= ps->end || at_newline(ps))
                        return fail(ps, ps->p,
                                    "expected ',' or '}' in an inline table, found %s (an inline table "
                                    "must fit on one line)",
                                    describe(ps, ps->p, buf));
                return fail(ps, ps->p, "expected ',' or '}' in an inline table, found %s", describe(ps, ps->p, buf));
        }
}

/* depth: how deep the value will sit in the tree (the root table is 0). */
static int parse_value(struct parser *ps, unsigned depth, struct hull_toml_value **ret)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *v = NULL;
        const char *at = ps->p;
        unsigned line = ps->line, col;
        char buf[16];
        char c;
        int r;

        if (at >= ps->end || at_newline(ps))
                return fail(ps, at, "expected a value, found %s", describe(ps, at, buf));
        col = column_of(ps, at);
        c = *at;
        if (c == '"' || c == '\'') {
                v = value_new(HULL_TOML_STRING);
                if (!v)
                        return oom(ps);
                r = parse_string(ps, false, &v->string.ptr, &v->string.len);
        } else if (c == '[' || c == '{') {
                if (depth > HULL_TOML_MAX_DEPTH)
                        return fail(ps, at, "values nested more than %d levels deep", HULL_TOML_MAX_DEPTH);
                v = value_new(c == '[' ? HULL_TOML_ARRAY : HULL_TOML_TABLE);
                if (!v)
                        return oom(ps);
                r = c == '[' ? parse_array(ps, depth, v) : parse_inline_table(ps, depth, v);
        } else if (c == 't' || c == 'f') {
                size_t n = c == 't' ? 4 : 5;

                if ((size_t)(ps->end - at) < n || !strneq(at, c == 't' ? "true" : "false", n) ||
                    ((size_t)(ps->end - at) > n && is_bare_key_char(at[n])))
                        return fail(ps, at, "expected a value, found %s", describe(ps, at, buf));
                v = value_new(HULL_TOML_BOOL);
                if (!v)
                        return oom(ps);
                v->boolean = c == 't';
                ps->p += n;
                r = 0;
        } else if ((digits_at(at, ps->end, 4) && ps->end - at > 4 && at[4] == '-') ||
                   (digits_at(at, ps->end, 2) && ps->end - at > 2 && at[2] == ':')) {
                r = parse_datetime(ps, &v);
        } else if (is_digit(c) || c == '+' || c == '-' || c == 'i' || c == 'n') {
                r = parse_number(ps, &v);
        } else
                return fail(ps, at, "expected a value, found %s", describe(ps, at, buf));
        if (r < 0)
                return r;
        v->line = line;
        v->column = col;
        *ret = TAKE_PTR(v);
        return 0;
}

/* key = value into a table at the given depth; dotted keys make (or extend) the tables on their way. */
static int parse_keyval(struct parser *ps, struct hull_toml_value *table, unsigned depth)
{
        _cleanup_(key_path_done) struct key_path kp = {};
        struct hull_toml_value *t = table, *v = NULL;
        struct key_slot *slot;
        char buf[16], kbuf[64];
        size_t last;
        int r;

        r = parse_key(ps, &kp);
        if (r < 0)
                return r;
        if (ps->p >= ps->end || *ps->p != '=')
                return fail(ps, ps->p, "expected '=' after a key, found %s", describe(ps, ps->p, buf));
        ps->p++;
        skip_ws(ps);

        last = kp.n - 1;
        if (depth + last > HULL_TOML_MAX_DEPTH)
                return fail(ps, kp.parts[0].at, "tables nested more than %d levels deep", HULL_TOML_MAX_DEPTH);
        for (size_t i = 0; i < last; i++) {
                slot = index_find(&ps->index, t, kp.parts[i].name, kp.parts[i].len);
                if (!slot) {
                        r = table_add_new(ps, t, TAKE_PTR(kp.parts[i].name), kp.parts[i].len, HULL_TOML_TABLE,
                                          KEY_DOTTED, kp.parts[i].at, &t);
                        if (r < 0)
                                return r;
                } else if (slot->value->type == HULL_TOML_TABLE && !(slot->flags & (KEY_INLINE | KEY_DEFINED))) {
                        /* A table a header only implied is now made by dotted keys: no header may define it. */
                        slot->flags = KEY_DOTTED;
                        t = slot->value;
                } else if (slot->value->type == HULL_TOML_TABLE && (slot->flags & KEY_DEFINED))
                        return fail(ps, kp.parts[i].at, "dotted key cannot add to table '%s' defined by a header",
                                    printable_key(kp.parts[i].name, kp.parts[i].len, kbuf));
                else
                        return fail(ps, kp.parts[i].at, "key '%s' is already %s",
                                    printable_key(kp.parts[i].name, kp.parts[i].len, kbuf),
                                    what_is(slot->value, slot->flags));
                depth++;
        }
        slot = index_find(&ps->index, t, kp.parts[last].name, kp.parts[last].len);
        if (slot)
                return fail(ps, kp.parts[last].at, "duplicate key '%s' (already %s)",
                            printable_key(kp.parts[last].name, kp.parts[last].len, kbuf),
                            what_is(slot->value, slot->flags));
        r = parse_value(ps, depth + 1, &v);
        if (r < 0)
                return r;
        return table_add(ps, t, TAKE_PTR(kp.parts[last].name), kp.parts[last].len, v,
                         v->type == HULL_TOML_TABLE || v->type == HULL_TOML_ARRAY ? KEY_INLINE : 0);
}

/* [a.b.c] or [[a.b.c]]; returns the table that the following key/value pairs go into, and its depth. */
static int parse_header(struct parser *ps, struct hull_toml_value *root, struct hull_toml_value **ret,
                        unsigned *ret_depth)
{
        _cleanup_(key_path_done) struct key_path kp = {};
        const char *at = ps->p;
        bool aot = ps->end - at >= 2 && at[1] == '[';
        struct hull_toml_value *t = root, *n;
        struct key_slot *slot;
        unsigned depth = 0;
        char buf[16], kbuf[64];
        size_t last;
        int r;

        ps->p += aot ? 2 : 1;
        r = parse_key(ps, &kp);
        if (r < 0)
                return r;
        if (ps->p >= ps->end || *ps->p != ']' || (aot && (ps->end - ps->p < 2 || ps->p[1] != ']')))
                return fail(ps, ps->p, "expected '%s' to end a table header, found %s", aot ? "]]" : "]",
                            describe(ps, ps->p, buf));
        ps->p += aot ? 2 : 1;

        last = kp.n - 1;
        for (size_t i = 0; i < last; i++) {
                slot = index_find(&ps->index, t, kp.parts[i].name, kp.parts[i].len);
                if (!slot) {
                        r = table_add_new(ps, t, TAKE_PTR(kp.parts[i].name), kp.parts[i].len, HULL_TOML_TABLE,
                                          KEY_IMPLICIT, at, &t);
                        if (r < 0)
                                return r;
                        depth++;
                } else if (slot->value->type == HULL_TOML_TABLE && !(slot->flags & KEY_INLINE)) {
                        t = slot->value;
                        depth++;
                } else if (slot->value->type == HULL_TOML_ARRAY && (slot->flags & KEY_AOT)) {
                        /* [a.b] after [[a]] means b in the last table of a. */
                        t = slot->value->array.items[slot->value->array.len - 1];
                        depth += 2;
                } else
                        return fail(ps, kp.parts[i].at, "cannot add a table to '%s': it is already %s",
                                    printable_key(kp.parts[i].name, kp.parts[i].len, kbuf),
                                    what_is(slot->value, slot->flags));
        }
        depth += aot ? 2 : 1;
        if (depth > HULL_TOML_MAX_DEPTH)
                return fail(ps, at, "tables nested more than %d levels deep", HULL_TOML_MAX_DEPTH);

        slot = index_find(&ps->index, t, kp.parts[last].name, kp.parts[last].len);
        if (aot) {
                struct hull_toml_value *array;

                if (!slot) {
                        r = table_add_new(ps, t, TAKE_PTR(kp.parts[last].name), kp.parts[last].len, HULL_TOML_ARRAY,
                                          KEY_AOT, at, &array);
                        if (r < 0)
                                return r;
                } else if (slot->value->type == HULL_TOML_ARRAY && (slot->flags & KEY_AOT))
                        array = slot->value;
                else
                        return fail(ps, kp.parts[last].at, "cannot define array of tables '%s': it is already %s",
                                    printable_key(kp.parts[last].name, kp.parts[last].len, kbuf),
                                    what_is(slot->value, slot->flags));
                n = value_new(HULL_TOML_TABLE);
                if (!n)
                        return oom(ps);
                mark(ps, n, at);
                r = array_add(ps, array, n);
                if (r < 0)
                        return r;
        } else if (!slot) {
                r = table_add_new(ps, t, TAKE_PTR(kp.parts[last].name), kp.parts[last].len, HULL_TOML_TABLE,
                                  KEY_DEFINED, at, &n);
                if (r < 0)
                        return r;
        } else if (slot->value->type == HULL_TOML_TABLE && slot->flags == KEY_IMPLICIT) {
                slot->flags = KEY_DEFINED;
                n = slot->value;
                mark(ps, n, at); /* where it is defined says more than where it was first implied */
        } else if (slot->value->type == HULL_TOML_TABLE && slot->flags == KEY_DEFINED)
                return fail(ps, kp.parts[last].at, "table '%s' defined twice",
                            printable_key(kp.parts[last].name, kp.parts[last].len, kbuf));
        else if (slot->value->type == HULL_TOML_TABLE && slot->flags == KEY_DOTTED)
                return fail(ps, kp.parts[last].at, "table '%s' already defined by dotted keys",
                            printable_key(kp.parts[last].name, kp.parts[last].len, kbuf));
        else
                return fail(ps, kp.parts[last].at, "cannot define table '%s': it is already %s",
                            printable_key(kp.parts[last].name, kp.parts[last].len, kbuf),
                            what_is(slot->value, slot->flags));
        *ret = n;
        *ret_depth = depth;
        return 0;
}

static int parse_document(struct parser *ps, struct hull_toml_value *root)
{
        struct hull_toml_value *current = root;
        unsigned depth = 0;
        int r;

        for (;;) {
                skip_ws(ps);
                if (ps->p >= ps->end)
                        return 0;
                if (*ps->p == '#') {
                        r = skip_comment(ps);
                        if (r < 0)
                                return r;
                        r = end_line(ps, "a comment");
                } else if (at_newline(ps)) {
                        r = eat_newline(ps);
                } else if (*ps->p == '[') {
                        r = parse_header(ps, root, &current, &depth);
                        if (r < 0)
                                return r;
                        r = end_line(ps, "a table header");
                } else {
                        r = parse_keyval(ps, current, depth);
                        if (r < 0)
                                return r;
                        r = end_line(ps, "a key/value pair");
                }
                if (r < 0)
                        return r;
        }
}

int hull_toml_parse(const char *data, size_t len, const char *filename, struct hull_toml_value **ret_root,
                    struct hull_error **err)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = NULL;
        struct parser ps = {
                .begin = data ? data : "",
                .filename = filename ? filename : "<input>",
                .line = 1,
                .err = err,
        };
        int r;

        if (!data && len > 0)
                return hull_error_set(err, EINVAL, "%s: no data", ps.filename);
        if (len > HULL_TOML_MAX_SIZE)
                return hull_error_set(err, EFBIG, "%s: %zu bytes, more than the %u a TOML document may have",
                                      ps.filename, len, (unsigned)HULL_TOML_MAX_SIZE);
        ps.end = ps.begin + len;
        if (len >= 3 && memcmp(ps.begin, "\xef\xbb\xbf", 3) == 0)
                ps.begin += 3;
        ps.p = ps.line_start = ps.col_at = ps.begin;
        ps.col = 1;

        root = value_new(HULL_TOML_TABLE);
        if (!root)
                return hull_error_oom(err);
        root->line = 1;
        root->column = 1;
        r = check_utf8(&ps);
        if (r >= 0)
                r = parse_document(&ps, root);
        free(ps.index.slots);
        if (r < 0)
                return r;
        *ret_root = TAKE_PTR(root);
        return 0;
}

const struct hull_toml_value *hull_toml_table_get(const struct hull_toml_value *table, const char *key)
{
        size_t len;

        if (!table || !key || table->type != HULL_TOML_TABLE)
                return NULL;
        len = strlen(key);
        for (size_t i = 0; i < table->table.len; i++)
                if (table->table.items[i].key_len == len && memcmp(table->table.items[i].key, key, len) == 0)
                        return table->table.items[i].value;
        return NULL;
}

const char *hull_toml_type_name(enum hull_toml_type type)
{
        switch (type) {
        case HULL_TOML_STRING:
                return "string";
        case HULL_TOML_INTEGER:
                return "integer";
        case HULL_TOML_FLOAT:
                return "float";
        case HULL_TOML_BOOL:
                return "boolean";
        case HULL_TOML_DATETIME:
                return "offset date-time";
        case HULL_TOML_DATETIME_LOCAL:
                return "local date-time";
        case HULL_TOML_DATE_LOCAL:
                return "local date";
        case HULL_TOML_TIME_LOCAL:
                return "local time";
        case HULL_TOML_ARRAY:
                return "array";
        case HULL_TOML_TABLE:
                return "table";
        }
        return "unknown";
}
