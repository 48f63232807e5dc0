/* The sandbox's pause process: PID 1 of a pid namespace that the containers of a pod share (CreateSandbox's
 * sandbox_pidns), reaping whatever is orphaned in it. */
#pragma once

#include <sys/types.h>

struct hull_error;

/* Returns the pause process's pid (in the agent's namespace). */
pid_t hull_agent_pause_start(struct hull_error **err);
