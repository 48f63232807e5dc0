/* Unit tests for src/shim: containerd's flag syntax, the sandbox grouping facts read from a bundle and from the
 * runtime options, socket naming, the start/state locks, cleanup after a dead shim (real processes, real pidfds),
 * event encoding, and the publisher delivering to a real ttrpc server in order, with retries. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "containerd_api_events_task.pb-c.h"
#include "containerd_api_services_ttrpc_events_v1_events.pb-c.h"
#include "google_protobuf_any.pb-c.h"
#include "google_protobuf_empty.pb-c.h"

#include "error.h"
#include "fd.h"
#include "loop.h"
#include "rpc/ttrpc.h"
#include "sandbox/task-service.h"
#include "shim/shim.h"

static char *make_tmpdir(void)
{
        char tmpl[] = "/tmp/hull-shim-test-XXXXXX";
        char *d = mkdtemp(tmpl);

        assert_non_null(d);
        return strdup(d);
}

static void rm_rf(const char *dir)
{
        char *cmd;

        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

/* ---- flags ---- */

static void test_shim_parses_containerd_start_flags(void **state)
{
        char *argv[] = { "shim",
                         "-namespace",
                         "k8s.io",
                         "-address",
                         "/run/containerd/containerd.sock",
                         "-publish-binary",
                         "/usr/bin/containerd",
                         "-id",
                         "abc",
                         "-debug",
                         "start",
                         NULL };
        struct hull_shim_args a;

        assert_int_equal(hull_shim_parse_args(11, argv, &a, NULL), 0);
        assert_string_equal(a.namespace_, "k8s.io");
        assert_string_equal(a.address, "/run/containerd/containerd.sock");
        assert_string_equal(a.publish_binary, "/usr/bin/containerd");
        assert_string_equal(a.id, "abc");
        assert_true(a.debug);
        assert_string_equal(a.action, "start");
}

static void test_shim_parses_double_dash_and_equals_forms(void **state)
{
        char *argv[] = { "shim", "--namespace=default", "--id", "c1", "-bundle=/b", "-debug=false", "delete", NULL };
        struct hull_shim_args a;

        assert_int_equal(hull_shim_parse_args(7, argv, &a, NULL), 0);
        assert_string_equal(a.namespace_, "default");
        assert_string_equal(a.id, "c1");
        assert_string_equal(a.bundle, "/b");
        assert_false(a.debug);
        assert_string_equal(a.publish_binary, "containerd");
        assert_string_equal(a.action, "delete");
}

static void test_shim_rejects_unknown_flag_and_missing_value(void **state)
{
        char *unknown[] = { "shim", "-nope", "start", NULL };
        char *missing[] = { "shim", "-id", NULL };
        char *extra[] = { "shim", "start", "more", NULL };
        char *badbool[] = { "shim", "-debug=maybe", "start", NULL };
        struct hull_error *err = NULL;
        struct hull_shim_args a;

        assert_int_equal(hull_shim_parse_args(3, unknown, &a, &err), -EINVAL);
        assert_non_null(strstr(hull_error_message(err), "-nope"));
        err = hull_error_free(err);
        assert_int_equal(hull_shim_parse_args(2, missing, &a, NULL), -EINVAL);
        assert_int_equal(hull_shim_parse_args(3, extra, &a, NULL), -EINVAL);
        assert_int_equal(hull_shim_parse_args(3, badbool, &a, NULL), -EINVAL);
}

