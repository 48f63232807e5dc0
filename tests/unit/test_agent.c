/* Unit tests for hull-agent's host-testable parts: command line, module list, channel, reaper, link, cgroups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "boot.h"
#include "buf.h"
#include "channel.h"
#include "cmdline.h"
#include "error.h"
#include "fd.h"
#include "link.h"
#include "loop.h"
#include "modules.h"
#include "reaper.h"

static char *make_tmpdir(void)
{
        char tmpl[] = "/tmp/hull-test-agent-XXXXXX";
        char *d = mkdtemp(tmpl);

        assert_non_null(d);
        return strdup(d);
}

static void write_text(const char *dir, const char *name, const char *text)
{
        char path[512];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
}

static void rm_rf(const char *dir)
{
        char cmd[600];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

/* ---- command line ---- */

static void test_agent_options_defaults(void **state)
{
        struct hull_agent_options o;

        assert_int_equal(hull_agent_options_parse("console=ttyS0 quiet", &o, NULL), 0);
        assert_int_equal(o.log_level, HULL_LOG_INFO);
        assert_false(o.debug_console);
        assert_null(o.server_addr);
        assert_null(o.kernel_modules);
        hull_agent_options_clear(&o);
}

static void test_agent_options_kata_names(void **state)
{
        struct hull_agent_options o;

        assert_int_equal(hull_agent_options_parse("console=ttyS0 agent.log=debug agent.debug_console "
                                                  "agent.server_addr=vsock://-1:1024 agent.kernel_modules=a,b",
                                                  &o, NULL),
                         0);
        assert_int_equal(o.log_level, HULL_LOG_DEBUG);
        assert_true(o.debug_console);
        assert_string_equal(o.server_addr, "vsock://-1:1024");
        assert_string_equal(o.kernel_modules, "a,b");
        hull_agent_options_clear(&o);
}

static void test_agent_options_need_exact_names(void **state)
{
        struct hull_agent_options o;

        /* As in Kata: a flag with trailing characters is another word, not the flag. */
        assert_int_equal(hull_agent_options_parse("agent.debug_consolex agent.logx=debug debug_console", &o, NULL), 0);
        assert_false(o.debug_console);
        assert_int_equal(o.log_level, HULL_LOG_INFO);
        hull_agent_options_clear(&o);
}

static void test_agent_options_reject_bad_log_level(void **state)
{
        _cleanup_error_ struct hull_error *e = NULL;
        struct hull_agent_options o;

        assert_int_equal(hull_agent_options_parse("agent.log=loud", &o, &e), -EINVAL);
        assert_non_null(strstr(hull_error_message(e), "agent.log=loud"));
}

static void test_agent_options_devmode_means_debug(void **state)
{
        struct hull_agent_options o;

        assert_int_equal(hull_agent_options_parse("agent.devmode", &o, NULL), 0);
        assert_int_equal(o.log_level, HULL_LOG_DEBUG);
        hull_agent_options_clear(&o);
}

static int count_word(const char *word, void *userdata)
{
        struct hull_buf *b = userdata;

        return hull_buf_printf(b, "[%s]", word);
}

static void test_agent_cmdline_splits_quoted_words(void **state)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;

        assert_int_equal(hull_agent_cmdline_foreach("  a  b=\"x y\"\tc\n", count_word, &b), 0);
        assert_string_equal(b.data, "[a][b=x y][c]");
}

static void test_agent_module_params_from_cmdline(void **state)
{
        _cleanup_free_ char *p = NULL, *q = NULL, *none = NULL;
        const char *cmdline = "console=ttyS0 virtio_mmio.device=512@0xfeb00e00:12 virtio-mmio.device=512@0xfeb00c00:11 "
                              "virtio_mmio2.x=1 other.y=2 virtio_mmio.flag fs.z=\"a b\"";

        assert_int_equal(hull_agent_cmdline_module_params(cmdline, "virtio_mmio", &p, NULL), 0);
        assert_string_equal(p, "device=512@0xfeb00e00:12 device=512@0xfeb00c00:11 flag");
        assert_int_equal(hull_agent_cmdline_module_params(cmdline, "fs", &q, NULL), 0);
        assert_string_equal(q, "z=\"a b\"");
        assert_int_equal(hull_agent_cmdline_module_params(cmdline, "erofs", &none, NULL), 0);
        assert_string_equal(none, "");
}

/* ---- modules ---- */

