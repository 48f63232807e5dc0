/* Unit tests for src/lib/fd.c: bounded file reads, atomic writes, mkdir -p, unix sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "error.h"
#include "fd.h"

static char tmpdir[64];

static int setup(void **state)
{
        strcpy(tmpdir, "/tmp/hull-test-fd-XXXXXX");
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_fd_write_atomic_then_read_back(void **state)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        struct stat st;
        size_t len;

        assert_true(asprintf(&path, "%s/f", tmpdir) > 0);
        assert_int_equal(hull_write_file_atomic(path, "hello", 5, 0600, NULL), 0);
        assert_int_equal(hull_read_file(path, 100, &data, &len, NULL), 0);
        assert_int_equal(len, 5);
        assert_string_equal(data, "hello");
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_fd_read_file_enforces_limit(void **state)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        char big[10000];

        memset(big, 'x', sizeof(big));
        assert_true(asprintf(&path, "%s/big", tmpdir) > 0);
        assert_int_equal(hull_write_file_atomic(path, big, sizeof(big), 0644, NULL), 0);
        assert_int_equal(hull_read_file(path, 9999, &data, NULL, &err), -EFBIG);
        assert_null(data);
        assert_non_null(strstr(hull_error_message(err), "larger than 9999"));
        assert_int_equal(hull_read_file(path, 10000, &data, NULL, NULL), 0);
}

static void test_fd_read_missing_file_names_path(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;
        char *data = NULL;

        assert_int_equal(hull_read_file("/nonexistent/x", 10, &data, NULL, &err), -ENOENT);
        assert_string_equal(hull_error_message(err), "open /nonexistent/x: No such file or directory");
}

static void test_fd_read_empty_file(void **state)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t len = 99;

        assert_true(asprintf(&path, "%s/empty", tmpdir) > 0);
        assert_int_equal(hull_write_file_atomic(path, "", 0, 0644, NULL), 0);
        assert_int_equal(hull_read_file(path, 10, &data, &len, NULL), 0);
        assert_int_equal(len, 0);
        assert_string_equal(data, "");
}

static void test_fd_mkdir_p_creates_nested(void **state)
{
        _cleanup_free_ char *path = NULL;
        struct stat st;

        assert_true(asprintf(&path, "%s/a/b/c", tmpdir) > 0);
        assert_int_equal(hull_mkdir_p(path, 0755, NULL), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(hull_mkdir_p(path, 0755, NULL), 0); /* idempotent */
}

static void test_fd_unix_socket_roundtrip(void **state)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int l = -1, c = -1, a = -1;
        char buf[4] = { 0 };

        assert_true(asprintf(&path, "%s/s.sock", tmpdir) > 0);
        l = hull_unix_listen(path, NULL);
        assert_true(l >= 0);
        c = hull_unix_connect(path, NULL);
        assert_true(c >= 0);
        a = accept(l, NULL, NULL);
        assert_true(a >= 0);
        assert_int_equal(hull_write_all(c, "abc", 3, NULL), 0);
        assert_int_equal(hull_read_full(a, buf, 3, NULL), 3);
        assert_string_equal(buf, "abc");
}

static void test_fd_unix_path_too_long_rejected(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;
        char path[200];

        memset(path, 'a', sizeof(path) - 1);
        path[0] = '/';
        path[sizeof(path) - 1] = '\0';
        assert_int_equal(hull_unix_listen(path, &err), -ENAMETOOLONG);
        assert_non_null(strstr(hull_error_message(err), "too long"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fd_write_atomic_then_read_back),
                cmocka_unit_test(test_fd_read_file_enforces_limit),
                cmocka_unit_test(test_fd_read_missing_file_names_path),
                cmocka_unit_test(test_fd_read_empty_file),
                cmocka_unit_test(test_fd_mkdir_p_creates_nested),
                cmocka_unit_test(test_fd_unix_socket_roundtrip),
                cmocka_unit_test(test_fd_unix_path_too_long_rejected),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
