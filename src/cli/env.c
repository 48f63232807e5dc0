/* `hull env`: the runtime's settings, the host facts and the effective configuration as one TOML
 * document (Kata's `kata-runtime env` shape), for bug reports and scripts. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config/config.h"
#include "error.h"
#include "facts.h"
#include "hull-build-config.h"

/* Version of this output's layout, bumped when sections or keys change meaning. */
#define ENV_FORMAT_VERSION "1.0.0"

/* Length of the UTF-8 sequence starting at s (at most n bytes), 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
        size_t len;
        uint32_t cp;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xE0) == 0xC0) {
                len = 2;
                cp = s[0] & 0x1F;
        } else if ((s[0] & 0xF0) == 0xE0) {
                len = 3;
                cp = s[0] & 0x0F;
        } else if ((s[0] & 0xF8) == 0xF0) {
                len = 4;
                cp = s[0] & 0x07;
        } else {
                return 0;
        }
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return len;
}

/* A TOML basic string. Control characters are escaped; bytes that are not UTF-8 (a path can hold
 * any) become U+FFFD, since a TOML document must be valid UTF-8. */
static void put_string(FILE *out, const char *s)
{
        const unsigned char *p = (const unsigned char *)(s ? s : "");
        size_t n = strlen((const char *)p);

        fputc('"', out);
        while (n > 0) {
                size_t len = utf8_len(p, n);

                if (len == 0) {
                        fputs("\\uFFFD", out);
                        len = 1;
                } else if (*p == '"' || *p == '\\') {
                        fprintf(out, "\\%c", *p);
                } else if (*p == '\n') {
                        fputs("\\n", out);
                } else if (*p == '\t') {
                        fputs("\\t", out);
                } else if (*p < 0x20 || *p == 0x7F) {
                        fprintf(out, "\\u%04X", *p);
                } else {
                        fwrite(p, 1, len, out);
                }
                p += len;
                n -= len;
        }
        fputc('"', out);
}

static void kv_string(FILE *out, const char *key, const char *value)
{
        fprintf(out, "%s = ", key);
        put_string(out, value);
        fputc('\n', out);
}

static void kv_bool(FILE *out, const char *key, bool value)
{
        fprintf(out, "%s = %s\n", key, value ? "true" : "false");
}

static void kv_int(FILE *out, const char *key, long long value)
{
        fprintf(out, "%s = %lld\n", key, value);
}

/* key = { Ok = true, Detail = "..." } */
static void kv_fact(FILE *out, const char *key, const char *ok_name, const char *detail_name,
                    const struct hull_host_fact *f)
{
        fprintf(out, "%s = { %s = %s, %s = ", key, ok_name, f->ok ? "true" : "false", detail_name);
        put_string(out, f->detail);
        fputs(" }\n", out);
}

static void write_runtime(FILE *out, const struct hull_cli_ctx *ctx, const struct hull_cli_facts *f)
{
        char exe[4096];
        ssize_t n;

        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        exe[n > 0 ? n : 0] = '\0';

        fputs("[Meta]\n", out);
        kv_string(out, "Version", ENV_FORMAT_VERSION);

        fputs("\n[Runtime]\n", out);
        kv_string(out, "Version", HULL_VERSION);
        kv_string(out, "OCISpecVersion", HULL_CLI_OCI_SPEC_VERSION);
        kv_string(out, "Path", exe);
        kv_string(out, "Root", ctx->root);
        kv_bool(out, "Debug", ctx->debug);
        kv_bool(out, "SystemdCgroup", ctx->systemd_cgroup);
        kv_string(out, "LogPath", ctx->log_path ? ctx->log_path : "");
        kv_string(out, "LogFormat", ctx->log_format == HULL_LOG_JSON ? "json" : "text");

        fputs("\n[Runtime.Config]\n", out);
        kv_string(out, "Path", f->config_path ? f->config_path : "");
        kv_bool(out, "Loaded", f->config != NULL);
        if (f->config) {
                const char *hv = hull_config_hypervisor_kind_to_string(f->config->hypervisor_kind);

                kv_string(out, "Hypervisor", hv ? hv : "");
                kv_int(out, "Warnings", (long long)f->config->n_warnings);
        } else {
                kv_string(out, "Error", f->config_error ? f->config_error : "");
        }
}

