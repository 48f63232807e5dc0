/* Unit tests for host detection: the KVM probe's payload and reasons, cpuinfo/modules/mountinfo
 * parsing, binary lookup and the hypervisor verdicts. Nothing here depends on this host's KVM. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cpuid.h>

#include <cmocka.h>

#include "error.h"
#include "host/host.h"
#include "host/kvm-probe.h"

/* ---- the payload ---- */

static void test_probe_payload_assembles_to_table_length(void **state)
{
        const struct hull_kvm_probe_insn *insns;
        uint8_t buf[4096];
        size_t n, total = 0, len;

        insns = hull_kvm_probe_insns(&n);
        assert_true(n > 10);
        for (size_t i = 0; i < n; i++) {
                assert_true(insns[i].len >= 1 && insns[i].len <= 15);
                assert_non_null(insns[i].text);
                total += insns[i].len;
        }
        len = hull_kvm_probe_assemble(buf, sizeof(buf), true);
        assert_int_equal(len, total);
        assert_true(len < HULL_KVM_PROBE_STACK - HULL_KVM_PROBE_CODE);
        /* The first instruction is the first row's bytes; the payload ends in `jmp $`. */
        assert_memory_equal(buf, insns[0].bytes, insns[0].len);
        assert_int_equal(buf[len - 2], 0xEB);
        assert_int_equal(buf[len - 1], 0xFE);
}

static void test_probe_payload_refuses_small_buffer(void **state)
{
        uint8_t buf[16];

        assert_int_equal(hull_kvm_probe_assemble(buf, sizeof(buf), true), 0);
}

/* Without XSAVE the payload leaves out exactly the rows marked xsave (xsetbv, xsave, xrstor among them) and
 * still announces every step. */
static void test_probe_payload_without_xsave_drops_xsave_rows(void **state)
{
        const struct hull_kvm_probe_insn *insns;
        uint8_t buf[4096];
        size_t n, total = 0, dropped = 0, len;

        insns = hull_kvm_probe_insns(&n);
        for (size_t i = 0; i < n; i++) {
                if (insns[i].xsave) {
                        dropped++;
                        assert_null(strstr(insns[i].text, "out dx"));
                        continue;
                }
                assert_int_not_equal(strcmp(insns[i].text, "xsetbv"), 0);
                assert_null(strstr(insns[i].text, "xsave ["));
                assert_null(strstr(insns[i].text, "xrstor ["));
                total += insns[i].len;
        }
        assert_true(dropped >= 3);
        len = hull_kvm_probe_assemble(buf, sizeof(buf), false);
        assert_int_equal(len, total);
}

/* Every step is announced once, in order, as mov al, n / mov dx, step port / out dx, al. */
static void test_probe_payload_announces_steps_in_order(void **state)
{
        const struct hull_kvm_probe_insn *insns;
        const uint8_t expected[] = { HULL_KVM_STEP_CPUID,      HULL_KVM_STEP_XSETBV, HULL_KVM_STEP_RDTSC,
                                     HULL_KVM_STEP_CMPXCHG16B, HULL_KVM_STEP_SSE,    HULL_KVM_STEP_XSAVE,
                                     HULL_KVM_STEP_DONE };
        size_t n, seen = 0, outs = 0;

        insns = hull_kvm_probe_insns(&n);
        for (size_t i = 0; i + 2 < n; i++) {
                if (insns[i].len == 2 && insns[i].bytes[0] == 0xB0 && insns[i + 1].len == 4 &&
                    insns[i + 1].bytes[0] == 0x66 && insns[i + 1].bytes[1] == 0xBA &&
                    insns[i + 1].bytes[2] == (HULL_KVM_PROBE_PORT_STEP & 0xFF) &&
                    insns[i + 1].bytes[3] == (HULL_KVM_PROBE_PORT_STEP >> 8) && insns[i + 2].len == 1 &&
                    insns[i + 2].bytes[0] == 0xEE) {
                        assert_true(seen < sizeof(expected));
                        assert_int_equal(insns[i].bytes[1], expected[seen]);
                        seen++;
                }
        }
        assert_int_equal(seen, sizeof(expected));
        /* Port I/O and control-register moves are the ring-0 rows. */
        for (size_t i = 0; i < n; i++)
                if (insns[i].len == 1 && (insns[i].bytes[0] == 0xEE || insns[i].bytes[0] == 0xEF)) {
                        assert_true(insns[i].ring0);
                        outs++;
                }
        assert_true(outs > seen);
}

