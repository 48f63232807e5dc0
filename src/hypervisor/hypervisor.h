/* The hypervisor driver interface: one ops table per hypervisor behind hull_hypervisor_*(), capability bits
 * that callers ask instead of testing which hypervisor they hold, and the VM description they fill in. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "macros.h"

struct hull_error;
struct hull_loop;
struct hull_hypervisor;

/* What a driver (in its current configuration) can do. Ask with hull_hypervisor_capabilities(). */
enum hull_hv_capability {
        HULL_HV_CAP_SHARED_FS = 1u << 0, /* a host directory shared with the guest (virtio-fs) */
        HULL_HV_CAP_BLOCK_DEVICES = 1u << 1, /* block devices given at create time */
        HULL_HV_CAP_NET_DEVICES = 1u << 2, /* virtio-net on a tap fd given at create time */
        HULL_HV_CAP_HOTPLUG = 1u << 3, /* add_device/remove_device while the VM runs */
        HULL_HV_CAP_PAUSE = 1u << 4, /* pause/resume of the vCPUs */
        HULL_HV_CAP_RESIZE_VCPUS = 1u << 5,
        HULL_HV_CAP_RESIZE_MEMORY = 1u << 6,
        /* The agent channel kind of this instance (exactly one is set, see hull_hypervisor_agent_channel()). */
        HULL_HV_CAP_VSOCK = 1u << 8, /* vhost-vsock: AF_VSOCK to (guest CID, port) from the host */
        HULL_HV_CAP_HYBRID_VSOCK = 1u << 9, /* a unix socket; "CONNECT <port>\n" → "OK <port>\n" */
        HULL_HV_CAP_SERIAL_CHANNEL = 1u << 10, /* a virtio-serial port, host end a unix socket */
};

enum hull_hv_accel {
        HULL_HV_ACCEL_AUTO = 0, /* KVM when the KVM probe finds it usable, else emulation (logged) */
        HULL_HV_ACCEL_KVM,
        HULL_HV_ACCEL_TCG, /* QEMU's emulator: slow, but needs no /dev/kvm */
};

/* Which agent channel to give the guest. */
enum hull_hv_channel_pref {
        HULL_HV_CHANNEL_AUTO = 0, /* vsock when the host can (/dev/vhost-vsock), else what the driver has */
        HULL_HV_CHANNEL_VSOCK,
        HULL_HV_CHANNEL_SERIAL,
};

enum hull_hv_console {
        HULL_HV_CONSOLE_SERIAL = 0, /* the 8250 UART, guest ttyS0: shows the kernel's early messages */
        HULL_HV_CONSOLE_VIRTIO, /* virtio-console, guest hvc0: faster, appears once the driver loads */
};

enum hull_hv_device_kind {
        HULL_HV_DEVICE_BLOCK = 0,
        HULL_HV_DEVICE_NET,
};

/* A device handed to the VM. Strings are copied by whoever keeps the device; tap_fd is duplicated. */
struct hull_hv_device {
        enum hull_hv_device_kind kind;
        char *id; /* unique within the VM: [A-Za-z0-9_-], at most 32 characters */
        struct {
                char *path; /* raw image file or block device */
                bool read_only;
        } block;
        struct {
                int tap_fd; /* an open tap (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) */
                char mac[18]; /* "aa:bb:cc:dd:ee:ff", "" for the hypervisor's choice */
        } net;
};

/* The VM to run, built by the caller (hull_hv_desc_from_config() fills the configuration's part). The driver
 * keeps its own copy: the caller may free its description once hull_hypervisor_new() returns. */
struct hull_hv_desc {
        char *id; /* names the VM in logs and in the hypervisor's process title */
        char *binary; /* the VMM program; NULL: the driver's default (qemu-system-x86_64 on $PATH) */
        char *kernel;
        char *initrd; /* NULL: none */
        char *kernel_params; /* appended to the driver's base command line; NULL: none */
        char *machine_type; /* driver specific (QEMU: "microvm", "q35"); NULL: the driver's default */
        char *machine_accelerators; /* extra -machine options (QEMU), comma separated; NULL: none */
        char *cpu_features; /* extra -cpu options (QEMU), comma separated; NULL: none */
        enum hull_hv_accel accel;
        unsigned vcpus; /* 1..HULL_HV_MAX_VCPUS */
        uint64_t memory_mib; /* HULL_HV_MIN_MEMORY_MIB.. */