static void test_shim_id_validation_keeps_paths_safe(void **state)
{
        char long_id[HULL_SHIM_MAX_ID + 2];

        assert_true(hull_shim_id_valid("abc"));
        assert_true(hull_shim_id_valid("k8s.io"));
        assert_true(hull_shim_id_valid("a_b-c.d"));
        assert_false(hull_shim_id_valid(""));
        assert_false(hull_shim_id_valid(NULL));
        assert_false(hull_shim_id_valid(".."));
        assert_false(hull_shim_id_valid("a/b"));
        assert_false(hull_shim_id_valid("-a"));
        assert_false(hull_shim_id_valid("a."));
        assert_false(hull_shim_id_valid("a..b"));
        memset(long_id, 'a', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        assert_false(hull_shim_id_valid(long_id));
        long_id[HULL_SHIM_MAX_ID] = '\0';
        assert_true(hull_shim_id_valid(long_id));
}

/* ---- bundle and options ---- */

static void write_config(const char *dir, const char *json)
{
        char *path;

        assert_true(asprintf(&path, "%s/config.json", dir) > 0);
        assert_int_equal(hull_write_file_atomic(path, json, strlen(json), 0644, NULL), 0);
        free(path);
}

static void test_shim_sandbox_id_from_cri_annotation(void **state)
{
        char *dir = make_tmpdir(), *sb = NULL;
        struct hull_error *err = NULL;

        write_config(dir,
                     "{\"ociVersion\":\"1.0.2\",\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"pod1\","
                     "\"io.kubernetes.cri.container-type\":\"container\"}}");
        assert_int_equal(hull_shim_sandbox_id(dir, "c2", &sb, NULL), 0);
        assert_string_equal(sb, "pod1");
        free(sb);

        write_config(dir, "{\"ociVersion\":\"1.0.2\"}");
        assert_int_equal(hull_shim_sandbox_id(dir, "c2", &sb, NULL), 0);
        assert_string_equal(sb, "c2");
        free(sb);

        /* a hostile annotation never becomes a path */
        write_config(dir, "{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"../../etc\"}}");
        assert_int_equal(hull_shim_sandbox_id(dir, "c2", &sb, &err), -EINVAL);
        assert_non_null(strstr(hull_error_message(err), "invalid sandbox id"));
        err = hull_error_free(err);

        write_config(dir, "[1,2]");
        assert_int_equal(hull_shim_sandbox_id(dir, "c2", &sb, NULL), -EINVAL);
        rm_rf(dir);
        free(dir);
}

/* An Any{type_url, value: runtimeoptions.v1.Options{type_url=1, config_path=2}} as containerd marshals it. */
static size_t runtime_options(uint8_t *out, size_t cap, const char *type_url, const char *config_path)
{
        uint8_t opts[512];
        size_t n = 0, m = 0;

        opts[m++] = (1 << 3) | 2;
        opts[m++] = 4;
        memcpy(opts + m, "toml", 4);
        m += 4;
        opts[m++] = (2 << 3) | 2;
        opts[m++] = (uint8_t)strlen(config_path);
        memcpy(opts + m, config_path, strlen(config_path));
        m += strlen(config_path);

        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        any.type_url = (char *)type_url;
        any.value.data = opts;
        any.value.len = m;
        n = protobuf_c_message_get_packed_size(&any.base);
        assert_true(n <= cap);
        protobuf_c_message_pack(&any.base, out);
        return n;
}

static void test_shim_runtime_options_config_path(void **state)
{
        uint8_t buf[1024];
        char *path = NULL;
        size_t n;

        n = runtime_options(buf, sizeof(buf), "runtimeoptions.v1.Options", "/etc/hull/configuration-qemu.toml");
        assert_int_equal(hull_shim_options_config_path(buf, n, &path, NULL), 0);
        assert_string_equal(path, "/etc/hull/configuration-qemu.toml");
        free(path);

        /* runc's options are not ours: no config path */
        n = runtime_options(buf, sizeof(buf), "containerd.runc.v1.Options", "/x");
        assert_int_equal(hull_shim_options_config_path(buf, n, &path, NULL), 0);
        assert_null(path);

        /* truncated input is an error, never a read past the end */
        n = runtime_options(buf, sizeof(buf), "runtimeoptions.v1.Options", "/etc/hull/c.toml");
        for (size_t cut = 1; cut < n; cut++) {
                int r = hull_shim_options_config_path(buf, cut, &path, NULL);

                assert_true(r == 0 || r == -EBADMSG);
                free(path);
                path = NULL;
        }
}

/* ---- paths and locks ---- */

static void test_shim_socket_path_is_short_and_per_containerd(void **state)
{
        struct hull_shim_paths a, b, c;
        char id[HULL_SHIM_MAX_ID + 1];

        memset(id, 'f', HULL_SHIM_MAX_ID);
        id[HULL_SHIM_MAX_ID] = '\0';
        assert_int_equal(hull_shim_paths_init(&a, NULL, "/run/containerd/containerd.sock", "k8s.io", id, NULL), 0);
        assert_int_equal(hull_shim_paths_init(&b, NULL, "/tmp/other/containerd.sock", "k8s.io", id, NULL), 0);
        assert_int_equal(hull_shim_paths_init(&c, NULL, "/run/containerd/containerd.sock", "k8s.io", id, NULL), 0);
        assert_true(strlen(a.socket) < 100);
        assert_string_equal(a.socket, c.socket);
        assert_string_not_equal(a.socket, b.socket);
        assert_true(strncmp(a.socket, HULL_SHIM_DEFAULT_ROOT "/s/", strlen(HULL_SHIM_DEFAULT_ROOT "/s/")) == 0);
        assert_string_equal(a.state_dir + strlen(HULL_SHIM_DEFAULT_ROOT),
                            "/k8s.io/ffffffffffffffffffffffffffffffff"
                            "ffffffffffffffffffffffffffffffffffffffff"
                            "ffff");
        hull_shim_paths_done(&a);
        hull_shim_paths_done(&b);
        hull_shim_paths_done(&c);
        assert_int_equal(hull_shim_paths_init(&a, "relative", "x", "ns", "id", NULL), -EINVAL);
        assert_int_equal(hull_shim_paths_init(&a, "/r", "x", "ns", "../id", NULL), -EINVAL);
}

static void test_shim_state_lock_is_exclusive(void **state)
{
        char *root = make_tmpdir();
        struct hull_shim_paths p;
        int a, b, s;

        assert_int_equal(hull_shim_paths_init(&p, root, "/c.sock", "default", "sb1", NULL), 0);
        s = hull_shim_start_lock(&p, NULL);
        assert_true(s >= 0);
        a = hull_shim_state_lock(&p, NULL);
        assert_true(a >= 0);
        /* a second start or delete sees the live shim's lock */
        b = hull_shim_state_lock(&p, NULL);
        assert_int_equal(b, -EWOULDBLOCK);
        close(a);
        b = hull_shim_state_lock(&p, NULL);
        assert_true(b >= 0);
        close(b);
        /* the start lock survives its file being released and taken again */
        hull_shim_release(&p);
        close(s);
        s = hull_shim_start_lock(&p, NULL);
        assert_true(s >= 0);
        close(s);
        hull_shim_paths_done(&p);
        rm_rf(root);
        free(root);
}

static uint64_t start_time_of(pid_t pid)
{
        char path[64], *data = NULL, *p;
        uint64_t v;
        int field = 2;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        assert_int_equal(hull_read_file(path, 4096, &data, NULL, NULL), 0);
        p = strrchr(data, ')');
        for (p++; *p && field < 22; p++)
                if (*p == ' ')
                        field++;
        v = strtoull(p, NULL, 10);
        free(data);
        return v;
}

static pid_t spawn_sleeper(void)
{
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                execl("/bin/sleep", "sleep", "60", (char *)NULL);
                _exit(127);
        }
        return pid;
}