static void run_user_payload(void *code)
{
        /* Step over the red zone; the payload clobbers these registers and xmm0. */
        __asm__ volatile("sub $128, %%rsp\n\t"
                         "call *%0\n\t"
                         "add $128, %%rsp\n\t"
                         :
                         : "r"(code)
                         : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "xmm0", "memory", "cc");
}

/* Run the payload natively with its ring-0 rows turned into NOPs and `jmp $` into `ret`: the
 * cmpxchg16b, SSE2 and xsave/xrstor encodings must then leave exactly what the probe checks. */
static void test_probe_payload_runs_in_user_mode(void **state)
{
        const struct hull_kvm_probe_insn *insns;
        unsigned eax, ebx, ecx, edx;
        uint8_t *low, *code;
        char why[160];
        size_t n, pos = 0;

        if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 13)) || !(ecx & (1u << 27)))
                skip(); /* no cmpxchg16b or no OS-enabled XSAVE on this CPU */
        low = mmap((void *)HULL_KVM_PROBE_XSAVE, 0x2000, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (low == MAP_FAILED || low != (uint8_t *)HULL_KVM_PROBE_XSAVE) {
                if (low != MAP_FAILED)
                        munmap(low, 0x2000);
                skip(); /* vm.mmap_min_addr keeps us from the payload's fixed addresses */
        }
        code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(code != MAP_FAILED);
        insns = hull_kvm_probe_insns(&n);
        for (size_t i = 0; i < n; i++) {
                if (i == n - 1) {
                        assert_string_equal(insns[i].text, "jmp $");
                        code[pos++] = 0xC3; /* ret */
                        break;
                }
                if (insns[i].ring0)
                        memset(code + pos, 0x90, insns[i].len); /* nop */
                else
                        memcpy(code + pos, insns[i].bytes, insns[i].len);
                pos += insns[i].len;
        }
        assert_int_equal(mprotect(code, 4096, PROT_READ | PROT_EXEC), 0);

        run_user_payload(code);

        assert_true(hull_kvm_probe_check_memory((const uint8_t *)(uintptr_t)HULL_KVM_PROBE_XSAVE,
                                                (const uint8_t *)(uintptr_t)HULL_KVM_PROBE_DATA, why, sizeof(why)));
        munmap(code, 4096);
        munmap(low, 0x2000);
}

static void test_probe_check_memory_rejects_untouched_memory(void **state)
{
        static uint8_t xsave[4096] __attribute__((aligned(64)));
        static uint8_t data[64];
        uint64_t d[6] = { HULL_KVM_PROBE_CX16_LO,
                          HULL_KVM_PROBE_CX16_HI,
                          HULL_KVM_PROBE_CX16_LO * 2,
                          HULL_KVM_PROBE_CX16_HI * 2,
                          0,
                          0 };
        char why[160];

        assert_false(hull_kvm_probe_check_memory(xsave, data, why, sizeof(why)));
        assert_non_null(strstr(why, "cmpxchg16b"));
        /* cmpxchg16b and SSE right, but xsave never ran. */
        memcpy(data, d, sizeof(d));
        assert_false(hull_kvm_probe_check_memory(xsave, data, why, sizeof(why)));
        assert_non_null(strstr(why, "xsave"));
}

/* ---- reasons ---- */

