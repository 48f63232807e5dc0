/* Unit tests for src/lib/buf.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void test_buf_append_grows_and_terminates(void **state)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;

        for (int i = 0; i < 1000; i++)
                assert_int_equal(hull_buf_append(&b, "abcd", 4), 0);
        assert_int_equal(b.len, 4000);
        assert_true(b.cap > b.len);
        assert_int_equal(b.data[b.len], '\0');
        assert_memory_equal(b.data + 3996, "abcd", 4);
}

static void test_buf_printf_formats(void **state)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;

        assert_int_equal(hull_buf_puts(&b, "x="), 0);
        assert_int_equal(hull_buf_printf(&b, "%d/%s", 42, "y"), 0);
        assert_string_equal(b.data, "x=42/y");
}

static void test_buf_consume_drops_front(void **state)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;

        hull_buf_puts(&b, "hello world");
        hull_buf_consume(&b, 6);
        assert_string_equal(b.data, "world");
        hull_buf_consume(&b, 100);
        assert_int_equal(b.len, 0);
        assert_string_equal(b.data, "");
}

static void test_buf_steal_empty_gives_empty_string(void **state)
{
        struct hull_buf b = HULL_BUF_INIT;
        char *s = hull_buf_steal(&b);

        assert_non_null(s);
        assert_string_equal(s, "");
        assert_null(b.data);
        free(s);
}

static void test_buf_reserve_rejects_overflow(void **state)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;

        hull_buf_puts(&b, "a");
        assert_int_equal(hull_buf_reserve(&b, SIZE_MAX), -ENOMEM);
        assert_string_equal(b.data, "a");
}

static void test_buf_binary_data_with_nul(void **state)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;

        assert_int_equal(hull_buf_append(&b, "a\0b", 3), 0);
        assert_int_equal(b.len, 3);
        assert_memory_equal(b.data, "a\0b", 3);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_buf_append_grows_and_terminates),
                cmocka_unit_test(test_buf_printf_formats),
                cmocka_unit_test(test_buf_consume_drops_front),
                cmocka_unit_test(test_buf_steal_empty_gives_empty_string),
                cmocka_unit_test(test_buf_reserve_rejects_overflow),
                cmocka_unit_test(test_buf_binary_data_with_nul),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
