/* Unit tests for src/hypervisor: QEMU's command line, the QMP client over a socketpair (framing, bounds, garbage,
 * calls, events on the loop), child processes and their exit messages, and the driver interface without a VM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "error.h"
#include "hypervisor/argv.h"
#include "hypervisor/child.h"
#include "hypervisor/hypervisor.h"
#include "hypervisor/qemu.h"
#include "hypervisor/qmp.h"
#include "hypervisor/virtiofsd.h"
#include "hypervisor/vsock-cid.h"
#include "loop.h"

/* ---- helpers ------------------------------------------------------------------------------------------------ */

static struct hull_hv_desc base_desc(void)
{
        struct hull_hv_desc d = {
                .id = "sb1",
                .kernel = "/boot/vmlinuz",
                .initrd = "/boot/initrd.img",
                .vcpus = 2,
                .memory_mib = 512,
                .state_dir = "/run/hull/sb1",
        };
        return d;
}

static struct hull_qemu_plan base_plan(void)
{
        struct hull_qemu_plan p = {
                .binary = "/usr/bin/qemu-system-x86_64",
                .machine = HULL_QEMU_MICROVM,
                .kvm = false,
                .qmp_fd = 3,
                .channel = HULL_HV_CAP_SERIAL_CHANNEL,
                .vhost_fd = -1,
                .agent_fd = 4,
                .console_log = "/run/hull/sb1/console.log",
        };
        return p;
}

/* Index of the argument equal to s, or -1. */
static int find_arg(char **argv, const char *s)
{
        for (int i = 0; argv[i]; i++)
                if (streq(argv[i], s))
                        return i;
        return -1;
}

/* Whether "opt value" appears as a pair. */
static bool has_pair(char **argv, const char *opt, const char *value)
{
        for (int i = 0; argv[i] && argv[i + 1]; i++)
                if (streq(argv[i], opt) && streq(argv[i + 1], value))
                        return true;
        return false;
}

static bool has_arg_containing(char **argv, const char *needle)
{
        for (int i = 0; argv[i]; i++)
                if (strstr(argv[i], needle))
                        return true;
        return false;
}

static const char *value_of(char **argv, const char *opt)
{
        int i = find_arg(argv, opt);
        return i >= 0 ? argv[i + 1] : NULL;
}

static void make_tmpdir(char *buf, size_t len)
{
        snprintf(buf, len, "/tmp/hull-test-hv-XXXXXX");
        assert_non_null(mkdtemp(buf));
}

static void rm_rf(const char *dir)
{
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        chmod(path, mode);
}

/* ---- command line ------------------------------------------------------------------------------------------- */

static void test_qemu_argv_microvm_tcg_serial(void **state)
{
        struct hull_hv_desc d = base_desc();
        struct hull_qemu_plan p = base_plan();
        _cleanup_strv_ char **argv = NULL;

        assert_int_equal(hull_qemu_build_argv(&d, &p, &argv, NULL), 0);
        assert_string_equal(argv[0], "/usr/bin/qemu-system-x86_64");
        assert_true(has_pair(argv, "-machine", "microvm,x-option-roms=off,memory-backend=mem"));
        assert_true(has_pair(argv, "-global", "virtio-mmio.force-legacy=false"));
        assert_true(has_pair(argv, "-accel", "tcg"));
        assert_true(has_pair(argv, "-cpu", "max"));
        assert_true(has_pair(argv, "-smp", "2"));
        assert_true(has_pair(argv, "-m", "512M"));
        assert_true(has_pair(argv, "-object", "memory-backend-memfd,id=mem,size=512M,share=on"));
        assert_true(has_pair(argv, "-kernel", "/boot/vmlinuz"));
        assert_true(has_pair(argv, "-initrd", "/boot/initrd.img"));
        assert_true(has_pair(argv, "-chardev", "socket,id=qmp,fd=3,server=on,wait=off"));
        assert_true(has_pair(argv, "-mon", "chardev=qmp,mode=control"));
        assert_true(has_pair(argv, "-device", "virtio-serial-device,id=vser0"));
        assert_true(has_pair(argv, "-chardev", "socket,id=agent,fd=4,server=on,wait=off"));
        assert_true(has_pair(argv, "-device", "virtserialport,bus=vser0.0,chardev=agent,name=agent.channel.0"));
        assert_true(has_pair(argv, "-chardev", "file,id=console,path=/run/hull/sb1/console.log"));
        assert_true(has_pair(argv, "-serial", "chardev:console"));
        assert_true(find_arg(argv, "-nodefaults") > 0);
        assert_true(find_arg(argv, "-no-user-config") > 0);
        assert_true(find_arg(argv, "-nographic") > 0);
        assert_true(find_arg(argv, "-no-reboot") > 0);
        /* hull owns the process: no daemonizing, no pidfile, no vsock, no virtio-fs unless asked. */
        assert_int_equal(find_arg(argv, "-daemonize"), -1);
        assert_int_equal(find_arg(argv, "-pidfile"), -1);
        assert_false(has_arg_containing(argv, "vhost-vsock"));
        assert_false(has_arg_containing(argv, "vhost-user-fs"));
        assert_false(has_arg_containing(argv, "-pci"));
}

static void test_qemu_argv_q35_kvm_vsock(void **state)
{
        struct hull_hv_desc d = base_desc();
        struct hull_qemu_plan p = base_plan();
        _cleanup_strv_ char **argv = NULL;

        d.cpu_features = "pmu=off";
        p.machine = HULL_QEMU_Q35;
        p.kvm = true;
        p.channel = HULL_HV_CAP_VSOCK;
        p.cid = 7;
        p.vhost_fd = 4;
        assert_int_equal(hull_qemu_build_argv(&d, &p, &argv, NULL), 0);
        assert_true(has_pair(argv, "-machine", "q35,memory-backend=mem"));
        assert_false(has_arg_containing(argv, "virtio-mmio"));
        assert_true(has_pair(argv, "-accel", "kvm"));
        assert_true(has_pair(argv, "-cpu", "host,pmu=off"));
        assert_true(has_pair(argv, "-device", "vhost-vsock-pci,id=vsock0,guest-cid=7,vhostfd=4"));
        assert_false(has_arg_containing(argv, "virtio-serial"));
        assert_false(has_arg_containing(argv, "agent.channel.0"));

        /* microvm spells the vsock device for virtio-mmio; without a held fd QEMU opens the device itself. */
        hull_strv_free(argv);
        argv = NULL;
        p.machine = HULL_QEMU_MICROVM;
        p.vhost_fd = -1;
        assert_int_equal(hull_qemu_build_argv(&d, &p, &argv, NULL), 0);
        assert_true(has_pair(argv, "-device", "vhost-vsock-device,id=vsock0,guest-cid=7"));
}