        /* The driver makes its sockets and logs here (see each driver) and removes them on stop; the directory
         * itself belongs to the caller and must exist. */
        char *state_dir;
        char *console_log; /* guest console output; NULL: <state_dir>/console.log */
        enum hull_hv_console console;

        /* Shared file system: shared_dir exported under shared_tag; NULL shared_dir: none. */
        char *shared_dir;
        char *shared_tag; /* NULL: HULL_HV_SHARED_TAG */
        char *fs_daemon; /* virtiofsd; NULL: HULL_HV_VIRTIOFSD */
        char *fs_cache; /* "auto", "always", "never"/"none"; NULL: auto */
        char **fs_extra_args; /* NULL-terminated, appended to the daemon's arguments; NULL: none */
        unsigned fs_queue_size; /* 0: 1024 */

        enum hull_hv_channel_pref channel;
        uint32_t agent_port; /* vsock port of the agent; 0: HULL_HV_AGENT_PORT */

        char *netns_path; /* the network namespace the VMM runs in (QEMU; the builtin VMM stays in hull's); NULL: hull's
                           */

        struct hull_hv_device *devices; /* cold-plugged at start */
        size_t n_devices;

        unsigned start_timeout_ms; /* how long start waits for the VMM to answer; 0: HULL_HV_START_TIMEOUT_MS */
        bool debug; /* more output from the VMM and its daemons into their logs */
};

#define HULL_HV_MAX_VCPUS 255
#define HULL_HV_MIN_MEMORY_MIB 64
#define HULL_HV_MAX_MEMORY_MIB (1024ULL * 1024ULL) /* 1 TiB */
#define HULL_HV_SHARED_TAG "kataShared"
#define HULL_HV_VIRTIOFSD "/usr/lib/qemu/virtiofsd"
#define HULL_HV_AGENT_PORT 1024
#define HULL_HV_SERIAL_NAME "agent.channel.0"
#define HULL_HV_START_TIMEOUT_MS 10000
#define HULL_HV_STOP_TIMEOUT_MS 5000

/* How the host reaches the agent. */
struct hull_hv_channel {
        enum hull_hv_capability kind; /* HULL_HV_CAP_VSOCK, _HYBRID_VSOCK or _SERIAL_CHANNEL */
        uint32_t cid; /* VSOCK: the guest's CID */
        uint32_t port; /* VSOCK, HYBRID_VSOCK: the agent's port */
        char path[108]; /* HYBRID_VSOCK, SERIAL_CHANNEL: the unix socket to connect to */
};

enum hull_hv_event_kind {
        HULL_HV_EVENT_EXITED = 0, /* the VMM is gone (not sent for hull_hypervisor_stop(), which says so itself) */
        HULL_HV_EVENT_SHUTDOWN, /* the VM is shutting down; guest says whether the guest asked for it */
        HULL_HV_EVENT_PAUSED, /* vCPUs stopped (also when someone else paused them) */
        HULL_HV_EVENT_RESUMED,
        HULL_HV_EVENT_DAEMON_EXITED, /* a helper daemon (virtiofsd) died while the VM runs */
};

struct hull_hv_event {
        enum hull_hv_event_kind kind;
        pid_t pid; /* EXITED, DAEMON_EXITED: the process */
        int status; /* EXITED, DAEMON_EXITED: as from waitpid() */
        bool guest; /* SHUTDOWN: requested by the guest; EXITED: after a guest power-off */
        /* One line: "qemu exited with status 1: could not open kernel file '/x': No such file or directory",
         * "virtiofsd was killed by signal 9", "guest-shutdown". Valid during the callback only. */
        const char *message;
};

/* Runs on the loop. Only for HULL_HV_EVENT_EXITED may the callback free the hypervisor. */
typedef void (*hull_hv_event_cb)(struct hull_hypervisor *hv, const struct hull_hv_event *ev, void *userdata);

enum hull_hv_state {
        HULL_HV_STATE_CREATED = 0,
        HULL_HV_STATE_RUNNING,
        HULL_HV_STATE_PAUSED,
        HULL_HV_STATE_STOPPED, /* stopped by hull_hypervisor_stop() */
        HULL_HV_STATE_EXITED, /* the VMM went away on its own */
};

