/* toml-test decoder: TOML on stdin, toml-test's tagged JSON on stdout; exit 1 with the parser's error on stderr
 * when the document is invalid. Used by tests/toml-test/run.py. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "toml/toml.h"

static void put_json_string(const char *s, size_t len)
{
        putchar('"');
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c < 0x20)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

static void put_tagged(const char *type, const char *value)
{
        printf("{\"type\":\"%s\",\"value\":", type);
        put_json_string(value, strlen(value));
        putchar('}');
}

static void put_value(const struct hull_toml_value *v)
{
        char num[64];

        switch (v->type) {
        case HULL_TOML_STRING:
                printf("{\"type\":\"string\",\"value\":");
                put_json_string(v->string.ptr, v->string.len);
                putchar('}');
                break;
        case HULL_TOML_INTEGER:
                snprintf(num, sizeof(num), "%" PRId64, v->integer);
                put_tagged("integer", num);
                break;
        case HULL_TOML_FLOAT:
                if (isnan(v->floating))
                        snprintf(num, sizeof(num), "nan");
                else if (isinf(v->floating))
                        snprintf(num, sizeof(num), "%sinf", v->floating < 0 ? "-" : "");
                else
                        /* The shortest form that reads back as the same double. */
                        for (int prec = 15; prec <= 17; prec++) {
                                snprintf(num, sizeof(num), "%.*g", prec, v->floating);
                                if (strtod(num, NULL) == v->floating)
                                        break;
                        }
                put_tagged("float", num);
                break;
        case HULL_TOML_BOOL:
                put_tagged("bool", v->boolean ? "true" : "false");
                break;
        case HULL_TOML_DATETIME:
                put_tagged("datetime", v->datetime);
                break;
        case HULL_TOML_DATETIME_LOCAL:
                put_tagged("datetime-local", v->datetime);
                break;
        case HULL_TOML_DATE_LOCAL:
                put_tagged("date-local", v->datetime);
                break;
        case HULL_TOML_TIME_LOCAL:
                put_tagged("time-local", v->datetime);
                break;
        case HULL_TOML_ARRAY:
                putchar('[');
                for (size_t i = 0; i < v->array.len; i++) {
                        if (i)
                                putchar(',');
                        put_value(v->array.items[i]);
                }
                putchar(']');
                break;
        case HULL_TOML_TABLE:
                putchar('{');
                for (size_t i = 0; i < v->table.len; i++) {
                        if (i)
                                putchar(',');
                        put_json_string(v->table.items[i].key, v->table.items[i].key_len);
                        putchar(':');
                        put_value(v->table.items[i].value);
                }
                putchar('}');
                break;
        }
}

int main(void)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *data = NULL;
        size_t len = 0, cap = 0;

        for (;;) {
                size_t n;

                if (cap - len < 65536) {
                        char *p;

                        if (cap > HULL_TOML_MAX_SIZE) {
                                fprintf(stderr, "toml-decode: input too large\n");
                                return 2;
                        }
                        cap = cap ? cap * 2 : 65536;
                        p = realloc(data, cap);
                        if (!p) {
                                fprintf(stderr, "toml-decode: out of memory\n");
                                return 2;
                        }
                        data = p;
                }
                n = fread(data + len, 1, cap - len, stdin);
                len += n;
                if (n == 0)
                        break;
        }
        if (ferror(stdin)) {
                fprintf(stderr, "toml-decode: cannot read stdin\n");
                return 2;
        }
        if (hull_toml_parse(data, len, "stdin", &root, &err) < 0) {
                fprintf(stderr, "%s\n", hull_error_message(err));
                return 1;
        }
        put_value(root);
        putchar('\n');
        return fflush(stdout) == 0 ? 0 : 2;
}
