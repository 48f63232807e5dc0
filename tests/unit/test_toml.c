/* Unit tests for src/toml: values and their positions, TOML's redefinition rules, error messages with line and
 * column, limits against hostile input, and Kata's real configuration files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "error.h"
#include "toml/toml.h"

static struct hull_toml_value *parse_ok(const char *text)
{
        _cleanup_error_ struct hull_error *err = NULL;
        struct hull_toml_value *root = NULL;
        int r = hull_toml_parse(text, strlen(text), "t.toml", &root, &err);

        if (r < 0)
                fail_msg("unexpected error: %s\n--- input ---\n%s", hull_error_message(err), text);
        assert_non_null(root);
        assert_int_equal(root->type, HULL_TOML_TABLE);
        return root;
}

/* Parse len bytes that must fail with EINVAL and exactly the given message. */
static void parse_fails_len(const char *text, size_t len, const char *message)
{
        _cleanup_error_ struct hull_error *err = NULL;
        struct hull_toml_value *root = NULL;
        int r = hull_toml_parse(text, len, "t.toml", &root, &err);

        if (r >= 0)
                fail_msg("accepted invalid input:\n%.*s", (int)len, text);
        assert_int_equal(r, -EINVAL);
        assert_null(root);
        assert_string_equal(hull_error_message(err), message);
}

static void parse_fails(const char *text, const char *message)
{
        parse_fails_len(text, strlen(text), message);
}

static const struct hull_toml_value *get(const struct hull_toml_value *t, const char *key, enum hull_toml_type type)
{
        const struct hull_toml_value *v = hull_toml_table_get(t, key);

        if (!v)
                fail_msg("key '%s' missing", key);
        assert_int_equal(v->type, type);
        return v;
}

static void test_toml_parses_scalars_with_positions(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("# comment\n"
                                                                           "s = \"hi\"\n"
                                                                           "  i = -42 # trailing\n"
                                                                           "f = 3.5\n"
                                                                           "b = true\n"
                                                                           "d = 1979-05-27\n");
        const struct hull_toml_value *v;

        assert_int_equal(root->table.len, 5);
        v = get(root, "s", HULL_TOML_STRING);
        assert_string_equal(v->string.ptr, "hi");
        assert_int_equal(v->string.len, 2);
        assert_int_equal(v->line, 2);
        assert_int_equal(v->column, 5);
        v = get(root, "i", HULL_TOML_INTEGER);
        assert_int_equal(v->integer, -42);
        assert_int_equal(v->line, 3);
        assert_int_equal(v->column, 7);
        assert_true(get(root, "f", HULL_TOML_FLOAT)->floating == 3.5);
        assert_true(get(root, "b", HULL_TOML_BOOL)->boolean);
        assert_string_equal(get(root, "d", HULL_TOML_DATE_LOCAL)->datetime, "1979-05-27");
        /* Keys stay in the order written. */
        assert_string_equal(root->table.items[0].key, "s");
        assert_string_equal(root->table.items[4].key, "d");
}

static void test_toml_table_positions_are_their_headers(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("[a.b]\n"
                                                                           "x = 1\n"
                                                                           "\n"
                                                                           "  [a]\n"
                                                                           "[[c]]\n"
                                                                           "[[c]]\n");
        const struct hull_toml_value *a = get(root, "a", HULL_TOML_TABLE), *c;

        /* a was implied on line 1 and defined on line 4: the definition is what a reader looks for. */
        assert_int_equal(a->line, 4);
        assert_int_equal(a->column, 3);
        assert_int_equal(get(a, "b", HULL_TOML_TABLE)->line, 1);
        c = get(root, "c", HULL_TOML_ARRAY);
        assert_int_equal(c->array.len, 2);
        assert_int_equal(c->array.items[1]->line, 6);
}