static void test_probe_describes_emulation_failure(void **state)
{
        static const uint8_t insn[] = { 0xF0, 0x48, 0x0F, 0xC7, 0x0F };
        struct kvm_run run;
        char buf[256];

        memset(&run, 0, sizeof(run));
        run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
        run.emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
        run.emulation_failure.ndata = 3;
        run.emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
        run.emulation_failure.insn_size = sizeof(insn);
        memcpy(run.emulation_failure.insn_bytes, insn, sizeof(insn));
        hull_kvm_probe_describe_exit(&run, 0x807d, HULL_KVM_STEP_CMPXCHG16B, buf, sizeof(buf));
        assert_string_equal(buf,
                            "KVM_EXIT_INTERNAL_ERROR suberror 1 (emulation failure) insn f0 48 0f c7 0f "
                            "at rip=0x807d during step cmpxchg16b");
}

static void test_probe_describes_internal_error_without_bytes(void **state)
{
        struct kvm_run run;
        char buf[256];

        memset(&run, 0, sizeof(run));
        run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
        run.internal.suberror = KVM_INTERNAL_ERROR_DELIVERY_EV;
        hull_kvm_probe_describe_exit(&run, 0x8000, HULL_KVM_STEP_NONE, buf, sizeof(buf));
        assert_string_equal(buf,
                            "KVM_EXIT_INTERNAL_ERROR suberror 3 (exit during event delivery) at rip=0x8000 "
                            "during step start-up");
}

static void test_probe_describes_shutdown_and_fail_entry(void **state)
{
        struct kvm_run run;
        char buf[256];

        memset(&run, 0, sizeof(run));
        run.exit_reason = KVM_EXIT_SHUTDOWN;
        hull_kvm_probe_describe_exit(&run, 0x8034, HULL_KVM_STEP_XSETBV, buf, sizeof(buf));
        assert_string_equal(buf, "KVM_EXIT_SHUTDOWN (triple fault) at rip=0x8034 during step cr4.osxsave/xsetbv");

        run.exit_reason = KVM_EXIT_FAIL_ENTRY;
        run.fail_entry.hardware_entry_failure_reason = 0x21;
        run.fail_entry.cpu = 1;
        hull_kvm_probe_describe_exit(&run, 0, HULL_KVM_STEP_NONE, buf, sizeof(buf));
        assert_string_equal(buf, "KVM_EXIT_FAIL_ENTRY hardware reason 0x21 on cpu 1 at rip=0x0 during step start-up");
}

static void test_probe_describe_truncates_safely(void **state)
{
        struct kvm_run run;
        char buf[12];

        memset(&run, 0, sizeof(run));
        run.exit_reason = KVM_EXIT_SHUTDOWN;
        memset(buf, 'x', sizeof(buf));
        hull_kvm_probe_describe_exit(&run, 0x8000, HULL_KVM_STEP_SSE, buf, sizeof(buf));
        assert_int_equal(strlen(buf), sizeof(buf) - 1);
        assert_memory_equal(buf, "KVM_EXIT_SH", 11);
}

static void test_probe_names_unknown_exit_reasons(void **state)
{
        assert_string_equal(hull_kvm_exit_reason_name(KVM_EXIT_IO), "KVM_EXIT_IO");
        assert_string_equal(hull_kvm_exit_reason_name(KVM_EXIT_INTERNAL_ERROR), "KVM_EXIT_INTERNAL_ERROR");
        assert_string_equal(hull_kvm_exit_reason_name(9999), "KVM_EXIT_(unknown)");
        assert_string_equal(hull_kvm_probe_step_name(HULL_KVM_STEP_XSAVE), "xsave/xrstor");
        assert_string_equal(hull_kvm_probe_step_name((enum hull_kvm_probe_step)42), "unknown");
}

/* ---- the probe on devices that are not KVM ---- */

static void test_probe_reports_missing_device(void **state)
{
        struct hull_kvm_probe_result r;

        hull_kvm_probe("/nonexistent/kvm", 100, &r);
        assert_false(r.present);
        assert_false(r.usable);
        assert_int_equal(r.stage, HULL_KVM_STAGE_OPEN);
        assert_string_equal(r.reason, "/nonexistent/kvm: No such file or directory");
}

