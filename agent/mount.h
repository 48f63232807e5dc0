/* A container's filesystem view, built inside its new mount namespace: the rootfs bind, every OCI mount (targets
 * resolved inside the rootfs, never through a symlink out of it), /dev, pivot_root, sysctls, then masked and
 * read-only paths and a read-only root. Runs in the container's child process, before exec. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "oci.pb-c.h"

struct hull_error;

/* The mounts and pivot_root. rootfs: the absolute guest path of the container's root. The caller's cwd and root
 * end up in the new root. */
int hull_agent_rootfs_prepare(const Grpc__Spec *spec, const char *rootfs, struct hull_error **err);

/* linux.sysctl, written under /proc/sys (in the container's namespaces): after hull_agent_rootfs_prepare(), before
 * hull_agent_rootfs_finalize(), whose readonlyPaths usually include /proc/sys (runc's order too). */
int hull_agent_sysctl_apply(const Grpc__Linux *l, struct hull_error **err);

/* The last steps, once the container's own setup inside its root is done (sysctls, its terminal): maskedPaths,
 * readonlyPaths and a read-only root. */
int hull_agent_rootfs_finalize(const Grpc__Spec *spec, struct hull_error **err);

/* Open path (relative to, and never escaping, the directory rootfd) as O_PATH; with mkdir_mode != 0 missing
 * directories are created, and with as_file the last component is created as an empty file. */
int hull_agent_open_in_root(int rootfd, const char *path, mode_t mkdir_mode, bool as_file, struct hull_error **err);