static void test_toml_rejects_duplicate_key(void **state)
{
        parse_fails("a = 1\na = 2\n", "t.toml:2:1: duplicate key 'a' (already an integer)");
        parse_fails("a = 1\n\"a\" = 2\n", "t.toml:2:1: duplicate key 'a' (already an integer)");
        parse_fails("[t]\nx.y = 1\nx = 2\n", "t.toml:3:1: duplicate key 'x' (already a table made by dotted keys)");
        parse_fails("a = {b = 1, b = 2}\n", "t.toml:1:13: duplicate key 'b' (already an integer)");
}

static void test_toml_rejects_table_defined_twice(void **state)
{
        parse_fails("[a]\n[b]\n[a]\n", "t.toml:3:2: table 'a' defined twice");
        parse_fails("[a.b]\n[a]\n[a]\n", "t.toml:3:2: table 'a' defined twice");
        parse_fails("a.b = 1\n[a]\n", "t.toml:2:2: table 'a' already defined by dotted keys");
        parse_fails("[a]\n[[a]]\n", "t.toml:2:3: cannot define array of tables 'a': it is already a table");
        parse_fails("[[a]]\n[a]\n", "t.toml:2:2: cannot define table 'a': it is already an array of tables");
}

static void test_toml_allows_defining_an_implied_table_once(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("[a.b.c]\nz = 1\n[a]\ny = 2\n[a.b]\n");
        const struct hull_toml_value *a = get(root, "a", HULL_TOML_TABLE);

        assert_int_equal(get(a, "y", HULL_TOML_INTEGER)->integer, 2);
        assert_int_equal(get(get(get(a, "b", HULL_TOML_TABLE), "c", HULL_TOML_TABLE), "z", HULL_TOML_INTEGER)->integer,
                         1);
}

static void test_toml_dotted_keys_follow_header_rules(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = NULL;

        /* A header may add a sub-table to a table made by dotted keys (TOML 1.0, "Table"). */
        root = parse_ok("[fruit]\napple.color = \"red\"\n[fruit.apple.texture]\nsmooth = true\n");
        assert_true(
                get(get(get(get(root, "fruit", HULL_TOML_TABLE), "apple", HULL_TOML_TABLE), "texture", HULL_TOML_TABLE),
                    "smooth", HULL_TOML_BOOL)
                        ->boolean);
        /* ... but dotted keys may not add to a table a header defined. */
        parse_fails("[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
                    "t.toml:4:3: dotted key cannot add to table 'c' defined by a header");
        parse_fails("a = 1\na.b = 2\n", "t.toml:2:1: key 'a' is already an integer");
        parse_fails("[[a.b]]\n[a]\nb.y = 2\n", "t.toml:3:1: key 'b' is already an array of tables");
}

static void test_toml_inline_tables_are_immutable(void **state)
{
        parse_fails("a = {b = 1}\n[a]\n", "t.toml:2:2: cannot define table 'a': it is already an inline table");
        parse_fails("a = {b = 1}\n[a.c]\n", "t.toml:2:2: cannot add a table to 'a': it is already an inline table");
        parse_fails("a = {b = 1}\na.c = 2\n", "t.toml:2:1: key 'a' is already an inline table");
        parse_fails("a = {b = {c = 1}, b.d = 2}\n", "t.toml:1:19: key 'b' is already an inline table");
        parse_fails("a = {b = 1,}\n", "t.toml:1:12: trailing comma in an inline table");
        parse_fails("a = {b = 1,\nc = 2}\n", "t.toml:1:12: expected a key, found end of line");
}

static void test_toml_arrays_of_tables_append_and_nest(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("[[fruit]]\n"
                                                                           "name = \"apple\"\n"
                                                                           "[fruit.physical]\n"
                                                                           "color = \"red\"\n"
                                                                           "[[fruit.variety]]\n"
                                                                           "name = \"red delicious\"\n"
                                                                           "[[fruit]]\n"
                                                                           "name = \"banana\"\n");
        const struct hull_toml_value *fruit = get(root, "fruit", HULL_TOML_ARRAY), *apple;

        assert_int_equal(fruit->array.len, 2);
        apple = fruit->array.items[0];
        assert_string_equal(get(apple, "name", HULL_TOML_STRING)->string.ptr, "apple");
        assert_string_equal(get(get(apple, "physical", HULL_TOML_TABLE), "color", HULL_TOML_STRING)->string.ptr, "red");
        assert_int_equal(get(apple, "variety", HULL_TOML_ARRAY)->array.len, 1);
        assert_string_equal(get(fruit->array.items[1], "name", HULL_TOML_STRING)->string.ptr, "banana");
}