static void write_shim_pid(const struct hull_shim_paths *p, pid_t pid)
{
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof(path), "%s/shim.pid", p->state_dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "%d\n", (int)pid);
        fclose(f);
}

static void test_shim_exiting_sees_a_dead_shim_not_a_live_one(void **state)
{
        char *root = make_tmpdir();
        struct hull_shim_paths p;
        pid_t pid;
        siginfo_t si;

        assert_int_equal(hull_shim_paths_init(&p, root, "/c.sock", "default", "sb1", NULL), 0);
        assert_int_equal(hull_mkdir_p(p.state_dir, 0700, NULL), 0);
        assert_false(hull_shim_exiting(&p)); /* no shim.pid */
        pid = spawn_sleeper();
        write_shim_pid(&p, pid);
        assert_false(hull_shim_exiting(&p)); /* alive */
        kill(pid, SIGKILL);
        /* wait for the exit without reaping: the zombie is what `delete` sees of a killed shim */
        assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
        assert_true(hull_shim_exiting(&p));
        assert_int_equal(hull_shim_wait_dying(&p, 1000), 0);
        waitpid(pid, NULL, 0);
        hull_shim_paths_done(&p);
        rm_rf(root);
        free(root);
}

static void test_shim_cleanup_kills_recorded_processes_only(void **state)
{
        char *root = make_tmpdir(), *json = NULL, *path = NULL;
        struct hull_shim_paths p;
        pid_t qemu = spawn_sleeper(), stranger = spawn_sleeper();
        int status;
        struct stat st;

        assert_int_equal(hull_shim_paths_init(&p, root, "/c.sock", "default", "sb1", NULL), 0);
        assert_int_equal(hull_mkdir_p(p.state_dir, 0700, NULL), 0);
        /* wait until both children have exec'd sleep (their start time is fixed from fork on) */
        assert_true(asprintf(&json,
                             "{\"version\":1,\"processes\":[{\"what\":\"qemu\",\"pid\":%d,\"start_time\":%llu},"
                             "{\"what\":\"virtiofsd\",\"pid\":%d,\"start_time\":%llu}]}",
                             (int)qemu, (unsigned long long)start_time_of(qemu), (int)stranger,
                             (unsigned long long)start_time_of(stranger) + 1) > 0);
        assert_true(asprintf(&path, "%s/state.json", p.state_dir) > 0);
        assert_int_equal(hull_write_file_atomic(path, json, strlen(json), 0600, NULL), 0);

        assert_int_equal(hull_shim_cleanup_dead(&p, NULL), 0);
        /* the recorded one is killed, the one whose start time does not match (a reused pid) is left alone */
        assert_int_equal(waitpid(qemu, &status, WNOHANG), qemu);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        assert_int_equal(waitpid(stranger, &status, WNOHANG), 0);
        assert_int_equal(stat(p.state_dir, &st), -1);
        kill(stranger, SIGKILL);
        waitpid(stranger, &status, 0);

        /* nothing there: still fine */
        assert_int_equal(hull_shim_cleanup_dead(&p, NULL), 0);
        free(json);
        free(path);
        hull_shim_paths_done(&p);
        rm_rf(root);
        free(root);
}

