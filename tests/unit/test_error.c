/* Unit tests for src/lib/error.c: messages, prefixes, codes, OOM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"

static void test_error_set_returns_negative_code_and_message(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;

        assert_int_equal(hull_error_set(&err, ENOENT, "no such %s", "thing"), -ENOENT);
        assert_non_null(err);
        assert_string_equal(hull_error_message(err), "no such thing");
        assert_int_equal(hull_error_code(err), -ENOENT);
}

static void test_error_errno_appends_strerror(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;

        assert_int_equal(hull_error_errno(&err, EACCES, "open %s", "/x"), -EACCES);
        assert_string_equal(hull_error_message(err), "open /x: Permission denied");
}

static void test_error_errno_accepts_negative_errno(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;

        assert_int_equal(hull_error_errno(&err, -EPERM, "kill"), -EPERM);
        assert_string_equal(hull_error_message(err), "kill: Operation not permitted");
}

static void test_error_prefix_builds_context_chain(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;

        hull_error_set(&err, EIO, "qemu exited with status 1");
        assert_int_equal(hull_error_prefix(&err, "start VM"), -EIO);
        assert_int_equal(hull_error_prefix(&err, "create %s", "abc"), -EIO);
        assert_string_equal(hull_error_message(err), "create abc: start VM: qemu exited with status 1");
}

static void test_error_set_replaces_previous_error(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;

        hull_error_set(&err, EIO, "first");
        hull_error_set(&err, EINVAL, "second");
        assert_string_equal(hull_error_message(err), "second");
        assert_int_equal(hull_error_code(err), -EINVAL);
}

static void test_error_null_out_param_only_returns_code(void **state)
{
        assert_int_equal(hull_error_set(NULL, ENOSPC, "x"), -ENOSPC);
        assert_int_equal(hull_error_errno(NULL, EBADF, "x"), -EBADF);
        assert_int_equal(hull_error_oom(NULL), -ENOMEM);
}

static void test_error_zero_code_becomes_eio(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;

        assert_int_equal(hull_error_set(&err, 0, "odd"), -EIO);
}

static void test_error_oom_is_static_and_prefix_keeps_it(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;

        assert_int_equal(hull_error_oom(&err), -ENOMEM);
        assert_int_equal(hull_error_prefix(&err, "ctx"), -ENOMEM);
        assert_string_equal(hull_error_message(err), "out of memory");
        assert_null(hull_error_free(err));
        err = NULL;
}

static void test_error_absent_error_reports_eio(void **state)
{
        assert_int_equal(hull_error_code(NULL), -EIO);
        assert_string_equal(hull_error_message(NULL), "unknown error");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_error_set_returns_negative_code_and_message),
                cmocka_unit_test(test_error_errno_appends_strerror),
                cmocka_unit_test(test_error_errno_accepts_negative_errno),
                cmocka_unit_test(test_error_prefix_builds_context_chain),
                cmocka_unit_test(test_error_set_replaces_previous_error),
                cmocka_unit_test(test_error_null_out_param_only_returns_code),
                cmocka_unit_test(test_error_zero_code_becomes_eio),
                cmocka_unit_test(test_error_oom_is_static_and_prefix_keeps_it),
                cmocka_unit_test(test_error_absent_error_reports_eio),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