static void test_toml_rejects_appending_to_static_array(void **state)
{
        parse_fails("a = [{b = 1}]\n[[a]]\n", "t.toml:2:3: cannot define array of tables 'a': it is already an array");
        parse_fails("a = []\n[a.b]\n", "t.toml:2:2: cannot add a table to 'a': it is already an array");
}

static void test_toml_arrays_mix_types_and_span_lines(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("a = [\n"
                                                                           "  1, # one\n"
                                                                           "  \"two\",\n"
                                                                           "  [3.0], {x = 4},\n"
                                                                           "]\n");
        const struct hull_toml_value *a = get(root, "a", HULL_TOML_ARRAY);

        assert_int_equal(a->array.len, 4);
        assert_int_equal(a->array.items[0]->type, HULL_TOML_INTEGER);
        assert_int_equal(a->array.items[1]->type, HULL_TOML_STRING);
        assert_int_equal(a->array.items[1]->line, 3);
        assert_int_equal(a->array.items[1]->column, 3);
        assert_int_equal(a->array.items[2]->type, HULL_TOML_ARRAY);
        assert_int_equal(get(a->array.items[3], "x", HULL_TOML_INTEGER)->integer, 4);
        parse_fails("a = [1 2]\n", "t.toml:1:8: expected ',' or ']' in an array, found '2'");
        parse_fails("a = [,]\n", "t.toml:1:6: expected a value, found ','");
        parse_fails("a = [1,,]\n", "t.toml:1:8: expected a value, found ','");
        parse_fails("a = [1,\n", "t.toml:1:5: unterminated array");
}

static void test_toml_string_keeps_nul_from_escape(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("s = \"a\\u0000b\\U0001F600\"\n");
        const struct hull_toml_value *s = get(root, "s", HULL_TOML_STRING);

        assert_int_equal(s->string.len, 7);
        assert_memory_equal(s->string.ptr, "a\0b\xf0\x9f\x98\x80", 8); /* the NUL terminator too */
}

/* A quoted key may hold U+0000 (toml-test's valid/key/quoted-unicode): keys carry their length, and keys that
 * differ only after a NUL are distinct, also for the duplicate rules. */
static void test_toml_keys_may_hold_nul(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok(
                "\"a\\u0000b\" = 1\n\"a\\u0000c\" = 2\na = 3\n[x.\"\\u0000\"]\ny = 4\n");
        const struct hull_toml_value *x;

        assert_int_equal(root->table.len, 4);
        assert_int_equal(root->table.items[0].key_len, 3);
        assert_memory_equal(root->table.items[0].key, "a\0b", 4); /* the NUL terminator too */
        assert_int_equal(root->table.items[1].key_len, 3);
        assert_memory_equal(root->table.items[1].key, "a\0c", 4);
        assert_int_equal(root->table.items[1].value->integer, 2);
        assert_int_equal(root->table.items[2].key_len, 1);
        /* A C-string lookup never matches a key holding NUL: "a" is the third key, not "a\0b". */
        assert_int_equal(get(root, "a", HULL_TOML_INTEGER)->integer, 3);
        x = get(root, "x", HULL_TOML_TABLE);
        assert_int_equal(x->table.len, 1);
        assert_int_equal(x->table.items[0].key_len, 1);
        assert_int_equal(x->table.items[0].key[0], '\0');
        assert_null(hull_toml_table_get(x, ""));

        parse_fails("\"a\\u0000b\" = 1\n\"a\\u0000b\" = 2\n",
                    "t.toml:2:1: duplicate key 'a\\x00b' (already an integer)");
        parse_fails("[\"\\u0000\"]\n[\"\\u0000\"]\n", "t.toml:2:2: table '\\x00' defined twice");
}

