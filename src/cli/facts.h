/* What `hull check` and `hull env` both report: the configuration (or why it did not load) and
 * the host facts, with binary paths taken from the configuration where it names them. */
#pragma once

#include "cli.h"
#include "host/host.h"

struct hull_config;

struct hull_cli_facts {
        struct hull_config *config; /* NULL when it did not load */
        char *config_path; /* the file loaded, or the one that failed; NULL when none was found */
        char *config_error; /* why, when config is NULL */
        struct hull_host_facts host;
        int recommended; /* enum hull_host_hv, or -ENOENT */
        struct hull_host_fact hv[HULL_HOST_HV_COUNT];
};

/* Load the configuration (a failure is recorded, not returned) and gather the host facts.
 * Fails only when out of memory. */
int hull_cli_facts_gather(const struct hull_cli_ctx *ctx, struct hull_cli_facts **ret, struct hull_error **err);

struct hull_cli_facts *hull_cli_facts_free(struct hull_cli_facts *f);
HULL_DEFINE_FREEP(struct hull_cli_facts, hull_cli_facts_free)
