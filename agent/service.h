/* grpc.AgentService and grpc.Health served by hull-agent over hull's ttrpc server: the sandbox's containers,
 * storages and processes, as Kata's agent.proto names them. */
#pragma once

#include <stdbool.h>

struct hull_error;
struct hull_loop;
struct hull_ttrpc_server;
struct hull_agent_reaper;
struct hull_agent_service;

struct hull_agent_service_config {
        struct hull_loop *loop;
        struct hull_agent_reaper *reaper;
        const char *cgroup_root; /* NULL: no cgroups */
        const char *modules_dir; /* for CreateSandbox's kernel_modules; NULL: refused */
        const char *cmdline; /* module parameters from the kernel command line */
        bool init_daemon; /* the agent is PID 1 */
        /* Called after DestroySandbox has been answered: the VM may go. */
        void (*on_destroyed)(void *userdata);
        void *userdata;
};

int hull_agent_service_new(const struct hull_agent_service_config *cfg, struct hull_ttrpc_server *server,
                           struct hull_agent_service **ret, struct hull_error **err);
/* Removes every container and storage. NULL is fine. */
struct hull_agent_service *hull_agent_service_free(struct hull_agent_service *s);

/* Largest CopyFile file_size accepted. */
#define HULL_AGENT_COPY_FILE_MAX (256ll << 20)
