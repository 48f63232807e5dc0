/* Unit tests for src/sandbox: state.json round trip and tolerance, stdio URIs, hypervisor annotations, the OCI
 * spec -> agent Spec conversion and the configuration file resolution order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "config/config.h"
#include "error.h"
#include "fd.h"
#include "google_protobuf_any.pb-c.h"
#include "hypervisor/hypervisor.h"
#include "sandbox/sandbox.h"
#include "sandbox/spec.h"
#include "sandbox/state.h"
#include "sandbox/stdio.h"

static char tmpdir[64];

static int setup(void **state)
{
        strcpy(tmpdir, "/tmp/hull-test-sandbox-XXXXXX");
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_state_round_trips_through_state_json(void **state)
{
        struct hull_state st, back;
        struct hull_error *e = NULL;

        hull_state_init(&st);
        assert_int_equal(hull_state_set(&st.id, "c1"), 0);
        assert_int_equal(hull_state_set(&st.bundle, "/b"), 0);
        assert_int_equal(hull_state_set(&st.status, "running"), 0);
        st.monitor_pid = getpid();
        st.exit_status = 137;
        assert_int_equal(hull_state_add_process(&st, "qemu", getpid()), 0);
        assert_int_equal(hull_state_add_process(&st, "virtiofsd", getpid()), 0);
        assert_int_equal(hull_state_add_process(&st, "qemu", getpid()), 0); /* replaces */
        assert_int_equal(hull_state_write(tmpdir, &st, &e), 0);
        assert_int_equal(hull_state_read(tmpdir, &back, &e), 0);
        assert_string_equal(back.id, "c1");
        assert_string_equal(back.bundle, "/b");
        assert_string_equal(back.status, "running");
        assert_int_equal(back.monitor_pid, getpid());
        assert_int_equal(back.exit_status, 137);
        assert_int_equal(back.n_processes, 2);
        assert_string_equal(back.processes[0].what, "qemu");
        assert_true(hull_proc_matches(back.processes[0].pid, back.processes[0].start_time));
        assert_false(hull_proc_matches(back.processes[0].pid, back.processes[0].start_time + 1));
        hull_state_clear(&st);
        hull_state_clear(&back);
}

static void test_state_reader_tolerates_garbage_and_wrong_types(void **state)
{
        const char *bad[] = { "", "nonsense", "[1,2]", "{\"id\":", "{} trailing" };
        const char *odd = "{\"id\":5,\"status\":\"paused\",\"monitor\":\"x\",\"exit_status\":999,"
                          "\"processes\":[1,{\"what\":\"qemu\"},{\"what\":\"qemu\",\"pid\":-3},"
                          "{\"what\":\"virtiofsd\",\"pid\":42,\"start_time\":\"no\"}],\"unknown\":{}}";
        struct hull_state st;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct hull_error *e = NULL;
                assert_int_equal(hull_state_from_json(bad[i], strlen(bad[i]), &st, &e), -EBADMSG);
                hull_error_free(e);
                hull_state_clear(&st);
        }
        assert_int_equal(hull_state_from_json(odd, strlen(odd), &st, NULL), 0);
        assert_null(st.id);
        assert_string_equal(st.status, "paused");
        assert_int_equal(st.monitor_pid, 0);
        assert_int_equal(st.exit_status, -1);
        assert_int_equal(st.n_processes, 1);
        assert_int_equal(st.processes[0].pid, 42);
        hull_state_clear(&st);
}

