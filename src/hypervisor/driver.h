/* What a hypervisor driver implements and sees: the ops table and the common object hypervisor.c keeps for it.
 * Only driver files include this; everyone else uses hypervisor.h. */
#pragma once

#include "hypervisor.h"
#include "virtiofsd.h"

struct hull_kvm_probe_result;

struct hull_hypervisor_ops {
        const char *name;
        /* Check hv->desc, decide what the VM gets (accelerator, agent channel), start nothing. */
        int (*create)(struct hull_hypervisor *hv, struct hull_error **err);
        int (*start)(struct hull_hypervisor *hv, struct hull_error **err);
        int (*stop)(struct hull_hypervisor *hv, unsigned timeout_ms, int *ret_status, struct hull_error **err);
        int (*pause)(struct hull_hypervisor *hv, struct hull_error **err);
        int (*resume)(struct hull_hypervisor *hv, struct hull_error **err);
        /* Only called once the VM runs; before that hypervisor.c keeps the cold-plug list in hv->desc. NULL: no
         * hotplug. */
        int (*add_device)(struct hull_hypervisor *hv, const struct hull_hv_device *dev, struct hull_error **err);
        int (*remove_device)(struct hull_hypervisor *hv, const char *id, struct hull_error **err);
        int (*resize_vcpus)(struct hull_hypervisor *hv, unsigned vcpus, unsigned *ret_vcpus, struct hull_error **err);
        int (*resize_memory)(struct hull_hypervisor *hv, uint64_t mib, uint64_t *ret_mib, struct hull_error **err);
        int (*agent_channel)(struct hull_hypervisor *hv, struct hull_hv_channel *ret, struct hull_error **err);
        uint32_t (*capabilities)(struct hull_hypervisor *hv);
        size_t (*pids)(struct hull_hypervisor *hv, pid_t *ret, size_t max);
        /* Kill what runs without waiting for the guest, release everything; hv itself is freed by the caller. */
        void (*destroy)(struct hull_hypervisor *hv);
};

struct hull_hypervisor {
        const struct hull_hypervisor_ops *ops;
        struct hull_hv_desc desc; /* our own copy */
        struct hull_loop *loop;
        hull_hv_event_cb cb;
        void *userdata;
        enum hull_hv_state state;
        void *priv; /* the driver's */
};

/* Drivers report through this: updates hv->state for EXITED/PAUSED/RESUMED and calls the caller's callback.
 * For EXITED it must be the last thing the driver does with hv (the callback may free it). */
void hull_hypervisor_emit(struct hull_hypervisor *hv, const struct hull_hv_event *ev);

/* Shared by the drivers (driver.c). */

/* The sandbox id log lines carry: hv->desc.id, or "-". */
const char *hull_hv_id(const struct hull_hypervisor *hv);
/* src/host's KVM probe, run once per process however many VMs ask. */
const struct hull_kvm_probe_result *hull_hv_kvm_probe(void);
/* hv->desc's virtio-fs daemon (fs_daemon or HULL_HV_VIRTIOFSD) is an absolute path to an executable. */
int hull_hv_check_fs_daemon(const struct hull_hypervisor *hv, struct hull_error **err);
/* Starts virtiofsd for hv->desc's shared directory on socket_path (stderr to log_path) and watches it on hv->loop:
 * cb(..., hv) if it dies before hull_hv_stop_virtiofsd(). */
int hull_hv_start_virtiofsd(struct hull_hypervisor *hv, const char *socket_path, const char *log_path,
                            hull_virtiofsd_exit_cb cb, struct hull_virtiofsd **ret, struct hull_error **err);
/* Waits a moment for the daemon to leave (it does once the VMM has disconnected), kills it otherwise, frees it.
 * NULL is accepted; returns NULL. */
struct hull_virtiofsd *hull_hv_stop_virtiofsd(struct hull_virtiofsd *v);
/* For the pids op: ret[n] = pid when pid > 0 and n < max; returns the count with pid, which may pass max. */
size_t hull_hv_add_pid(pid_t *ret, size_t max, size_t n, pid_t pid);

extern const struct hull_hypervisor_ops hull_qemu_ops;
extern const struct hull_hypervisor_ops hull_builtin_ops;
