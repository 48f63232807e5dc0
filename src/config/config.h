/* Kata-format configuration.toml -> struct hull_config: Kata's key names, types and defaults,
 * one hypervisor section, warnings for keys hull keeps but does not act on yet. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macros.h"

struct hull_error;
struct hull_toml_value;

/* Which [hypervisor.X] section the file holds; the order is part of the ABI of the enum only. */
enum hull_config_hypervisor_kind {
        HULL_CONFIG_HYPERVISOR_QEMU = 0,
        HULL_CONFIG_HYPERVISOR_CLH,
        HULL_CONFIG_HYPERVISOR_FIRECRACKER,
        HULL_CONFIG_HYPERVISOR_BUILTIN, /* [hypervisor.dragonball], served by hull's in-process VMM */
        HULL_CONFIG_HYPERVISOR_STRATOVIRT,
        _HULL_CONFIG_HYPERVISOR_MAX,
};
#define HULL_CONFIG_HYPERVISOR_DRAGONBALL HULL_CONFIG_HYPERVISOR_BUILTIN

/* hull's own name: "qemu", "clh", "firecracker", "builtin", "stratovirt"; NULL when out of range. */
const char *hull_config_hypervisor_kind_to_string(enum hull_config_hypervisor_kind kind);
/* Kata's section name: "qemu", "clh", "firecracker", "dragonball", "stratovirt"; NULL when out of range. */
const char *hull_config_hypervisor_kind_to_section(enum hull_config_hypervisor_kind kind);
/* Accepts hull names, Kata section names and "fc"; returns the kind or -EINVAL. */
int hull_config_hypervisor_kind_from_string(const char *s);

/* [hypervisor.<kind>]: the union of the keys Kata's runtimes accept, one field per key. Paths
 * are as written (Kata resolves symlinks when it uses them; so does hull). Integers keep Kata's
 * width and signedness. Values not set in the file hold Kata's defaults for that hypervisor.
 * Arrays of strings are NULL-terminated char ** vectors, never NULL after loading. */
struct hull_config_hypervisor {
        /* binaries and boot assets */
        char *path; /* the VMM binary (unused by the built-in VMM) */
        char *ctlpath;
        char *jailer_path;
        char *kernel;
        char *initrd;
        char *image;
        char *rootfs_type;
        char *firmware;
        char *firmware_volume;
        char *kernel_params;
        char *kernel_verity_params; /* dm-verity of the guest image: root_hash=...,salt=... */
        char *vm_rootfs_driver; /* runtime-rs: virtio-blk-pci, virtio-blk-mmio, virtio-pmem, ... */
        char *machine_type;
        char *machine_accelerators;
        char *cpu_features;
        char *seccompsandbox;
        char *extra_monitor_socket;
        char *remote_hypervisor_socket;
        char *hypervisor_socket; /* runtime-rs spelling of the remote socket */
        char *prefetch_list_path;
        char **pflashes;
        char **valid_hypervisor_paths;
        char **valid_ctlpaths;
        char **valid_jailer_paths;
        char **enable_annotations;

        /* CPU and memory */
        double default_vcpus; /* <0: all host CPUs; 0: Kata's default (1) */
        uint32_t default_maxvcpus; /* 0: host CPUs */
        uint32_t default_memory; /* MiB */
        uint32_t memory_slots;
        uint64_t default_maxmemory; /* MiB, 0: host RAM */
        uint64_t memory_offset;
        uint32_t default_bridges;
        bool enable_virtio_mem;
        bool enable_mem_prealloc;
        bool enable_hugepages;
        char *hugepage_type; /* hugetlbfs, thp */
        char *file_mem_backend;
        char **valid_file_mem_backends;
        bool reclaim_guest_freed_memory;
        bool enable_guest_swap;

