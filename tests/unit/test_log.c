/* Unit tests for src/lib/log.c: levels, text and runc-style JSON output to a file. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "error.h"
#include "fd.h"
#include "log.h"

static char path[64];

static int setup(void **state)
{
        int fd;

        strcpy(path, "/tmp/hull-test-log-XXXXXX");
        fd = mkstemp(path);
        if (fd < 0)
                return -1;
        close(fd);
        return 0;
}

static int teardown(void **state)
{
        hull_log_setup("hull", HULL_LOG_WARN, HULL_LOG_TEXT, NULL, NULL);
        return unlink(path);
}

static char *log_contents(void)
{
        char *data = NULL;

        assert_int_equal(hull_read_file(path, 1 << 20, &data, NULL, NULL), 0);
        return data;
}

static void test_log_json_lines_parse_with_level_msg_time(void **state)
{
        _cleanup_free_ char *data = NULL;
        struct json_object *obj, *v;

        assert_int_equal(truncate(path, 0), 0);
        assert_int_equal(hull_log_setup("hull", HULL_LOG_INFO, HULL_LOG_JSON, path, NULL), 0);
        log_info("container %s \"quoted\"\n", "abc");
        data = log_contents();
        obj = json_tokener_parse(data);
        assert_non_null(obj);
        assert_true(json_object_object_get_ex(obj, "level", &v));
        assert_string_equal(json_object_get_string(v), "info");
        assert_true(json_object_object_get_ex(obj, "msg", &v));
        assert_string_equal(json_object_get_string(v), "container abc \"quoted\"\n");
        assert_true(json_object_object_get_ex(obj, "time", &v));
        json_object_put(obj);
}

static void test_log_level_filters_lower_priorities(void **state)
{
        _cleanup_free_ char *data = NULL;

        assert_int_equal(truncate(path, 0), 0);
        assert_int_equal(hull_log_setup("hull", HULL_LOG_WARN, HULL_LOG_TEXT, path, NULL), 0);
        log_debug("invisible debug");
        log_info("invisible info");
        log_warn("visible %d", 1);
        log_error("visible %d", 2);
        data = log_contents();
        assert_null(strstr(data, "invisible"));
        assert_non_null(strstr(data, "hull: warning: visible 1\n"));
        assert_non_null(strstr(data, "hull: error: visible 2\n"));
}

static void test_log_debug_lines_carry_timestamps(void **state)
{
        _cleanup_free_ char *data = NULL;

        assert_int_equal(truncate(path, 0), 0);
        assert_int_equal(hull_log_setup("hull-shim", HULL_LOG_DEBUG, HULL_LOG_TEXT, path, NULL), 0);
        log_debug("phase vm-start");
        data = log_contents();
        /* 2026-01-01T00:00:00.000000Z hull-shim[pid] debug: phase vm-start */
        assert_true(strlen(data) > 28);
        assert_int_equal(data[4], '-');
        assert_int_equal(data[26], 'Z');
        assert_non_null(strstr(data, " hull-shim["));
        assert_non_null(strstr(data, "debug: phase vm-start"));
}

static void test_log_parse_level_and_format(void **state)
{
        enum hull_log_level l;
        enum hull_log_format f;

        assert_int_equal(hull_log_parse_level("debug", &l), 0);
        assert_int_equal(l, HULL_LOG_DEBUG);
        assert_int_equal(hull_log_parse_level("warn", &l), 0);
        assert_int_equal(l, HULL_LOG_WARN);
        assert_int_equal(hull_log_parse_level("loud", &l), -EINVAL);
        assert_int_equal(hull_log_parse_format("json", &f), 0);
        assert_int_equal(f, HULL_LOG_JSON);
        assert_int_equal(hull_log_parse_format("xml", &f), -EINVAL);
}

/* A process that closed every inherited fd (the monitor after fork) sets the logger up again: the new file may get the
 * number of the old, already closed one, and must not be closed as "the previous log file". */
static void test_log_setup_again_after_the_fd_was_closed(void **state)
{
        _cleanup_free_ char *data = NULL;
        int n;

        assert_int_equal(truncate(path, 0), 0);
        assert_int_equal(hull_log_setup("hull", HULL_LOG_INFO, HULL_LOG_TEXT, NULL, NULL), 0); /* back to stderr */
        n = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the lowest free fd: the log file gets it next */
        assert_true(n >= 0);
        close(n);
        assert_int_equal(hull_log_setup("hull", HULL_LOG_INFO, HULL_LOG_TEXT, path, NULL), 0);
        assert_int_equal(close(n), 0);
        assert_int_equal(hull_log_setup("hull-monitor", HULL_LOG_INFO, HULL_LOG_TEXT, path, NULL), 0);
        log_info("after the reopen");
        data = log_contents();
        assert_non_null(strstr(data, "after the reopen"));
}

static void test_log_setup_unwritable_path_fails(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;

        assert_true(hull_log_setup("hull", HULL_LOG_INFO, HULL_LOG_TEXT, "/nonexistent/dir/log", &err) < 0);
        assert_non_null(strstr(hull_error_message(err), "/nonexistent/dir/log"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_log_json_lines_parse_with_level_msg_time),
                cmocka_unit_test(test_log_level_filters_lower_priorities),
                cmocka_unit_test(test_log_debug_lines_carry_timestamps),
                cmocka_unit_test(test_log_parse_level_and_format),
                cmocka_unit_test(test_log_setup_unwritable_path_fails),
                cmocka_unit_test(test_log_setup_again_after_the_fd_was_closed),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