/* ---- events ---- */

static void test_shim_exit_event_is_a_containerd_task_exit_any(void **state)
{
        struct hull_task_event ev = { .kind = HULL_TASK_EVENT_EXIT,
                                      .container_id = "c1",
                                      .exec_id = "",
                                      .pid = 42,
                                      .exit_status = 137,
                                      .exited_at_ns = 1700000000123456789ull };
        uint8_t *data = NULL;
        size_t len;
        Google__Protobuf__Any *any;
        Containerd__Events__TaskExit *ex;

        assert_string_equal(hull_shim_event_topic(&ev), "/tasks/exit");
        assert_int_equal(hull_shim_event_any(&ev, &data, &len, NULL), 0);
        any = google__protobuf__any__unpack(NULL, len, data);
        assert_non_null(any);
        assert_string_equal(any->type_url, "containerd.events.TaskExit");
        ex = containerd__events__task_exit__unpack(NULL, any->value.len, any->value.data);
        assert_non_null(ex);
        assert_string_equal(ex->container_id, "c1");
        assert_string_equal(ex->id, "c1"); /* the init's process id is the container id */
        assert_int_equal(ex->pid, 42);
        assert_int_equal(ex->exit_status, 137);
        assert_int_equal(ex->exited_at->seconds, 1700000000);
        assert_int_equal(ex->exited_at->nanos, 123456789);
        containerd__events__task_exit__free_unpacked(ex, NULL);
        google__protobuf__any__free_unpacked(any, NULL);
        free(data);
}