        /* storage and shared file system */
        bool disable_block_device_use;
        char *shared_fs; /* virtio-fs, virtio-fs-nydus, virtio-9p, none */
        char *virtio_fs_daemon;
        char **valid_virtio_fs_daemon_paths;
        uint32_t virtio_fs_cache_size; /* MiB of DAX window */
        uint32_t virtio_fs_queue_size;
        char **virtio_fs_extra_args;
        bool virtio_fs_is_dax;
        char *virtio_fs_cache; /* never, auto, always (also Kata's older none/metadata) */
        char *virtio_fs_inode_file_handles; /* never, prefer, mandatory */
        uint32_t msize_9p;
        char *block_device_driver; /* virtio-scsi, virtio-blk, virtio-mmio, nvdimm, virtio-blk-ccw, virtio-blk-pci */
        char *block_device_aio; /* threads, native, io_uring */
        bool block_device_cache_set;
        bool block_device_cache_direct;
        bool block_device_cache_noflush;
        bool enable_iothreads;
        uint32_t indep_iothreads;
        bool enable_vhost_user_store;
        char *vhost_user_store_path;
        char **valid_vhost_user_store_paths;
        uint32_t vhost_user_reconnect_timeout_sec;
        bool disable_image_nvdimm;

        /* devices */
        bool enable_iommu;
        bool enable_iommu_platform;
        bool hotplug_vfio_on_root_bus;
        char *hot_plug_vfio; /* no-port, bridge-port, root-port, switch-port */
        char *cold_plug_vfio;
        uint32_t pcie_root_port;
        uint32_t pcie_switch_port;
        bool disable_vhost_net;
        uint32_t network_queues;
        char *entropy_source;
        char **valid_entropy_sources;
        bool use_legacy_serial;

        /* rate limiters (0: unlimited) */
        uint64_t rx_rate_limiter_max_rate;
        uint64_t tx_rate_limiter_max_rate;
        int64_t disk_rate_limiter_bw_max_rate;
        int64_t disk_rate_limiter_bw_one_time_burst;
        int64_t disk_rate_limiter_ops_max_rate;
        int64_t disk_rate_limiter_ops_one_time_burst;
        int64_t net_rate_limiter_bw_max_rate;
        int64_t net_rate_limiter_bw_one_time_burst;
        int64_t net_rate_limiter_ops_max_rate;
        int64_t net_rate_limiter_ops_one_time_burst;

        /* security and debugging */
        bool confidential_guest;
        bool sev_snp_guest;
        uint32_t tdx_quote_generation_service_socket_port;
        bool rootless;
        bool disable_seccomp;
        bool disable_selinux;
        bool disable_guest_selinux;
        bool enable_debug;
        uint32_t hypervisor_loglevel; /* 0..3 */
        char *log_level; /* runtime-rs: trace, debug, info, warn, error, critical */
        char *dbg_monitor_socket; /* runtime-rs spelling of extra_monitor_socket */
        bool disable_nesting_checks;
        char *guest_hook_path;
        char *guest_memory_dump_path;
        bool guest_memory_dump_paging;
        uint32_t remote_hypervisor_timeout;
        int32_t hypervisor_timeout; /* runtime-rs spelling, seconds */
};

/* [agent.kata.mem_agent] (runtime-rs): the guest memory agent. */
struct hull_config_mem_agent {
        bool mem_agent_enable;
        bool memcg_disable;
        bool memcg_swap;
        uint32_t memcg_swappiness_max;
        uint64_t memcg_period_secs;
        uint32_t memcg_period_psi_percent_limit;
        uint32_t memcg_eviction_psi_percent_limit;
        uint64_t memcg_eviction_run_aging_count_min;
        bool compact_disable;
        uint64_t compact_period_secs;
        uint32_t compact_period_psi_percent_limit;
        uint32_t compact_psi_percent_limit;
        int64_t compact_sec_max;
        uint32_t compact_order;
        uint64_t compact_threshold;
        uint64_t compact_force_times;
};

/* [agent.kata] */
struct hull_config_agent {
        bool enable_debug;
        bool enable_tracing;
        bool debug_console_enabled;
        char **kernel_modules;
        uint32_t dial_timeout; /* seconds */
        uint32_t cdh_api_timeout; /* seconds */
        /* runtime-rs spellings */
        uint32_t dial_timeout_ms;
        uint32_t reconnect_timeout_ms;
        uint32_t request_timeout_ms;
        uint32_t health_check_request_timeout_ms;
        uint32_t server_port; /* vsock port of the agent, 1024 */
        uint32_t log_port;
        uint32_t passfd_listener_port;
        uint32_t container_pipe_size;
        uint32_t create_container_timeout; /* runtime-rs: seconds */
        char *log_level;
        struct hull_config_mem_agent mem_agent;
};