static void test_stdio_uris_parse_and_reject(void **state)
{
        struct hull_stdio_uri u;
        const char *bad[] = { "tcp://x",        "hull-fd://",    "hull-fd://12",    "hull-fd://12/",  "hull-fd://-1/2",
                              "hull-fd://1/2x", "relative/path", "fifo://relative", "hull-console://" };

        assert_int_equal(hull_stdio_parse("", &u, NULL), 0);
        assert_int_equal(u.kind, HULL_STDIO_NONE);
        assert_int_equal(hull_stdio_parse("hull-fd://1234/7", &u, NULL), 0);
        assert_int_equal(u.kind, HULL_STDIO_FD);
        assert_int_equal(u.pid, 1234);
        assert_int_equal(u.fd, 7);
        assert_int_equal(hull_stdio_parse("/run/x/fifo", &u, NULL), 0);
        assert_int_equal(u.kind, HULL_STDIO_PATH);
        assert_string_equal(u.path, "/run/x/fifo");
        assert_int_equal(hull_stdio_parse("fifo:///a/b", &u, NULL), 0);
        assert_string_equal(u.path, "/a/b");
        assert_int_equal(hull_stdio_parse("hull-console:///tmp/c.sock", &u, NULL), 0);
        assert_int_equal(u.kind, HULL_STDIO_CONSOLE);
        assert_string_equal(u.path, "/tmp/c.sock");
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct hull_error *e = NULL;
                assert_int_equal(hull_stdio_parse(bad[i], &u, &e), -EINVAL);
                assert_non_null(e);
                hull_error_free(e);
        }
}

static struct json_object *spec_with(const char *annotations_json)
{
        char buf[1024];
        struct json_object *o = NULL;

        snprintf(buf, sizeof(buf), "{\"annotations\":%s}", annotations_json);
        assert_int_equal(hull_spec_parse(buf, strlen(buf), &o, NULL), 0);
        return o;
}

static void test_annotations_apply_only_where_enabled(void **state)
{
        struct hull_config *cfg = NULL;
        struct hull_hv_desc d = { 0 };
        struct hull_error *e = NULL;
        struct json_object *s;
        char *enabled[] = { (char *)"default_m.*", (char *)"kernel_params", NULL };

        assert_int_equal(hull_config_new_default(HULL_CONFIG_HYPERVISOR_QEMU, &cfg, NULL), 0);
        d.vcpus = 1;
        d.memory_mib = 2048;
        /* Nothing enabled (Kata's default): a hypervisor annotation is refused, others are ignored. */
        s = spec_with("{\"io.katacontainers.config.hypervisor.default_memory\":\"512\"}");
        assert_int_equal(hull_sandbox_apply_annotations(cfg, s, &d, &e), -EPERM);
        assert_non_null(strstr(hull_error_message(e), "not enabled"));
        e = hull_error_free(e);
        json_object_put(s);
        s = spec_with("{\"io.kubernetes.cri.sandbox-id\":\"x\"}");
        assert_int_equal(hull_sandbox_apply_annotations(cfg, s, &d, NULL), 0);
        json_object_put(s);

        free(cfg->hypervisor.enable_annotations);
        cfg->hypervisor.enable_annotations = NULL;
        {
                char **v = calloc(3, sizeof(char *));
                v[0] = strdup(enabled[0]);
                v[1] = strdup(enabled[1]);
                cfg->hypervisor.enable_annotations = v;
        }
        s = spec_with("{\"io.katacontainers.config.hypervisor.default_memory\":\"512\","
                      "\"io.katacontainers.config.hypervisor.kernel_params\":\"quiet\"}");
        assert_int_equal(hull_sandbox_apply_annotations(cfg, s, &d, NULL), 0);
        assert_int_equal(d.memory_mib, 512);
        assert_string_equal(d.kernel_params, "quiet");
        json_object_put(s);
        s = spec_with("{\"io.katacontainers.config.hypervisor.default_vcpus\":\"2\"}");
        assert_int_equal(hull_sandbox_apply_annotations(cfg, s, &d, NULL), -EPERM);
        json_object_put(s);
        s = spec_with("{\"io.katacontainers.config.hypervisor.default_memory\":\"12abc\"}");
        assert_int_equal(hull_sandbox_apply_annotations(cfg, s, &d, NULL), -EINVAL);
        json_object_put(s);
        s = spec_with("{\"io.katacontainers.config.hypervisor.default_memory\":\"1\"}");
        assert_int_equal(hull_sandbox_apply_annotations(cfg, s, &d, NULL), -EINVAL); /* below the minimum */
        json_object_put(s);
        free(d.kernel_params);
        hull_config_free(cfg);
}

