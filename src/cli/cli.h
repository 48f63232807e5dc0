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
#define HULL_CLI_COMMANDS(X)                                                                \
        X(check, hull_cli_check, "can this host run hull, and with which hypervisors")      \
        X(env, hull_cli_env, "effective configuration and host facts, as TOML")             \
        X(agent_ctl, hull_cli_agent_ctl, "one call to a guest agent, JSON in and out")      \
        X(image, hull_cli_image, "build the guest kernel and initramfs (image build)")      \
        X(create, hull_cli_create, "create a container (its VM booted, its process ready)") \
        X(start, hull_cli_start, "start a created container's process")                     \
        X(run, hull_cli_run, "create, start and wait for a container, then delete it")      \
        X(state, hull_cli_state, "print a container's OCI state as JSON")                   \
        X(kill, hull_cli_kill, "send a signal to a container's process(es)")                \
        X(delete, hull_cli_delete, "delete a container and everything it made")             \
        X(exec, hull_cli_exec, "run a new process in a running container")                  \
        X(ps, hull_cli_ps, "the host pids standing for a container's processes")            \
        X(list, hull_cli_list, "list the containers under --root")                          \
        X(pause, hull_cli_pause, "freeze a container's processes")                          \
        X(resume, hull_cli_resume, "thaw a paused container")                               \
        X(update, hull_cli_update, "change a container's resource limits")                  \
        X(spec, hull_cli_spec, "write a default config.json")                               \
        X(features, hull_cli_features, "print what this runtime implements, as JSON")

#define HULL_CLI_DECLARE(name, fn, summary) \
        int fn(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err);
HULL_CLI_COMMANDS(HULL_CLI_DECLARE)
#undef HULL_CLI_DECLARE