static void test_qemu_argv_virtio_fs_per_machine(void **state)
{
        struct hull_hv_desc d = base_desc();
        struct hull_qemu_plan p = base_plan();
        _cleanup_strv_ char **argv = NULL, **argv2 = NULL;

        p.virtiofsd_socket = "/run/hull/a,b/virtiofsd.sock";
        d.fs_queue_size = 512;
        assert_int_equal(hull_qemu_build_argv(&d, &p, &argv, NULL), 0);
        /* commas in option values are doubled */
        assert_true(has_pair(argv, "-chardev", "socket,id=vfs,path=/run/hull/a,,b/virtiofsd.sock"));
        assert_true(has_pair(argv, "-device", "vhost-user-fs-device,chardev=vfs,tag=kataShared,queue-size=512"));

        p.machine = HULL_QEMU_Q35;
        d.shared_tag = "hullfs";
        d.fs_queue_size = 0;
        assert_int_equal(hull_qemu_build_argv(&d, &p, &argv2, NULL), 0);
        assert_true(has_pair(argv2, "-device", "vhost-user-fs-pci,chardev=vfs,tag=hullfs,queue-size=1024"));
        assert_true(has_pair(argv2, "-device", "virtio-serial-pci,id=vser0"));
}

static void test_qemu_cmdline_appends_kernel_params(void **state)
{
        struct hull_hv_desc d = base_desc();
        struct hull_qemu_plan p = base_plan();
        _cleanup_free_ char *line = NULL, *line2 = NULL;
        _cleanup_strv_ char **argv = NULL;

        d.kernel_params = "agent.log=debug foo=bar";
        assert_int_equal(hull_qemu_build_cmdline(&d, &p, &line, NULL), 0);
        assert_true(strneq(line, "console=ttyS0 ", 14));
        assert_non_null(strstr(line, " panic=1"));
        assert_non_null(strstr(line, " quiet"));
        assert_non_null(strstr(line, " pci=off"));
        assert_non_null(strstr(line, " reboot=t ")); /* microvm has no i8042 */
        assert_non_null(strstr(line, " cryptomgr.notests"));
        assert_non_null(strstr(line, " tsc=reliable no_timer_check"));
        assert_null(strstr(line, "tsc_early_khz")); /* no rate known in this plan */
        /* the configuration's parameters come last, so they win over the base */
        assert_true(strlen(line) > strlen(d.kernel_params));
        assert_string_equal(line + strlen(line) - strlen(d.kernel_params), d.kernel_params);
        assert_int_equal(hull_qemu_build_argv(&d, &p, &argv, NULL), 0);
        assert_string_equal(value_of(argv, "-append"), line);

        /* debug drops quiet; q35 keeps PCI; virtio console is hvc0 */
        d.debug = true;
        d.console = HULL_HV_CONSOLE_VIRTIO;
        p.kvm = true;
        p.machine = HULL_QEMU_Q35;
        assert_int_equal(hull_qemu_build_cmdline(&d, &p, &line2, NULL), 0);
        assert_true(strneq(line2, "console=hvc0 ", 13));
        assert_null(strstr(line2, "quiet"));
        assert_null(strstr(line2, "pci=off"));
        assert_non_null(strstr(line2, " reboot=k ")); /* q35 resets through its i8042 */
}

static void test_qemu_cmdline_gives_tcg_guests_the_tsc_rate(void **state)
{
        struct hull_hv_desc d = base_desc();
        struct hull_qemu_plan p = base_plan();
        _cleanup_free_ char *tcg = NULL, *kvm = NULL, *own = NULL;

        p.tsc_khz = 2596136;
        assert_int_equal(hull_qemu_build_cmdline(&d, &p, &tcg, NULL), 0);
        assert_non_null(strstr(tcg, " tsc_early_khz=2596136"));
        /* KVM guests read the rate from kvmclock/CPUID */
        p.kvm = true;
        assert_int_equal(hull_qemu_build_cmdline(&d, &p, &kvm, NULL), 0);
        assert_null(strstr(kvm, "tsc_early_khz"));
        /* the configuration's own value is left alone */
        p.kvm = false;
        d.kernel_params = "tsc_early_khz=1000000";
        assert_int_equal(hull_qemu_build_cmdline(&d, &p, &own, NULL), 0);
        assert_null(strstr(own, "2596136"));
        assert_non_null(strstr(own, "tsc_early_khz=1000000"));
}

static void test_qemu_cmdline_rejects_newline_and_overlong(void **state)
{
        struct hull_hv_desc d = base_desc();
        struct hull_qemu_plan p = base_plan();
        _cleanup_error_ struct hull_error *e = NULL, *e2 = NULL;
        char *line = NULL;
        char big[HULL_QEMU_CMDLINE_MAX + 10];

        d.kernel_params = "a=b\ninit=/bin/sh";
        assert_int_equal(hull_qemu_build_cmdline(&d, &p, &line, &e), -EINVAL);
        assert_null(line);
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        d.kernel_params = big;
        assert_int_equal(hull_qemu_build_cmdline(&d, &p, &line, &e2), -E2BIG);
        assert_non_null(strstr(hull_error_message(e2), "at most 2047"));
}

