/* `hull check`: one line per host requirement with a verdict and a reason, then which hypervisors
 * can run and the one to use; `--json` gives the same for scripts. Exit 1 when none can run. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "facts.h"
#include "hull-build-config.h"

enum severity {
        SEV_REQUIRED, /* missing: FAIL */
        SEV_OPTIONAL, /* missing: warn */
};

/* One printed requirement. */
struct requirement {
        const char *name; /* stable id for --json */
        const char *title; /* what a person reads */
        bool ok;
        enum severity severity;
        const char *detail;
};

#define MAX_REQUIREMENTS 24

static size_t collect(const struct hull_cli_facts *f, struct requirement *req)
{
        const struct hull_host_facts *h = &f->host;
        static const char *const binary_titles[HULL_HOST_BIN_COUNT] = {
                [HULL_HOST_BIN_QEMU] = "QEMU binary",
                [HULL_HOST_BIN_CLH] = "Cloud Hypervisor binary",
                [HULL_HOST_BIN_FIRECRACKER] = "Firecracker binary",
                [HULL_HOST_BIN_STRATOVIRT] = "StratoVirt binary",
                [HULL_HOST_BIN_VIRTIOFSD] = "virtiofsd",
        };
        static const char *const binary_ids[HULL_HOST_BIN_COUNT] = {
                [HULL_HOST_BIN_QEMU] = "qemu",
                [HULL_HOST_BIN_CLH] = "cloud-hypervisor",
                [HULL_HOST_BIN_FIRECRACKER] = "firecracker",
                [HULL_HOST_BIN_STRATOVIRT] = "stratovirt",
                [HULL_HOST_BIN_VIRTIOFSD] = "virtiofsd",
        };
        size_t n = 0;

#define ADD(id, t, is_ok, sev, d) \
        req[n++] = (struct requirement){ .name = id, .title = t, .ok = is_ok, .severity = sev, .detail = d }
        ADD("configuration", "configuration", f->config != NULL, SEV_OPTIONAL,
            f->config ? f->config_path : f->config_error);
        ADD("cpu-virtualisation", "CPU virtualisation flags", h->cpu_virt.ok, SEV_OPTIONAL, h->cpu_virt.detail);
        ADD("kvm-present", "KVM present", h->kvm.present, SEV_REQUIRED,
            h->kvm.present ? HULL_KVM_DEVICE : h->kvm.reason);
        ADD("kvm-usable", "KVM usable for a standard guest", h->kvm.usable, SEV_REQUIRED, h->kvm.reason);
        ADD("kvm-module", "kvm module", h->kvm_module.ok, SEV_OPTIONAL, h->kvm_module.detail);
        ADD("vhost-vsock-module", "vhost_vsock module", h->vhost_vsock_module.ok, SEV_OPTIONAL,
            h->vhost_vsock_module.detail);
        ADD("vhost-vsock", "vhost-vsock device", h->vhost_vsock.ok, SEV_REQUIRED, h->vhost_vsock.detail);
        ADD("vhost-net", "vhost-net device", h->vhost_net.ok, SEV_OPTIONAL, h->vhost_net.detail);
        ADD("tun", "tun device", h->tun.ok, SEV_REQUIRED, h->tun.detail);
        ADD("vsock", "vsock sockets", h->vsock.ok, SEV_OPTIONAL, h->vsock.detail);
        ADD("cgroup2", "cgroup v2", h->cgroup2.ok, SEV_OPTIONAL, h->cgroup2.detail);
        ADD("user-namespaces", "user namespaces", h->userns.ok, SEV_OPTIONAL, h->userns.detail);
        for (int b = 0; b < HULL_HOST_BIN_COUNT; b++)
                ADD(binary_ids[b], binary_titles[b], h->binaries[b].ok,
                    b == HULL_HOST_BIN_VIRTIOFSD ? SEV_REQUIRED : SEV_OPTIONAL, h->binaries[b].detail);
#undef ADD
        return n;
}

static const char *status_word(const struct requirement *r)
{
        if (r->ok)
                return "ok";
        return r->severity == SEV_REQUIRED ? "FAIL" : "warn";
}

