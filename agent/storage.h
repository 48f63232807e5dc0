/* Storages the host asks for (CreateSandbox / CreateContainer): virtio-fs shares by mount tag, block devices,
 * tmpfs ("local", "ephemeral"), bind mounts. Each mount point is mounted once and counted, unmounted when its last
 * user goes. */
#pragma once

#include "agent.pb-c.h"

struct hull_error;
struct hull_agent_storages;

int hull_agent_storages_new(struct hull_agent_storages **ret, struct hull_error **err);
/* Unmounts everything still mounted, newest first. */
struct hull_agent_storages *hull_agent_storages_free(struct hull_agent_storages *s);

/* Mount (or count one more user of) s->mount_point. An error names the storage and the step. */
int hull_agent_storage_add(struct hull_agent_storages *s, const Grpc__Storage *st, struct hull_error **err);
/* One user less of mount_point; unmounted at zero. */
void hull_agent_storage_release(struct hull_agent_storages *s, const char *mount_point);
size_t hull_agent_storages_count(const struct hull_agent_storages *s);