static void test_probe_rejects_regular_file(void **state)
{
        char path[] = "/tmp/hull-probe-XXXXXX";
        struct hull_kvm_probe_result r;
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        close(fd);
        hull_kvm_probe(path, 100, &r);
        unlink(path);
        assert_false(r.present);
        assert_false(r.usable);
        assert_non_null(strstr(r.reason, "not a character device"));
}

static void test_probe_rejects_device_that_is_not_kvm(void **state)
{
        struct hull_kvm_probe_result r;

        hull_kvm_probe("/dev/null", 100, &r);
        assert_true(r.present);
        assert_false(r.usable);
        assert_int_equal(r.stage, HULL_KVM_STAGE_API);
        assert_int_equal(r.api_version, -1);
        assert_non_null(strstr(r.reason, "KVM_GET_API_VERSION"));
}

/* ---- host facts ---- */

static const char intel_cpuinfo[] = "processor\t: 0\n"
                                    "vendor_id\t: GenuineIntel\n"
                                    "cpu family\t: 6\n"
                                    "model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz  \n"
                                    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 vmx est tm2 ssse3\n"
                                    "\n"
                                    "processor\t: 1\n"
                                    "vendor_id\t: GenuineIntel\n"
                                    "model name\t: something else\n"
                                    "flags\t\t: fpu\n"
                                    "\n";