static void test_toml_string_escapes_and_validation(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("a = \"tab\\there \\\"q\\\" \\\\ \\u00e9\"\n"
                                                                           "b = 'C:\\path\\no\\escapes'\n"
                                                                           "c = \"\"\n");

        assert_string_equal(get(root, "a", HULL_TOML_STRING)->string.ptr, "tab\there \"q\" \\ \xc3\xa9");
        assert_string_equal(get(root, "b", HULL_TOML_STRING)->string.ptr, "C:\\path\\no\\escapes");
        assert_string_equal(get(root, "c", HULL_TOML_STRING)->string.ptr, "");
        parse_fails("a = \"\\x41\"\n", "t.toml:1:6: invalid escape sequence: backslash followed by 'x'");
        parse_fails("a = \"\\uD800\"\n", "t.toml:1:6: \\uD800 is not a Unicode scalar value");
        parse_fails("a = \"\\U00110000\"\n", "t.toml:1:6: \\U00110000 is not a Unicode scalar value");
        parse_fails("a = \"\\u12\"\n", "t.toml:1:6: \\u needs 4 hexadecimal digits");
        parse_fails("a = \"x\ny\"\n", "t.toml:1:7: newline in a single-line string");
        parse_fails("a = \"x\x01\"\n", "t.toml:1:7: control character U+0001 in a string");
        parse_fails("a = 'x\x7f'\n", "t.toml:1:7: control character U+007F in a string");
        parse_fails("a = \"abc\n", "t.toml:1:9: newline in a single-line string");
        parse_fails("a = \"abc", "t.toml:1:5: unterminated string");
}

static void test_toml_multiline_strings(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("a = \"\"\"\n"
                                                                           "one\r\n"
                                                                           "two \\\n"
                                                                           "    three\"\"\"\"\"\n"
                                                                           "b = '''\n"
                                                                           "raw \\n ''it'''''\n"
                                                                           "c = \"\"\"\\\n"
                                                                           "   \t \n"
                                                                           "\n"
                                                                           "  x\"\"\"\n");

        /* First newline trimmed, CRLF stored as LF, line-ending backslash eats the following whitespace, and up to
         * two quotes may stand right before the closing delimiter. */
        assert_string_equal(get(root, "a", HULL_TOML_STRING)->string.ptr, "one\ntwo three\"\"");
        assert_string_equal(get(root, "b", HULL_TOML_STRING)->string.ptr, "raw \\n ''it''");
        assert_string_equal(get(root, "c", HULL_TOML_STRING)->string.ptr, "x");
        assert_int_equal(get(root, "b", HULL_TOML_STRING)->line, 5);
        parse_fails("a = \"\"\"x\"\"\"\"\"\"\n", "t.toml:1:14: too many quotes at the end of a multi-line string");
        parse_fails("a = \"\"\"\nx\n", "t.toml:1:5: unterminated string");
        parse_fails("a = \"\"\"x\\ y\"\"\"\n", "t.toml:1:9: invalid escape sequence: backslash followed by U+0020");
        parse_fails("\"\"\"k\"\"\" = 1\n", "t.toml:1:1: a key cannot be a multi-line string");
}

