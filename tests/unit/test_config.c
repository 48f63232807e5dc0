/* Unit tests for src/config: every error path of the loader, warnings, lookup order, the shipped
 * configs, Kata's full configuration files, and the effective-configuration writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "error.h"
#include "hull-build-config.h"

static char tmpdir[] = "/tmp/hull-test-config-XXXXXX";

static int setup(void **state)
{
        if (!mkdtemp(tmpdir))
                return -1;
        unsetenv("HULL_CONF_FILE");
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

static int load(const char *text, struct hull_config **ret, struct hull_error **err)
{
        return hull_config_load_data(text, strlen(text), "test.toml", ret, err);
}

/* Loading text fails with exactly this message and code. */
static void expect_error(const char *text, int code, const char *message)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        int r = load(text, &c, &err);

        if (r >= 0 || !err || !streq(hull_error_message(err), message))
                fail_msg("loading:\n%s\nexpected error \"%s\"\ngot r=%d \"%s\"", text, message, r,
                         err ? hull_error_message(err) : "(none)");
        assert_int_equal(r, code);
        assert_null(c);
}

static const struct hull_config_warning *find_warning(const struct hull_config *c, const char *key)
{
        const struct hull_config_warning *w;
        size_t n = hull_config_get_warnings(c, &w);

        for (size_t i = 0; i < n; i++)
                if (streq(w[i].key, key))
                        return &w[i];
        return NULL;
}

