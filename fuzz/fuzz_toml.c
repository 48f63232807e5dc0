/* libFuzzer target for hull_toml_parse(): any bytes either parse into a tree that keeps the parser's promises
 * (unique keys, NUL-free keys, positions set, depth bounded) or fail with "<file>:<line>:<column>: ...". */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "toml/toml.h"

#define CHECK(cond)                                                                           \
        do {                                                                                  \
                if (!(cond)) {                                                                \
                        fprintf(stderr, "fuzz_toml: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
                        __builtin_trap();                                                     \
                }                                                                             \
        } while (0)

static void check_tree(const struct hull_toml_value *v, unsigned depth)
{
        CHECK(depth <= HULL_TOML_MAX_DEPTH + 1);
        CHECK(v->line >= 1 && v->column >= 1);
        switch (v->type) {
        case HULL_TOML_STRING:
                CHECK(v->string.ptr && v->string.ptr[v->string.len] == '\0');
                break;
        case HULL_TOML_DATETIME:
        case HULL_TOML_DATETIME_LOCAL:
        case HULL_TOML_DATE_LOCAL:
        case HULL_TOML_TIME_LOCAL:
                CHECK(v->datetime && strlen(v->datetime) >= 8);
                break;
        case HULL_TOML_ARRAY:
                CHECK(depth <= HULL_TOML_MAX_DEPTH);
                for (size_t i = 0; i < v->array.len; i++)
                        check_tree(v->array.items[i], depth + 1);
                break;
        case HULL_TOML_TABLE:
                CHECK(depth <= HULL_TOML_MAX_DEPTH);
                for (size_t i = 0; i < v->table.len; i++) {
                        /* A key found by name is this very entry: no key appears twice in a table. A key holding
                         * U+0000 cannot be named by a C string. */
                        CHECK(v->table.items[i].key[v->table.items[i].key_len] == '\0');
                        if (strlen(v->table.items[i].key) == v->table.items[i].key_len)
                                CHECK(hull_toml_table_get(v, v->table.items[i].key) == v->table.items[i].value);
                        check_tree(v->table.items[i].value, depth + 1);
                }
                break;
        default:
                break;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct hull_toml_value *root = NULL;
        struct hull_error *err = NULL;
        unsigned line, col;
        int r;

        r = hull_toml_parse((const char *)data, size, "f", &root, &err);
        if (r < 0) {
                CHECK(r == -EINVAL && !root && err);
                CHECK(sscanf(hull_error_message(err), "f:%u:%u: ", &line, &col) == 2 && line >= 1 && col >= 1);
                hull_error_free(err);
                return 0;
        }
        CHECK(root && root->type == HULL_TOML_TABLE && !err);
        check_tree(root, 0);
        hull_toml_free(root);
        return 0;
}