static void test_toml_integer_forms_and_limits(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("max = 9223372036854775807\n"
                                                                           "min = -9223372036854775808\n"
                                                                           "hex = 0xDEAD_beef\n"
                                                                           "oct = 0o755\n"
                                                                           "bin = 0b1101\n"
                                                                           "big = 0x7fffffffffffffff\n"
                                                                           "us = 1_000_000\n"
                                                                           "zero = +0\n");

        assert_true(get(root, "max", HULL_TOML_INTEGER)->integer == INT64_MAX);
        assert_true(get(root, "min", HULL_TOML_INTEGER)->integer == INT64_MIN);
        assert_int_equal(get(root, "hex", HULL_TOML_INTEGER)->integer, 0xdeadbeef);
        assert_int_equal(get(root, "oct", HULL_TOML_INTEGER)->integer, 0755);
        assert_int_equal(get(root, "bin", HULL_TOML_INTEGER)->integer, 13);
        assert_true(get(root, "big", HULL_TOML_INTEGER)->integer == INT64_MAX);
        assert_int_equal(get(root, "us", HULL_TOML_INTEGER)->integer, 1000000);
        assert_int_equal(get(root, "zero", HULL_TOML_INTEGER)->integer, 0);
        parse_fails("a = 9223372036854775808\n", "t.toml:1:5: integer '9223372036854775808' does not fit in 64 bits");
        parse_fails("a = -9223372036854775809\n", "t.toml:1:5: integer '-9223372036854775809' does not fit in 64 bits");
        parse_fails("a = 0x8000000000000000\n", "t.toml:1:5: integer '0x8000000000000000' does not fit in 64 bits");
        parse_fails("a = 012\n", "t.toml:1:5: leading zeros are not allowed in '012'");
        parse_fails("a = 1__2\n", "t.toml:1:5: invalid integer '1__2'");
        parse_fails("a = _1\n", "t.toml:1:5: expected a value, found '_'");
        parse_fails("a = 1_\n", "t.toml:1:5: invalid integer '1_'");
        parse_fails("a = -0x1\n", "t.toml:1:5: a sign is not allowed on a hexadecimal, octal or binary integer");
        parse_fails("a = 0b102\n", "t.toml:1:5: invalid integer '0b102'");
}

static void test_toml_float_forms(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("a = 6.626e-34\n"
                                                                           "b = 1_000.5\n"
                                                                           "c = -inf\n"
                                                                           "d = nan\n"
                                                                           "e = 1E3\n"
                                                                           "f = -0.0\n"
                                                                           "g = 1e05\n");

        assert_true(get(root, "a", HULL_TOML_FLOAT)->floating == 6.626e-34);
        assert_true(get(root, "b", HULL_TOML_FLOAT)->floating == 1000.5);
        assert_true(isinf(get(root, "c", HULL_TOML_FLOAT)->floating) && get(root, "c", HULL_TOML_FLOAT)->floating < 0);
        assert_true(isnan(get(root, "d", HULL_TOML_FLOAT)->floating));
        assert_true(get(root, "e", HULL_TOML_FLOAT)->floating == 1000.0);
        assert_true(signbit(get(root, "f", HULL_TOML_FLOAT)->floating));
        assert_true(get(root, "g", HULL_TOML_FLOAT)->floating == 1e5);
        parse_fails("a = 1.\n", "t.toml:1:5: invalid float '1.': expected digits after the decimal point");
        parse_fails("a = .5\n", "t.toml:1:5: expected a value, found '.'");
        parse_fails("a = 01.5\n", "t.toml:1:5: leading zeros are not allowed in '01.5'");
        parse_fails("a = 1e\n", "t.toml:1:5: invalid float '1e': expected digits in the exponent");
        parse_fails("a = 1.5_\n", "t.toml:1:5: invalid float '1.5_': expected digits after the decimal point");
        parse_fails("a = infinity\n", "t.toml:1:5: invalid integer 'infinity'");
}

