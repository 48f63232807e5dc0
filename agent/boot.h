/* PID 1's first steps in the guest: leave the initramfs's rootfs for a bind mount of it (so that containers can
 * pivot_root), mount proc, sys, dev, devpts, shm, run and cgroup2, and the debug console. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct hull_error;

/* When "/" is the kernel's initial rootfs (which pivot_root refuses to move), make a bind mount of it the root
 * instead: same files, no copy. Returns 1 when it switched, 0 when "/" was already a proper mount. */
int hull_agent_boot_switch_root(struct hull_error **err);

/* Mount the guest's API filesystems; an error names the mount that failed. */
int hull_agent_boot_mount_basics(struct hull_error **err);

/* Enable every controller the kernel offers for the cgroups below the root (cpu, memory, pids, ...). */
int hull_agent_boot_enable_controllers(const char *cgroup_root, struct hull_error **err);

/* Start a shell on the console (agent.debug_console) when the image has one; returns its pid, -ENOENT if no
 * shell. */
pid_t hull_agent_boot_debug_console(struct hull_error **err);

/* Sync and power the VM off (the end of PID 1). Never returns. */
_Noreturn void hull_agent_boot_poweroff(void);
