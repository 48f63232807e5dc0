/* The hull command line: global options every command sees, and the table of commands.
 * Adding a command is one HULL_CLI_COMMANDS line here plus its file src/cli/<name>.c. */
#pragma once

#include <stdbool.h>

#include "log.h"

struct hull_error;

#define HULL_CLI_DEFAULT_ROOT "/run/hull"
/* The OCI runtime-spec version hull implements, as `--version` reports it (runc does the same). */
#define HULL_CLI_OCI_SPEC_VERSION "1.1.0"

/* The global options, parsed once by main() and handed to the command. */
struct hull_cli_ctx {
        const char *program; /* argv[0] as run */
        const char *root; /* --root: state directory */
        const char *config_path; /* --config, NULL when not given */
        const char *log_path; /* --log, NULL for stderr */
        enum hull_log_format log_format;
        bool debug;
        bool systemd_cgroup;
};

/* X(name, function, one-line summary). A command returns its exit status (>= 0), or a negative
 * errno with *err set, which main() prints as "hull: <message>" and turns into exit status 1. */
#define HULL_CLI_COMMANDS(X)                                                           \
        X(check, hull_cli_check, "can this host run hull, and with which hypervisors") \
        X(env, hull_cli_env, "effective configuration and host facts, as TOML")        \
        X(agent_ctl, hull_cli_agent_ctl, "one call to a guest agent, JSON in and out") \
        X(image, hull_cli_image, "build the guest kernel and initramfs (image build)")

#define HULL_CLI_DECLARE(name, fn, summary) \
        int fn(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err);
HULL_CLI_COMMANDS(HULL_CLI_DECLARE)
#undef HULL_CLI_DECLARE