static void test_toml_datetimes_are_validated_and_normalised(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("a = 1979-05-27 07:32:00z\n"
                                                                           "b = 1979-05-27t07:32:00.999-07:00\n"
                                                                           "c = 2000-02-29T23:59:60\n"
                                                                           "d = 2024-02-29\n"
                                                                           "e = 00:00:00.5\n");

        assert_string_equal(get(root, "a", HULL_TOML_DATETIME)->datetime, "1979-05-27T07:32:00Z");
        assert_string_equal(get(root, "b", HULL_TOML_DATETIME)->datetime, "1979-05-27T07:32:00.999-07:00");
        assert_string_equal(get(root, "c", HULL_TOML_DATETIME_LOCAL)->datetime, "2000-02-29T23:59:60");
        assert_string_equal(get(root, "d", HULL_TOML_DATE_LOCAL)->datetime, "2024-02-29");
        assert_string_equal(get(root, "e", HULL_TOML_TIME_LOCAL)->datetime, "00:00:00.5");
        parse_fails("a = 1900-02-29\n", "t.toml:1:13: invalid date: 1900-02 has no day 29");
        parse_fails("a = 2023-04-31\n", "t.toml:1:13: invalid date: 2023-04 has no day 31");
        parse_fails("a = 2023-13-01\n", "t.toml:1:10: invalid date: month 13");
        parse_fails("a = 2023-01-01T24:00:00\n", "t.toml:1:16: invalid time: hour 24");
        parse_fails("a = 12:60:00\n", "t.toml:1:8: invalid time: minute 60");
        parse_fails("a = 12:00:61\n", "t.toml:1:11: invalid time: second 61");
        parse_fails("a = 12:00\n", "t.toml:1:5: invalid time: expected HH:MM:SS");
        parse_fails("a = 2023-01-01T00:00:00+24:00\n", "t.toml:1:24: invalid UTC offset +24:00");
        parse_fails("a = 2023-01-01T00:00:00.\n", "t.toml:1:25: expected digits after the decimal point of a time");
        parse_fails("a = 00:00:00Z\n", "t.toml:1:13: expected a newline after a key/value pair, found 'Z'");
}

static void test_toml_error_columns_count_characters(void **state)
{
        /* 'é' and '€' are one column each, not two and three. */
        parse_fails("s = \"é€\" x\n", "t.toml:1:10: expected a newline after a key/value pair, found 'x'");
        /* A line after a multi-line string is counted right. */
        parse_fails("a = '''\n1\n2''' b\n", "t.toml:3:6: expected a newline after a key/value pair, found 'b'");
        parse_fails("a = 1\r\nb = 2\r\nc\r\n", "t.toml:3:2: expected '=' after a key, found end of line");
}

static void test_toml_rejects_bad_bytes_with_position(void **state)
{
        parse_fails("a = 1\nb = \"\xff\"\n", "t.toml:2:6: invalid UTF-8 byte 0xFF");
        parse_fails("a = \"\xc0\xaf\"\n", "t.toml:1:6: invalid UTF-8 byte 0xC0"); /* overlong '/' */
        parse_fails("a = \"\xed\xa0\x80\"\n", "t.toml:1:6: invalid UTF-8 sequence"); /* surrogate */
        parse_fails("a = \"\xf4\x90\x80\x80\"\n", "t.toml:1:6: invalid UTF-8 sequence"); /* above U+10FFFF */
        parse_fails("a = \"\xe2\x82", "t.toml:1:6: truncated UTF-8 sequence");
        parse_fails("a = 1\rb = 2\n", "t.toml:1:6: carriage return not followed by a line feed");
        parse_fails("# bell \x07\n", "t.toml:1:8: control character U+0007 in a comment");
        parse_fails_len("a = 1\0\n", 7, "t.toml:1:6: expected a newline after a key/value pair, found U+0000");
}

static void test_toml_skips_byte_order_mark(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("\xef\xbb\xbf"
                                                                           "a = 1\n");

        assert_int_equal(get(root, "a", HULL_TOML_INTEGER)->column, 5);
        parse_fails("a = 1\n\xef\xbb\xbf"
                    "b = 2\n",
                    "t.toml:2:1: expected a key, found U+FEFF");
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
        size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
        char *s = malloc(hl + ul * n + tl + 1), *p = s;

        assert_non_null(s);
        memcpy(p, head, hl);
        p += hl;
        for (size_t i = 0; i < n; i++, p += ul)
                memcpy(p, unit, ul);
        memcpy(p, tail, tl + 1);
        return s;
}