static void test_spec_converts_to_the_agent_spec_for_the_guest(void **state)
{
        const char *json =
                "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":true,\"user\":{\"uid\":1000,\"gid\":100,"
                "\"additionalGids\":[5]},\"args\":[\"sh\",\"-c\",\"x\"],\"env\":[\"A=1\"],\"cwd\":\"/w\","
                "\"capabilities\":{\"bounding\":[\"CAP_KILL\"]},\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\","
                "\"hard\":10,\"soft\":5}],\"noNewPrivileges\":true,\"oomScoreAdj\":-5},"
                "\"root\":{\"path\":\"rootfs\",\"readonly\":true},\"hostname\":\"h\","
                "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
                "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv/data\",\"options\":[\"rbind\","
                "\"ro\"]},{\"destination\":\"/etc/hosts\",\"source\":\"/x/hosts\",\"options\":[\"bind\"]}],"
                "\"hooks\":{\"prestart\":[{\"path\":\"/bin/true\"}]},\"annotations\":{\"k\":\"v\"},"
                "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\",\"path\":\"/proc/1/ns/net\"},"
                "{\"type\":\"ipc\",\"path\":\"/x\"}],\"resources\":{\"memory\":{\"limit\":1048576},"
                "\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},\"cgroupsPath\":\"machine.slice:x:y\","
                "\"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\",\"major\":10,\"minor\":229}],"
                "\"maskedPaths\":[\"/proc/kcore\"],\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"}}}";
        struct json_object *o = NULL;
        Grpc__Spec *s = NULL;
        struct hull_spec_bind *b = NULL;
        size_t nb = 0;

        assert_int_equal(hull_spec_parse(json, strlen(json), &o, NULL), 0);
        assert_int_equal(hull_spec_to_agent(o, &s, NULL), 0);
        assert_string_equal(s->version, "1.0.2");
        assert_true(s->process->terminal);
        assert_int_equal(s->process->user->uid, 1000);
        assert_int_equal(s->process->user->n_additionalgids, 1);
        assert_int_equal(s->process->n_args, 3);
        assert_string_equal(s->process->cwd, "/w");
        assert_int_equal(s->process->rlimits[0]->hard, 10);
        assert_int_equal(s->process->oomscoreadj, -5);
        assert_string_equal(s->process->capabilities->bounding[0], "CAP_KILL");
        assert_int_equal(s->n_annotations, 1);
        assert_int_equal(s->linux->n_sysctl, 1);
        assert_int_equal(s->linux->resources->memory->limit, 1048576);

        assert_int_equal(hull_spec_constrain(s, "c1", &b, &nb, NULL), 0);
        assert_string_equal(s->root->path, HULL_SPEC_GUEST_SHARED "/c1/rootfs");
        assert_true(s->root->readonly);
        assert_int_equal(nb, 2);
        assert_string_equal(b[0].source, "/srv/data");
        assert_string_equal(b[0].target, "c1/mounts/1-data");
        assert_true(b[0].readonly);
        assert_false(b[1].readonly);
        assert_string_equal(s->mounts[1]->source, HULL_SPEC_GUEST_SHARED "/c1/mounts/1-data");
        assert_string_equal(s->mounts[2]->type, "bind");
        assert_string_equal(s->mounts[0]->source, "proc"); /* not a bind: untouched */
        assert_null(s->hooks);
        assert_int_equal(s->linux->n_namespaces, 2); /* network dropped */
        assert_string_equal(s->linux->namespaces[1]->type, "ipc");
        assert_string_equal(s->linux->namespaces[1]->path, "");
        assert_int_equal(s->linux->n_devices, 0);
        assert_int_equal(s->linux->resources->n_devices, 0);
        assert_string_equal(s->linux->cgroupspath, "");
        hull_spec_binds_free(b, nb);
        protobuf_c_message_free_unpacked(&s->base, NULL);
        json_object_put(o);
}

static void test_spec_rejects_bad_documents(void **state)
{
        const char *bad[] = { "[]", "{\"process\":{\"args\":\"notalist\"}}", "{\"hostname\":5}", "{" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct json_object *o = NULL;
                Grpc__Spec *s = NULL;
                struct hull_error *e = NULL;
                int r = hull_spec_parse(bad[i], strlen(bad[i]), &o, &e);
                if (r == 0)
                        r = hull_spec_to_agent(o, &s, &e);
                assert_true(r < 0);
                assert_non_null(e);
                hull_error_free(e);
                json_object_put(o);
        }
}