static void write_host(FILE *out, const struct hull_cli_facts *f)
{
        const struct hull_host_facts *h = &f->host;
        const struct hull_host_hv_info *best = f->recommended >= 0 ? hull_host_hv_info(f->recommended) : NULL;

        fputs("\n[Host]\n", out);
        kv_string(out, "Kernel", h->kernel_release);
        kv_string(out, "Architecture", h->arch);
        kv_bool(out, "VMContainerCapable", best != NULL);
        kv_string(out, "RecommendedHypervisor", best ? best->id : "");

        fputs("\n[Host.CPU]\n", out);
        kv_string(out, "Vendor", h->cpu.vendor);
        kv_string(out, "Model", h->cpu.model);
        kv_int(out, "CPUs", h->cpu.count);
        kv_bool(out, "VMX", h->cpu.vmx);
        kv_bool(out, "SVM", h->cpu.svm);
        kv_bool(out, "UnderHypervisor", h->cpu.hypervisor);

        fputs("\n[Host.KVM]\n", out);
        kv_string(out, "Device", HULL_KVM_DEVICE);
        kv_bool(out, "Present", h->kvm.present);
        kv_bool(out, "Usable", h->kvm.usable);
        kv_int(out, "APIVersion", h->kvm.api_version);
        kv_string(out, "LastStep", hull_kvm_probe_step_name(h->kvm.last_step));
        kv_string(out, "Reason", h->kvm.reason);

        fputs("\n[Host.Features]\n", out);
        kv_fact(out, "CPUVirtualisation", "Ok", "Detail", &h->cpu_virt);
        kv_fact(out, "KVMModule", "Ok", "Detail", &h->kvm_module);
        kv_fact(out, "VhostVsockModule", "Ok", "Detail", &h->vhost_vsock_module);
        kv_fact(out, "VhostVsock", "Ok", "Detail", &h->vhost_vsock);
        kv_fact(out, "VhostNet", "Ok", "Detail", &h->vhost_net);
        kv_fact(out, "Tun", "Ok", "Detail", &h->tun);
        kv_fact(out, "Vsock", "Ok", "Detail", &h->vsock);
        kv_fact(out, "CgroupV2", "Ok", "Detail", &h->cgroup2);
        kv_fact(out, "UserNamespaces", "Ok", "Detail", &h->userns);

        fputs("\n[Host.Binaries]\n", out);
        for (int b = 0; b < HULL_HOST_BIN_COUNT; b++)
                kv_fact(out, hull_host_binary_name((enum hull_host_binary)b), "Found",
                        h->binaries[b].ok ? "Path" : "Reason", &h->binaries[b]);

        fputs("\n[Host.Hypervisors]\n", out);
        for (int hv = 0; hv < HULL_HOST_HV_COUNT; hv++)
                kv_fact(out, hull_host_hv_info((enum hull_host_hv)hv)->id, "Available", "Reason", &f->hv[hv]);
}

static void env_usage(FILE *out)
{
        fprintf(out,
                "usage: hull env\n"
                "\n"
                "Print the runtime's settings, the host facts and the effective configuration as TOML.\n");
}

int hull_cli_env(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(hull_cli_facts_freep) struct hull_cli_facts *facts = NULL;
        int c, r;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                if (c == 'h') {
                        env_usage(stdout);
                        return 0;
                }
                return hull_error_set(err, EINVAL, "env: unknown option %s", argv[optind - 1]);
        }
        if (optind < argc)
                return hull_error_set(err, EINVAL, "env: unexpected argument \"%s\"", argv[optind]);

        r = hull_cli_facts_gather(ctx, &facts, err);
        if (r < 0)
                return r;

        fputs("# hull env: runtime settings, host facts and the effective configuration.\n\n", stdout);
        write_runtime(stdout, ctx, facts);
        write_host(stdout, facts);
        if (facts->config) {
                fputs("\n# The effective configuration: every key of the loaded file's sections, defaults included.\n",
                      stdout);
                r = hull_config_write_toml(facts->config, stdout, err);
                if (r < 0)
                        return hull_error_prefix(err, "env: write configuration");
        }
        if (fflush(stdout) != 0 || ferror(stdout))
                return hull_error_errno(err, errno, "env: write output");
        return 0;
}