static void test_agent_modules_list_missing_is_enoent(void **state)
{
        _cleanup_buf_ struct hull_buf loaded = HULL_BUF_INIT, failed = HULL_BUF_INIT;
        _cleanup_error_ struct hull_error *e = NULL;
        _cleanup_free_ char *dir = make_tmpdir();

        assert_int_equal(hull_agent_modules_load_list(dir, "", &loaded, &failed, &e), -ENOENT);
        assert_non_null(strstr(hull_error_message(e), HULL_AGENT_MODULES_LIST));
        rm_rf(dir);
}

static void test_agent_modules_list_reports_each_failure(void **state)
{
        _cleanup_buf_ struct hull_buf loaded = HULL_BUF_INIT, failed = HULL_BUF_INIT;
        _cleanup_free_ char *dir = make_tmpdir();

        /* Neither module file exists: both fail at open, and the second is still tried after the first. */
        write_text(dir, HULL_AGENT_MODULES_LIST, "# comment\nnot_there_a\n\nnot_there_b\nbad/name\n");
        assert_int_equal(hull_agent_modules_load_list(dir, "", &loaded, &failed, NULL), 3);
        assert_int_equal(loaded.len, 0);
        assert_non_null(strstr(failed.data, "not_there_a ("));
        assert_non_null(strstr(failed.data, "not_there_b ("));
        assert_non_null(strstr(failed.data, "invalid name"));
        rm_rf(dir);
}

/* ---- channel ---- */

static void test_agent_channel_addr_forms(void **state)
{
        struct hull_agent_channel_addr a;
        char text[160];

        assert_int_equal(hull_agent_channel_addr_parse("vsock://-1:1024", &a, NULL), 0);
        assert_int_equal(a.kind, HULL_AGENT_CHANNEL_VSOCK);
        assert_int_equal(a.port, 1024);
        hull_agent_channel_addr_format(&a, text, sizeof(text));
        assert_string_equal(text, "vsock://-1:1024");

        assert_int_equal(hull_agent_channel_addr_parse("serial://agent.channel.0", &a, NULL), 0);
        assert_int_equal(a.kind, HULL_AGENT_CHANNEL_SERIAL);
        assert_string_equal(a.name, "agent.channel.0");

        assert_int_equal(hull_agent_channel_addr_parse("unix:///run/a.sock", &a, NULL), 0);
        assert_int_equal(a.kind, HULL_AGENT_CHANNEL_UNIX);
        assert_string_equal(a.name, "/run/a.sock");
}

static void test_agent_channel_addr_rejects_bad(void **state)
{
        static const char *const bad[] = {
                "vsock://3:1024",
                "vsock://-1:",
                "vsock://-1:0",
                "vsock://-1:99999999999",
                "vsock://-1:-5",
                "vsock://1024",
                "serial://",
                "serial://a/b",
                "unix://rel",
                "tcp://1.2.3.4:5",
                "",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_error_ struct hull_error *e = NULL;
                struct hull_agent_channel_addr a;
                assert_int_equal(hull_agent_channel_addr_parse(bad[i], &a, &e), -EINVAL);
                assert_non_null(e);
        }
}