static void test_spec_resources_for_update(void **state)
{
        const char *json = "{\"memory\":{\"limit\":67108864,\"swap\":-1},\"cpu\":{\"quota\":50000,"
                           "\"period\":100000,\"cpus\":\"0\"},\"pids\":{\"limit\":42},"
                           "\"devices\":[{\"allow\":false,\"access\":\"rwm\"}],\"unknownKey\":1}";
        const char *bad[] = { "", "[]", "{\"memory\":5}", "{\"pids\":{\"limit\":\"many\"}}", "{" };
        Grpc__LinuxResources *r = NULL;
        struct hull_error *e = NULL;

        assert_int_equal(hull_spec_resources_to_agent(json, strlen(json), &r, &e), 0);
        assert_non_null(r->memory);
        assert_int_equal(r->memory->limit, 67108864);
        assert_int_equal(r->memory->swap, -1);
        assert_int_equal(r->cpu->quota, 50000);
        assert_int_equal(r->cpu->period, 100000);
        assert_string_equal(r->cpu->cpus, "0");
        assert_int_equal(r->pids->limit, 42);
        assert_int_equal(r->n_devices, 0); /* host device rules do not reach the guest */
        protobuf_c_message_free_unpacked(&r->base, NULL);

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                r = NULL;
                assert_true(hull_spec_resources_to_agent(bad[i], strlen(bad[i]), &r, &e) < 0);
                assert_null(r);
                assert_non_null(e);
                assert_non_null(strstr(hull_error_message(e), "resources"));
                hull_error_free(e);
                e = NULL;
        }
}

static void test_config_resolution_order(void **state)
{
        char path[128], env[128];
        char *ret = NULL;
        /* runtimeoptions.v1.Options{type_url:"x", config_path:"/opt/c.toml"} */
        static const uint8_t opts[] = { 0x0a, 0x01, 'x', 0x12, 0x0b, '/', 'o', 'p',
                                        't',  '/',  'c', '.',  't',  'o', 'm', 'l' };
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        struct hull_error *e = NULL;

        snprintf(env, sizeof(env), "%s/env.toml", tmpdir);
        assert_int_equal(hull_write_file_atomic(env, "", 0, 0644, NULL), 0);
        setenv("HULL_CONF_FILE", env, 1);
        any.type_url = (char *)"type.googleapis.com/runtimeoptions.v1.Options";
        any.value.data = (uint8_t *)opts;
        any.value.len = sizeof(opts);

        assert_int_equal(hull_sandbox_resolve_config("/explicit.toml", &any, &ret, NULL), 0);
        assert_string_equal(ret, "/explicit.toml");
        free(ret);
        assert_int_equal(hull_sandbox_resolve_config(NULL, &any, &ret, NULL), 0);
        assert_string_equal(ret, "/opt/c.toml");
        free(ret);
        any.type_url = (char *)"other.Type";
        assert_int_equal(hull_sandbox_resolve_config(NULL, &any, &ret, NULL), 0);
        assert_string_equal(ret, env);
        free(ret);
        assert_int_equal(hull_sandbox_resolve_config(NULL, NULL, &ret, NULL), 0);
        assert_string_equal(ret, env);
        free(ret);
        any.type_url = (char *)"runtimeoptions.v1.Options";
        any.value.len = 4; /* truncated */
        assert_int_equal(hull_sandbox_resolve_config(NULL, &any, &ret, &e), -EINVAL);
        hull_error_free(e);
        snprintf(path, sizeof(path), "%s/missing.toml", tmpdir);
        setenv("HULL_CONF_FILE", path, 1);
        e = NULL;
        assert_true(hull_sandbox_resolve_config(NULL, NULL, &ret, &e) < 0); /* a named file must exist */
        hull_error_free(e);
        unsetenv("HULL_CONF_FILE");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_round_trips_through_state_json),
                cmocka_unit_test(test_state_reader_tolerates_garbage_and_wrong_types),
                cmocka_unit_test(test_stdio_uris_parse_and_reject),
                cmocka_unit_test(test_annotations_apply_only_where_enabled),
                cmocka_unit_test(test_spec_converts_to_the_agent_spec_for_the_guest),
                cmocka_unit_test(test_spec_rejects_bad_documents),
                cmocka_unit_test(test_spec_resources_for_update),
                cmocka_unit_test(test_config_resolution_order),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