static void test_shim_every_event_kind_has_topic_and_encodes(void **state)
{
        static const char *const topics[] = { "/tasks/create", "/tasks/start",      "/tasks/exit",
                                              "/tasks/delete", "/tasks/exec-added", "/tasks/exec-started",
                                              "/tasks/paused", "/tasks/resumed",    "/tasks/oom" };

        for (int k = HULL_TASK_EVENT_CREATE; k <= HULL_TASK_EVENT_OOM; k++) {
                struct hull_task_event ev = { .kind = k, .container_id = "c", .exec_id = "e1", .pid = 7 };
                Containerd__Services__Events__Ttrpc__V1__ForwardRequest *fr;
                uint8_t *data = NULL;
                size_t len;

                assert_string_equal(hull_shim_event_topic(&ev), topics[k]);
                assert_int_equal(hull_shim_event_forward_request("k8s.io", &ev, 5000000001ull, &data, &len, NULL), 0);
                fr = containerd__services__events__ttrpc__v1__forward_request__unpack(NULL, len, data);
                assert_non_null(fr);
                assert_string_equal(fr->envelope->namespace_, "k8s.io");
                assert_string_equal(fr->envelope->topic, topics[k]);
                assert_int_equal(fr->envelope->timestamp->seconds, 5);
                assert_int_equal(fr->envelope->timestamp->nanos, 1);
                assert_true(strncmp(fr->envelope->event->type_url, "containerd.events.Task", 22) == 0);
                containerd__services__events__ttrpc__v1__forward_request__free_unpacked(fr, NULL);
                free(data);
        }
}

/* ---- the publisher against a real ttrpc server ---- */

struct events_sink {
        char topics[8][32];
        int n;
        int fail_first; /* answer the first n Forwards with an error */
};

static void forward_handler(struct hull_ttrpc_request *req, void *userdata)
{
        struct events_sink *s = userdata;
        const Containerd__Services__Events__Ttrpc__V1__ForwardRequest *fr = (const void *)hull_ttrpc_request_message(
                req);
        Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;

        if (s->fail_first > 0) {
                s->fail_first--;
                hull_ttrpc_request_reply_status(req, 14, "unavailable");
                return;
        }
        if (s->n < 8)
                snprintf(s->topics[s->n++], sizeof(s->topics[0]), "%s", fr->envelope->topic);
        hull_ttrpc_request_reply(req, &empty.base);
}