static void test_qemu_argv_devices_and_console(void **state)
{
        struct hull_hv_device devs[2] = {
                { .kind = HULL_HV_DEVICE_BLOCK, .id = "disk0", .block = { .path = "/img/a,b.raw", .read_only = true } },
                { .kind = HULL_HV_DEVICE_NET, .id = "eth0", .net = { .tap_fd = 9, .mac = "02:00:00:00:00:01" } },
        };
        int net_fds[2] = { -1, 5 };
        struct hull_hv_desc d = base_desc();
        struct hull_qemu_plan p = base_plan();
        _cleanup_strv_ char **argv = NULL;
        struct json_object *o, *v, *file;
        const char *bd;

        d.devices = devs;
        d.n_devices = 2;
        d.console = HULL_HV_CONSOLE_VIRTIO;
        d.machine_accelerators = "pit=off";
        p.net_fds = net_fds;
        assert_int_equal(hull_qemu_build_argv(&d, &p, &argv, NULL), 0);
        assert_true(has_pair(argv, "-machine", "microvm,x-option-roms=off,memory-backend=mem,pit=off"));
        bd = value_of(argv, "-blockdev");
        assert_non_null(bd);
        o = json_tokener_parse(bd);
        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "node-name", &v));
        assert_string_equal(json_object_get_string(v), "blk-disk0");
        assert_true(json_object_object_get_ex(o, "read-only", &v) && json_object_get_boolean(v));
        assert_true(json_object_object_get_ex(o, "file", &file));
        assert_true(json_object_object_get_ex(file, "filename", &v));
        assert_string_equal(json_object_get_string(v), "/img/a,b.raw"); /* JSON: no comma escaping */
        json_object_put(o);
        assert_true(has_pair(argv, "-device", "virtio-blk-device,drive=blk-disk0,id=disk0"));
        assert_true(has_pair(argv, "-netdev", "tap,id=net-eth0,fd=5"));
        assert_true(has_pair(argv, "-device", "virtio-net-device,netdev=net-eth0,id=eth0,mac=02:00:00:00:00:01"));
        /* virtio console: on the serial bus, no -serial */
        assert_true(has_pair(argv, "-device", "virtconsole,bus=vser0.0,chardev=console"));
        assert_int_equal(find_arg(argv, "-serial"), -1);
}

static void test_qemu_machine_and_options_checked(void **state)
{
        enum hull_qemu_machine m;
        struct hull_hv_desc d = base_desc();
        struct hull_qemu_plan p = base_plan();
        _cleanup_error_ struct hull_error *e = NULL;
        char **argv = NULL;

        assert_int_equal(hull_qemu_machine_from_string(NULL, &m, NULL), 0);
        assert_int_equal(m, HULL_QEMU_MICROVM);
        assert_int_equal(hull_qemu_machine_from_string("q35", &m, NULL), 0);
        assert_int_equal(m, HULL_QEMU_Q35);
        assert_int_equal(hull_qemu_machine_from_string("pc-q35-7.2", &m, NULL), 0);
        assert_int_equal(m, HULL_QEMU_Q35);
        assert_int_equal(hull_qemu_machine_from_string("pc", &m, &e), -EINVAL);
        assert_non_null(strstr(hull_error_message(e), "'pc'"));
        /* an option list with a space would smuggle in another argument's worth of text */
        d.cpu_features = "pmu=off -device foo";
        assert_int_equal(hull_qemu_build_argv(&d, &p, &argv, NULL), -EINVAL);
        assert_null(argv);
}

static void test_virtiofsd_argv(void **state)
{
        char *extra[] = { "--thread-pool-size=1", NULL };
        struct hull_virtiofsd_config c = {
                .binary = "/usr/lib/qemu/virtiofsd",
                .source = "/run/hull/sb1/shared",
                .socket_path = "/run/hull/sb1/virtiofsd.sock",
                .log_path = "/run/hull/sb1/virtiofsd.log",
                .cache = "never",
                .extra_args = extra,
        };
        _cleanup_strv_ char **argv = NULL;
        _cleanup_error_ struct hull_error *e = NULL, *e2 = NULL;
        char **bad = NULL;

        assert_int_equal(hull_virtiofsd_build_argv(&c, &argv, NULL), 0);
        assert_string_equal(argv[0], "/usr/lib/qemu/virtiofsd");
        assert_string_equal(argv[1], "--fd=3");
        assert_true(has_pair(argv, "-o", "source=/run/hull/sb1/shared"));
        assert_true(has_pair(argv, "-o", "cache=none")); /* Kata's "never" in the C daemon's words */
        assert_true(has_pair(argv, "-o", "sandbox=namespace"));
        assert_string_equal(argv[hull_strv_length(argv) - 1], "--thread-pool-size=1");
        assert_int_equal(find_arg(argv, "--daemonize"), -1);

        c.cache = "sometimes";
        assert_int_equal(hull_virtiofsd_build_argv(&c, &bad, &e), -EINVAL);
        c.cache = NULL;
        c.source = "/a,b";
        assert_int_equal(hull_virtiofsd_build_argv(&c, &bad, &e2), -EINVAL);
        assert_null(bad);
}

/* ---- QMP ---------------------------------------------------------------------------------------------------- */

struct qmp_pair {
        struct hull_qmp *q;
        int peer;
};

static void qmp_pair_open(struct qmp_pair *p, size_t max_line)
{
        int sv[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(hull_qmp_new(sv[0], max_line, &p->q, NULL), 0);
        p->peer = sv[1];
}

static void qmp_pair_close(struct qmp_pair *p)
{
        p->q = hull_qmp_free(p->q);
        if (p->peer >= 0)
                close(p->peer);
        p->peer = -1;
}

static void peer_write(struct qmp_pair *p, const char *s)
{
        assert_int_equal(write(p->peer, s, strlen(s)), (ssize_t)strlen(s));
}

/* One line the client sent, parsed. */
static struct json_object *peer_read_json(struct qmp_pair *p)
{
        char line[1024];
        size_t n = 0;

        while (n < sizeof(line) - 1) {
                assert_int_equal(read(p->peer, line + n, 1), 1);
                if (line[n] == '\n')
                        break;
                n++;
        }
        line[n] = '\0';
        return json_tokener_parse(line);
}

static void test_qmp_parse_message_kinds(void **state)
{
        struct hull_qmp_msg m = { 0 };
        struct json_object *v;
        const char *greeting = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}}, "
                               "\"capabilities\": [\"oob\"]}}\r";
        const char *ev = "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"SHUTDOWN\", \"data\": "
                         "{\"guest\": true, \"reason\": \"guest-shutdown\"}}";

        assert_int_equal(hull_qmp_parse(greeting, strlen(greeting), &m, NULL), 0);
        assert_int_equal(m.kind, HULL_QMP_MSG_GREETING);
        assert_int_equal(m.id, -1);
        hull_qmp_msg_clear(&m);

        assert_int_equal(hull_qmp_parse(ev, strlen(ev), &m, NULL), 0);
        assert_int_equal(m.kind, HULL_QMP_MSG_EVENT);
        assert_string_equal(m.event, "SHUTDOWN");
        assert_true(json_object_object_get_ex(m.data, "guest", &v) && json_object_get_boolean(v));
        hull_qmp_msg_clear(&m);

        {
                const char *r = "{\"return\": {\"status\": \"running\"}, \"id\": 42}";
                assert_int_equal(hull_qmp_parse(r, strlen(r), &m, NULL), 0);
        }
        assert_int_equal(m.kind, HULL_QMP_MSG_RETURN);
        assert_int_equal(m.id, 42);
        assert_true(json_object_object_get_ex(m.data, "status", &v));
        assert_string_equal(json_object_get_string(v), "running");
        hull_qmp_msg_clear(&m);

        {
                const char *er = "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command x has not been "
                                 "found\"}, \"id\": 3}";
                assert_int_equal(hull_qmp_parse(er, strlen(er), &m, NULL), 0);
                assert_int_equal(m.kind, HULL_QMP_MSG_ERROR);
                assert_int_equal(m.id, 3);
                assert_string_equal(m.error_class, "CommandNotFound");
                assert_string_equal(m.error_desc, "The command x has not been found");
                hull_qmp_msg_clear(&m);
        }
        /* an id that is not ours (QMP allows any JSON value) is kept apart as -1 */
        {
                const char *r = "{\"return\": {}, \"id\": \"x\"}";
                assert_int_equal(hull_qmp_parse(r, strlen(r), &m, NULL), 0);
        }
        assert_int_equal(m.id, -1);
        hull_qmp_msg_clear(&m);
}

