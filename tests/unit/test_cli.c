/* Tests for the hull executable's output formats: `hull env` must parse with hull's own TOML
 * parser, `hull check --json` with json-c, and both must agree with the exit status. */
#include <fcntl.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "hull-build-config.h"
#include "toml/toml.h"

#define HULL_EXE HULL_BUILD_DIR "/src/cli/hull"
#define OUTPUT_MAX (1u << 20)

static char tmpdir[64];
static char config_path[128];

static int setup(void **state)
{
        static const char config[] = "[hypervisor.qemu]\n"
                                     "path = \"/usr/bin/qemu-system-x86_64\"\n"
                                     "kernel = \"/x/vmlinuz\"\n"
                                     "\n"
                                     "[runtime]\n"
                                     "enable_debug = true\n";
        int fd;

        strcpy(tmpdir, "/tmp/hull-test-cli-XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(config_path, sizeof(config_path), "%s/configuration.toml", tmpdir);
        fd = open(config_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -1;
        if (write(fd, config, sizeof(config) - 1) != (ssize_t)(sizeof(config) - 1)) {
                close(fd);
                return -1;
        }
        close(fd);
        return 0;
}

static int teardown(void **state)
{
        unlink(config_path);
        return rmdir(tmpdir);
}

/* Run hull with args (NULL-terminated); collect stdout (bounded) and the exit status. */
static int run_hull(char **ret_out, int *ret_status, ...)
{
        char *argv[16] = { (char *)HULL_EXE };
        size_t argc = 1, len = 0, cap = 4096;
        int pipefd[2], status;
        char *out = malloc(cap + 1);
        va_list ap;
        pid_t pid;

        if (!out)
                return -ENOMEM;
        va_start(ap, ret_status);
        for (char *a = va_arg(ap, char *); a && argc < ARRAY_SIZE(argv) - 1; a = va_arg(ap, char *))
                argv[argc++] = a;
        va_end(ap);
        argv[argc] = NULL;
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                free(out);
                return -errno;
        }
        pid = fork();
        if (pid == 0) {
                int devnull = open("/dev/null", O_WRONLY);

                dup2(pipefd[1], STDOUT_FILENO);
                if (devnull >= 0)
                        dup2(devnull, STDERR_FILENO);
                execv(argv[0], argv);
                _exit(127);
        }
        close(pipefd[1]);
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        char *p;

                        if (cap >= OUTPUT_MAX)
                                break;
                        cap *= 2;
                        p = realloc(out, cap + 1);
                        if (!p)
                                break;
                        out = p;
                }
                n = read(pipefd[0], out + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(pipefd[0]);
        out[len] = '\0';
        if (pid < 0 || waitpid(pid, &status, 0) < 0) {
                free(out);
                return -ECHILD;
        }
        *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        *ret_out = out;
        return 0;
}

static const struct hull_toml_value *get_path(const struct hull_toml_value *root, const char *a, const char *b,
                                              const char *c)
{
        const struct hull_toml_value *v = hull_toml_table_get(root, a);

        if (v && b)
                v = hull_toml_table_get(v, b);
        if (v && c)
                v = hull_toml_table_get(v, c);
        return v;
}

static void assert_toml_string(const struct hull_toml_value *v, const char *expected)
{
        assert_non_null(v);
        assert_int_equal(v->type, HULL_TOML_STRING);
        assert_string_equal(v->string.ptr, expected);
}

static void test_cli_env_parses_with_hull_toml_parser(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = NULL;
        _cleanup_free_ char *out = NULL;
        const struct hull_toml_value *v;
        struct stat st;
        int status;

        assert_int_equal(run_hull(&out, &status, "--config", config_path, "env", NULL), 0);
        assert_int_equal(status, 0);
        if (hull_toml_parse(out, strlen(out), "hull env", &root, &err) < 0)
                fail_msg("hull env output is not TOML: %s", hull_error_message(err));

        assert_toml_string(get_path(root, "Runtime", "Version", NULL), HULL_VERSION);
        assert_toml_string(get_path(root, "Runtime", "Config", "Path"), config_path);
        assert_toml_string(get_path(root, "Runtime", "Root", NULL), "/run/hull");
        v = get_path(root, "Runtime", "Config", "Loaded");
        assert_non_null(v);
        assert_int_equal(v->type, HULL_TOML_BOOL);
        assert_true(v->boolean);
        v = get_path(root, "Host", "KVM", "Present");
        assert_non_null(v);
        assert_int_equal(v->type, HULL_TOML_BOOL);
        assert_int_equal(v->boolean, stat("/dev/kvm", &st) == 0);
        assert_toml_string(get_path(root, "hypervisor", "qemu", "kernel"), "/x/vmlinuz");
        v = get_path(root, "runtime", "enable_debug", NULL);
        assert_non_null(v);
        assert_int_equal(v->type, HULL_TOML_BOOL);
        assert_true(v->boolean);
}

static void test_cli_env_without_config_still_parses(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = NULL;
        _cleanup_free_ char *out = NULL;
        char missing[160];
        const struct hull_toml_value *v;
        int status;

        snprintf(missing, sizeof(missing), "%s/missing.toml", tmpdir);
        assert_int_equal(run_hull(&out, &status, "--config", missing, "env", NULL), 0);
        assert_int_equal(status, 0);
        if (hull_toml_parse(out, strlen(out), "hull env", &root, &err) < 0)
                fail_msg("hull env output is not TOML: %s", hull_error_message(err));
        v = get_path(root, "Runtime", "Config", "Loaded");
        assert_non_null(v);
        assert_false(v->boolean);
        v = get_path(root, "Runtime", "Config", "Error");
        assert_non_null(v);
        assert_non_null(strstr(v->string.ptr, missing));
        assert_null(hull_toml_table_get(root, "hypervisor"));
}

static void test_cli_check_json_agrees_with_exit_status(void **state)
{
        _cleanup_free_ char *out = NULL;
        struct json_object *root, *rec, *ok, *hvs;
        bool any = false;
        int status;

        assert_int_equal(run_hull(&out, &status, "--config", config_path, "check", "--json", NULL), 0);
        root = json_tokener_parse(out);
        assert_non_null(root);
        assert_true(json_object_object_get_ex(root, "recommended", &rec));
        assert_true(json_object_object_get_ex(root, "ok", &ok));
        assert_true(json_object_object_get_ex(root, "hypervisors", &hvs));
        for (size_t i = 0; i < json_object_array_length(hvs); i++) {
                struct json_object *avail;

                assert_true(json_object_object_get_ex(json_object_array_get_idx(hvs, i), "available", &avail));
                any |= json_object_get_boolean(avail);
        }
        assert_int_equal(json_object_get_boolean(ok), any);
        assert_int_equal(rec != NULL, any);
        assert_int_equal(status, any ? 0 : 1);
        json_object_put(root);
}

static void test_cli_unknown_command_exits_1(void **state)
{
        _cleanup_free_ char *out = NULL;
        int status;

        assert_int_equal(run_hull(&out, &status, "no-such-command", NULL), 0);
        assert_int_equal(status, 1);
        assert_string_equal(out, "");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cli_env_parses_with_hull_toml_parser),
                cmocka_unit_test(test_cli_env_without_config_still_parses),
                cmocka_unit_test(test_cli_check_json_agrees_with_exit_status),
                cmocka_unit_test(test_cli_unknown_command_exits_1),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
