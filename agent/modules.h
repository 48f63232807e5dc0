/* Kernel module loading for hull-agent: finit_module() on the .ko files the guest builder put into the initramfs
 * (/lib/modules/<release>/<name>.ko, in dependency order in modules.hull). No modprobe, no modules.dep. */
#pragma once

#include <stddef.h>

struct hull_buf;
struct hull_error;

/* The list file the guest builder writes next to the modules, one module name a line, dependencies first. */
#define HULL_AGENT_MODULES_LIST "modules.hull"
#define HULL_AGENT_MODULES_LIST_MAX (64u << 10)

/* /lib/modules/<uname -r>. */
int hull_agent_modules_dir(char **ret, struct hull_error **err);

/* Load dir/<name>.ko with params ("" or NULL: none). Returns 1 when loaded, 0 when it already was. */
int hull_agent_module_load(const char *dir, const char *name, const char *params, struct hull_error **err);

/* Load every module of dir/modules.hull in order, each with its parameters from cmdline. A module that fails does
 * not stop the others: names go to loaded (space-separated), "name (reason)" to failed. Returns the number that
 * failed, or a negative errno when the list itself cannot be read. */
int hull_agent_modules_load_list(const char *dir, const char *cmdline, struct hull_buf *loaded, struct hull_buf *failed,
                                 struct hull_error **err);