static void test_qmp_parse_rejects_garbage(void **state)
{
        static const char *const bad[] = {
                "hello",
                "[1, 2]",
                "\"just a string\"",
                "{\"return\": {}} trailing",
                "{\"return\": {}",
                "{\"event\": 7}",
                "{\"error\": {\"class\": \"X\"}}",
                "{\"error\": \"no\"}",
                "{\"QMP\": []}",
                "{\"something\": \"else\"}",
                "{'single': 'quotes'}",
                "",
        };
        struct hull_qmp_msg m = { 0 };
        char deep[200];
        size_t n = 0;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_error_ struct hull_error *e = NULL;
                assert_int_equal(hull_qmp_parse(bad[i], strlen(bad[i]), &m, &e), -EBADMSG);
                assert_non_null(e);
                assert_null(m.root);
        }
        {
                _cleanup_error_ struct hull_error *e = NULL;
                assert_int_equal(hull_qmp_parse("{\"return\": \0{}}", 14, &m, &e), -EBADMSG);
        }
        /* nesting deeper than HULL_QMP_MAX_DEPTH */
        n += (size_t)snprintf(deep, sizeof(deep), "{\"return\": ");
        for (int i = 0; i < HULL_QMP_MAX_DEPTH + 2; i++)
                deep[n++] = '[';
        for (int i = 0; i < HULL_QMP_MAX_DEPTH + 2; i++)
                deep[n++] = ']';
        deep[n++] = '}';
        deep[n] = '\0';
        assert_int_equal(hull_qmp_parse(deep, n, &m, NULL), -EBADMSG);
}

static void test_qmp_read_reassembles_split_lines(void **state)
{
        struct qmp_pair p;
        struct hull_qmp_msg m = { 0 };

        qmp_pair_open(&p, 0);
        peer_write(&p, "{\"event\": \"ST");
        assert_int_equal(hull_qmp_read(p.q, 20, &m, NULL), 0); /* nothing complete yet: timeout */
        peer_write(&p, "OP\"}\r\n{\"event\": \"RESUME\"}\r\n{\"ret");
        assert_int_equal(hull_qmp_read(p.q, 1000, &m, NULL), 1);
        assert_string_equal(m.event, "STOP");
        hull_qmp_msg_clear(&m);
        assert_int_equal(hull_qmp_read(p.q, 1000, &m, NULL), 1);
        assert_string_equal(m.event, "RESUME");
        hull_qmp_msg_clear(&m);
        peer_write(&p, "urn\": {}, \"id\": 5}\n");
        assert_int_equal(hull_qmp_read(p.q, 1000, &m, NULL), 1);
        assert_int_equal(m.kind, HULL_QMP_MSG_RETURN);
        assert_int_equal(m.id, 5);
        hull_qmp_msg_clear(&m);
        assert_false(hull_qmp_is_broken(p.q));
        qmp_pair_close(&p);
}

static void test_qmp_read_rejects_overlong_line(void **state)
{
        struct qmp_pair p;
        struct hull_qmp_msg m = { 0 };
        _cleanup_error_ struct hull_error *e = NULL, *e2 = NULL;
        char big[300];

        qmp_pair_open(&p, 64);
        memset(big, 'a', sizeof(big));
        /* no newline at all: the client must give up at the limit, not buffer forever */
        assert_int_equal(write(p.peer, big, sizeof(big)), (ssize_t)sizeof(big));
        assert_int_equal(hull_qmp_read(p.q, 1000, &m, &e), -EMSGSIZE);
        assert_non_null(strstr(hull_error_message(e), "longer than 64"));
        assert_true(hull_qmp_is_broken(p.q));
        /* broken stays broken, even when good data follows */
        peer_write(&p, "\n{\"event\": \"STOP\"}\n");
        assert_int_equal(hull_qmp_read(p.q, 100, &m, &e2), -EMSGSIZE);
        assert_int_equal(hull_qmp_send(p.q, "cont", NULL, NULL, NULL), -EMSGSIZE);
        qmp_pair_close(&p);

        /* a complete line over the limit is refused too */
        qmp_pair_open(&p, 64);
        peer_write(&p, "{\"return\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n");
        assert_int_equal(hull_qmp_read(p.q, 1000, &m, NULL), -EMSGSIZE);
        qmp_pair_close(&p);
}

static void test_qmp_read_garbage_and_close_break_connection(void **state)
{
        struct qmp_pair p;
        struct hull_qmp_msg m = { 0 };
        _cleanup_error_ struct hull_error *e = NULL;

        qmp_pair_open(&p, 0);
        peer_write(&p, "\x01\x02 not json \xff\n");
        assert_int_equal(hull_qmp_read(p.q, 1000, &m, &e), -EBADMSG);
        assert_true(hull_qmp_is_broken(p.q));
        qmp_pair_close(&p);

        qmp_pair_open(&p, 0);
        peer_write(&p, "{\"event\": \"STOP\"}\n{\"event\": \"RES");
        close(p.peer);
        p.peer = -1;
        assert_int_equal(hull_qmp_read(p.q, 1000, &m, NULL), 1);
        hull_qmp_msg_clear(&m);
        assert_int_equal(hull_qmp_read(p.q, 1000, &m, NULL), -ECONNRESET);
        /* sending to a closed peer is an error, not a SIGPIPE */
        assert_true(hull_qmp_send(p.q, "cont", NULL, NULL, NULL) < 0);
        qmp_pair_close(&p);
}

