/* The OCI spec's linux.seccomp as a libseccomp filter: built in the agent (so errors reach the caller), loaded
 * by the container process just before it execs. */
#pragma once

#include <seccomp.h>

#include "oci.pb-c.h"

struct hull_error;

/* *ret is NULL when the spec asks for no filter. The filter never sets no_new_privs by itself: that stays the
 * spec's noNewPrivileges. */
int hull_agent_seccomp_build(const Grpc__LinuxSeccomp *s, scmp_filter_ctx *ret, struct hull_error **err);