static void test_toml_depth_limit(void **state)
{
        _cleanup_free_ char *ok = NULL, *deep = NULL, *hostile = NULL, *header = NULL, *header_ok = NULL;
        _cleanup_free_ char *dotted = NULL, *tail = NULL, *closers = NULL, *aot_ok = NULL, *aot = NULL;
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = NULL;
        char msg[128];

        /* The array that a's value is sits at level 1; HULL_TOML_MAX_DEPTH levels in all are fine. */
        closers = repeat("", "]", HULL_TOML_MAX_DEPTH, "\n");
        ok = repeat("a = ", "[", HULL_TOML_MAX_DEPTH, closers);
        root = parse_ok(ok);
        deep = repeat("a = ", "[", HULL_TOML_MAX_DEPTH + 1, "");
        snprintf(msg, sizeof(msg), "t.toml:1:%d: values nested more than %d levels deep", 5 + HULL_TOML_MAX_DEPTH,
                 HULL_TOML_MAX_DEPTH);
        parse_fails(deep, msg);
        hostile = repeat("a = ", "{b=", 100000, "");
        parse_fails(hostile, "t.toml:1:389: values nested more than 128 levels deep");

        header_ok = repeat("[a", ".a", HULL_TOML_MAX_DEPTH - 1, "]\nx = 1\n");
        hull_toml_free(root);
        root = parse_ok(header_ok);
        header = repeat("[a", ".a", HULL_TOML_MAX_DEPTH, "]\n");
        parse_fails(header, "t.toml:1:258: key has more than 128 parts");
        /* An array of tables costs two levels: the array and the table in it. */
        aot_ok = repeat("[[a", ".a", HULL_TOML_MAX_DEPTH - 3, ".b]]\n[c]\n");
        hull_toml_free(root);
        root = parse_ok(aot_ok);
        aot = repeat("[[a", ".a", HULL_TOML_MAX_DEPTH - 3, ".b.c]]\n");
        parse_fails(aot, "t.toml:1:1: tables nested more than 128 levels deep");
        tail = repeat("[a", ".a", 100, "]\n");
        dotted = repeat(tail, "b.", 40, "c = 1\n");
        parse_fails(dotted, "t.toml:2:1: tables nested more than 128 levels deep");
}

static void test_toml_frees_half_built_trees(void **state)
{
        /* Each fails after building tables, arrays and strings; under ASan (meson -Db_sanitize=address) a leak or
         * a double free here fails the test. */
        parse_fails("[a]\nx = 'str'\ny = [1, [2, {z = \"s\"}]]\n[[b]]\nc = {d = [1, 2], e = 'x'}\n[a]\n",
                    "t.toml:6:2: table 'a' defined twice");
        parse_fails("a = [1, [2, {z = \"s\", w = [3, 4, 'five', 6.0, 1979-05-27]}], {y = ",
                    "t.toml:1:67: expected a "
                    "value, found end of "
                    "input");
        parse_fails("a = {b = {c = {d = [[[\"x\", 'y', \"\"\"z", "t.toml:1:33: unterminated string");
        parse_fails("a.b.c.d = 1\na.b.c.e = [{f = 1}]\na.b.c.e = 2\n",
                    "t.toml:3:7: duplicate key 'e' (already an array)");
}

static void test_toml_many_keys(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = NULL;
        _cleanup_free_ char *text = NULL;
        size_t n = 50000, o = 0;
        char *p;

        /* 50000 distinct keys and then one repeated: duplicate detection must not be quadratic. */
        text = malloc(n * 24 + 64);
        assert_non_null(text);
        p = text;
        for (size_t i = 0; i < n; i++)
                o += (size_t)sprintf(p + o, "k%zu = %zu\n", i, i);
        root = parse_ok(text);
        assert_int_equal(root->table.len, n);
        assert_int_equal(get(root, "k49999", HULL_TOML_INTEGER)->integer, 49999);
        sprintf(p + o, "k123 = 0\n");
        parse_fails(text, "t.toml:50001:1: duplicate key 'k123' (already an integer)");
}