static void test_qmp_handshake_and_call(void **state)
{
        struct qmp_pair p;
        struct json_object *sent, *v, *ret = NULL;
        char version[32];
        _cleanup_error_ struct hull_error *e = NULL, *e2 = NULL;

        qmp_pair_open(&p, 0);
        /* QEMU's side written ahead: the socket buffers it until the client reads. */
        peer_write(&p,
                   "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": "
                   "\"\"}, \"capabilities\": [\"oob\"]}}\r\n");
        peer_write(&p, "{\"return\": {}, \"id\": 1}\r\n");
        assert_int_equal(hull_qmp_handshake(p.q, 1000, version, sizeof(version), NULL), 0);
        assert_string_equal(version, "7.2.22");
        sent = peer_read_json(&p);
        assert_non_null(sent);
        assert_true(json_object_object_get_ex(sent, "execute", &v));
        assert_string_equal(json_object_get_string(v), "qmp_capabilities");
        assert_true(json_object_object_get_ex(sent, "id", &v));
        assert_int_equal(json_object_get_int(v), 1);
        json_object_put(sent);

        /* an event and a stale reply before ours are skipped over (and kept for the loop) */
        peer_write(&p,
                   "{\"event\": \"STOP\"}\n{\"return\": {}, \"id\": 99}\n"
                   "{\"return\": {\"status\": \"paused\", \"running\": false}, \"id\": 2}\n");
        assert_int_equal(hull_qmp_call(p.q, "query-status", NULL, 1000, &ret, NULL), 0);
        assert_true(json_object_object_get_ex(ret, "status", &v));
        assert_string_equal(json_object_get_string(v), "paused");
        json_object_put(ret);
        sent = peer_read_json(&p);
        assert_true(json_object_object_get_ex(sent, "execute", &v));
        assert_string_equal(json_object_get_string(v), "query-status");
        json_object_put(sent);

        /* a QMP error becomes -EIO carrying QEMU's words */
        peer_write(&p, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}, \"id\": 3}\n");
        assert_int_equal(hull_qmp_call(p.q, "cont", NULL, 1000, NULL, &e), -EIO);
        assert_string_equal(hull_error_message(e), "QMP cont: nope");
        json_object_put(peer_read_json(&p));

        /* no answer: a timeout, and the connection stays usable */
        {
                uint64_t t0 = hull_now_usec();
                assert_int_equal(hull_qmp_call(p.q, "stop", NULL, 50, NULL, &e2), -ETIMEDOUT);
                assert_true(hull_now_usec() - t0 >= 40000);
                assert_true(hull_now_usec() - t0 < 2000000);
                assert_false(hull_qmp_is_broken(p.q));
        }
        qmp_pair_close(&p);
}

static void test_qmp_handshake_needs_greeting_first(void **state)
{
        struct qmp_pair p;
        _cleanup_error_ struct hull_error *e = NULL, *e2 = NULL;

        qmp_pair_open(&p, 0);
        peer_write(&p, "{\"return\": {}, \"id\": 1}\n");
        assert_int_equal(hull_qmp_handshake(p.q, 1000, NULL, 0, &e), -EBADMSG);
        qmp_pair_close(&p);

        qmp_pair_open(&p, 0);
        assert_int_equal(hull_qmp_handshake(p.q, 30, NULL, 0, &e2), -ETIMEDOUT);
        qmp_pair_close(&p);
}

struct loop_seen {
        char events[8][32];
        int n_events;
        int replies;
        int failed_replies;
        int closes;
        int close_code;
        char status[32];
};

static void seen_event(struct hull_qmp *q, const struct hull_qmp_msg *msg, void *userdata)
{
        struct loop_seen *s = userdata;
        if (s->n_events < 8)
                snprintf(s->events[s->n_events++], sizeof(s->events[0]), "%s", msg->event);
}

static void seen_reply(struct hull_qmp *q, const struct hull_qmp_msg *reply, const struct hull_error *err,
                       void *userdata)
{
        struct loop_seen *s = userdata;
        struct json_object *v;

        if (!reply) {
                assert_non_null(err);
                s->failed_replies++;
                return;
        }
        s->replies++;
        if (json_object_object_get_ex(reply->data, "status", &v))
                snprintf(s->status, sizeof(s->status), "%s", json_object_get_string(v));
}

static void seen_close(struct hull_qmp *q, int code, const char *why, void *userdata)
{
        struct loop_seen *s = userdata;
        s->closes++;
        s->close_code = code;
}

static void run_loop_a_little(struct hull_loop *loop)
{
        for (int i = 0; i < 5; i++)
                assert_int_equal(hull_loop_run_once(loop, 20), 0);
}

static void test_qmp_events_and_async_calls_on_loop(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        struct loop_seen s = { 0 };
        struct qmp_pair p;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        qmp_pair_open(&p, 0);
        assert_int_equal(hull_qmp_attach(p.q, loop, seen_event, seen_close, &s, NULL), 0);

        peer_write(&p, "{\"event\": \"STOP\"}\n");
        run_loop_a_little(loop);
        assert_int_equal(s.n_events, 1);
        assert_string_equal(s.events[0], "STOP");

        /* async call, reply delivered by the loop */
        assert_int_equal(hull_qmp_call_async(p.q, "query-status", NULL, seen_reply, &s, NULL), 0);
        json_object_put(peer_read_json(&p));
        peer_write(&p, "{\"return\": {\"status\": \"running\"}, \"id\": 1}\n");
        run_loop_a_little(loop);
        assert_int_equal(s.replies, 1);
        assert_string_equal(s.status, "running");

        /* events read by a synchronous call are handed to the loop afterwards, in order */
        peer_write(&p, "{\"event\": \"RESUME\"}\n{\"event\": \"SHUTDOWN\"}\n{\"return\": {}, \"id\": 2}\n");
        assert_int_equal(hull_qmp_call(p.q, "cont", NULL, 1000, NULL, NULL), 0);
        assert_int_equal(s.n_events, 1);
        run_loop_a_little(loop);
        assert_int_equal(s.n_events, 3);
        assert_string_equal(s.events[1], "RESUME");
        assert_string_equal(s.events[2], "SHUTDOWN");

        /* the peer goes away with a call pending: the call fails, close is reported once */
        assert_int_equal(hull_qmp_call_async(p.q, "query-status", NULL, seen_reply, &s, NULL), 0);
        close(p.peer);
        p.peer = -1;
        run_loop_a_little(loop);
        assert_int_equal(s.failed_replies, 1);
        assert_int_equal(s.closes, 1);
        assert_int_equal(s.close_code, -ECONNRESET);
        qmp_pair_close(&p);
}