static void test_shim_publisher_delivers_in_order_and_retries(void **state)
{
        char *root = make_tmpdir(), *sock = NULL;
        struct hull_loop *loop = NULL;
        struct hull_ttrpc_server *srv = NULL;
        struct hull_shim_publisher *pub = NULL;
        struct events_sink sink = { .fail_first = 1 };
        struct hull_shim_publisher_opts po = { .namespace_ = "default" };
        uint64_t end;
        int lfd;

        assert_true(asprintf(&sock, "%s/ttrpc.sock", root) > 0);
        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        assert_int_equal(hull_ttrpc_server_new(loop, &srv, NULL), 0);
        assert_int_equal(hull_ttrpc_server_register_pb(srv,
                                                       &containerd__services__events__ttrpc__v1__events__descriptor,
                                                       "Forward", forward_handler, &sink, NULL),
                         0);
        lfd = hull_unix_listen(sock, NULL);
        assert_true(lfd >= 0);
        assert_int_equal(hull_ttrpc_server_listen(srv, lfd, NULL), 0);
        po.ttrpc_address = sock;
        assert_int_equal(hull_shim_publisher_new(loop, &po, &pub, NULL), 0);

        hull_shim_publisher_publish(pub,
                                    &(struct hull_task_event){ .kind = HULL_TASK_EVENT_CREATE, .container_id = "c" });
        hull_shim_publisher_publish(pub,
                                    &(struct hull_task_event){ .kind = HULL_TASK_EVENT_START, .container_id = "c" });
        hull_shim_publisher_publish(pub,
                                    &(struct hull_task_event){ .kind = HULL_TASK_EVENT_EXIT, .container_id = "c" });
        assert_false(hull_shim_publisher_idle(pub));
        /* the first attempt fails; the retry comes a second later and the order holds */
        end = hull_now_usec() + 5000000;
        while (!hull_shim_publisher_idle(pub) && hull_now_usec() < end)
                assert_true(hull_loop_run_once(loop, 50) >= 0);
        assert_true(hull_shim_publisher_idle(pub));
        assert_int_equal(sink.n, 3);
        assert_string_equal(sink.topics[0], "/tasks/create");
        assert_string_equal(sink.topics[1], "/tasks/start");
        assert_string_equal(sink.topics[2], "/tasks/exit");
        assert_int_equal(hull_shim_publisher_delivered(pub), 3);
        assert_int_equal(hull_shim_publisher_dropped(pub), 0);

        hull_shim_publisher_free(pub);
        hull_ttrpc_server_free(srv);
        hull_loop_free(loop);
        rm_rf(root);
        free(root);
        free(sock);
}

static void test_shim_publisher_failure_is_not_fatal(void **state)
{
        struct hull_loop *loop = NULL;
        struct hull_shim_publisher *pub = NULL;
        struct hull_shim_publisher_opts po = { .namespace_ = "default", .ttrpc_address = "/nonexistent/ttrpc.sock" };

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        assert_int_equal(hull_shim_publisher_new(loop, &po, &pub, NULL), 0);
        hull_shim_publisher_publish(pub, &(struct hull_task_event){ .kind = HULL_TASK_EVENT_OOM, .container_id = "c" });
        /* the failure is never fatal: the event waits for its retry */
        assert_false(hull_shim_publisher_idle(pub));
        assert_int_equal(hull_shim_publisher_dropped(pub), 0);
        hull_shim_publisher_free(pub);
        hull_loop_free(loop);

        /* neither a ttrpc address nor a publish binary: refused up front */
        po.ttrpc_address = NULL;
        assert_int_equal(hull_shim_publisher_new(NULL, &po, &pub, NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shim_parses_containerd_start_flags),
                cmocka_unit_test(test_shim_parses_double_dash_and_equals_forms),
                cmocka_unit_test(test_shim_rejects_unknown_flag_and_missing_value),
                cmocka_unit_test(test_shim_id_validation_keeps_paths_safe),
                cmocka_unit_test(test_shim_sandbox_id_from_cri_annotation),
                cmocka_unit_test(test_shim_runtime_options_config_path),
                cmocka_unit_test(test_shim_socket_path_is_short_and_per_containerd),
                cmocka_unit_test(test_shim_state_lock_is_exclusive),
                cmocka_unit_test(test_shim_exiting_sees_a_dead_shim_not_a_live_one),
                cmocka_unit_test(test_shim_cleanup_kills_recorded_processes_only),
                cmocka_unit_test(test_shim_exit_event_is_a_containerd_task_exit_any),
                cmocka_unit_test(test_shim_every_event_kind_has_topic_and_encodes),
                cmocka_unit_test(test_shim_publisher_delivers_in_order_and_retries),
                cmocka_unit_test(test_shim_publisher_failure_is_not_fatal),
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