static size_t count_warnings(const struct hull_config *c, enum hull_config_warning_kind kind)
{
        const struct hull_config_warning *w;
        size_t n = hull_config_get_warnings(c, &w), k = 0;

        for (size_t i = 0; i < n; i++)
                if (w[i].kind == kind)
                        k++;
        return k;
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static char *tmp_path(const char *name)
{
        char *p;

        assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
        return p;
}

/* ---- names ---- */

static void test_config_kind_names_round_trip(void **state)
{
        assert_string_equal(hull_config_hypervisor_kind_to_string(HULL_CONFIG_HYPERVISOR_BUILTIN), "builtin");
        assert_string_equal(hull_config_hypervisor_kind_to_section(HULL_CONFIG_HYPERVISOR_BUILTIN), "dragonball");
        assert_string_equal(hull_config_hypervisor_kind_to_string(HULL_CONFIG_HYPERVISOR_FIRECRACKER), "firecracker");
        for (int k = 0; k < _HULL_CONFIG_HYPERVISOR_MAX; k++) {
                assert_int_equal(hull_config_hypervisor_kind_from_string(hull_config_hypervisor_kind_to_string(k)), k);
                assert_int_equal(hull_config_hypervisor_kind_from_string(hull_config_hypervisor_kind_to_section(k)), k);
        }
        assert_int_equal(hull_config_hypervisor_kind_from_string("fc"), HULL_CONFIG_HYPERVISOR_FIRECRACKER);
        assert_int_equal(hull_config_hypervisor_kind_from_string("acrn"), -EINVAL);
        assert_int_equal(hull_config_hypervisor_kind_from_string(NULL), -EINVAL);
        assert_null(hull_config_hypervisor_kind_to_string(_HULL_CONFIG_HYPERVISOR_MAX));
        assert_null(hull_config_hypervisor_kind_to_section((enum hull_config_hypervisor_kind) - 1));
}

/* ---- defaults and values ---- */

static void test_config_empty_file_gives_kata_defaults_for_qemu(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;

        assert_int_equal(load("", &c, NULL), 0);
        assert_int_equal(c->hypervisor_kind, HULL_CONFIG_HYPERVISOR_QEMU);
        assert_false(c->hypervisor_section_present);
        assert_int_equal(c->hypervisor.default_memory, 2048);
        assert_true(c->hypervisor.default_vcpus == 1.0);
        assert_int_equal(c->hypervisor.memory_slots, 10);
        assert_string_equal(c->hypervisor.path, "/usr/bin/qemu-system-x86_64");
        assert_string_equal(c->hypervisor.kernel, HULL_DATA_DIR "/" HULL_GUEST_KERNEL_BZIMAGE);
        assert_string_equal(c->hypervisor.initrd, HULL_DATA_DIR "/" HULL_GUEST_INITRD);
        assert_string_equal(c->hypervisor.image, "");
        assert_string_equal(c->hypervisor.shared_fs, "virtio-fs");
        assert_string_equal(c->hypervisor.block_device_driver, "virtio-scsi");
        assert_string_equal(c->hypervisor.machine_type, "q35");
        assert_non_null(c->hypervisor.virtio_fs_extra_args);
        assert_null(c->hypervisor.virtio_fs_extra_args[0]);
        assert_int_equal(c->agent.dial_timeout, 45);
        assert_int_equal(c->agent.server_port, 1024);
        assert_int_equal(c->agent.mem_agent.compact_order, 9);
        assert_string_equal(c->runtime.internetworking_model, "tcfilter");
        assert_true(c->runtime.disable_guest_seccomp);
        assert_true(c->hypervisor.disable_guest_selinux);
        assert_string_equal(c->factory.template_path, "/run/vc/vm/template");
        assert_int_equal(hull_config_get_warnings(c, NULL), 0);
}

static void test_config_defaults_depend_on_hypervisor(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *fc = NULL, *db = NULL, *sv = NULL;

        assert_int_equal(load("[hypervisor.firecracker]\n", &fc, NULL), 0);
        assert_int_equal(fc->hypervisor_kind, HULL_CONFIG_HYPERVISOR_FIRECRACKER);
        assert_true(fc->hypervisor_section_present);
        assert_string_equal(fc->hypervisor.shared_fs, "none");
        assert_string_equal(fc->hypervisor.block_device_driver, "virtio-mmio");
        assert_string_equal(fc->hypervisor.path, "/usr/bin/firecracker");

        assert_int_equal(load("[hypervisor.dragonball]\n", &db, NULL), 0);
        assert_int_equal(db->hypervisor_kind, HULL_CONFIG_HYPERVISOR_BUILTIN);
        assert_string_equal(db->hypervisor.shared_fs, "inline-virtio-fs");
        assert_string_equal(db->hypervisor.path, "");

        assert_int_equal(load("[hypervisor.stratovirt]\n", &sv, NULL), 0);
        assert_string_equal(sv->hypervisor.machine_type, "microvm");
}

static void test_config_new_default_for_each_kind(void **state)
{
        for (int k = 0; k < _HULL_CONFIG_HYPERVISOR_MAX; k++) {
                _cleanup_(hull_config_freep) struct hull_config *c = NULL;

                assert_int_equal(hull_config_new_default(k, &c, NULL), 0);
                assert_int_equal(c->hypervisor_kind, k);
                assert_int_equal(c->hypervisor.default_memory, 2048);
                assert_null(c->path);
        }
}

static void test_config_new_default_rejects_bad_kind(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_error_ struct hull_error *err = NULL;

        assert_int_equal(hull_config_new_default(_HULL_CONFIG_HYPERVISOR_MAX, &c, &err), -EINVAL);
        assert_null(c);
        assert_non_null(err);
}

static void test_config_values_of_every_kind_are_stored(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        const char *text = "[hypervisor.qemu]\n"
                           "path = \"/usr/local/bin/qemu\"\n"
                           "kernel_params = \"quiet a=b\"\n"
                           "default_vcpus = 1.5\n"
                           "default_maxvcpus = 4\n"
                           "default_memory = 512\n"
                           "enable_debug = true\n"
                           "virtio_fs_extra_args = [\"-o\", \"x=y\"]\n"
                           "disk_rate_limiter_bw_max_rate = -5\n"
                           "rx_rate_limiter_max_rate = 9000000000\n"
                           "hypervisor_timeout = -3\n"
                           "[agent.kata]\n"
                           "kernel_modules = [\"e1000e InterruptThrottleRate=3000\"]\n"
                           "dial_timeout = 10\n"
                           "[agent.kata.mem_agent]\n"
                           "enable = true\n"
                           "compact_threshold = 2048\n"
                           "[runtime]\n"
                           "internetworking_model = \"none\"\n"
                           "disable_new_netns = true\n"
                           "create_container_timeout = 120\n"
                           "[image]\n"
                           "service_offload = false\n";

        assert_int_equal(load(text, &c, &err), 0);
        assert_string_equal(c->hypervisor.path, "/usr/local/bin/qemu");
        assert_string_equal(c->hypervisor.kernel_params, "quiet a=b");
        assert_true(c->hypervisor.default_vcpus == 1.5);
        assert_int_equal(c->hypervisor.default_maxvcpus, 4);
        assert_int_equal(c->hypervisor.default_memory, 512);
        assert_true(c->hypervisor.enable_debug);
        assert_string_equal(c->hypervisor.virtio_fs_extra_args[0], "-o");
        assert_string_equal(c->hypervisor.virtio_fs_extra_args[1], "x=y");
        assert_null(c->hypervisor.virtio_fs_extra_args[2]);
        assert_int_equal(c->hypervisor.disk_rate_limiter_bw_max_rate, -5);
        assert_true(c->hypervisor.rx_rate_limiter_max_rate == UINT64_C(9000000000));
        assert_int_equal(c->hypervisor.hypervisor_timeout, -3);
        assert_string_equal(c->agent.kernel_modules[0], "e1000e InterruptThrottleRate=3000");
        assert_int_equal(c->agent.dial_timeout, 10);
        assert_true(c->agent.mem_agent.mem_agent_enable); /* runtime-rs spelling "enable" */
        assert_int_equal(c->agent.mem_agent.compact_threshold, 2048);
        assert_string_equal(c->runtime.internetworking_model, "none");
        assert_true(c->runtime.disable_new_netns);
        assert_int_equal(c->runtime.create_container_timeout, 120);
        assert_non_null(c->toml);
}

static void test_config_integer_accepted_for_float_key(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;

        assert_int_equal(load("[hypervisor.clh]\ndefault_vcpus = -1\n", &c, NULL), 0);
        assert_true(c->hypervisor.default_vcpus == -1.0);
}

static void test_config_zero_means_kata_default(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;

        assert_int_equal(load("[hypervisor.qemu]\ndefault_vcpus = 0\nmemory_slots = 0\ndefault_bridges = 9\n"
                              "msize_9p = 0\n[agent.kata]\ndial_timeout = 0\n",
                              &c, NULL),
                         0);
        assert_true(c->hypervisor.default_vcpus == 1.0);
        assert_int_equal(c->hypervisor.memory_slots, 10);
        assert_int_equal(c->hypervisor.default_bridges, 5);
        assert_int_equal(c->hypervisor.msize_9p, 8192);
        assert_int_equal(c->agent.dial_timeout, 45);
}

static void test_config_empty_choice_means_default(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;

        assert_int_equal(load("[hypervisor.clh]\nshared_fs = \"\"\nblock_device_driver = \"\"\n"
                              "[runtime]\ninternetworking_model = \"\"\n",
                              &c, NULL),
                         0);
        assert_string_equal(c->hypervisor.shared_fs, "virtio-fs");
        assert_string_equal(c->hypervisor.block_device_driver, "virtio-blk");
        assert_string_equal(c->runtime.internetworking_model, "tcfilter");
        assert_int_equal(hull_config_get_warnings(c, NULL), 0);
}

static void test_config_image_without_initrd_keeps_initrd_empty(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;

        assert_int_equal(load("[hypervisor.qemu]\nimage = \"/img/root.img\"\n", &c, NULL), 0);
        assert_string_equal(c->hypervisor.image, "/img/root.img");
        assert_string_equal(c->hypervisor.initrd, "");
        assert_non_null(find_warning(c, "hypervisor.qemu.image")); /* kept, but hull boots initrds only */
}

/* ---- paths ---- */

static void test_config_relative_paths_follow_the_file(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_free_ char *expect = NULL;

        assert_int_equal(hull_config_load_data("[hypervisor.qemu]\nkernel = \"assets/vmlinuz\"\n"
                                               "initrd = \"/a//b/./initrd.img/\"\npflashes = [\"fw.img\"]\n",
                                               strlen("[hypervisor.qemu]\nkernel = \"assets/vmlinuz\"\n"
                                                      "initrd = \"/a//b/./initrd.img/\"\npflashes = [\"fw.img\"]\n"),
                                               "/etc/hull/c.toml", &c, NULL),
                         0);
        assert_string_equal(c->hypervisor.kernel, "/etc/hull/assets/vmlinuz");
        assert_string_equal(c->hypervisor.initrd, "/a/b/initrd.img");
        assert_string_equal(c->hypervisor.pflashes[0], "/etc/hull/fw.img");
        /* a guest path is taken as written */
        hull_config_free(TAKE_PTR(c));
        assert_int_equal(load("[hypervisor.qemu]\nguest_hook_path = \"hooks\"\n", &c, NULL), 0);
        assert_string_equal(c->hypervisor.guest_hook_path, "hooks");
        /* relative file name: relative to the working directory */
        hull_config_free(TAKE_PTR(c));
        assert_int_equal(load("[hypervisor.qemu]\nkernel = \"k\"\n", &c, NULL), 0);
        {
                _cleanup_free_ char *cwd = getcwd(NULL, 0);
                assert_non_null(cwd);
                assert_true(asprintf(&expect, "%s/k", streq(cwd, "/") ? "" : cwd) > 0);
        }
        assert_string_equal(c->hypervisor.kernel, expect);
}

/* ---- wrong types ---- */

static void test_config_rejects_wrong_type_for_each_value_kind(void **state)
{
        expect_error("[hypervisor.qemu]\nenable_debug = \"yes\"\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.enable_debug: expected boolean, got string");
        expect_error("[hypervisor.qemu]\nkernel_params = 5\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.kernel_params: expected string, got integer");
        expect_error("[hypervisor.qemu]\nkernel = true\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.kernel: expected string, got boolean");
        expect_error("[hypervisor.qemu]\n\ndefault_memory = \"2048\"\n", -EINVAL,
                     "test.toml:3: hypervisor.qemu.default_memory: expected integer, got string");
        expect_error("[hypervisor.qemu]\ndefault_memory = 2048.0\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.default_memory: expected integer, got float");
        expect_error("[hypervisor.qemu]\ndefault_memory = 1979-05-27\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.default_memory: expected integer, got datetime");
        expect_error("[hypervisor.qemu]\ndefault_vcpus = \"1\"\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.default_vcpus: expected number, got string");
        expect_error("[agent.kata]\nkernel_modules = \"e1000e\"\n", -EINVAL,
                     "test.toml:2: agent.kata.kernel_modules: expected array of strings, got string");
        expect_error("[agent.kata]\nkernel_modules = [\"a\",\n 1]\n", -EINVAL,
                     "test.toml:3: agent.kata.kernel_modules[1]: expected string, got integer");
        expect_error("[hypervisor.qemu]\npflashes = [[\"a\"]]\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.pflashes[0]: expected string, got array");
        expect_error("[runtime]\nshared_mounts = \"x\"\n", -EINVAL,
                     "test.toml:2: runtime.shared_mounts: expected array, got string");
        expect_error("[agent.kata]\nmem_agent = 5\n", -EINVAL,
                     "test.toml:2: agent.kata.mem_agent: expected table, got integer");
        expect_error("[agent.kata.mem_agent]\nmemcg_swap = 1\n", -EINVAL,
                     "test.toml:2: agent.kata.mem_agent.memcg_swap: expected boolean, got integer");
}

static void test_config_rejects_sections_that_are_not_tables(void **state)
{
        expect_error("runtime = 5\n", -EINVAL, "test.toml:1: runtime: expected table, got integer");
        expect_error("factory = \"x\"\n", -EINVAL, "test.toml:1: factory: expected table, got string");
        expect_error("hypervisor = 1\n", -EINVAL, "test.toml:1: hypervisor: expected table, got integer");
        expect_error("[hypervisor]\nqemu = 1\n", -EINVAL, "test.toml:2: hypervisor.qemu: expected table, got integer");
        expect_error("agent = [1]\n", -EINVAL, "test.toml:1: agent: expected table, got array");
        expect_error("[agent]\nkata = true\n", -EINVAL, "test.toml:2: agent.kata: expected table, got boolean");
}

/* ---- ranges and values ---- */

static void test_config_rejects_out_of_range_integers(void **state)
{
        expect_error("[hypervisor.qemu]\ndefault_memory = 0\n", -ERANGE,
                     "test.toml:2: hypervisor.qemu.default_memory: 0 is out of range (1..4294967295)");
        expect_error("[hypervisor.qemu]\ndefault_maxvcpus = -1\n", -ERANGE,
                     "test.toml:2: hypervisor.qemu.default_maxvcpus: -1 is out of range (0..4294967295)");
        expect_error("[hypervisor.qemu]\ndefault_maxvcpus = 4294967296\n", -ERANGE,
                     "test.toml:2: hypervisor.qemu.default_maxvcpus: 4294967296 is out of range (0..4294967295)");
        expect_error("[hypervisor.clh]\nhypervisor_loglevel = 4\n", -ERANGE,
                     "test.toml:2: hypervisor.clh.hypervisor_loglevel: 4 is out of range (0..3)");
        expect_error("[hypervisor.qemu]\nhypervisor_timeout = 2147483648\n", -ERANGE,
                     "test.toml:2: hypervisor.qemu.hypervisor_timeout: 2147483648 is out of range "
                     "(-2147483648..2147483647)");
        expect_error("[hypervisor.qemu]\nrx_rate_limiter_max_rate = -1\n", -ERANGE,
                     "test.toml:2: hypervisor.qemu.rx_rate_limiter_max_rate: -1 is out of range "
                     "(0..9223372036854775807)");
        expect_error("[agent.kata]\ndial_timeout_ms = 0\n", -ERANGE,
                     "test.toml:2: agent.kata.dial_timeout_ms: 0 is out of range (1..4294967295)");
        expect_error("[agent.kata.mem_agent]\nmemcg_swappiness_max = 256\n", -ERANGE,
                     "test.toml:2: agent.kata.mem_agent.memcg_swappiness_max: 256 is out of range (0..255)");
        expect_error("[agent.kata.mem_agent]\ncompact_psi_percent_limit = 101\n", -ERANGE,
                     "test.toml:2: agent.kata.mem_agent.compact_psi_percent_limit: 101 is out of range (0..100)");
        expect_error("[hypervisor.qemu]\ndefault_vcpus = inf\n", -ERANGE,
                     "test.toml:2: hypervisor.qemu.default_vcpus: expected a finite number");
        expect_error("[hypervisor.qemu]\ndefault_vcpus = nan\n", -ERANGE,
                     "test.toml:2: hypervisor.qemu.default_vcpus: expected a finite number");
}

static void test_config_rejects_values_outside_kata_choices(void **state)
{
        expect_error("[hypervisor.qemu]\nshared_fs = \"nfs\"\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.shared_fs: invalid value \"nfs\", expected one of: virtio-fs, "
                     "virtio-fs-nydus, virtio-9p, inline-virtio-fs, none");
        expect_error("[hypervisor.qemu]\nblock_device_driver = \"ide\"\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.block_device_driver: invalid value \"ide\", expected one of: "
                     "virtio-scsi, virtio-blk, virtio-mmio, nvdimm, virtio-blk-ccw, virtio-blk-pci, virtio-blk-mmio, "
                     "virtio-pmem");
        expect_error("[hypervisor.qemu]\nvirtio_fs_cache = \"sometimes\"\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.virtio_fs_cache: invalid value \"sometimes\", expected one of: "
                     "never, auto, always, none, metadata");
        expect_error("[runtime]\ninternetworking_model = \"bridged\"\n", -EINVAL,
                     "test.toml:2: runtime.internetworking_model: invalid value \"bridged\", expected one of: "
                     "tcfilter, macvtap, none");
        expect_error("[runtime]\nvfio_mode = \"guest_kernel\"\n", -EINVAL,
                     "test.toml:2: runtime.vfio_mode: invalid value \"guest_kernel\", expected one of: vfio, "
                     "guest-kernel");
        expect_error("[agent.kata]\nlog_level = \"loud\"\n", -EINVAL,
                     "test.toml:2: agent.kata.log_level: invalid value \"loud\", expected one of: trace, debug, info, "
                     "warn, error, critical");
        expect_error("[hypervisor.qemu]\nmachine_type = \"isapc\"\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.machine_type: invalid value \"isapc\", expected one of: q35, pc, "
                     "microvm, virt, pseries, s390-ccw-virtio");
        expect_error("[hypervisor.stratovirt]\nmachine_type = \"q35\"\n", -EINVAL,
                     "test.toml:2: hypervisor.stratovirt.machine_type: invalid value \"q35\", expected one of: "
                     "microvm, virt");
}

static void test_config_rejects_inconsistent_keys(void **state)
{
        expect_error("[hypervisor.qemu]\ninitrd = \"/i\"\nimage = \"/r\"\n", -EINVAL,
                     "test.toml:3: hypervisor.qemu.image: both initrd and image are set; Kata boots from one of them");
        expect_error("[hypervisor.qemu]\ndefault_maxvcpus = 2\ndefault_vcpus = 4\n", -EINVAL,
                     "test.toml:3: hypervisor.qemu.default_vcpus: 4 is more than default_maxvcpus (2)");
        expect_error("[hypervisor.qemu]\nshared_fs = \"inline-virtio-fs\"\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.shared_fs: inline-virtio-fs runs in the VMM's own process and "
                     "needs the built-in VMM ([hypervisor.dragonball])");
        expect_error("[hypervisor.qemu]\n[runtime]\nhypervisor_name = \"dragonball\"\n", -EINVAL,
                     "test.toml:3: runtime.hypervisor_name: \"dragonball\" does not match the [hypervisor.qemu] "
                     "section");
        expect_error("[runtime]\nagent_name = \"other\"\n", -EINVAL,
                     "test.toml:2: runtime.agent_name: \"other\" is not an agent (only \"kata\")");
        expect_error("[runtime]\ndisable_new_netns = true\n", -EINVAL,
                     "test.toml:2: runtime.disable_new_netns: works only with internetworking_model = \"none\"");
}

static void test_config_rejects_unbounded_strings_and_arrays(void **state)
{
        _cleanup_free_ char *big = NULL, *many = NULL;
        size_t off = 0;

        expect_error("[hypervisor.qemu]\nkernel_params = \"a\\u0000b\"\n", -EINVAL,
                     "test.toml:2: hypervisor.qemu.kernel_params: string contains a NUL character");

        big = malloc(6000);
        assert_non_null(big);
        off = (size_t)sprintf(big, "[hypervisor.qemu]\nkernel_params = \"");
        memset(big + off, 'x', 5000);
        strcpy(big + off + 5000, "\"\n");
        expect_error(big, -EINVAL, "test.toml:2: hypervisor.qemu.kernel_params: string longer than 4096 bytes");

        many = malloc(20000);
        assert_non_null(many);
        off = (size_t)sprintf(many, "[agent.kata]\nkernel_modules = [");
        for (int i = 0; i < 1025; i++)
                off += (size_t)sprintf(many + off, "\"m\",");
        strcpy(many + off, "]\n");
        expect_error(many, -EINVAL, "test.toml:2: agent.kata.kernel_modules: more than 1024 items");
}

/* ---- hypervisor sections ---- */

static void test_config_rejects_two_hypervisor_sections(void **state)
{
        expect_error("[hypervisor.qemu]\npath = \"/q\"\n\n[hypervisor.clh]\npath = \"/c\"\n", -EINVAL,
                     "test.toml:4: [hypervisor.clh]: more than one hypervisor section ([hypervisor.qemu] at line 1); "
                     "a configuration file selects exactly one");
}

static void test_config_rejects_hypervisor_hull_does_not_drive(void **state)
{
        expect_error("[hypervisor.acrn]\n", -EINVAL,
                     "test.toml:1: [hypervisor.acrn]: hypervisor not supported by hull (use one of qemu, clh, "
                     "firecracker, dragonball, stratovirt)");
        /* hull's own names are not Kata section names */
        expect_error("[hypervisor.builtin]\n", -EINVAL,
                     "test.toml:1: [hypervisor.builtin]: hypervisor not supported by hull (use one of qemu, clh, "
                     "firecracker, dragonball, stratovirt)");
}

/* ---- warnings ---- */

static void test_config_unknown_key_is_a_warning_with_file_and_line(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        const struct hull_config_warning *w;

        assert_int_equal(load("[hypervisor.qemu]\npath = \"/q\"\nturbo = 1\n", &c, NULL), 0);
        assert_int_equal(hull_config_get_warnings(c, NULL), 1);
        w = find_warning(c, "hypervisor.qemu.turbo");
        assert_non_null(w);
        assert_int_equal(w->kind, HULL_CONFIG_WARNING_UNKNOWN_KEY);
        assert_int_equal(w->line, 3);
        assert_string_equal(w->text, "test.toml:3: hypervisor.qemu.turbo: unknown key, ignored");
}

/* A quoted key may hold U+0000; it never matches a configuration key, even one it starts with. */
static void test_config_key_holding_nul_is_unknown(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        const struct hull_config_warning *w;

        assert_int_equal(load("[hypervisor.qemu]\npath = \"/q\"\n\"path\\u0000x\" = \"/evil\"\n"
                              "[\"runtime\\u0000\"]\nx = 1\n",
                              &c, NULL),
                         0);
        assert_string_equal(c->hypervisor.path, "/q");
        assert_int_equal(hull_config_get_warnings(c, NULL), 2);
        w = find_warning(c, "hypervisor.qemu.path\\u0000x");
        assert_non_null(w);
        assert_int_equal(w->kind, HULL_CONFIG_WARNING_UNKNOWN_KEY);
        assert_string_equal(w->text, "test.toml:3: hypervisor.qemu.path\\u0000x: unknown key, ignored");
        w = find_warning(c, "runtime\\u0000");
        assert_non_null(w);
        assert_int_equal(w->kind, HULL_CONFIG_WARNING_UNKNOWN_SECTION);
        expect_error("[hypervisor.\"qemu\\u0000\"]\n", -EINVAL,
                     "test.toml:1: [hypervisor.qemu\\u0000]: hypervisor not supported by hull (use one of qemu, clh, "
                     "firecracker, dragonball, stratovirt)");
}

static void test_config_unknown_sections_are_warnings(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        const struct hull_config_warning *w;

        assert_int_equal(load("top = 1\n[foo]\nx = 1\n[agent.other]\nx = 1\n[runtime.bar]\ny = 2\n"
                              "[agent.kata.nested]\nz = 3\n",
                              &c, NULL),
                         0);
        assert_int_equal(hull_config_get_warnings(c, NULL), 5);
        w = find_warning(c, "top");
        assert_non_null(w);
        assert_int_equal(w->kind, HULL_CONFIG_WARNING_UNKNOWN_KEY);
        assert_string_equal(w->text, "test.toml:1: top: unknown key, ignored");
        w = find_warning(c, "foo");
        assert_non_null(w);
        assert_int_equal(w->kind, HULL_CONFIG_WARNING_UNKNOWN_SECTION);
        assert_int_equal(w->line, 2);
        w = find_warning(c, "agent.other");
        assert_non_null(w);
        assert_int_equal(w->kind, HULL_CONFIG_WARNING_UNKNOWN_SECTION);
        assert_int_equal(w->line, 4);
        w = find_warning(c, "runtime.bar");
        assert_non_null(w);
        assert_int_equal(w->kind, HULL_CONFIG_WARNING_UNKNOWN_SECTION);
        w = find_warning(c, "agent.kata.nested");
        assert_non_null(w);
        assert_int_equal(w->kind, HULL_CONFIG_WARNING_UNKNOWN_SECTION);
}

static void test_config_unsupported_key_reported_once_when_not_default(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        const struct hull_config_warning *w;

        assert_int_equal(load("[hypervisor.qemu]\nrootless = true\nenable_iommu = false\ndefault_memory = 512\n"
                              "enable_annotations = [\"kernel_params\"]\nvalid_hypervisor_paths = []\n"
                              "[agent.kata.mem_agent]\nmem_agent_enable = true\n"
                              "[runtime]\nshared_mounts = [{ name = \"a\" }]\n[factory]\nenable_template = true\n",
                              &c, NULL),
                         0);
        assert_int_equal(count_warnings(c, HULL_CONFIG_WARNING_UNSUPPORTED), 5);
        assert_int_equal(hull_config_get_warnings(c, NULL), 5);
        w = find_warning(c, "hypervisor.qemu.rootless");
        assert_non_null(w);
        assert_int_equal(w->kind, HULL_CONFIG_WARNING_UNSUPPORTED);
        assert_int_equal(w->line, 2);
        assert_string_equal(w->text, "test.toml:2: hypervisor.qemu.rootless: not supported yet, the value is ignored");
        assert_true(c->hypervisor.rootless); /* kept all the same */
        assert_non_null(find_warning(c, "hypervisor.qemu.enable_annotations"));
        assert_non_null(find_warning(c, "agent.kata.mem_agent.mem_agent_enable"));
        assert_non_null(find_warning(c, "runtime.shared_mounts"));
        assert_non_null(find_warning(c, "factory.enable_template"));
        /* Kata's default value and keys hull acts on say nothing */
        assert_null(find_warning(c, "hypervisor.qemu.enable_iommu"));
        assert_null(find_warning(c, "hypervisor.qemu.default_memory"));
        assert_null(find_warning(c, "hypervisor.qemu.valid_hypervisor_paths"));
}

static void test_config_warnings_of_null_config(void **state)
{
        const struct hull_config_warning *w = (void *)1;

        assert_int_equal(hull_config_get_warnings(NULL, &w), 0);
        assert_null(w);
}

/* ---- files ---- */

static void test_config_missing_file_is_an_error(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *path = tmp_path("absent.toml");
        _cleanup_free_ char *expect = NULL;

        assert_int_equal(hull_config_load_file(path, &c, &err), -ENOENT);
        assert_null(c);
        assert_true(asprintf(&expect, "configuration: open %s: No such file or directory", path) > 0);
        assert_string_equal(hull_error_message(err), expect);
}

static void test_config_unreadable_file_is_an_error(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *path = tmp_path("locked.toml");

        /* a directory can be opened but not read */
        assert_int_equal(hull_config_load_file(tmpdir, &c, &err), -EISDIR);
        assert_null(c);
        assert_non_null(strstr(hull_error_message(err), tmpdir));

        if (geteuid() == 0)
                return; /* root reads a mode 000 file */
        hull_error_free(TAKE_PTR(err));
        write_file(path, "[runtime]\n");
        assert_int_equal(chmod(path, 0), 0);
        assert_int_equal(hull_config_load_file(path, &c, &err), -EACCES);
        assert_null(c);
}

static void test_config_oversized_file_is_an_error(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *path = tmp_path("big.toml");
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        for (int i = 0; i < 70000; i++)
                fputs("# padding padding\n", f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(hull_config_load_file(path, &c, &err), -EFBIG);
        assert_null(c);
        hull_error_free(TAKE_PTR(err));
        assert_int_equal(hull_config_load_data("", (size_t)2 << 20, "x.toml", &c, &err), -EFBIG);
}

static void test_config_toml_syntax_error_keeps_position(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *path = tmp_path("broken.toml");
        _cleanup_free_ char *prefix = NULL;

        write_file(path, "[hypervisor.qemu]\npath = \"/usr/bin/qemu\"\ndefault_memory = = 3\n");
        assert_true(hull_config_load_file(path, &c, &err) < 0);
        assert_null(c);
        assert_true(asprintf(&prefix, "%s:3:", path) > 0);
        if (strncmp(hull_error_message(err), prefix, strlen(prefix)) != 0)
                fail_msg("expected \"%s...\", got \"%s\"", prefix, hull_error_message(err));
}

static void test_config_load_file_records_path(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_free_ char *path = tmp_path("ok.toml");

        write_file(path, "[hypervisor.clh]\nkernel = \"vmlinuz\"\n");
        assert_int_equal(hull_config_load_file(path, &c, NULL), 0);
        assert_string_equal(c->path, path);
        assert_int_equal(c->hypervisor_kind, HULL_CONFIG_HYPERVISOR_CLH);
        assert_int_equal(strncmp(c->hypervisor.kernel, tmpdir, strlen(tmpdir)), 0);
        assert_string_equal(c->hypervisor.kernel + strlen(tmpdir), "/vmlinuz");
}

/* ---- lookup order ---- */

static void test_config_find_prefers_explicit_then_env(void **state)
{
        _cleanup_free_ char *a = tmp_path("a.toml"), *b = tmp_path("b.toml");
        _cleanup_free_ char *found = NULL;

        write_file(a, "[hypervisor.qemu]\n");
        write_file(b, "[hypervisor.clh]\n");
        assert_int_equal(setenv("HULL_CONF_FILE", b, 1), 0);
        assert_int_equal(hull_config_find(a, &found, NULL), 0);
        assert_string_equal(found, a);
        free(TAKE_PTR(found));
        assert_int_equal(hull_config_find(NULL, &found, NULL), 0);
        assert_string_equal(found, b);
        unsetenv("HULL_CONF_FILE");
}

static void test_config_find_missing_explicit_or_env_is_an_error(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *absent = tmp_path("absent.toml"), *found = NULL, *expect = NULL;

        assert_int_equal(hull_config_find(absent, &found, &err), -ENOENT);
        assert_null(found);
        assert_true(asprintf(&expect, "configuration file %s (from --config): No such file or directory", absent) > 0);
        assert_string_equal(hull_error_message(err), expect);

        hull_error_free(TAKE_PTR(err));
        free(TAKE_PTR(expect));
        assert_int_equal(setenv("HULL_CONF_FILE", absent, 1), 0);
        assert_int_equal(hull_config_find(NULL, &found, &err), -ENOENT);
        assert_true(asprintf(&expect, "configuration file %s (from HULL_CONF_FILE): No such file or directory",
                             absent) > 0);
        assert_string_equal(hull_error_message(err), expect);

        hull_error_free(TAKE_PTR(err));
        assert_int_equal(hull_config_find(tmpdir, &found, &err), -EISDIR);
        unsetenv("HULL_CONF_FILE");
}

static void test_config_find_falls_back_to_system_then_shipped(void **state)
{
        _cleanup_free_ char *found = NULL;
        const char *expect;
        struct stat st;

        /* an empty HULL_CONF_FILE counts as unset */
        assert_int_equal(setenv("HULL_CONF_FILE", "", 1), 0);
        if (stat("/etc/hull/configuration.toml", &st) == 0)
                expect = "/etc/hull/configuration.toml";
        else if (stat(HULL_DEFAULTS_DIR "/configuration.toml", &st) == 0)
                expect = HULL_DEFAULTS_DIR "/configuration.toml";
        else
                expect = HULL_BUILD_DIR "/configs/configuration.toml"; /* this test runs from the build tree */
        assert_int_equal(hull_config_find(NULL, &found, NULL), 0);
        assert_string_equal(found, expect);
        unsetenv("HULL_CONF_FILE");
}

static void test_config_load_uses_lookup(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *a = tmp_path("env.toml");

        write_file(a, "[hypervisor.firecracker]\n");
        assert_int_equal(setenv("HULL_CONF_FILE", a, 1), 0);
        assert_int_equal(hull_config_load(NULL, &c, NULL), 0);
        assert_int_equal(c->hypervisor_kind, HULL_CONFIG_HYPERVISOR_FIRECRACKER);
        assert_string_equal(c->path, a);
        hull_config_free(TAKE_PTR(c));
        unsetenv("HULL_CONF_FILE");
        write_file(a, "[hypervisor.firecracker]\ndefault_memory = -1\n");
        assert_int_equal(hull_config_load(a, &c, &err), -ERANGE);
        assert_null(c);
}

/* ---- shipped files ---- */

struct shipped {
        const char *name;
        enum hull_config_hypervisor_kind kind;
};

static const struct shipped shipped[] = {
        { "qemu", HULL_CONFIG_HYPERVISOR_QEMU },
        { "clh", HULL_CONFIG_HYPERVISOR_CLH },
        { "fc", HULL_CONFIG_HYPERVISOR_FIRECRACKER },
        { "builtin", HULL_CONFIG_HYPERVISOR_BUILTIN },
        { "stratovirt", HULL_CONFIG_HYPERVISOR_STRATOVIRT },
};

static void check_shipped(const char *path, enum hull_config_hypervisor_kind kind, const char *data_dir)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *kernel = NULL, *initrd = NULL;
        const struct hull_config_warning *w;
        size_t n;

        if (hull_config_load_file(path, &c, &err) < 0)
                fail_msg("%s: %s", path, hull_error_message(err));
        n = hull_config_get_warnings(c, &w);
        if (n > 0)
                fail_msg("%s: %zu warnings, first: %s", path, n, w[0].text);
        assert_int_equal(c->hypervisor_kind, kind);
        assert_true(c->hypervisor_section_present);
        /* hull's trimmed kernel (bzImage for QEMU, PVH ELF for the rest) with the agent-only initramfs, or
         * Debian's pair: whichever the build made (meson option guest_kernel). */
        assert_true(asprintf(&kernel, "%s/%s", data_dir,
                             kind == HULL_CONFIG_HYPERVISOR_QEMU ? HULL_GUEST_KERNEL_BZIMAGE : HULL_GUEST_KERNEL_ELF) >
                    0);
        assert_true(asprintf(&initrd, "%s/%s", data_dir, HULL_GUEST_INITRD) > 0);
        assert_string_equal(c->hypervisor.kernel, kernel);
        assert_string_equal(c->hypervisor.initrd, initrd);
        assert_string_equal(c->hypervisor.image, "");
        assert_string_equal(c->runtime.internetworking_model, "tcfilter");
        assert_int_equal(c->agent.dial_timeout, 45);
}

static void test_config_shipped_build_tree_files_load_cleanly(void **state)
{
        for (size_t i = 0; i < ARRAY_SIZE(shipped); i++) {
                _cleanup_free_ char *path = NULL;

                assert_true(asprintf(&path, "%s/configs/configuration-%s.toml", HULL_BUILD_DIR, shipped[i].name) > 0);
                check_shipped(path, shipped[i].kind, HULL_BUILD_DIR "/guest");
        }
        check_shipped(HULL_BUILD_DIR "/configs/configuration.toml", HULL_CONFIG_HYPERVISOR_QEMU,
                      HULL_BUILD_DIR "/guest");
}

static void test_config_shipped_install_files_point_at_data_dir(void **state)
{
        for (size_t i = 0; i < ARRAY_SIZE(shipped); i++) {
                _cleanup_free_ char *path = NULL;

                assert_true(asprintf(&path, "%s/configs/configuration-%s.toml.installed", HULL_BUILD_DIR,
                                     shipped[i].name) > 0);
                check_shipped(path, shipped[i].kind, HULL_DATA_DIR);
        }
}

static void test_config_shipped_qemu_uses_debian_paths(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;

        assert_int_equal(hull_config_load_file(HULL_BUILD_DIR "/configs/configuration-qemu.toml", &c, NULL), 0);
        assert_string_equal(c->hypervisor.path, "/usr/bin/qemu-system-x86_64");
        assert_string_equal(c->hypervisor.machine_type, "microvm");
        assert_string_equal(c->hypervisor.virtio_fs_daemon, "/usr/lib/qemu/virtiofsd");
        assert_string_equal(c->hypervisor.shared_fs, "virtio-fs");
}

/* ---- Kata's own files ---- */

static char *fixture(const char *name)
{
        const char *src = getenv("HULL_SOURCE_DIR");
        char *p;

        assert_true(asprintf(&p, "%s/tests/unit/data/%s", src && src[0] ? src : HULL_SOURCE_DIR, name) > 0);
        return p;
}

static struct hull_config *load_kata(const char *name, enum hull_config_hypervisor_kind kind)
{
        _cleanup_free_ char *path = fixture(name);
        _cleanup_error_ struct hull_error *err = NULL;
        struct hull_config *c = NULL;
        const struct hull_config_warning *w;
        size_t n;

        if (hull_config_load_file(path, &c, &err) < 0)
                fail_msg("%s: %s", path, hull_error_message(err));
        n = hull_config_get_warnings(c, &w);
        for (size_t i = 0; i < n; i++)
                if (w[i].kind != HULL_CONFIG_WARNING_UNSUPPORTED)
                        fail_msg("%s: %s", path, w[i].text);
        assert_int_equal(c->hypervisor_kind, kind);
        return c;
}

static void test_config_kata_full_qemu_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata-full-qemu.toml",
                                                                       HULL_CONFIG_HYPERVISOR_QEMU);

        assert_string_equal(c->hypervisor.image, "/opt/kata/share/kata-containers/kata-containers.img");
        assert_string_equal(c->hypervisor.initrd, "");
        assert_string_equal(c->hypervisor.block_device_driver, "virtio-scsi");
        assert_string_equal(c->hypervisor.valid_entropy_sources[2], "");
        assert_string_equal(c->hypervisor.seccompsandbox, "on,obsolete=deny,spawn=deny,resourcecontrol=deny");
        assert_int_equal(c->agent.cdh_api_timeout, 50);
        assert_string_equal(c->runtime.dan_conf, "/run/kata-containers/dans");
        assert_string_equal(c->hypervisor.kernel_verity_params,
                            "root_hash=ab12,salt=cd34,data_blocks=2,data_block_size=4096,hash_block_size=4096");
        assert_string_equal(c->hypervisor.virtio_fs_inode_file_handles, "never");
        assert_int_equal(c->agent.create_container_timeout, 120);
        assert_true(c->runtime.experimental_force_guest_pull);
        assert_string_equal(c->runtime.pod_resource_api_sock, "/var/lib/kubelet/pod-resources/kubelet.sock");
        /* Kata's non-default values for keys hull does not act on are reported */
        assert_non_null(find_warning(c, "hypervisor.qemu.guest_hook_path"));
        assert_non_null(find_warning(c, "hypervisor.qemu.enable_annotations"));
}