/* The driver for kind with its own copy of desc, checked and prepared, nothing started yet. loop (not owned)
 * carries the VMM's events; cb may be NULL. -EOPNOTSUPP for a hypervisor hull has no driver for yet. */
int hull_hypervisor_new(enum hull_config_hypervisor_kind kind, const struct hull_hv_desc *desc, struct hull_loop *loop,
                        hull_hv_event_cb cb, void *userdata, struct hull_hypervisor **ret, struct hull_error **err);

/* Start the VMM and its daemons; returns once the VMM answers (QEMU: the QMP handshake), not when the guest
 * has booted. On failure everything started is stopped again and the error says why the VMM went away. */
int hull_hypervisor_start(struct hull_hypervisor *hv, struct hull_error **err);
/* Stop the VMM (asking first, then SIGKILL after timeout_ms, 0: HULL_HV_STOP_TIMEOUT_MS) and its daemons;
 * remove the sockets it made. *ret_status (may be NULL) gets the VMM's wait status. Idempotent. */
int hull_hypervisor_stop(struct hull_hypervisor *hv, unsigned timeout_ms, int *ret_status, struct hull_error **err);
int hull_hypervisor_pause(struct hull_hypervisor *hv, struct hull_error **err);
int hull_hypervisor_resume(struct hull_hypervisor *hv, struct hull_error **err);
/* Before start: added to the cold-plug list. After start: needs HULL_HV_CAP_HOTPLUG (else -EOPNOTSUPP). */
int hull_hypervisor_add_device(struct hull_hypervisor *hv, const struct hull_hv_device *dev, struct hull_error **err);
int hull_hypervisor_remove_device(struct hull_hypervisor *hv, const char *id, struct hull_error **err);
/* Ask for a new size; *ret_* (may be NULL) gets what the VM has afterwards. */
int hull_hypervisor_resize_vcpus(struct hull_hypervisor *hv, unsigned vcpus, unsigned *ret_vcpus,
                                 struct hull_error **err);
int hull_hypervisor_resize_memory(struct hull_hypervisor *hv, uint64_t mib, uint64_t *ret_mib, struct hull_error **err);
/* Where the agent listens; known from hull_hypervisor_new() on. */
int hull_hypervisor_agent_channel(struct hull_hypervisor *hv, struct hull_hv_channel *ret, struct hull_error **err);
uint32_t hull_hypervisor_capabilities(struct hull_hypervisor *hv);
/* The processes of the VM (the VMM first, then its daemons) into ret[max]; returns how many there are (may
 * exceed max), 0 when nothing runs. For cgroup placement and accounting. */
size_t hull_hypervisor_pids(struct hull_hypervisor *hv, pid_t *ret, size_t max);

enum hull_hv_state hull_hypervisor_state(const struct hull_hypervisor *hv);
const char *hull_hypervisor_name(const struct hull_hypervisor *hv); /* "qemu", for messages only */
const struct hull_hv_desc *hull_hypervisor_desc(const struct hull_hypervisor *hv);

/* Stops whatever still runs (SIGKILL, no waiting for the guest) and frees. NULL is accepted. */
struct hull_hypervisor *hull_hypervisor_free(struct hull_hypervisor *hv);
HULL_DEFINE_FREEP(struct hull_hypervisor, hull_hypervisor_free)

/* Fill desc's configuration part from the configuration's hypervisor section: binary, kernel, initrd,
 * kernel_params, machine type, accelerators, CPU features, vCPUs, memory, virtio-fs daemon, cache, queue size
 * and extra arguments, console kind (use_legacy_serial), debug. The caller adds id, state_dir, shared_dir. */
int hull_hv_desc_from_config(const struct hull_config *cfg, struct hull_hv_desc *desc, struct hull_error **err);
/* Deep copy (tap fds duplicated). */
int hull_hv_desc_copy(const struct hull_hv_desc *src, struct hull_hv_desc *dst, struct hull_error **err);
/* Free what desc points to (closing tap fds) and zero it; the struct itself is the caller's. */
void hull_hv_desc_clear(struct hull_hv_desc *desc);
int hull_hv_device_copy(const struct hull_hv_device *src, struct hull_hv_device *dst, struct hull_error **err);
void hull_hv_device_clear(struct hull_hv_device *dev);

const char *hull_hv_event_kind_to_string(enum hull_hv_event_kind kind);
const char *hull_hv_state_to_string(enum hull_hv_state state);