static void test_toml_api_helpers(void **state)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = parse_ok("a = 1\n");
        _cleanup_error_ struct hull_error *err = NULL;
        struct hull_toml_value *empty = NULL;
        char c = 'x';

        assert_null(hull_toml_table_get(root, "b"));
        assert_null(hull_toml_table_get(hull_toml_table_get(root, "a"), "a"));
        assert_null(hull_toml_table_get(NULL, "a"));
        assert_string_equal(hull_toml_type_name(HULL_TOML_BOOL), "boolean");
        assert_string_equal(hull_toml_type_name(HULL_TOML_DATETIME), "offset date-time");
        assert_null(hull_toml_free(NULL));

        assert_int_equal(hull_toml_parse(NULL, 0, NULL, &empty, &err), 0);
        assert_int_equal(empty->table.len, 0);
        empty = hull_toml_free(empty);
        assert_int_equal(hull_toml_parse("x", 1, NULL, &empty, &err), -EINVAL);
        assert_string_equal(hull_error_message(err), "<input>:1:2: expected '=' after a key, found end of input");
        /* The size is checked before a byte is read. */
        assert_int_equal(hull_toml_parse(&c, (size_t)HULL_TOML_MAX_SIZE + 1, "big.toml", &empty, &err), -EFBIG);
        assert_null(empty);
}

static void parse_file(const char *path)
{
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *data = NULL;
        size_t len;

        if (!f)
                fail_msg("cannot open %s", path);
        data = malloc(1 << 20);
        assert_non_null(data);
        len = fread(data, 1, 1 << 20, f);
        if (hull_toml_parse(data, len, path, &root, &err) < 0)
                fail_msg("%s", hull_error_message(err));
        assert_non_null(hull_toml_table_get(root, "hypervisor"));
        assert_non_null(hull_toml_table_get(root, "agent"));
        assert_non_null(hull_toml_table_get(root, "runtime"));
}

static void test_toml_parses_kata_configuration_files(void **state)
{
        static const char *const names[] = { "qemu", "clh", "fc", "dragonball", "stratovirt" };
        const char *src = getenv("HULL_SOURCE_DIR");

        if (!src)
                skip();
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                char path[4096];

                snprintf(path, sizeof(path), "%s/tests/unit/data/kata-full-%s.toml", src, names[i]);
                parse_file(path);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_toml_parses_scalars_with_positions),
                cmocka_unit_test(test_toml_table_positions_are_their_headers),
                cmocka_unit_test(test_toml_rejects_duplicate_key),
                cmocka_unit_test(test_toml_rejects_table_defined_twice),
                cmocka_unit_test(test_toml_allows_defining_an_implied_table_once),
                cmocka_unit_test(test_toml_dotted_keys_follow_header_rules),
                cmocka_unit_test(test_toml_inline_tables_are_immutable),
                cmocka_unit_test(test_toml_arrays_of_tables_append_and_nest),
                cmocka_unit_test(test_toml_rejects_appending_to_static_array),
                cmocka_unit_test(test_toml_arrays_mix_types_and_span_lines),
                cmocka_unit_test(test_toml_string_keeps_nul_from_escape),
                cmocka_unit_test(test_toml_keys_may_hold_nul),
                cmocka_unit_test(test_toml_string_escapes_and_validation),
                cmocka_unit_test(test_toml_multiline_strings),
                cmocka_unit_test(test_toml_integer_forms_and_limits),
                cmocka_unit_test(test_toml_float_forms),
                cmocka_unit_test(test_toml_datetimes_are_validated_and_normalised),
                cmocka_unit_test(test_toml_error_columns_count_characters),
                cmocka_unit_test(test_toml_rejects_bad_bytes_with_position),
                cmocka_unit_test(test_toml_skips_byte_order_mark),
                cmocka_unit_test(test_toml_depth_limit),
                cmocka_unit_test(test_toml_frees_half_built_trees),
                cmocka_unit_test(test_toml_many_keys),
                cmocka_unit_test(test_toml_api_helpers),
                cmocka_unit_test(test_toml_parses_kata_configuration_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