static void test_config_kata_full_clh_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata-full-clh.toml",
                                                                       HULL_CONFIG_HYPERVISOR_CLH);

        assert_string_equal(c->hypervisor.hot_plug_vfio, "root-port");
        assert_int_equal(c->hypervisor.hypervisor_loglevel, 1);
        assert_string_equal(c->hypervisor.virtio_fs_extra_args[1], "--announce-submounts");
}

static void test_config_kata_full_fc_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata-full-fc.toml",
                                                                       HULL_CONFIG_HYPERVISOR_FIRECRACKER);

        assert_string_equal(c->hypervisor.jailer_path, "/opt/kata/bin/jailer");
        assert_string_equal(c->hypervisor.block_device_driver, "virtio-mmio");
        assert_true(c->runtime.static_sandbox_resource_mgmt);
}

static void test_config_kata_full_dragonball_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata-full-dragonball.toml",
                                                                       HULL_CONFIG_HYPERVISOR_BUILTIN);

        assert_string_equal(c->hypervisor.shared_fs, "inline-virtio-fs");
        assert_string_equal(c->hypervisor.vm_rootfs_driver, "virtio-blk-pci");
        assert_int_equal(c->hypervisor.default_maxvcpus, 1);
        assert_int_equal(c->agent.container_pipe_size, 1);
        assert_int_equal(c->agent.dial_timeout_ms, 10);
        assert_int_equal(c->agent.mem_agent.compact_order, 9);
        assert_true(c->agent.mem_agent.compact_force_times == (uint64_t)INT64_MAX);
        assert_string_equal(c->runtime.hypervisor_name, "dragonball");
        assert_true(c->runtime.use_passfd_io);
        assert_int_equal(c->runtime.passfd_listener_port, 1027);
}