static void test_qmp_garbage_on_loop_reports_close(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        struct loop_seen s = { 0 };
        struct qmp_pair p;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        qmp_pair_open(&p, 32);
        assert_int_equal(hull_qmp_attach(p.q, loop, seen_event, seen_close, &s, NULL), 0);
        peer_write(&p, "{\"event\": \"STOP\"}\n{\"event\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n");
        run_loop_a_little(loop);
        assert_int_equal(s.n_events, 1);
        assert_int_equal(s.closes, 1);
        assert_int_equal(s.close_code, -EMSGSIZE);
        qmp_pair_close(&p);
}

/* ---- child processes ---------------------------------------------------------------------------------------- */

static void test_child_describe_exit_uses_last_log_lines(void **state)
{
        char dir[64], path[128], buf[512];
        static const char *const prefixes[] = { "qemu-system-x86_64", "qemu", NULL };

        make_tmpdir(dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/qemu.log", dir);
        write_text(path,
                   "qemu-system-x86_64: warning: host doesn't support requested feature\n"
                   "qemu: could not open kernel file '/x': No such file or directory\n\n",
                   0600);
        hull_child_describe_exit("qemu", 1 << 8, path, prefixes, buf, sizeof(buf));
        assert_string_equal(buf,
                            "qemu exited with status 1: could not open kernel file '/x': No such file or directory");
        hull_child_describe_exit("qemu", SIGKILL, path, prefixes, buf, sizeof(buf));
        assert_string_equal(buf, "qemu was killed by signal 9 (Killed)");
        hull_child_describe_exit("qemu", 0, path, prefixes, buf, sizeof(buf));
        assert_string_equal(buf, "qemu exited with status 0");

        /* control bytes in a log do not reach the message */
        write_text(path, "qemu: bad \x1b[31mthing\n", 0600);
        hull_child_describe_exit("qemu", 2 << 8, path, prefixes, buf, sizeof(buf));
        assert_string_equal(buf, "qemu exited with status 2: bad ?[31mthing");
        /* only warnings: they are shown */
        write_text(path, "qemu: warning: only this\n", 0600);
        hull_child_describe_exit("qemu", 1 << 8, path, prefixes, buf, sizeof(buf));
        assert_string_equal(buf, "qemu exited with status 1: warning: only this");
        rm_rf(dir);
}

static void test_child_spawn_maps_fds_and_waits(void **state)
{
        struct hull_child c = HULL_CHILD_INIT;
        char dir[64], log[128], got[16] = "";
        int pfd[2];
        _cleanup_error_ struct hull_error *e = NULL;
        char *argv[] = { "/bin/sh", "-c", "echo hello >&3; echo oops >&2; exit 3", NULL };
        char *missing[] = { "/nonexistent/qemu", NULL };

        make_tmpdir(dir, sizeof(dir));
        snprintf(log, sizeof(log), "%s/child.log", dir);
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        assert_int_equal(hull_child_spawn(argv, &pfd[1], 1, log, &c, NULL), 0);
        close(pfd[1]);
        assert_true(c.pid > 0);
        assert_int_equal(hull_child_wait(&c, 5000), 1);
        assert_true(WIFEXITED(c.status));
        assert_int_equal(WEXITSTATUS(c.status), 3);
        assert_int_equal(read(pfd[0], got, sizeof(got) - 1), 6);
        assert_string_equal(got, "hello\n");
        close(pfd[0]);
        {
                char buf[256];
                hull_child_log_tail(log, 2, NULL, buf, sizeof(buf));
                assert_string_equal(buf, "oops");
        }
        hull_child_release(&c);

        assert_int_equal(hull_child_spawn(missing, NULL, 0, log, &c, &e), -ENOENT);
        assert_non_null(strstr(hull_error_message(e), "/nonexistent/qemu"));
        rm_rf(dir);
}

static void test_child_terminate_escalates_to_sigkill(void **state)
{
        struct hull_child c = HULL_CHILD_INIT;
        char dir[64], log[128];
        /* ignores SIGTERM: only SIGKILL ends it */
        char *argv[] = { "/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done", NULL };

        make_tmpdir(dir, sizeof(dir));
        snprintf(log, sizeof(log), "%s/child.log", dir);
        assert_int_equal(hull_child_spawn(argv, NULL, 0, log, &c, NULL), 0);
        assert_int_equal(hull_child_wait(&c, 50), 0);
        assert_int_equal(hull_child_terminate(&c, SIGTERM, 200), 0);
        assert_true(c.reaped);
        assert_true(WIFSIGNALED(c.status));
        assert_int_equal(WTERMSIG(c.status), SIGKILL);
        hull_child_release(&c);
        rm_rf(dir);
}

/* ---- driver interface --------------------------------------------------------------------------------------- */

static void test_hv_new_rejects_bad_descriptions(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        struct hull_hypervisor *hv = NULL;
        char dir[64];
        struct hull_hv_desc d;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        make_tmpdir(dir, sizeof(dir));
        d = base_desc();
        d.state_dir = dir;
        d.binary = "/bin/true";
        {
                _cleanup_error_ struct hull_error *e = NULL;
                assert_int_equal(hull_hypervisor_new(HULL_CONFIG_HYPERVISOR_CLH, &d, loop, NULL, NULL, &hv, &e),
                                 -EOPNOTSUPP);
                assert_non_null(strstr(hull_error_message(e), "clh"));
        }
        {
                _cleanup_error_ struct hull_error *e = NULL;
                struct hull_hv_desc b = d;
                b.kernel = NULL;
                assert_int_equal(hull_hypervisor_new(HULL_CONFIG_HYPERVISOR_QEMU, &b, loop, NULL, NULL, &hv, &e),
                                 -EINVAL);
                assert_non_null(strstr(hull_error_message(e), "kernel"));
        }
        {
                struct hull_hv_desc b = d;
                b.vcpus = 0;
                assert_int_equal(hull_hypervisor_new(HULL_CONFIG_HYPERVISOR_QEMU, &b, loop, NULL, NULL, &hv, NULL),
                                 -EINVAL);
                b.vcpus = 1;
                b.memory_mib = 8;
                assert_int_equal(hull_hypervisor_new(HULL_CONFIG_HYPERVISOR_QEMU, &b, loop, NULL, NULL, &hv, NULL),
                                 -EINVAL);
        }
        {
                struct hull_hv_desc b = d;
                b.state_dir = "/nonexistent/state";
                assert_int_equal(hull_hypervisor_new(HULL_CONFIG_HYPERVISOR_QEMU, &b, loop, NULL, NULL, &hv, NULL),
                                 -ENOENT);
                b.state_dir = dir;
                b.machine_type = "virt";
                assert_int_equal(hull_hypervisor_new(HULL_CONFIG_HYPERVISOR_QEMU, &b, loop, NULL, NULL, &hv, NULL),
                                 -EINVAL);
                b.machine_type = NULL;
                b.binary = "/nonexistent/qemu-system-x86_64";
                assert_int_equal(hull_hypervisor_new(HULL_CONFIG_HYPERVISOR_QEMU, &b, loop, NULL, NULL, &hv, NULL),
                                 -ENOENT);
        }
        assert_null(hv);
        rm_rf(dir);
}

static void test_hv_interface_before_start(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        _cleanup_(hull_hypervisor_freep) struct hull_hypervisor *hv = NULL;
        char dir[64], path[128];
        struct hull_hv_desc d = base_desc();
        struct hull_hv_channel ch;
        struct hull_hv_device disk = { .kind = HULL_HV_DEVICE_BLOCK, .id = "disk0", .block.path = "/img/a.raw" };
        struct hull_hv_device bad = { .kind = HULL_HV_DEVICE_BLOCK, .id = "bad id", .block.path = "/img/a.raw" };
        pid_t pids[2];
        uint32_t caps;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        make_tmpdir(dir, sizeof(dir));
        d.state_dir = dir;
        d.binary = "/bin/true";
        d.accel = HULL_HV_ACCEL_TCG;
        d.channel = HULL_HV_CHANNEL_SERIAL;
        assert_int_equal(hull_hypervisor_new(HULL_CONFIG_HYPERVISOR_QEMU, &d, loop, NULL, NULL, &hv, NULL), 0);
        assert_string_equal(hull_hypervisor_name(hv), "qemu");
        assert_int_equal(hull_hypervisor_state(hv), HULL_HV_STATE_CREATED);
        /* the driver keeps its own copy */
        assert_ptr_not_equal(hull_hypervisor_desc(hv)->kernel, d.kernel);
        assert_string_equal(hull_hypervisor_desc(hv)->kernel, d.kernel);

        caps = hull_hypervisor_capabilities(hv);
        assert_true(caps & HULL_HV_CAP_PAUSE);
        assert_true(caps & HULL_HV_CAP_SHARED_FS);
        assert_true(caps & HULL_HV_CAP_SERIAL_CHANNEL);
        assert_false(caps & (HULL_HV_CAP_VSOCK | HULL_HV_CAP_HYBRID_VSOCK));
        assert_false(caps & HULL_HV_CAP_HOTPLUG);

        assert_int_equal(hull_hypervisor_agent_channel(hv, &ch, NULL), 0);
        assert_int_equal(ch.kind, HULL_HV_CAP_SERIAL_CHANNEL);
        snprintf(path, sizeof(path), "%s/agent.sock", dir);
        assert_string_equal(ch.path, path);
        assert_int_equal(hull_hypervisor_pids(hv, pids, 2), 0);

        {
                _cleanup_error_ struct hull_error *e = NULL;
                assert_int_equal(hull_hypervisor_pause(hv, &e), -EINVAL);
                assert_non_null(strstr(hull_error_message(e), "created"));
        }
        assert_int_equal(hull_hypervisor_resize_vcpus(hv, 4, NULL, NULL), -EOPNOTSUPP);
        assert_int_equal(hull_hypervisor_resize_memory(hv, 1024, NULL, NULL), -EOPNOTSUPP);

        /* cold-plug list: add, refuse duplicates and bad ids, remove */
        assert_int_equal(hull_hypervisor_add_device(hv, &disk, NULL), 0);
        assert_int_equal(hull_hypervisor_desc(hv)->n_devices, 1);
        assert_int_equal(hull_hypervisor_add_device(hv, &disk, NULL), -EEXIST);
        assert_int_equal(hull_hypervisor_add_device(hv, &bad, NULL), -EINVAL);
        assert_int_equal(hull_hypervisor_remove_device(hv, "disk0", NULL), 0);
        assert_int_equal(hull_hypervisor_remove_device(hv, "disk0", NULL), -ENOENT);
        assert_int_equal(hull_hypervisor_desc(hv)->n_devices, 0);

        /* stopping a VM that never started is fine */
        assert_int_equal(hull_hypervisor_stop(hv, 0, NULL, NULL), 0);
        assert_int_equal(hull_hypervisor_state(hv), HULL_HV_STATE_STOPPED);
        hv = hull_hypervisor_free(hv);
        rm_rf(dir);
}

static void test_hv_start_reports_why_the_vmm_exited(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        _cleanup_(hull_hypervisor_freep) struct hull_hypervisor *hv = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        char dir[64], fake[128], sock[128];
        struct hull_hv_desc d = base_desc();
        struct stat st;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        make_tmpdir(dir, sizeof(dir));
        snprintf(fake, sizeof(fake), "%s/fake-qemu", dir);
        /* A stand-in for QEMU that fails the way QEMU does with a bad kernel path. */
        write_text(fake,
                   "#!/bin/sh\n"
                   "echo \"qemu-system-x86_64: warning: a warning first\" >&2\n"
                   "echo \"qemu: could not open kernel file '/x': No such file or directory\" >&2\n"
                   "exit 1\n",
                   0755);
        d.state_dir = dir;
        d.binary = fake;
        d.kernel = "/x";
        d.accel = HULL_HV_ACCEL_TCG;
        d.channel = HULL_HV_CHANNEL_SERIAL;
        assert_int_equal(hull_hypervisor_new(HULL_CONFIG_HYPERVISOR_QEMU, &d, loop, NULL, NULL, &hv, NULL), 0);
        assert_int_equal(hull_hypervisor_start(hv, &e), -EIO);
        assert_string_equal(hull_error_message(e),
                            "qemu exited with status 1: could not open kernel file '/x': No such file or directory");
        assert_int_equal(hull_hypervisor_state(hv), HULL_HV_STATE_EXITED);
        /* nothing left behind: no sockets */
        snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
        assert_int_equal(stat(sock, &st), -1);
        snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
        assert_int_equal(stat(sock, &st), -1);
        assert_int_equal(hull_hypervisor_pids(hv, NULL, 0), 0);
        hv = hull_hypervisor_free(hv);
        rm_rf(dir);
}

static void test_hv_start_gives_up_on_a_silent_vmm_and_kills_it(void **state)
{
        _cleanup_(hull_loop_freep) struct hull_loop *loop = NULL;
        _cleanup_(hull_hypervisor_freep) struct hull_hypervisor *hv = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        char dir[64], fake[128];
        struct hull_hv_desc d = base_desc();
        uint64_t t0;

        assert_int_equal(hull_loop_new(&loop, NULL), 0);
        make_tmpdir(dir, sizeof(dir));
        snprintf(fake, sizeof(fake), "%s/fake-qemu", dir);
        /* Holds the QMP socket but never greets. */
        write_text(fake, "#!/bin/sh\nexec sleep 60\n", 0755);
        d.state_dir = dir;
        d.binary = fake;
        d.accel = HULL_HV_ACCEL_TCG;
        d.channel = HULL_HV_CHANNEL_SERIAL;
        d.start_timeout_ms = 200;
        assert_int_equal(hull_hypervisor_new(HULL_CONFIG_HYPERVISOR_QEMU, &d, loop, NULL, NULL, &hv, NULL), 0);
        t0 = hull_now_usec();
        assert_int_equal(hull_hypervisor_start(hv, &e), -ETIMEDOUT);
        assert_true(hull_now_usec() - t0 < 5000000);
        assert_non_null(strstr(hull_error_message(e), "did not come up"));
        assert_non_null(strstr(hull_error_message(e), "no greeting within 200 ms"));
        assert_int_equal(hull_hypervisor_pids(hv, NULL, 0), 0); /* killed and reaped */
        hv = hull_hypervisor_free(hv);
        rm_rf(dir);
}

static void test_hv_desc_from_config_uses_qemu_section(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *cfg = NULL;
        struct hull_hv_desc d = { 0 };
        char *extra[] = { "--thread-pool-size=1", NULL };

        assert_int_equal(hull_config_new_default(HULL_CONFIG_HYPERVISOR_QEMU, &cfg, NULL), 0);
        free(cfg->hypervisor.kernel);
        cfg->hypervisor.kernel = strdup("/k");
        free(cfg->hypervisor.kernel_params);
        cfg->hypervisor.kernel_params = strdup("a=b");
        free(cfg->hypervisor.machine_type);
        cfg->hypervisor.machine_type = strdup("q35");
        cfg->hypervisor.default_vcpus = 1.5;
        cfg->hypervisor.default_memory = 768;
        hull_strv_free(cfg->hypervisor.virtio_fs_extra_args);
        assert_int_equal(hull_strv_copy(extra, &cfg->hypervisor.virtio_fs_extra_args), 0);
        assert_int_equal(hull_hv_desc_from_config(cfg, &d, NULL), 0);
        assert_string_equal(d.kernel, "/k");
        assert_string_equal(d.kernel_params, "a=b");
        assert_string_equal(d.machine_type, "q35");
        assert_int_equal(d.vcpus, 2); /* Kata rounds fractions up */
        assert_int_equal(d.memory_mib, 768);
        assert_int_equal(d.accel, HULL_HV_ACCEL_AUTO);
        assert_string_equal(d.fs_extra_args[0], "--thread-pool-size=1");
        assert_null(d.fs_extra_args[1]);
        assert_int_equal(d.agent_port, 1024);
        hull_hv_desc_clear(&d);

        free(cfg->hypervisor.shared_fs);
        cfg->hypervisor.shared_fs = strdup("virtio-9p");
        assert_int_equal(hull_hv_desc_from_config(cfg, &d, NULL), -EOPNOTSUPP);

        /* Kata's Dragonball files say inline-virtio-fs: the built-in VMM takes it (served through virtiofsd) */
        free(cfg->hypervisor.shared_fs);
        cfg->hypervisor.shared_fs = strdup("inline-virtio-fs");
        assert_int_equal(hull_hv_desc_from_config(cfg, &d, NULL), -EOPNOTSUPP); /* not for QEMU */
        cfg->hypervisor_kind = HULL_CONFIG_HYPERVISOR_BUILTIN;
        assert_int_equal(hull_hv_desc_from_config(cfg, &d, NULL), 0);
        hull_hv_desc_clear(&d);
}

static void test_vsock_cid_reserve_without_device(void **state)
{
        _cleanup_error_ struct hull_error *e = NULL;
        uint32_t cid = 0;

        assert_int_equal(hull_vsock_cid_reserve("/nonexistent/vhost-vsock", 3, &cid, &e), -ENOENT);
        assert_int_equal(cid, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_qemu_argv_microvm_tcg_serial),
                cmocka_unit_test(test_qemu_argv_q35_kvm_vsock),
                cmocka_unit_test(test_qemu_argv_virtio_fs_per_machine),
                cmocka_unit_test(test_qemu_cmdline_appends_kernel_params),
                cmocka_unit_test(test_qemu_cmdline_gives_tcg_guests_the_tsc_rate),
                cmocka_unit_test(test_qemu_cmdline_rejects_newline_and_overlong),
                cmocka_unit_test(test_qemu_argv_devices_and_console),
                cmocka_unit_test(test_qemu_machine_and_options_checked),
                cmocka_unit_test(test_virtiofsd_argv),
                cmocka_unit_test(test_qmp_parse_message_kinds),
                cmocka_unit_test(test_qmp_parse_rejects_garbage),
                cmocka_unit_test(test_qmp_read_reassembles_split_lines),
                cmocka_unit_test(test_qmp_read_rejects_overlong_line),
                cmocka_unit_test(test_qmp_read_garbage_and_close_break_connection),
                cmocka_unit_test(test_qmp_handshake_and_call),
                cmocka_unit_test(test_qmp_handshake_needs_greeting_first),
                cmocka_unit_test(test_qmp_events_and_async_calls_on_loop),
                cmocka_unit_test(test_qmp_garbage_on_loop_reports_close),
                cmocka_unit_test(test_child_describe_exit_uses_last_log_lines),
                cmocka_unit_test(test_child_spawn_maps_fds_and_waits),
                cmocka_unit_test(test_child_terminate_escalates_to_sigkill),
                cmocka_unit_test(test_hv_new_rejects_bad_descriptions),
                cmocka_unit_test(test_hv_interface_before_start),
                cmocka_unit_test(test_hv_start_reports_why_the_vmm_exited),
                cmocka_unit_test(test_hv_start_gives_up_on_a_silent_vmm_and_kills_it),
                cmocka_unit_test(test_hv_desc_from_config_uses_qemu_section),
                cmocka_unit_test(test_vsock_cid_reserve_without_device),
        };

        /* Writes to a closed socket must come back as errors in these tests, as in hull. */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
