/* cgroup v2 in the guest: one cgroup per container under the agent's root, its cpu/memory/pids/cpuset limits from
 * the spec, freeze for Pause/Resume, statistics, and removal. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "oci.pb-c.h"

struct hull_error;

#define HULL_AGENT_CGROUP_ROOT "/sys/fs/cgroup"

/* Whether root is a cgroup2 mount (the host running unit tests may have v1 only). */
bool hull_agent_cgroup_available(const char *root);

/* Make root/<rel> (enabling controllers on every level above it) and return its path. */
int hull_agent_cgroup_create(const char *root, const char *rel, char **ret_path, struct hull_error **err);
/* Write the spec's resources; a limit the kernel refuses is an error naming the file. */
int hull_agent_cgroup_apply(const char *path, const Grpc__LinuxResources *res, struct hull_error **err);
/* An O_DIRECTORY fd for clone3(CLONE_INTO_CGROUP). */
int hull_agent_cgroup_open(const char *path, struct hull_error **err);
int hull_agent_cgroup_freeze(const char *path, bool frozen, struct hull_error **err);
/* Kill what is left (cgroup.kill) and remove the directory. */
int hull_agent_cgroup_destroy(const char *path, struct hull_error **err);

struct hull_agent_cgroup_stats {
        uint64_t cpu_usage_usec, cpu_user_usec, cpu_system_usec;
        uint64_t memory_current, memory_max, memory_peak;
        uint64_t pids_current, pids_max;
        uint64_t oom_kills;
};
int hull_agent_cgroup_stats(const char *path, struct hull_agent_cgroup_stats *ret, struct hull_error **err);

/* Value of key in a flat-keyed file such as memory.events ("oom_kill 3"); 0 when absent. */
int hull_agent_cgroup_read_key(const char *path, const char *file, const char *key, uint64_t *ret,
                               struct hull_error **err);

/* cgroup v1 cpu.shares (2..262144) as v2 cpu.weight (1..10000), the conversion runc and crun use. */
uint64_t hull_agent_cgroup_shares_to_weight(uint64_t shares);