static void test_config_kata_full_stratovirt_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata-full-stratovirt.toml",
                                                                       HULL_CONFIG_HYPERVISOR_STRATOVIRT);

        assert_string_equal(c->hypervisor.initrd, "/opt/kata/share/kata-containers/kata-containers-initrd.img");
        assert_string_equal(c->hypervisor.machine_type, "microvm");
}

/* ---- Kata's own files: tests/unit/data/kata/configuration-*.toml, filled from Kata's templates by fill.py ---- */

static void test_config_kata_filled_qemu_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata/configuration-qemu.toml",
                                                                       HULL_CONFIG_HYPERVISOR_QEMU);

        assert_string_equal(c->hypervisor.path, "/usr/bin/qemu-system-x86_64");
        assert_string_equal(c->hypervisor.kernel, "/usr/share/kata-containers/vmlinux.container");
        assert_string_equal(c->hypervisor.image, "/usr/share/kata-containers/kata-containers.img");
        assert_string_equal(c->hypervisor.initrd, "");
        assert_string_equal(c->hypervisor.machine_type, "pc");
        assert_string_equal(c->hypervisor.cpu_features, "pmu=off");
        assert_string_equal(c->hypervisor.virtio_fs_daemon, "/usr/libexec/virtiofsd");
        assert_string_equal(c->hypervisor.virtio_fs_cache, "auto");
        assert_string_equal(c->hypervisor.virtio_fs_extra_args[0], "--thread-pool-size=1");
        assert_string_equal(c->hypervisor.virtio_fs_extra_args[1], "--announce-submounts");
        assert_null(c->hypervisor.virtio_fs_extra_args[2]);
        assert_string_equal(c->hypervisor.valid_file_mem_backends[0], "");
        assert_null(c->hypervisor.valid_file_mem_backends[1]);
        assert_string_equal(c->hypervisor.valid_entropy_sources[1], "/dev/random");
        assert_null(c->hypervisor.pflashes[0]);
        assert_string_equal(c->hypervisor.block_device_aio, "io_uring");
        assert_true(c->hypervisor.disable_guest_selinux);
        assert_int_equal(c->agent.dial_timeout, 45);
        assert_null(c->agent.kernel_modules[0]);
        assert_string_equal(c->runtime.internetworking_model, "tcfilter");
        assert_int_equal(c->runtime.create_container_timeout, 60);
        assert_string_equal(c->runtime.vfio_mode, "guest-kernel");
        /* what hull keeps without acting on it yet is reported */
        assert_non_null(find_warning(c, "hypervisor.qemu.image"));
        assert_non_null(find_warning(c, "hypervisor.qemu.valid_hypervisor_paths"));
}

