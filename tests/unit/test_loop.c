/* Unit tests for src/lib/loop.c: fds, timers, signals, children, removal during dispatch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "error.h"
#include "loop.h"

struct counter {
        int hits;
        int last;
        struct hull_loop *loop;
        struct hull_loop_source *other;
};

static int on_readable(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct counter *c = userdata;
        char buf[16];

        c->hits++;
        c->last = (int)read(fd, buf, sizeof(buf));
        hull_loop_quit(c->loop, 7);
        return 0;
}

static void test_loop_fd_callback_runs_and_quit_code_returned(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        struct counter c = { 0 };
        int p[2];

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        assert_int_equal(pipe(p), 0);
        c.loop = loop;
        assert_int_equal(hull_loop_add_fd(loop, p[0], EPOLLIN, on_readable, &c, NULL, NULL), 0);
        assert_int_equal(write(p[1], "abc", 3), 3);
        assert_int_equal(hull_loop_run(loop), 7);
        assert_int_equal(c.hits, 1);
        assert_int_equal(c.last, 3);
        close(p[0]);
        close(p[1]);
}

static int on_timer(struct hull_loop_source *src, void *userdata)
{
        struct counter *c = userdata;

        c->hits++;
        if (c->hits < 3)
                return hull_loop_timer_arm(src, 1000, NULL);
        hull_loop_quit(c->loop, 0);
        return 0;
}

static void test_loop_timer_fires_and_rearms(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        struct counter c = { 0 };
        uint64_t t0 = hull_now_usec();

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        c.loop = loop;
        assert_int_equal(hull_loop_add_timer(loop, 5000, on_timer, &c, NULL, NULL), 0);
        assert_int_equal(hull_loop_run(loop), 0);
        assert_int_equal(c.hits, 3);
        assert_true(hull_now_usec() - t0 >= 7000);
}

static int on_fail(struct hull_loop_source *src, void *userdata)
{
        return -EPIPE;
}

static void test_loop_callback_error_stops_run(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        assert_int_equal(hull_loop_add_timer(loop, 0, on_fail, NULL, NULL, NULL), 0);
        assert_int_equal(hull_loop_run(loop), -EPIPE);
}

static int remove_other(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct counter *c = userdata;
        char buf[8];

        c->hits++;
        if (read(fd, buf, sizeof(buf)) < 0)
                return -errno;
        hull_loop_source_remove(c->other);
        hull_loop_source_remove(src);
        return 0;
}

static void test_loop_remove_sources_inside_callback(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        struct counter c = { 0 };
        struct hull_loop_source *a, *b;
        int p[2], q[2];

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        assert_int_equal(pipe(p), 0);
        assert_int_equal(pipe(q), 0);
        assert_int_equal(hull_loop_add_fd(loop, p[0], EPOLLIN, remove_other, &c, &a, NULL), 0);
        assert_int_equal(hull_loop_add_fd(loop, q[0], EPOLLIN, remove_other, &c, &b, NULL), 0);
        c.other = b;
        /* Both ready in one batch: whichever runs first removes the other, which must then not run. */
        assert_int_equal(write(p[1], "x", 1), 1);
        assert_int_equal(write(q[1], "y", 1), 1);
        assert_int_equal(hull_loop_run_once(loop, 1000), 0);
        assert_int_equal(c.hits, 1);
        assert_int_equal(hull_loop_run_once(loop, 10), 0);
        assert_int_equal(c.hits, 1);
        for (int i = 0; i < 2; i++) {
                close(p[i]);
                close(q[i]);
        }
}

static int on_child(struct hull_loop_source *src, pid_t pid, int status, void *userdata)
{
        struct counter *c = userdata;

        c->hits++;
        c->last = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        hull_loop_quit(c->loop, 0);
        return 0;
}

static void test_loop_child_exit_reaped_with_status(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        struct counter c = { 0 };
        pid_t pid;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        c.loop = loop;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(42);
        assert_int_equal(hull_loop_add_child(loop, pid, on_child, &c, NULL, NULL), 0);
        assert_int_equal(hull_loop_run(loop), 0);
        assert_int_equal(c.hits, 1);
        assert_int_equal(c.last, 42);
        assert_int_equal(waitpid(pid, NULL, WNOHANG), -1); /* already reaped */
}

static int on_signal(struct hull_loop_source *src, int signo, void *userdata)
{
        struct counter *c = userdata;

        c->hits++;
        c->last = signo;
        hull_loop_quit(c->loop, 0);
        return 0;
}

static void test_loop_signal_delivered_through_signalfd(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        struct counter c = { 0 };

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        c.loop = loop;
        assert_int_equal(hull_loop_add_signal(loop, SIGUSR1, on_signal, &c, NULL, NULL), 0);
        assert_int_equal(kill(getpid(), SIGUSR1), 0);
        assert_int_equal(hull_loop_run(loop), 0);
        assert_int_equal(c.last, SIGUSR1);
}

static void test_loop_add_bad_fd_fails_cleanly(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        _cleanup_error_ struct hull_error *err = NULL;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        assert_int_equal(hull_loop_add_fd(loop, 9999, EPOLLIN, on_readable, NULL, NULL, &err), -EBADF);
        assert_non_null(strstr(hull_error_message(err), "epoll_ctl"));
}

static void test_loop_run_once_times_out(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        uint64_t t0;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        t0 = hull_now_usec();
        assert_int_equal(hull_loop_run_once(loop, 20), 0);
        assert_true(hull_now_usec() - t0 >= 15000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_loop_fd_callback_runs_and_quit_code_returned),
                cmocka_unit_test(test_loop_timer_fires_and_rearms),
                cmocka_unit_test(test_loop_callback_error_stops_run),
                cmocka_unit_test(test_loop_remove_sources_inside_callback),
                cmocka_unit_test(test_loop_child_exit_reaped_with_status),
                cmocka_unit_test(test_loop_signal_delivered_through_signalfd),
                cmocka_unit_test(test_loop_add_bad_fd_fails_cleanly),
                cmocka_unit_test(test_loop_run_once_times_out),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
