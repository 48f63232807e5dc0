/* hull: the OCI runtime command line. Parses runc-style global options, sets up logging and runs
 * one command from the table in cli.h; the only place that prints an error and picks the exit. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "error.h"
#include "hull-build-config.h"
#include "log.h"

struct command {
        const char *name;
        int (*run)(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err);
        const char *summary;
};

#define HULL_CLI_ENTRY(n, fn, s) { .name = #n, .run = fn, .summary = s },
static const struct command commands[] = { HULL_CLI_COMMANDS(HULL_CLI_ENTRY) };
#undef HULL_CLI_ENTRY

enum {
        OPT_ROOT = 0x100,
        OPT_LOG,
        OPT_LOG_FORMAT,
        OPT_DEBUG,
        OPT_CONFIG,
        OPT_SYSTEMD_CGROUP,
};

/* Command names are C identifiers in the table; on the command line '_' is written '-' ("agent-ctl"). */
static bool command_matches(const char *arg, const char *name)
{
        for (; *arg && *name; arg++, name++)
                if (*arg != *name && !(*arg == '-' && *name == '_'))
                        return false;
        return *arg == *name;
}

static void usage(FILE *out)
{
        fprintf(out,
                "usage: hull [global options] <command> [options]\n"
                "\n"
                "hull runs every container in its own lightweight virtual machine.\n"
                "\n"
                "global options:\n"
                "  --root DIR            state directory (default " HULL_CLI_DEFAULT_ROOT ")\n"
                "  --config PATH         configuration file\n"
                "  --log PATH            log to a file instead of stderr\n"
                "  --log-format FORMAT   text (default) or json\n"
                "  --debug               debug logging, with timestamps\n"
                "  --systemd-cgroup      accepted for runc compatibility\n"
                "  -v, --version         print the version\n"
                "  -h, --help            print this help\n"
                "\n"
                "commands:\n");
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
                char name[32];
                snprintf(name, sizeof(name), "%s", commands[i].name);
                for (char *c = name; *c; c++)
                        if (*c == '_')
                                *c = '-';
                fprintf(out, "  %-20s  %s\n", name, commands[i].summary);
        }
}

static void print_version(void)
{
        printf("hull version %s\nspec: %s\n", HULL_VERSION, HULL_CLI_OCI_SPEC_VERSION);
}

/* Parse the global options; returns the index of the command, argc when there is none, or a
 * negative errno with *err set. *ret_exit >= 0 means: stop now with that status. */
static int parse_globals(int argc, char **argv, struct hull_cli_ctx *ctx, int *ret_exit, struct hull_error **err)
{
        static const struct option options[] = {
                { "root", required_argument, NULL, OPT_ROOT },
                { "log", required_argument, NULL, OPT_LOG },
                { "log-format", required_argument, NULL, OPT_LOG_FORMAT },
                { "debug", no_argument, NULL, OPT_DEBUG },
                { "config", required_argument, NULL, OPT_CONFIG },
                { "systemd-cgroup", no_argument, NULL, OPT_SYSTEMD_CGROUP },
                { "version", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        *ret_exit = -1;
        opterr = 0;
        /* '+': stop at the command name, so that its own options are left for it. */
        while ((c = getopt_long(argc, argv, "+:vh", options, NULL)) != -1) {
                switch (c) {
                case OPT_ROOT:
                        ctx->root = optarg;
                        break;
                case OPT_LOG:
                        ctx->log_path = optarg;
                        break;
                case OPT_LOG_FORMAT:
                        if (hull_log_parse_format(optarg, &ctx->log_format) < 0)
                                return hull_error_set(err, EINVAL, "invalid log format \"%s\" (text or json)", optarg);
                        break;
                case OPT_DEBUG:
                        ctx->debug = true;
                        break;
                case OPT_CONFIG:
                        ctx->config_path = optarg;
                        break;
                case OPT_SYSTEMD_CGROUP:
                        ctx->systemd_cgroup = true;
                        break;
                case 'v':
                        print_version();
                        *ret_exit = 0;
                        return 0;
                case 'h':
                        usage(stdout);
                        *ret_exit = 0;
                        return 0;
                case ':':
                        return hull_error_set(err, EINVAL, "option %s needs an argument", argv[optind - 1]);
                default:
                        return hull_error_set(err, EINVAL, "unknown global option %s (see hull --help)",
                                              argv[optind - 1]);
                }
        }
        if (!*ctx->root)
                return hull_error_set(err, EINVAL, "--root must not be empty");
        return optind;
}

/* Everything but the printing of the error: returns the exit status or a negative errno. */
static int run(int argc, char **argv, struct hull_cli_ctx *ctx, struct hull_error **err)
{
        int r, stop, cmd;

        cmd = parse_globals(argc, argv, ctx, &stop, err);
        if (cmd < 0)
                return cmd;
        if (stop >= 0)
                return stop;
        r = hull_log_setup("hull", ctx->debug ? HULL_LOG_DEBUG : HULL_LOG_WARN, ctx->log_format, ctx->log_path, err);
        if (r < 0)
                return r;
        if (cmd >= argc) {
                usage(stderr);
                return hull_error_set(err, EINVAL, "no command given");
        }
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
                if (!command_matches(argv[cmd], commands[i].name))
                        continue;
                log_debug("command %s", commands[i].name);
                /* The command parses its own options, with argv[0] its name; 0 resets getopt. */
                optind = 0;
                return commands[i].run(ctx, argc - cmd, argv + cmd, err);
        }
        return hull_error_set(err, EINVAL, "unknown command \"%s\" (see hull --help)", argv[cmd]);
}

int main(int argc, char **argv)
{
        _cleanup_error_ struct hull_error *err = NULL;
        struct hull_cli_ctx ctx = {
                .program = argc > 0 ? argv[0] : "hull",
                .root = HULL_CLI_DEFAULT_ROOT,
                .log_format = HULL_LOG_TEXT,
        };
        const char *msg;
        int r;

        hull_malloc_stay_lean();
        r = run(argc, argv, &ctx, &err);
        if (r >= 0)
                return r;
        msg = err ? hull_error_message(err) : strerror(-r);
        fprintf(stderr, "hull: %s\n", msg);
        if (ctx.log_path)
                log_error("%s", msg);
        return 1;
}