static void test_config_kata_filled_qemu_runtime_rs_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata/configuration-qemu-runtime-rs.toml",
                                                                       HULL_CONFIG_HYPERVISOR_QEMU);

        assert_string_equal(c->hypervisor.machine_type, "q35");
        assert_string_equal(c->hypervisor.vm_rootfs_driver, "virtio-pmem");
        assert_string_equal(c->hypervisor.virtio_fs_extra_args[1], "-o");
        assert_string_equal(c->hypervisor.virtio_fs_extra_args[2], "announce_submounts");
        assert_string_equal(c->hypervisor.enable_annotations[3], "kernel_verity_params");
        assert_string_equal(c->hypervisor.virtio_fs_inode_file_handles, "prefer"); /* commented out: the default */
        assert_int_equal(c->agent.create_container_timeout, 30);
        assert_string_equal(c->runtime.name, "virt_container");
        assert_string_equal(c->runtime.hypervisor_name, "qemu");
        assert_false(c->runtime.sandbox_cgroup_only);
        assert_false(c->agent.mem_agent.mem_agent_enable);
}

static void test_config_kata_filled_clh_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata/configuration-clh.toml",
                                                                       HULL_CONFIG_HYPERVISOR_CLH);

        assert_string_equal(c->hypervisor.path, "/usr/bin/cloud-hypervisor");
        assert_string_equal(c->hypervisor.block_device_driver, "virtio-blk");
        assert_string_equal(c->hypervisor.shared_fs, "virtio-fs");
        assert_int_equal(c->hypervisor.virtio_fs_queue_size, 1024);
        assert_false(c->hypervisor.disable_image_nvdimm);
        assert_string_equal(c->hypervisor.rootfs_type, "ext4");
        assert_false(c->runtime.static_sandbox_resource_mgmt);
        assert_string_equal(c->runtime.dan_conf, "/run/kata-containers/dans");
}