static void hv_label(const struct hull_host_hv_info *info, char *buf, size_t len)
{
        snprintf(buf, len, "%s (%s)", info->hypervisor, info->accel);
}

static int print_text(const struct hull_cli_facts *f)
{
        struct requirement req[MAX_REQUIREMENTS];
        size_t n = collect(f, req);
        char label[64];

        printf("host requirements:\n");
        for (size_t i = 0; i < n; i++)
                printf("  %-4s  %-32s %s\n", status_word(&req[i]), req[i].title, req[i].detail);
        printf("\nhypervisors:\n");
        for (int hv = 0; hv < HULL_HOST_HV_COUNT; hv++) {
                hv_label(hull_host_hv_info((enum hull_host_hv)hv), label, sizeof(label));
                printf("  %-4s  %-32s %s\n", f->hv[hv].ok ? "ok" : "no", label, f->hv[hv].detail);
        }
        printf("\n");
        if (f->recommended < 0) {
                printf("recommended hypervisor: none: this host can run no hypervisor hull drives\n");
                return 1;
        }
        hv_label(hull_host_hv_info((enum hull_host_hv)f->recommended), label, sizeof(label));
        printf("recommended hypervisor: %s\n", label);
        return 0;
}

/* json-c objects: a failed allocation leaves NULL, which json_object_object_add() would store as
 * null; count those as out of memory rather than print a wrong answer. */
static int add(struct json_object *obj, const char *key, struct json_object *val, bool *oom)
{
        if (!val) {
                *oom = true;
                return -ENOMEM;
        }
        if (json_object_object_add(obj, key, val) < 0) {
                json_object_put(val);
                *oom = true;
                return -ENOMEM;
        }
        return 0;
}

static struct json_object *build_json(const struct hull_cli_facts *f, bool *oom)
{
        const struct hull_host_facts *h = &f->host;
        struct requirement req[MAX_REQUIREMENTS];
        struct json_object *root = json_object_new_object(), *o, *arr;
        size_t n = collect(f, req);

        if (!root) {
                *oom = true;
                return NULL;
        }
        add(root, "version", json_object_new_string(HULL_VERSION), oom);
        add(root, "ok", json_object_new_boolean(f->recommended >= 0), oom);

        o = json_object_new_object();
        if (o) {
                add(o, "path", json_object_new_string(f->config_path ? f->config_path : ""), oom);
                add(o, "loaded", json_object_new_boolean(f->config != NULL), oom);
                if (f->config_error)
                        add(o, "error", json_object_new_string(f->config_error), oom);
        }
        add(root, "config", o, oom);

        o = json_object_new_object();
        if (o) {
                struct json_object *cpu = json_object_new_object();

                add(o, "kernel", json_object_new_string(h->kernel_release), oom);
                add(o, "arch", json_object_new_string(h->arch), oom);
                if (cpu) {
                        add(cpu, "vendor", json_object_new_string(h->cpu.vendor), oom);
                        add(cpu, "model", json_object_new_string(h->cpu.model), oom);
                        add(cpu, "count", json_object_new_int((int)h->cpu.count), oom);
                        add(cpu, "vmx", json_object_new_boolean(h->cpu.vmx), oom);
                        add(cpu, "svm", json_object_new_boolean(h->cpu.svm), oom);
                        add(cpu, "hypervisor", json_object_new_boolean(h->cpu.hypervisor), oom);
                }
                add(o, "cpu", cpu, oom);
        }
        add(root, "host", o, oom);

        o = json_object_new_object();
        if (o) {
                add(o, "device", json_object_new_string(HULL_KVM_DEVICE), oom);
                add(o, "present", json_object_new_boolean(h->kvm.present), oom);
                add(o, "usable", json_object_new_boolean(h->kvm.usable), oom);
                add(o, "api_version", json_object_new_int(h->kvm.api_version), oom);
                add(o, "last_step", json_object_new_string(hull_kvm_probe_step_name(h->kvm.last_step)), oom);
                add(o, "reason", json_object_new_string(h->kvm.reason), oom);
        }
        add(root, "kvm", o, oom);

