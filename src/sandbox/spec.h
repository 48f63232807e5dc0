/* The bundle's OCI config.json turned into what hull-agent takes: Kata's oci.proto Spec (and Process for exec),
 * constrained for the guest (rootfs and bind-mount sources under the shared directory, no host namespaces,
 * hooks, devices or cgroup path). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macros.h"
#include "oci.pb-c.h"

struct hull_error;
struct json_object;

/* Where the guest mounts the shared directory (tag kataShared), as Kata does: <cid>/rootfs lives below it. */
#define HULL_SPEC_GUEST_SHARED "/run/kata-containers/shared/containers"
#define HULL_SPEC_MAX_SIZE (4u << 20)
#define HULL_SPEC_MAX_BINDS 128

/* Read and parse <bundle>/config.json (at most HULL_SPEC_MAX_SIZE, nesting 64). */
int hull_spec_load(const char *bundle, struct json_object **ret, struct hull_error **err);
int hull_spec_parse(const char *data, size_t len, struct json_object **ret, struct hull_error **err);

/* Runtime-spec JSON (lowerCamelCase keys) -> the agent's message, field by field through the descriptor (keys
 * match the proto's names case-insensitively; unknown keys are dropped). Free with protobuf_c_message_free_unpacked. */
int hull_spec_to_agent(struct json_object *spec, Grpc__Spec **ret, struct hull_error **err);
int hull_spec_process_to_agent(struct json_object *process, Grpc__Process **ret, struct hull_error **err);

/* A runtime-spec LinuxResources object (JSON text: what `runc update -r` reads and containerd's Update carries)
 * -> the agent's message, device cgroup rules dropped (they name host devices). */
int hull_spec_resources_to_agent(const char *data, size_t len, Grpc__LinuxResources **ret, struct hull_error **err);

/* A host path to bind into the shared directory for a container. */
struct hull_spec_bind {
        char *source; /* host path, as the spec names it (relative: to the bundle) */
        char *target; /* relative to the shared directory: "<cid>/mounts/<n>-<name>" */
        bool readonly;
};

/* Rewrite s for the guest: Root.Path = HULL_SPEC_GUEST_SHARED/<cid>/rootfs; each bind mount's source becomes its
 * guest path, and *ret_binds (n in *ret_n) says what the host must bind where; network namespaces and namespace
 * paths, hooks, devices, device cgroup rules and the cgroups path are dropped (they name host things). */
int hull_spec_constrain(Grpc__Spec *s, const char *cid, struct hull_spec_bind **ret_binds, size_t *ret_n,
                        struct hull_error **err);
void hull_spec_binds_free(struct hull_spec_bind *b, size_t n);

/* An annotation of the spec (NULL when absent or not a string). */
const char *hull_spec_annotation(struct json_object *spec, const char *key);