static void test_config_kata_filled_fc_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata/configuration-fc.toml",
                                                                       HULL_CONFIG_HYPERVISOR_FIRECRACKER);

        assert_string_equal(c->hypervisor.path, "/usr/bin/firecracker");
        assert_string_equal(c->hypervisor.jailer_path, "/usr/bin/jailer");
        assert_string_equal(c->hypervisor.valid_jailer_paths[0], "/usr/bin/jailer");
        assert_string_equal(c->hypervisor.block_device_driver, "virtio-mmio");
        assert_string_equal(c->hypervisor.shared_fs, "none"); /* Firecracker has none; Kata's file says nothing */
        assert_int_equal(c->agent.dial_timeout, 60);
        assert_true(c->runtime.static_sandbox_resource_mgmt);
        assert_non_null(find_warning(c, "runtime.static_sandbox_resource_mgmt"));
}

static void test_config_kata_filled_dragonball_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata/configuration-dragonball.toml",
                                                                       HULL_CONFIG_HYPERVISOR_BUILTIN);

        assert_string_equal(c->hypervisor.path, "");
        assert_string_equal(c->hypervisor.kernel,
                            "/usr/share/kata-containers/vmlinux-dragonball-experimental.container");
        assert_string_equal(c->hypervisor.kernel_params, "console=ttyS1 agent.log_vport=1025");
        assert_string_equal(c->hypervisor.shared_fs, "inline-virtio-fs");
        assert_string_equal(c->hypervisor.block_device_driver, "virtio-blk-pci");
        assert_string_equal(c->hypervisor.enable_annotations[5], "default_memory");
        assert_null(c->hypervisor.valid_hypervisor_paths[0]);
        assert_int_equal(c->agent.container_pipe_size, 1);
        assert_false(c->agent.mem_agent.mem_agent_enable);
        assert_string_equal(c->runtime.name, "virt_container");
        assert_string_equal(c->runtime.hypervisor_name, "dragonball");
        assert_string_equal(c->runtime.agent_name, "kata");
        assert_true(c->runtime.sandbox_cgroup_only);
        assert_true(c->runtime.use_passfd_io);
}

