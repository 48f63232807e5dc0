/* Gather what `hull check` and `hull env` report: the configuration, and the host facts with the
 * binary paths the configuration names. */
#include "facts.h"

#include <string.h>

#include "config/config.h"
#include "error.h"
#include "log.h"

/* The binary a configuration's `path` names, by its hypervisor section. */
static int binary_for_kind(enum hull_config_hypervisor_kind kind)
{
        switch (kind) {
        case HULL_CONFIG_HYPERVISOR_QEMU:
                return HULL_HOST_BIN_QEMU;
        case HULL_CONFIG_HYPERVISOR_CLH:
                return HULL_HOST_BIN_CLH;
        case HULL_CONFIG_HYPERVISOR_FIRECRACKER:
                return HULL_HOST_BIN_FIRECRACKER;
        case HULL_CONFIG_HYPERVISOR_STRATOVIRT:
                return HULL_HOST_BIN_STRATOVIRT;
        default:
                return -1; /* the built-in VMM runs in-process */
        }
}

/* Load the configuration; a missing or broken file is recorded in f, not returned. */
static int load_config(const struct hull_cli_ctx *ctx, struct hull_cli_facts *f, struct hull_error **err)
{
        _cleanup_error_ struct hull_error *cerr = NULL;
        const struct hull_config_warning *warnings;
        size_t n;
        int r;

        r = hull_config_find(ctx->config_path, &f->config_path, &cerr);
        if (r >= 0)
                r = hull_config_load_file(f->config_path, &f->config, &cerr);
        if (r == -ENOMEM)
                return hull_error_oom(err);
        if (r < 0) {
                f->config = NULL;
                f->config_error = strdup(hull_error_message(cerr));
                if (!f->config_error)
                        return hull_error_oom(err);
                return 0;
        }
        n = hull_config_get_warnings(f->config, &warnings);
        for (size_t i = 0; i < n; i++)
                log_warn("%s", warnings[i].text);
        return 0;
}

int hull_cli_facts_gather(const struct hull_cli_ctx *ctx, struct hull_cli_facts **ret, struct hull_error **err)
{
        _cleanup_(hull_cli_facts_freep) struct hull_cli_facts *f = NULL;
        struct hull_host_options opts;
        int r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return hull_error_oom(err);
        r = load_config(ctx, f, err);
        if (r < 0)
                return r;

        memset(&opts, 0, sizeof(opts));
        if (f->config) {
                const struct hull_config_hypervisor *hv = &f->config->hypervisor;
                int bin = binary_for_kind(f->config->hypervisor_kind);

                if (bin >= 0 && hv->path && *hv->path)
                        opts.binary_paths[bin] = hv->path;
                if (hv->virtio_fs_daemon && *hv->virtio_fs_daemon)
                        opts.binary_paths[HULL_HOST_BIN_VIRTIOFSD] = hv->virtio_fs_daemon;
        }
        hull_host_gather(&opts, &f->host);
        for (int hv = 0; hv < HULL_HOST_HV_COUNT; hv++)
                hull_host_hv_check(&f->host, (enum hull_host_hv)hv, &f->hv[hv]);
        f->recommended = hull_host_recommend(&f->host);
        log_debug("kvm probe: present=%d usable=%d: %s", f->host.kvm.present, f->host.kvm.usable, f->host.kvm.reason);

        *ret = TAKE_PTR(f);
        return 0;
}

struct hull_cli_facts *hull_cli_facts_free(struct hull_cli_facts *f)
{
        if (!f)
                return NULL;
        hull_config_free(f->config);
        free(f->config_path);
        free(f->config_error);
        free(f);
        return NULL;
}