/* [runtime] */
struct hull_config_runtime {
        bool enable_debug;
        bool enable_tracing;
        char *jaeger_endpoint;
        char *jaeger_user;
        char *jaeger_password;
        char *internetworking_model; /* tcfilter, macvtap, none */
        bool disable_new_netns;
        bool disable_guest_seccomp;
        bool enable_vcpus_pinning;
        char *guest_selinux_label;
        bool sandbox_cgroup_only;
        bool static_sandbox_resource_mgmt;
        char **sandbox_bind_mounts;
        char *vfio_mode; /* vfio, guest-kernel */
        bool disable_guest_empty_dir;
        char **experimental;
        bool enable_pprof;
        uint64_t create_container_timeout; /* seconds */
        char *dan_conf;
        /* runtime-rs */
        char *name;
        char *hypervisor_name;
        char *agent_name;
        bool keep_abnormal;
        bool use_passfd_io;
        bool experimental_force_guest_pull;
        char *pod_resource_api_sock; /* kubelet's pod-resources socket (VFIO cold plug) */
        uint32_t passfd_listener_port;
        char *log_level;
};

/* [factory] */
struct hull_config_factory {
        bool enable_template;
        char *template_path;
        uint32_t vm_cache_number;
        char *vm_cache_endpoint;
};

/* [image] (older Kata releases) */
struct hull_config_image {
        char *provision;
        bool service_offload;
};

enum hull_config_warning_kind {
        HULL_CONFIG_WARNING_UNSUPPORTED, /* a Kata key hull parses and keeps but does not act on yet */
        HULL_CONFIG_WARNING_UNKNOWN_KEY,
        HULL_CONFIG_WARNING_UNKNOWN_SECTION,
};

struct hull_config_warning {
        enum hull_config_warning_kind kind;
        unsigned line;
        char *key; /* "hypervisor.qemu.rootless", or the section name */
        char *text; /* "<file>:<line>: <key>: not supported yet" — ready to log */
};

struct hull_config {
        char *path; /* the file loaded, NULL when built from defaults only */
        enum hull_config_hypervisor_kind hypervisor_kind;
        bool hypervisor_section_present; /* false: no [hypervisor.X], QEMU defaults apply as in Kata */
        struct hull_config_hypervisor hypervisor;
        struct hull_config_agent agent;
        struct hull_config_runtime runtime;
        struct hull_config_factory factory;
        struct hull_config_image image;
        /* The parsed file, kept for values hull has no field for (runtime.shared_mounts, ...). */
        struct hull_toml_value *toml;

        struct hull_config_warning *warnings;
        size_t n_warnings;
};

/* A configuration holding only Kata's defaults for the given hypervisor. */
int hull_config_new_default(enum hull_config_hypervisor_kind kind, struct hull_config **ret, struct hull_error **err);

/* Parse and validate one file. Errors name "<file>:<line>: <section>.<key>: ..."; warnings for
 * unknown and not-yet-supported keys land in (*ret)->warnings for the caller to log. */
int hull_config_load_file(const char *path, struct hull_config **ret, struct hull_error **err);

/* Same, from memory; filename is used in messages only. */
int hull_config_load_data(const char *data, size_t len, const char *filename, struct hull_config **ret,
                          struct hull_error **err);

/* Which file to load: explicit_path (--config) when not NULL, else $HULL_CONF_FILE, else
 * /etc/hull/configuration.toml, else HULL_DEFAULTS_DIR/configuration.toml, else (uninstalled build
 * tree) HULL_BUILD_DIR/configs/configuration.toml. An explicit path or $HULL_CONF_FILE that does
 * not exist is an error, never silently skipped. -ENOENT when none exists. */
int hull_config_find(const char *explicit_path, char **ret_path, struct hull_error **err);

/* hull_config_find() + hull_config_load_file(). */
int hull_config_load(const char *explicit_path, struct hull_config **ret, struct hull_error **err);

/* Warnings collected while loading, in file order. */
size_t hull_config_get_warnings(const struct hull_config *c, const struct hull_config_warning **ret);

/* Print the effective configuration: every known key of the active sections with its value, as TOML. */
int hull_config_write_toml(const struct hull_config *c, FILE *out, struct hull_error **err);

struct hull_config *hull_config_free(struct hull_config *c);
HULL_DEFINE_FREEP(struct hull_config, hull_config_free)