static void test_config_kata_filled_stratovirt_loads(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = load_kata("kata/configuration-stratovirt.toml",
                                                                       HULL_CONFIG_HYPERVISOR_STRATOVIRT);

        assert_string_equal(c->hypervisor.path, "/usr/bin/stratovirt");
        assert_string_equal(c->hypervisor.kernel, "/usr/share/kata-containers/vmlinuz.container");
        assert_string_equal(c->hypervisor.initrd, "/usr/share/kata-containers/kata-containers-initrd.img");
        assert_string_equal(c->hypervisor.image, "");
        assert_string_equal(c->hypervisor.machine_type, "microvm");
        assert_string_equal(c->hypervisor.entropy_source, "/dev/urandom");
        assert_true(c->runtime.static_sandbox_resource_mgmt);
}

/* ---- the effective configuration ---- */

static char *write_to_string(const struct hull_config *c)
{
        _cleanup_error_ struct hull_error *err = NULL;
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);

        assert_non_null(f);
        if (hull_config_write_toml(c, f, &err) < 0)
                fail_msg("write: %s", hull_error_message(err));
        assert_int_equal(fclose(f), 0);
        return out;
}

/* Written, read back, written again: the same text, no unknown key, no error. */
static void check_round_trip(struct hull_config *c)
{
        _cleanup_(hull_config_freep) struct hull_config *again = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *first = write_to_string(c), *second = NULL;
        const char *body1 = strchr(first, '\n'), *body2;

        if (hull_config_load_data(first, strlen(first), "effective.toml", &again, &err) < 0)
                fail_msg("%s\n---\n%s", hull_error_message(err), first);
        assert_int_equal(count_warnings(again, HULL_CONFIG_WARNING_UNKNOWN_KEY), 0);
        assert_int_equal(count_warnings(again, HULL_CONFIG_WARNING_UNKNOWN_SECTION), 0);
        assert_int_equal(again->hypervisor_kind, c->hypervisor_kind);
        second = write_to_string(again);
        body2 = strchr(second, '\n'); /* the first line names the source file */
        assert_non_null(body1);
        assert_non_null(body2);
        assert_string_equal(body1, body2);
}

