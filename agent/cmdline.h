/* hull-agent's options from the kernel command line, named as Kata's agent names them
 * (agent.log, agent.debug_console, agent.server_addr, ...), and module parameters for finit_module(). */
#pragma once

#include <stdbool.h>

#include "log.h"

struct hull_error;

/* /proc/cmdline is at most COMMAND_LINE_SIZE (2048 on x86); anything longer is refused. */
#define HULL_AGENT_CMDLINE_MAX 65536

struct hull_agent_options {
        enum hull_log_level log_level; /* agent.log=debug|info|warn|error */
        bool debug_console; /* agent.debug_console: a shell on the console, when the image has one */
        bool devmode; /* agent.devmode: implies debug logs */
        char *server_addr; /* agent.server_addr=vsock://-1:1024 | serial://agent.channel.0; NULL: choose */
        char *kernel_modules; /* agent.kernel_modules=a,b: loaded after the initramfs list; NULL: none */
};

/* Parse a kernel command line. Unknown agent.* options are ignored, as Kata does; a bad value of a known one is an
 * error naming it. */
int hull_agent_options_parse(const char *cmdline, struct hull_agent_options *ret, struct hull_error **err);
void hull_agent_options_clear(struct hull_agent_options *o);

/* The parameters given on the command line for module (as "module.param=value", '-' and '_' alike), joined by
 * spaces in the form finit_module() takes; "" when none. */
int hull_agent_cmdline_module_params(const char *cmdline, const char *module, char **ret, struct hull_error **err);

/* Split a command line into words as the kernel does: whitespace separates, double quotes group (and are
 * dropped). Calls cb for each word; a negative return stops and is returned. */
int hull_agent_cmdline_foreach(const char *cmdline, int (*cb)(const char *word, void *userdata), void *userdata);