static void test_agent_serial_find_by_name(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *dev = NULL;
        char path[512];

        snprintf(path, sizeof(path), "%s/vport0p0", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        write_text(path, "name", "\n");
        snprintf(path, sizeof(path), "%s/vport0p1", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        write_text(path, "name", "org.qemu.guest_agent.0\n");
        snprintf(path, sizeof(path), "%s/vport0p2", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        write_text(path, "name", "agent.channel.0\n");

        assert_int_equal(hull_agent_serial_find(dir, "agent.channel.0", &dev, NULL), 0);
        assert_string_equal(dev, "vport0p2");
        assert_int_equal(hull_agent_serial_find(dir, "agent.channel.1", &dev, NULL), -ENOENT);
        rm_rf(dir);
        assert_int_equal(hull_agent_serial_find(dir, "agent.channel.0", &dev, NULL), -ENOENT);
}

/* ---- reaper ---- */

struct exits {
        pid_t pid;
        int status;
        int calls;
};

static void on_exit_cb(pid_t pid, int status, void *userdata)
{
        struct exits *x = userdata;

        x->pid = pid;
        x->status = status;
        x->calls++;
}

static void test_agent_reaper_reports_watched_and_reaps_orphans(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        struct hull_agent_reaper *r = NULL;
        struct exits x = { 0 };
        pid_t watched, orphan;
        uint64_t deadline;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        assert_int_equal(hull_agent_reaper_new(loop, &r, NULL), 0);
        orphan = fork();
        assert_true(orphan >= 0);
        if (orphan == 0)
                _exit(0);
        watched = fork();
        assert_true(watched >= 0);
        if (watched == 0) {
                hull_agent_signals_reset();
                raise(SIGTERM);
                _exit(1);
        }
        assert_int_equal(hull_agent_reaper_watch(r, watched, on_exit_cb, &x, NULL), 0);

        deadline = hull_now_usec() + 10 * 1000 * 1000;
        while ((x.calls == 0 || hull_agent_reaper_orphans(r) == 0) && hull_now_usec() < deadline)
                assert_int_equal(hull_loop_run_once(loop, 1000), 0);
        assert_int_equal(x.calls, 1);
        assert_int_equal(x.pid, watched);
        assert_true(WIFSIGNALED(x.status));
        assert_int_equal(WTERMSIG(x.status), SIGTERM);
        assert_int_equal(hull_agent_reaper_orphans(r), 1);
        /* Both are gone: nothing left to wait for. */
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        hull_agent_reaper_free(r);
}

/* ---- link ---- */

struct conns {
        int n;
        int last_fd;
};

static int on_conn(int fd, void *userdata)
{
        struct conns *c = userdata;

        c->n++;
        if (c->last_fd >= 0)
                close(c->last_fd);
        c->last_fd = fd;
        return 0;
}

static void on_fail(const struct hull_error *e, void *userdata)
{
        fail_msg("link failed: %s", hull_error_message(e));
}

static void test_agent_link_unix_hands_out_connections(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        _cleanup_free_ char *dir = make_tmpdir();
        struct hull_agent_channel_addr addr = { .kind = HULL_AGENT_CHANNEL_UNIX };
        struct hull_agent_link *l = NULL;
        struct conns c = { .last_fd = -1 };
        int client1, client2;
        uint64_t deadline;

        snprintf(addr.name, sizeof(addr.name), "%s/agent.sock", dir);
        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        assert_int_equal(hull_agent_link_start(loop, &addr, 1000000, on_conn, on_fail, &c, &l, NULL), 0);
        assert_non_null(strstr(hull_agent_link_describe(l), "unix:"));
        client1 = hull_unix_connect(addr.name, NULL);
        assert_true(client1 >= 0);
        client2 = hull_unix_connect(addr.name, NULL);
        assert_true(client2 >= 0);
        deadline = hull_now_usec() + 5 * 1000 * 1000;
        while (c.n < 2 && hull_now_usec() < deadline)
                assert_int_equal(hull_loop_run_once(loop, 500), 0);
        assert_int_equal(c.n, 2);
        assert_int_equal(hull_agent_link_connections(l), 2);
        /* The handed-out fd is the server end of a connection: bytes written by the client arrive there. */
        assert_int_equal(write(client2, "x", 1), 1);
        char ch = 0;
        assert_int_equal(hull_fd_set_nonblock(c.last_fd, 0, NULL), 0);
        assert_int_equal(read(c.last_fd, &ch, 1), 1);
        assert_int_equal(ch, 'x');
        close(client1);
        close(client2);
        close(c.last_fd);
        hull_agent_link_free(l);
        rm_rf(dir);
}

/* ---- cgroup controllers ---- */

static void test_agent_enable_controllers_writes_all(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *got = NULL;
        char path[512];

        write_text(dir, "cgroup.controllers", "cpuset cpu io memory pids\n");
        write_text(dir, "cgroup.subtree_control", "");
        assert_int_equal(hull_agent_boot_enable_controllers(dir, NULL), 0);
        snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
        assert_int_equal(hull_read_file(path, 4096, &got, NULL, NULL), 0);
        assert_string_equal(got, "+cpuset +cpu +io +memory +pids");
        rm_rf(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_agent_options_defaults),
                cmocka_unit_test(test_agent_options_kata_names),
                cmocka_unit_test(test_agent_options_need_exact_names),
                cmocka_unit_test(test_agent_options_reject_bad_log_level),
                cmocka_unit_test(test_agent_options_devmode_means_debug),
                cmocka_unit_test(test_agent_cmdline_splits_quoted_words),
                cmocka_unit_test(test_agent_module_params_from_cmdline),
                cmocka_unit_test(test_agent_modules_list_missing_is_enoent),
                cmocka_unit_test(test_agent_modules_list_reports_each_failure),
                cmocka_unit_test(test_agent_channel_addr_forms),
                cmocka_unit_test(test_agent_channel_addr_rejects_bad),
                cmocka_unit_test(test_agent_serial_find_by_name),
                cmocka_unit_test(test_agent_reaper_reports_watched_and_reaps_orphans),
                cmocka_unit_test(test_agent_link_unix_hands_out_connections),
                cmocka_unit_test(test_agent_enable_controllers_writes_all),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