static void test_config_write_toml_round_trips(void **state)
{
        static const char *const names[] = { "kata-full-qemu.toml",
                                             "kata-full-clh.toml",
                                             "kata-full-fc.toml",
                                             "kata-full-dragonball.toml",
                                             "kata-full-stratovirt.toml",
                                             "kata/configuration-qemu.toml",
                                             "kata/configuration-clh.toml",
                                             "kata/configuration-fc.toml",
                                             "kata/configuration-dragonball.toml",
                                             "kata/configuration-stratovirt.toml",
                                             "kata/configuration-qemu-runtime-rs.toml" };

        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                _cleanup_(hull_config_freep) struct hull_config *c = NULL;
                _cleanup_free_ char *path = fixture(names[i]);

                assert_int_equal(hull_config_load_file(path, &c, NULL), 0);
                check_round_trip(c);
        }
}

static void test_config_write_toml_prints_every_key_and_escapes(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_free_ char *out = NULL;

        assert_int_equal(load("[hypervisor.qemu]\nkernel_params = \"a=\\\"b\\\" c\\\\d\\te\\u0001\"\n"
                              "default_vcpus = 1.25\n[runtime]\nshared_mounts = [{ name = \"m\", n = 1.5 }]\n",
                              &c, NULL),
                         0);
        out = write_to_string(c);
        assert_non_null(strstr(out, "\n[hypervisor.qemu]\n"));
        assert_non_null(strstr(out, "\nkernel_params = \"a=\\\"b\\\" c\\\\d\\te\\u0001\"\n"));
        assert_non_null(strstr(out, "\ndefault_vcpus = 1.25\n"));
        assert_non_null(strstr(out, "\ndefault_memory = 2048\n"));
        assert_non_null(strstr(out, "\n[agent.kata]\n"));
        assert_non_null(strstr(out, "\n[agent.kata.mem_agent]\n"));
        assert_non_null(strstr(out, "\ncompact_force_times = 9223372036854775807\n"));
        assert_non_null(strstr(out, "\n[runtime]\n"));
        assert_non_null(strstr(out, "\nshared_mounts = [{ \"name\" = \"m\", \"n\" = 1.5 }]\n"));
        assert_non_null(strstr(out, "\n[factory]\n"));
        assert_non_null(strstr(out, "\n[image]\n"));
        assert_null(strstr(out, "\nenable = ")); /* the runtime-rs alias is read, not printed */
        check_round_trip(c);
}

static void test_config_write_toml_reports_write_errors(void **state)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        FILE *f;

        assert_int_equal(load("", &c, NULL), 0);
        f = fopen("/dev/null", "r");
        assert_non_null(f);
        assert_true(hull_config_write_toml(c, f, &err) < 0);
        assert_non_null(err);
        fclose(f);

        hull_error_free(TAKE_PTR(err));
        c->hypervisor_kind = _HULL_CONFIG_HYPERVISOR_MAX;
        assert_int_equal(hull_config_write_toml(c, stdout, &err), -EINVAL);
        c->hypervisor_kind = HULL_CONFIG_HYPERVISOR_QEMU;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_kind_names_round_trip),
                cmocka_unit_test(test_config_empty_file_gives_kata_defaults_for_qemu),
                cmocka_unit_test(test_config_defaults_depend_on_hypervisor),
                cmocka_unit_test(test_config_new_default_for_each_kind),
                cmocka_unit_test(test_config_new_default_rejects_bad_kind),
                cmocka_unit_test(test_config_values_of_every_kind_are_stored),
                cmocka_unit_test(test_config_integer_accepted_for_float_key),
                cmocka_unit_test(test_config_zero_means_kata_default),
                cmocka_unit_test(test_config_empty_choice_means_default),
                cmocka_unit_test(test_config_image_without_initrd_keeps_initrd_empty),
                cmocka_unit_test(test_config_relative_paths_follow_the_file),
                cmocka_unit_test(test_config_rejects_wrong_type_for_each_value_kind),
                cmocka_unit_test(test_config_rejects_sections_that_are_not_tables),
                cmocka_unit_test(test_config_rejects_out_of_range_integers),
                cmocka_unit_test(test_config_rejects_values_outside_kata_choices),
                cmocka_unit_test(test_config_rejects_inconsistent_keys),
                cmocka_unit_test(test_config_rejects_unbounded_strings_and_arrays),
                cmocka_unit_test(test_config_rejects_two_hypervisor_sections),
                cmocka_unit_test(test_config_rejects_hypervisor_hull_does_not_drive),
                cmocka_unit_test(test_config_unknown_key_is_a_warning_with_file_and_line),
                cmocka_unit_test(test_config_key_holding_nul_is_unknown),
                cmocka_unit_test(test_config_unknown_sections_are_warnings),
                cmocka_unit_test(test_config_unsupported_key_reported_once_when_not_default),
                cmocka_unit_test(test_config_warnings_of_null_config),
                cmocka_unit_test(test_config_missing_file_is_an_error),
                cmocka_unit_test(test_config_unreadable_file_is_an_error),
                cmocka_unit_test(test_config_oversized_file_is_an_error),
                cmocka_unit_test(test_config_toml_syntax_error_keeps_position),
                cmocka_unit_test(test_config_load_file_records_path),
                cmocka_unit_test(test_config_find_prefers_explicit_then_env),
                cmocka_unit_test(test_config_find_missing_explicit_or_env_is_an_error),
                cmocka_unit_test(test_config_find_falls_back_to_system_then_shipped),
                cmocka_unit_test(test_config_load_uses_lookup),
                cmocka_unit_test(test_config_shipped_build_tree_files_load_cleanly),
                cmocka_unit_test(test_config_shipped_install_files_point_at_data_dir),
                cmocka_unit_test(test_config_shipped_qemu_uses_debian_paths),
                cmocka_unit_test(test_config_kata_full_qemu_loads),
                cmocka_unit_test(test_config_kata_full_clh_loads),
                cmocka_unit_test(test_config_kata_full_fc_loads),
                cmocka_unit_test(test_config_kata_full_dragonball_loads),
                cmocka_unit_test(test_config_kata_full_stratovirt_loads),
                cmocka_unit_test(test_config_kata_filled_qemu_loads),
                cmocka_unit_test(test_config_kata_filled_qemu_runtime_rs_loads),
                cmocka_unit_test(test_config_kata_filled_clh_loads),
                cmocka_unit_test(test_config_kata_filled_fc_loads),
                cmocka_unit_test(test_config_kata_filled_dragonball_loads),
                cmocka_unit_test(test_config_kata_filled_stratovirt_loads),
                cmocka_unit_test(test_config_write_toml_round_trips),
                cmocka_unit_test(test_config_write_toml_prints_every_key_and_escapes),
                cmocka_unit_test(test_config_write_toml_reports_write_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