        arr = json_object_new_array();
        for (size_t i = 0; arr && i < n; i++) {
                o = json_object_new_object();
                if (!o || json_object_array_add(arr, o) < 0) {
                        json_object_put(o);
                        *oom = true;
                        break;
                }
                add(o, "name", json_object_new_string(req[i].name), oom);
                add(o, "title", json_object_new_string(req[i].title), oom);
                add(o, "status",
                    json_object_new_string(req[i].ok                                 ? "ok"
                                                   : req[i].severity == SEV_REQUIRED ? "fail"
                                                                                     : "warn"),
                    oom);
                add(o, "detail", json_object_new_string(req[i].detail ? req[i].detail : ""), oom);
        }
        add(root, "checks", arr, oom);

        o = json_object_new_object();
        for (int b = 0; o && b < HULL_HOST_BIN_COUNT; b++) {
                struct json_object *bin = json_object_new_object();

                if (bin) {
                        add(bin, "found", json_object_new_boolean(h->binaries[b].ok), oom);
                        add(bin, h->binaries[b].ok ? "path" : "reason", json_object_new_string(h->binaries[b].detail),
                            oom);
                }
                add(o, hull_host_binary_name((enum hull_host_binary)b), bin, oom);
        }
        add(root, "binaries", o, oom);

        arr = json_object_new_array();
        for (int hv = 0; arr && hv < HULL_HOST_HV_COUNT; hv++) {
                const struct hull_host_hv_info *info = hull_host_hv_info((enum hull_host_hv)hv);

                o = json_object_new_object();
                if (!o || json_object_array_add(arr, o) < 0) {
                        json_object_put(o);
                        *oom = true;
                        break;
                }
                add(o, "id", json_object_new_string(info->id), oom);
                add(o, "hypervisor", json_object_new_string(info->hypervisor), oom);
                add(o, "accel", json_object_new_string(info->accel), oom);
                add(o, "available", json_object_new_boolean(f->hv[hv].ok), oom);
                add(o, "reason", json_object_new_string(f->hv[hv].detail), oom);
        }
        add(root, "hypervisors", arr, oom);

        if (f->recommended >= 0) {
                const struct hull_host_hv_info *info = hull_host_hv_info((enum hull_host_hv)f->recommended);

                o = json_object_new_object();
                if (o) {
                        add(o, "id", json_object_new_string(info->id), oom);
                        add(o, "hypervisor", json_object_new_string(info->hypervisor), oom);
                        add(o, "accel", json_object_new_string(info->accel), oom);
                }
                add(root, "recommended", o, oom);
        } else if (json_object_object_add(root, "recommended", NULL) < 0) {
                *oom = true;
        }
        return root;
}

static int print_json(const struct hull_cli_facts *f, struct hull_error **err)
{
        struct json_object *root;
        const char *text;
        bool oom = false;

        root = build_json(f, &oom);
        if (oom || !root) {
                json_object_put(root);
                return hull_error_oom(err);
        }
        text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text) {
                json_object_put(root);
                return hull_error_oom(err);
        }
        printf("%s\n", text);
        json_object_put(root);
        return f->recommended >= 0 ? 0 : 1;
}

static void check_usage(FILE *out)
{
        fprintf(out,
                "usage: hull check [--json]\n"
                "\n"
                "Check whether this host can run hull's VMs: KVM (probed by running a tiny guest), vhost\n"
                "devices, virtiofsd, the hypervisor binaries, cgroup v2 and tun. Exit status 0 when at least\n"
                "one hypervisor can run, 1 when none can.\n"
                "\n"
                "  --json     machine-readable output\n");
}

int hull_cli_check(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(hull_cli_facts_freep) struct hull_cli_facts *facts = NULL;
        bool json = false;
        int c, r;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'h':
                        check_usage(stdout);
                        return 0;
                default:
                        return hull_error_set(err, EINVAL, "check: unknown option %s", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return hull_error_set(err, EINVAL, "check: unexpected argument \"%s\"", argv[optind]);

        r = hull_cli_facts_gather(ctx, &facts, err);
        if (r < 0)
                return r;
        if (json)
                return print_json(facts, err);
        return print_text(facts);
}