static void test_host_parses_intel_cpuinfo(void **state)
{
        struct hull_host_cpu cpu;

        assert_int_equal(hull_host_parse_cpuinfo(intel_cpuinfo, &cpu), 0);
        assert_string_equal(cpu.vendor, "GenuineIntel");
        assert_string_equal(cpu.model, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz");
        assert_int_equal(cpu.count, 2);
        assert_true(cpu.vmx);
        assert_false(cpu.svm);
        assert_false(cpu.hypervisor);
}

static void test_host_parses_amd_guest_cpuinfo(void **state)
{
        const char text[] = "processor : 0\nvendor_id : AuthenticAMD\nmodel name : AMD EPYC\n"
                            "flags : fpu sse2 svm_lock hypervisor lahf_lm svm\n";
        struct hull_host_cpu cpu;

        assert_int_equal(hull_host_parse_cpuinfo(text, &cpu), 0);
        assert_string_equal(cpu.vendor, "AuthenticAMD");
        assert_string_equal(cpu.model, "AMD EPYC");
        assert_int_equal(cpu.count, 1);
        assert_true(cpu.svm);
        assert_false(cpu.vmx);
        assert_true(cpu.hypervisor);
}

static void test_host_cpuinfo_matches_whole_flags_only(void **state)
{
        const char text[] = "processor: 0\nflags: vmxx svm_lock avmx\n";
        struct hull_host_cpu cpu;

        assert_int_equal(hull_host_parse_cpuinfo(text, &cpu), 0);
        assert_false(cpu.vmx);
        assert_false(cpu.svm);
}

static void test_host_cpuinfo_without_processor_is_invalid(void **state)
{
        struct hull_host_cpu cpu;

        assert_int_equal(hull_host_parse_cpuinfo("", &cpu), -EINVAL);
        assert_int_equal(hull_host_parse_cpuinfo("vendor_id: GenuineIntel\n", &cpu), -EINVAL);
}

static void test_host_finds_loaded_modules(void **state)
{
        const char modules[] = "vhost_vsock 24576 0 - Live 0x0000000000000000\n"
                               "kvm_intel 372736 0 - Live 0x0000000000000000\n"
                               "kvm 1142784 1 kvm_intel, Live 0x0000000000000000";

        assert_true(hull_host_modules_has(modules, "kvm"));
        assert_true(hull_host_modules_has(modules, "kvm_intel"));
        assert_true(hull_host_modules_has(modules, "vhost-vsock"));
        assert_false(hull_host_modules_has(modules, "kv"));
        assert_false(hull_host_modules_has(modules, "kvm_amd"));
        assert_false(hull_host_modules_has("", "kvm"));
}

static void test_host_finds_cgroup2_mount(void **state)
{
        const char unified[] = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
                               "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
        const char hybrid[] = "30 24 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755\n"
                              "31 30 0:27 / /sys/fs/cgroup/unified rw shared:5 - cgroup2 cgroup2 rw\n"
                              "32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        const char legacy[] = "32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        char path[64];

        assert_int_equal(hull_host_find_cgroup2(unified, path, sizeof(path)), 0);
        assert_string_equal(path, "/sys/fs/cgroup");
        assert_int_equal(hull_host_find_cgroup2(hybrid, path, sizeof(path)), 0);
        assert_string_equal(path, "/sys/fs/cgroup/unified");
        assert_int_equal(hull_host_find_cgroup2(legacy, path, sizeof(path)), -ENOENT);
        assert_int_equal(hull_host_find_cgroup2(hybrid, path, 4), -ENAMETOOLONG);
}

static int make_file(const char *dir, const char *name, mode_t mode)
{
        char path[512];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
        if (fd < 0)
                return -1;
        close(fd);
        return chmod(path, mode);
}

static void test_host_finds_binary_in_path(void **state)
{
        _cleanup_error_ struct hull_error *err = NULL;
        char dir[] = "/tmp/hull-bin-XXXXXX", path_env[256], expected[512], sub[512];
        char *found = NULL;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(make_file(dir, "fake-qemu", 0755), 0);
        assert_int_equal(make_file(dir, "not-exec", 0644), 0);
        snprintf(sub, sizeof(sub), "%s/a-dir", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        snprintf(path_env, sizeof(path_env), "/nonexistent:relative/dir::%s", dir);

        assert_int_equal(hull_host_find_binary("fake-qemu", path_env, &found, &err), 0);
        snprintf(expected, sizeof(expected), "%s/fake-qemu", dir);
        assert_string_equal(found, expected);
        free(found);
        found = NULL;

        assert_int_equal(hull_host_find_binary("not-exec", path_env, &found, &err), -ENOENT);
        assert_null(found);
        assert_non_null(strstr(hull_error_message(err), "not-exec not found in PATH"));

        assert_int_equal(hull_host_find_binary("a-dir", path_env, &found, &err), -ENOENT);

        /* A path is taken as it is, without a PATH search. */
        assert_int_equal(hull_host_find_binary(expected, "/nonexistent", &found, &err), 0);
        assert_string_equal(found, expected);
        free(found);
        found = NULL;
        snprintf(expected, sizeof(expected), "%s/not-exec", dir);
        assert_int_equal(hull_host_find_binary(expected, path_env, &found, &err), -EACCES);

        snprintf(expected, sizeof(expected), "%s/fake-qemu", dir);
        unlink(expected);
        snprintf(expected, sizeof(expected), "%s/not-exec", dir);
        unlink(expected);
        rmdir(sub);
        rmdir(dir);
}

static void facts_with(struct hull_host_facts *f, bool kvm_usable, bool qemu, bool clh)
{
        memset(f, 0, sizeof(*f));
        f->kvm.present = true;
        f->kvm.usable = kvm_usable;
        snprintf(f->kvm.reason, sizeof(f->kvm.reason), "%s", kvm_usable ? "fine" : "emulation failure");
        f->binaries[HULL_HOST_BIN_QEMU].ok = qemu;
        snprintf(f->binaries[HULL_HOST_BIN_QEMU].detail, sizeof(f->binaries[0].detail), "%s",
                 qemu ? "/usr/bin/qemu-system-x86_64" : "not found");
        f->binaries[HULL_HOST_BIN_CLH].ok = clh;
        snprintf(f->binaries[HULL_HOST_BIN_CLH].detail, sizeof(f->binaries[0].detail), "%s",
                 clh ? "/usr/bin/cloud-hypervisor" : "not found");
}

static void test_host_recommends_tcg_without_usable_kvm(void **state)
{
        struct hull_host_facts f;
        struct hull_host_fact v;

        facts_with(&f, false, true, true);
        assert_int_equal(hull_host_recommend(&f), HULL_HOST_HV_QEMU_TCG);
        hull_host_hv_check(&f, HULL_HOST_HV_QEMU_KVM, &v);
        assert_false(v.ok);
        assert_string_equal(v.detail, "needs usable KVM: /dev/kvm cannot run a standard guest");
        hull_host_hv_check(&f, HULL_HOST_HV_BUILTIN, &v);
        assert_false(v.ok);
        hull_host_hv_check(&f, HULL_HOST_HV_CLH, &v);
        assert_false(v.ok);
}

static void test_host_recommends_by_preference(void **state)
{
        struct hull_host_facts f;
        struct hull_host_fact v;

        facts_with(&f, true, true, true);
        assert_int_equal(hull_host_recommend(&f), HULL_HOST_HV_QEMU_KVM);
        facts_with(&f, true, false, true);
        assert_int_equal(hull_host_recommend(&f), HULL_HOST_HV_CLH);
        facts_with(&f, true, false, false);
        assert_int_equal(hull_host_recommend(&f), HULL_HOST_HV_BUILTIN);
        hull_host_hv_check(&f, HULL_HOST_HV_FIRECRACKER, &v);
        assert_false(v.ok);
        assert_non_null(strstr(v.detail, "firecracker"));
        facts_with(&f, false, false, false);
        assert_int_equal(hull_host_recommend(&f), -ENOENT);
        f.kvm.present = false;
        hull_host_hv_check(&f, HULL_HOST_HV_BUILTIN, &v);
        assert_string_equal(v.detail, "needs usable KVM: /dev/kvm is missing");
}

static void test_host_hv_table_is_consistent(void **state)
{
        for (int hv = 0; hv < HULL_HOST_HV_COUNT; hv++) {
                const struct hull_host_hv_info *info = hull_host_hv_info((enum hull_host_hv)hv);

                assert_non_null(info);
                assert_non_null(info->id);
                assert_true(streq(info->accel, "kvm") == info->needs_kvm);
                for (int other = 0; other < hv; other++)
                        assert_string_not_equal(info->id, hull_host_hv_info((enum hull_host_hv)other)->id);
        }
        assert_null(hull_host_hv_info(HULL_HOST_HV_COUNT));
        assert_string_equal(hull_host_binary_name(HULL_HOST_BIN_QEMU), "qemu-system-x86_64");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_probe_payload_assembles_to_table_length),
                cmocka_unit_test(test_probe_payload_refuses_small_buffer),
                cmocka_unit_test(test_probe_payload_announces_steps_in_order),
                cmocka_unit_test(test_probe_payload_runs_in_user_mode),
                cmocka_unit_test(test_probe_check_memory_rejects_untouched_memory),
                cmocka_unit_test(test_probe_payload_without_xsave_drops_xsave_rows),
                cmocka_unit_test(test_probe_describes_emulation_failure),
                cmocka_unit_test(test_probe_describes_internal_error_without_bytes),
                cmocka_unit_test(test_probe_describes_shutdown_and_fail_entry),
                cmocka_unit_test(test_probe_describe_truncates_safely),
                cmocka_unit_test(test_probe_names_unknown_exit_reasons),
                cmocka_unit_test(test_probe_reports_missing_device),
                cmocka_unit_test(test_probe_rejects_regular_file),
                cmocka_unit_test(test_probe_rejects_device_that_is_not_kvm),
                cmocka_unit_test(test_host_parses_intel_cpuinfo),
                cmocka_unit_test(test_host_parses_amd_guest_cpuinfo),
                cmocka_unit_test(test_host_cpuinfo_matches_whole_flags_only),
                cmocka_unit_test(test_host_cpuinfo_without_processor_is_invalid),
                cmocka_unit_test(test_host_finds_loaded_modules),
                cmocka_unit_test(test_host_finds_cgroup2_mount),
                cmocka_unit_test(test_host_finds_binary_in_path),
                cmocka_unit_test(test_host_recommends_tcg_without_usable_kvm),
                cmocka_unit_test(test_host_recommends_by_preference),
                cmocka_unit_test(test_host_hv_table_is_consistent),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
