/* Names in an OCI spec (grpc.Spec from oci.proto) turned into what the kernel takes: capabilities, rlimits,
 * namespaces, mount options. Pure functions, so they are unit-tested on the host. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "oci.pb-c.h"

struct hull_error;

/* Capability number of "CAP_SYS_ADMIN" (or "sys_admin"); -EINVAL when unknown. */
int hull_agent_cap_from_name(const char *name);
/* Bitmask of a list of capability names; an unknown name is an error naming it. */
int hull_agent_caps_mask(char **names, size_t n, uint64_t *ret, struct hull_error **err);

/* RLIMIT_* number of "RLIMIT_NOFILE"; -EINVAL when unknown. */
int hull_agent_rlimit_from_name(const char *name);

/* CLONE_NEW* flag of an OCI namespace type ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"). */
int hull_agent_namespace_flag(const char *type);

/* fstab-style mount options: flags for mount(), propagation flags (applied after), the rest as data. */
struct hull_agent_mount_opts {
        unsigned long flags;
        unsigned long propagation;
        bool bind;
        char *data; /* comma-joined, "" when none; owned */
};
int hull_agent_mount_opts_parse(char **options, size_t n, struct hull_agent_mount_opts *ret, struct hull_error **err);
void hull_agent_mount_opts_clear(struct hull_agent_mount_opts *o);

/* Sanity and bounds of a spec before anything is built from it; errors name the field. */
int hull_agent_spec_validate(const Grpc__Spec *spec, struct hull_error **err);
