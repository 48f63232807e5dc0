/* Host facts that decide which hypervisors can run here: CPU, KVM, vhost devices, kernel features
 * and the binaries hull drives. Each fact is a verdict with a one-line detail, never an error. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kvm-probe.h"

struct hull_error;

/* One verdict: ok, and either what was found (a path, a mount point) or why not. */
struct hull_host_fact {
        bool ok;
        char detail[320];
};

/* The external binaries hull may run. */
enum hull_host_binary {
        HULL_HOST_BIN_QEMU = 0,
        HULL_HOST_BIN_CLH,
        HULL_HOST_BIN_FIRECRACKER,
        HULL_HOST_BIN_STRATOVIRT,
        HULL_HOST_BIN_VIRTIOFSD,
        HULL_HOST_BIN_COUNT,
};

/* The ways hull can run a VM, in order of preference (see hull_host_recommend()). */
enum hull_host_hv {
        HULL_HOST_HV_QEMU_KVM = 0,
        HULL_HOST_HV_CLH,
        HULL_HOST_HV_BUILTIN,
        HULL_HOST_HV_STRATOVIRT,
        HULL_HOST_HV_FIRECRACKER,
        HULL_HOST_HV_QEMU_TCG,
        HULL_HOST_HV_COUNT,
};

struct hull_host_hv_info {
        const char *id; /* "qemu-kvm", "qemu-tcg", "clh", ... unique */
        const char *hypervisor; /* the configuration's name: qemu, clh, firecracker, stratovirt, builtin */
        const char *accel; /* "kvm" or "tcg" */
        int binary; /* enum hull_host_binary it needs, -1 for none */
        bool needs_kvm;
};

struct hull_host_cpu {
        char vendor[32]; /* vendor_id: GenuineIntel, AuthenticAMD, ... */
        char model[128]; /* model name */
        unsigned count; /* processors listed */
        bool vmx; /* Intel VT-x flag */
        bool svm; /* AMD-V flag */
        bool hypervisor; /* running under a hypervisor itself */
};

struct hull_host_facts {
        char kernel_release[65];
        char arch[65];
        struct hull_host_cpu cpu;
        struct hull_host_fact cpu_virt; /* vmx or svm in /proc/cpuinfo */
        struct hull_kvm_probe_result kvm;
        struct hull_host_fact kvm_module; /* kvm loaded (module or built in), with the vendor module */
        struct hull_host_fact vhost_vsock_module;
        struct hull_host_fact vhost_vsock; /* /dev/vhost-vsock present and openable */
        struct hull_host_fact vhost_net; /* /dev/vhost-net */
        struct hull_host_fact tun; /* /dev/net/tun */
        struct hull_host_fact vsock; /* AF_VSOCK sockets */
        struct hull_host_fact cgroup2; /* detail: where cgroup2 is mounted and how */
        struct hull_host_fact userns; /* user namespaces enabled */
        struct hull_host_fact binaries[HULL_HOST_BIN_COUNT];
};

struct hull_host_options {
        /* A configured path per binary (the configuration's `path`, `virtio_fs_daemon`); NULL: search. */
        const char *binary_paths[HULL_HOST_BIN_COUNT];
        const char *path_env; /* search path; NULL means $PATH, or a default when unset */
        const char *kvm_device; /* NULL means /dev/kvm */
        unsigned kvm_timeout_ms; /* 0 means HULL_KVM_PROBE_TIMEOUT_MS */
};

/* Gather every fact (runs the KVM probe). Never fails: each fact carries its own verdict. */
void hull_host_gather(const struct hull_host_options *opts, struct hull_host_facts *ret);

/* The binary's usual name ("qemu-system-x86_64", "virtiofsd", ...). */
const char *hull_host_binary_name(enum hull_host_binary bin);
const struct hull_host_hv_info *hull_host_hv_info(enum hull_host_hv hv);

/* Whether hv can run on this host, and why (not). */
void hull_host_hv_check(const struct hull_host_facts *facts, enum hull_host_hv hv, struct hull_host_fact *ret);
/* The most preferred hypervisor that can run, or -ENOENT when none can. */
int hull_host_recommend(const struct hull_host_facts *facts);

/* Parse /proc/cpuinfo text (the first processor's vendor and model, flags of the first
 * processor, processors counted). -EINVAL when no processor is listed. */
int hull_host_parse_cpuinfo(const char *text, struct hull_host_cpu *ret);

/* Whether /proc/modules text lists module name (with '-' and '_' treated alike). */
bool hull_host_modules_has(const char *proc_modules, const char *name);

/* Find a cgroup2 mount in /proc/self/mountinfo text; copies its mount point into ret_path.
 * -ENOENT when there is none. */
int hull_host_find_cgroup2(const char *mountinfo, char *ret_path, size_t len);

/* Resolve an executable: a name with a '/' is checked as it is, any other name is looked up
 * in path_env (colon-separated; NULL means $PATH). *ret_path is allocated. -ENOENT/-EACCES
 * with a message naming what was searched. */
int hull_host_find_binary(const char *name, const char *path_env, char **ret_path, struct hull_error **err);
