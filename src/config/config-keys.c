/* The key tables of Kata's configuration.toml: every key Kata's Go runtime and runtime-rs accept,
 * with Kata's types and defaults (katautils/config.go, kata-types/src/config/). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config-keys.h"
#include "hull-build-config.h"

#define ACT HULL_CONFIG_ACTED

/* One macro per value kind; ST is the struct the current table describes. */
#define K_BOOL(n, fl, d)                                                                                       \
        {                                                                                                      \
                .name = #n, .type = HULL_CONFIG_BOOL, .offset = offsetof(ST, n), .flags = (fl), .def_int = (d) \
        }
#define K_STR(n, fl, d, ch)                                                                                       \
        {                                                                                                         \
                .name = #n, .type = HULL_CONFIG_STRING, .offset = offsetof(ST, n), .flags = (fl), .def_str = (d), \
                .choices = (ch)                                                                                   \
        }
#define K_STRK(n, fl, dk, ch)                                                                     \
        {                                                                                         \
                .name = #n, .type = HULL_CONFIG_STRING, .offset = offsetof(ST, n), .flags = (fl), \
                .def_str_by_kind = (dk), .choices = (ch)                                          \
        }
#define K_PATH(n, fl, d)                                                                                       \
        {                                                                                                      \
                .name = #n, .type = HULL_CONFIG_PATH, .offset = offsetof(ST, n), .flags = (fl), .def_str = (d) \
        }
#define K_PATHK(n, fl, dk)                                                                      \
        {                                                                                       \
                .name = #n, .type = HULL_CONFIG_PATH, .offset = offsetof(ST, n), .flags = (fl), \
                .def_str_by_kind = (dk)                                                         \
        }
#define K_STRV(n, fl)                                                                          \
        {                                                                                      \
                .name = #n, .type = HULL_CONFIG_STRV, .offset = offsetof(ST, n), .flags = (fl) \
        }
#define K_PATHV(n, fl)                                                                          \
        {                                                                                       \
                .name = #n, .type = HULL_CONFIG_PATHV, .offset = offsetof(ST, n), .flags = (fl) \
        }
#define K_INT(t, n, fl, d, lo, hi)                                                                              \
        {                                                                                                       \
                .name = #n, .type = (t), .offset = offsetof(ST, n), .flags = (fl), .def_int = (d), .min = (lo), \
                .max = (hi)                                                                                     \
        }
#define K_U32(n, fl, d) K_INT(HULL_CONFIG_U32, n, fl, d, 0, 0)
#define K_I32(n, fl, d) K_INT(HULL_CONFIG_I32, n, fl, d, 0, 0)
#define K_U64(n, fl, d) K_INT(HULL_CONFIG_U64, n, fl, d, 0, 0)
#define K_I64(n, fl, d) K_INT(HULL_CONFIG_I64, n, fl, d, 0, 0)
#define K_FLOAT(n, fl, d)                                                                                         \
        {                                                                                                         \
                .name = #n, .type = HULL_CONFIG_FLOAT, .offset = offsetof(ST, n), .flags = (fl), .def_float = (d) \
        }

static const char *const shared_fs_choices[] = { "virtio-fs", "virtio-fs-nydus",
                                                 "virtio-9p", "inline-virtio-fs",
                                                 "none",      NULL };
/* Go runtime names (virtio-blk, virtio-mmio, nvdimm) and runtime-rs names (virtio-blk-pci, ...). */
static const char *const block_driver_choices[] = { "virtio-scsi",     "virtio-blk",     "virtio-mmio",
                                                    "nvdimm",          "virtio-blk-ccw", "virtio-blk-pci",
                                                    "virtio-blk-mmio", "virtio-pmem",    NULL };
/* "none" and "metadata" are the pre-2.5 spellings Kata still reads. */
static const char *const virtio_fs_cache_choices[] = { "never", "auto", "always", "none", "metadata", NULL };
static const char *const inode_handles_choices[] = { "never", "prefer", "mandatory", NULL };
static const char *const aio_choices[] = { "threads", "native", "io_uring", NULL };
static const char *const pcie_port_choices[] = { "no-port", "bridge-port", "root-port", "switch-port", NULL };
static const char *const monitor_choices[] = { "hmp", "qmp", "qmp-pretty", NULL };
static const char *const rootfs_type_choices[] = { "ext4", "xfs", "erofs", NULL };
static const char *const hugepage_choices[] = { "hugetlbfs", "thp", NULL };
static const char *const log_level_choices[] = { "trace", "debug", "info", "warn", "error", "critical", NULL };
static const char *const netmodel_choices[] = { "tcfilter", "macvtap", "none", NULL };
static const char *const vfio_mode_choices[] = { "vfio", "guest-kernel", NULL };

/* Per-kind defaults, indexed by enum hull_config_hypervisor_kind: QEMU, CLH, FC, BUILTIN, STRATOVIRT. */
static const char *const def_path[] = { "/usr/bin/qemu-system-x86_64", "/usr/bin/cloud-hypervisor",
                                        "/usr/bin/firecracker", "", "/usr/bin/stratovirt" };
static const char *const def_machine_type[] = { "q35", "", "", "", "microvm" };
static const char *const def_block_driver[] = { "virtio-scsi", "virtio-blk", "virtio-mmio", "virtio-blk-mmio",
                                                "virtio-mmio" };
static const char *const def_rootfs_driver[] = { "virtio-blk-pci", "virtio-blk-pci", "virtio-blk-mmio",
                                                 "virtio-blk-mmio", "virtio-blk-mmio" };
/* Firecracker has no shared file system; the built-in VMM serves virtio-fs in process. */
static const char *const def_shared_fs[] = { "virtio-fs", "virtio-fs", "none", "inline-virtio-fs", "virtio-fs" };
static const char *const def_virtiofsd[] = { "/usr/lib/qemu/virtiofsd", "/usr/lib/qemu/virtiofsd", "", "",
                                             "/usr/lib/qemu/virtiofsd" };

/* The guest kernel the build made (meson option guest_kernel): QEMU boots the bzImage, the others the PVH ELF. */
static const char *const def_kernel[] = { HULL_DATA_DIR "/" HULL_GUEST_KERNEL_BZIMAGE,
                                          HULL_DATA_DIR "/" HULL_GUEST_KERNEL_ELF,
                                          HULL_DATA_DIR "/" HULL_GUEST_KERNEL_ELF,
                                          HULL_DATA_DIR "/" HULL_GUEST_KERNEL_ELF,
                                          HULL_DATA_DIR "/" HULL_GUEST_KERNEL_ELF };

#define ST struct hull_config_hypervisor
static const struct hull_config_key hypervisor_keys[] = {
        K_PATHK(path, ACT, def_path),
        K_PATH(ctlpath, 0, NULL),
        K_PATH(jailer_path, 0, NULL),
        K_PATHK(kernel, ACT, def_kernel),
        K_PATH(initrd, ACT, NULL), /* hull's initrd is filled in when neither initrd nor image is set */
        K_PATH(image, 0, NULL), /* booting from a disk image is not implemented yet */
        K_STR(rootfs_type, 0, "ext4", rootfs_type_choices),
        K_PATH(firmware, 0, NULL),
        K_PATH(firmware_volume, 0, NULL),
        K_STR(kernel_params, ACT, NULL, NULL),
        K_STR(kernel_verity_params, 0, NULL, NULL),
        K_STRK(vm_rootfs_driver, 0, def_rootfs_driver, block_driver_choices),
        K_STRK(machine_type, ACT, def_machine_type, NULL), /* values checked per hypervisor in config.c */
        K_STR(machine_accelerators, ACT, NULL, NULL),
        K_STR(cpu_features, ACT, NULL, NULL),
        K_STR(seccompsandbox, 0, NULL, NULL),
        K_STR(extra_monitor_socket, 0, NULL, monitor_choices),
        K_PATH(remote_hypervisor_socket, 0, NULL),
        K_PATH(hypervisor_socket, 0, NULL),
        K_PATH(prefetch_list_path, 0, NULL),
        K_PATHV(pflashes, 0),
        K_STRV(valid_hypervisor_paths, 0),
        K_STRV(valid_ctlpaths, 0),
        K_STRV(valid_jailer_paths, 0),
        K_STRV(enable_annotations, 0),

        K_FLOAT(default_vcpus, ACT, 1),
        K_U32(default_maxvcpus, ACT, 0),
        K_INT(HULL_CONFIG_U32, default_memory, ACT, 2048, 1, UINT32_MAX),
        K_U32(memory_slots, 0, 10),
        K_U64(default_maxmemory, 0, 0),
        K_U64(memory_offset, 0, 0),
        K_U32(default_bridges, 0, 1),
        K_BOOL(enable_virtio_mem, 0, false),
        K_BOOL(enable_mem_prealloc, 0, false),
        K_BOOL(enable_hugepages, 0, false),
        K_STR(hugepage_type, 0, "hugetlbfs", hugepage_choices),
        K_PATH(file_mem_backend, 0, NULL),
        K_STRV(valid_file_mem_backends, 0),
        K_BOOL(reclaim_guest_freed_memory, 0, false),
        K_BOOL(enable_guest_swap, 0, false),

        K_BOOL(disable_block_device_use, ACT, false),
        K_STRK(shared_fs, ACT, def_shared_fs, shared_fs_choices),
        K_PATHK(virtio_fs_daemon, ACT, def_virtiofsd),
        K_STRV(valid_virtio_fs_daemon_paths, 0),
        K_U32(virtio_fs_cache_size, 0, 0),
        K_U32(virtio_fs_queue_size, ACT, 1024),
        K_STRV(virtio_fs_extra_args, ACT),
        K_BOOL(virtio_fs_is_dax, 0, false),
        K_STR(virtio_fs_cache, ACT, "never", virtio_fs_cache_choices),
        K_STR(virtio_fs_inode_file_handles, 0, "prefer", inode_handles_choices),
        K_U32(msize_9p, 0, 8192),
        K_STRK(block_device_driver, ACT, def_block_driver, block_driver_choices),
        K_STR(block_device_aio, 0, "io_uring", aio_choices),
        K_BOOL(block_device_cache_set, 0, false),
        K_BOOL(block_device_cache_direct, 0, false),
        K_BOOL(block_device_cache_noflush, 0, false),
        K_BOOL(enable_iothreads, 0, false),
        K_U32(indep_iothreads, 0, 0),
        K_BOOL(enable_vhost_user_store, 0, false),
        K_PATH(vhost_user_store_path, 0, "/var/run/kata-containers/vhost-user"),
        K_STRV(valid_vhost_user_store_paths, 0),
        K_U32(vhost_user_reconnect_timeout_sec, 0, 0),
        K_BOOL(disable_image_nvdimm, 0, false),

        K_BOOL(enable_iommu, 0, false),
        K_BOOL(enable_iommu_platform, 0, false),
        K_BOOL(hotplug_vfio_on_root_bus, 0, false),
        K_STR(hot_plug_vfio, 0, "no-port", pcie_port_choices),
        K_STR(cold_plug_vfio, 0, "no-port", pcie_port_choices),
        K_U32(pcie_root_port, 0, 0),
        K_U32(pcie_switch_port, 0, 0),
        K_BOOL(disable_vhost_net, 0, false),
        K_U32(network_queues, 0, 0),
        K_PATH(entropy_source, ACT, "/dev/urandom"),
        K_STRV(valid_entropy_sources, 0),
        K_BOOL(use_legacy_serial, 0, false),

        K_U64(rx_rate_limiter_max_rate, 0, 0),
        K_U64(tx_rate_limiter_max_rate, 0, 0),
        K_I64(disk_rate_limiter_bw_max_rate, 0, 0),
        K_I64(disk_rate_limiter_bw_one_time_burst, 0, 0),
        K_I64(disk_rate_limiter_ops_max_rate, 0, 0),
        K_I64(disk_rate_limiter_ops_one_time_burst, 0, 0),
        K_I64(net_rate_limiter_bw_max_rate, 0, 0),
        K_I64(net_rate_limiter_bw_one_time_burst, 0, 0),
        K_I64(net_rate_limiter_ops_max_rate, 0, 0),
        K_I64(net_rate_limiter_ops_one_time_burst, 0, 0),

        K_BOOL(confidential_guest, 0, false),
        K_BOOL(sev_snp_guest, 0, false),
        K_U32(tdx_quote_generation_service_socket_port, 0, 4050),
        K_BOOL(rootless, 0, false),
        K_BOOL(disable_seccomp, 0, false),
        K_BOOL(disable_selinux, 0, false),
        K_BOOL(disable_guest_selinux, 0, true),
        K_BOOL(enable_debug, ACT, false),
        K_INT(HULL_CONFIG_U32, hypervisor_loglevel, 0, 1, 0, 3),
        K_STR(log_level, 0, "info", log_level_choices),
        K_STR(dbg_monitor_socket, 0, NULL, monitor_choices),
        K_BOOL(disable_nesting_checks, 0, false),
        K_STR(guest_hook_path, 0, NULL, NULL), /* a path inside the guest: taken as written */
        K_PATH(guest_memory_dump_path, 0, NULL),
        K_BOOL(guest_memory_dump_paging, 0, false),
        K_U32(remote_hypervisor_timeout, 0, 600),
        K_I32(hypervisor_timeout, 0, 0),
};
#undef ST

#define ST struct hull_config_mem_agent
static const struct hull_config_key mem_agent_keys[] = {
        K_BOOL(mem_agent_enable, 0, false),
        { .name = "enable",
          .type = HULL_CONFIG_BOOL,
          .offset = offsetof(ST, mem_agent_enable),
          .flags = HULL_CONFIG_ALIAS },
        K_BOOL(memcg_disable, 0, false),
        K_BOOL(memcg_swap, 0, false),
        K_INT(HULL_CONFIG_U32, memcg_swappiness_max, 0, 50, 0, UINT8_MAX),
        K_U64(memcg_period_secs, 0, 600),
        K_INT(HULL_CONFIG_U32, memcg_period_psi_percent_limit, 0, 1, 0, 100),
        K_INT(HULL_CONFIG_U32, memcg_eviction_psi_percent_limit, 0, 1, 0, 100),
        K_U64(memcg_eviction_run_aging_count_min, 0, 3),
        K_BOOL(compact_disable, 0, false),
        K_U64(compact_period_secs, 0, 600),
        K_INT(HULL_CONFIG_U32, compact_period_psi_percent_limit, 0, 1, 0, 100),
        K_INT(HULL_CONFIG_U32, compact_psi_percent_limit, 0, 5, 0, 100),
        K_I64(compact_sec_max, 0, 180),
        K_INT(HULL_CONFIG_U32, compact_order, 0, 9, 0, UINT8_MAX),
        K_U64(compact_threshold, 0, 1024),
        /* Kata's default is u64::MAX ("never"); a TOML integer stops at INT64_MAX, which means the same. */
        K_U64(compact_force_times, 0, INT64_MAX),
};
#undef ST

static const struct hull_config_section mem_agent_section = {
        .name = "mem_agent",
        .keys = mem_agent_keys,
        .n_keys = ARRAY_SIZE(mem_agent_keys),
};

#define ST struct hull_config_agent
static const struct hull_config_key agent_keys[] = {
        K_BOOL(enable_debug, ACT, false),
        K_BOOL(enable_tracing, 0, false),
        K_BOOL(debug_console_enabled, 0, false),
        K_STRV(kernel_modules, ACT),
        K_U32(dial_timeout, ACT, 45),
        K_U32(cdh_api_timeout, 0, 50),
        K_INT(HULL_CONFIG_U32, dial_timeout_ms, ACT, 10, 1, UINT32_MAX),
        K_U32(reconnect_timeout_ms, 0, 3000),
        K_U32(request_timeout_ms, 0, 30000),
        K_U32(health_check_request_timeout_ms, 0, 90000),
        K_U32(server_port, ACT, 1024),
        K_U32(log_port, 0, 1025),
        K_U32(passfd_listener_port, 0, 1027),
        K_U32(container_pipe_size, 0, 0),
        K_U32(create_container_timeout, 0, 30),
        K_STR(log_level, ACT, "info", log_level_choices),
        { .name = "mem_agent",
          .type = HULL_CONFIG_TABLE,
          .offset = offsetof(ST, mem_agent),
          .sub = &mem_agent_section },
};
#undef ST

#define ST struct hull_config_runtime
static const struct hull_config_key runtime_keys[] = {
        K_BOOL(enable_debug, ACT, false),
        K_BOOL(enable_tracing, 0, false),
        K_STR(jaeger_endpoint, 0, NULL, NULL),
        K_STR(jaeger_user, 0, NULL, NULL),
        K_STR(jaeger_password, 0, NULL, NULL),
        K_STR(internetworking_model, ACT, "tcfilter", netmodel_choices),
        K_BOOL(disable_new_netns, 0, false),
        K_BOOL(disable_guest_seccomp, ACT, true),
        K_BOOL(enable_vcpus_pinning, 0, false),
        K_STR(guest_selinux_label, 0, NULL, NULL),
        K_BOOL(sandbox_cgroup_only, 0, false),
        K_BOOL(static_sandbox_resource_mgmt, 0, false),
        K_STRV(sandbox_bind_mounts, 0),
        K_STR(vfio_mode, 0, "guest-kernel", vfio_mode_choices),
        K_BOOL(disable_guest_empty_dir, 0, false),
        K_STRV(experimental, 0),
        K_BOOL(enable_pprof, 0, false),
        K_U64(create_container_timeout, ACT, 60),
        K_PATH(dan_conf, 0, "/run/kata-containers/dans"),
        K_STR(name, ACT, NULL, NULL),
        K_STR(hypervisor_name, ACT, NULL, NULL),
        K_STR(agent_name, ACT, NULL, NULL),
        K_BOOL(keep_abnormal, 0, false),
        K_BOOL(use_passfd_io, 0, false),
        K_BOOL(experimental_force_guest_pull, 0, false),
        K_STR(pod_resource_api_sock, 0, NULL, NULL),
        K_U32(passfd_listener_port, 0, 1027),
        K_STR(log_level, ACT, "info", log_level_choices),
        { .name = "shared_mounts", .type = HULL_CONFIG_ARRAY },
};
#undef ST

#define ST struct hull_config_factory
static const struct hull_config_key factory_keys[] = {
        K_BOOL(enable_template, 0, false),
        K_PATH(template_path, 0, "/run/vc/vm/template"),
        K_U32(vm_cache_number, 0, 0),
        K_PATH(vm_cache_endpoint, 0, "/var/run/kata-containers/cache.sock"),
};
#undef ST

#define ST struct hull_config_image
static const struct hull_config_key image_keys[] = {
        K_STR(provision, 0, NULL, NULL),
        K_BOOL(service_offload, 0, false),
};
#undef ST

const struct hull_config_section hull_config_section_hypervisor = { "hypervisor", hypervisor_keys,
                                                                    ARRAY_SIZE(hypervisor_keys) };
const struct hull_config_section hull_config_section_agent = { "agent", agent_keys, ARRAY_SIZE(agent_keys) };
const struct hull_config_section hull_config_section_runtime = { "runtime", runtime_keys, ARRAY_SIZE(runtime_keys) };
const struct hull_config_section hull_config_section_factory = { "factory", factory_keys, ARRAY_SIZE(factory_keys) };
const struct hull_config_section hull_config_section_image = { "image", image_keys, ARRAY_SIZE(image_keys) };

const char *hull_config_key_default_str(const struct hull_config_key *k, enum hull_config_hypervisor_kind kind)
{
        if (k->def_str_by_kind && kind >= 0 && kind < _HULL_CONFIG_HYPERVISOR_MAX)
                return k->def_str_by_kind[kind];
        return k->def_str ? k->def_str : "";
}

void hull_config_key_range(const struct hull_config_key *k, int64_t *ret_min, int64_t *ret_max)
{
        if (k->min != 0 || k->max != 0) {
                *ret_min = k->min;
                *ret_max = k->max;
                return;
        }
        switch (k->type) {
        case HULL_CONFIG_I32:
                *ret_min = INT32_MIN;
                *ret_max = INT32_MAX;
                break;
        case HULL_CONFIG_U32:
                *ret_min = 0;
                *ret_max = UINT32_MAX;
                break;
        case HULL_CONFIG_U64:
                *ret_min = 0;
                *ret_max = INT64_MAX;
                break;
        default:
                *ret_min = INT64_MIN;
                *ret_max = INT64_MAX;
                break;
        }
}

int hull_config_keys_set_defaults(const struct hull_config_section *section, void *base,
                                  enum hull_config_hypervisor_kind kind)
{
        for (size_t i = 0; i < section->n_keys; i++) {
                const struct hull_config_key *k = &section->keys[i];
                void *p = (char *)base + k->offset;

                if (k->flags & HULL_CONFIG_ALIAS)
                        continue;
                switch (k->type) {
                case HULL_CONFIG_BOOL:
                        *(bool *)p = k->def_int != 0;
                        break;
                case HULL_CONFIG_STRING:
                case HULL_CONFIG_PATH: {
                        char *s = strdup(hull_config_key_default_str(k, kind));
                        if (!s)
                                return -ENOMEM;
                        free(*(char **)p);
                        *(char **)p = s;
                        break;
                }
                case HULL_CONFIG_STRV:
                case HULL_CONFIG_PATHV: {
                        char **v = calloc(1, sizeof(char *));
                        if (!v)
                                return -ENOMEM;
                        *(char ***)p = v;
                        break;
                }
                case HULL_CONFIG_I32:
                        *(int32_t *)p = (int32_t)k->def_int;
                        break;
                case HULL_CONFIG_U32:
                        *(uint32_t *)p = (uint32_t)k->def_int;
                        break;
                case HULL_CONFIG_I64:
                        *(int64_t *)p = k->def_int;
                        break;
                case HULL_CONFIG_U64:
                        *(uint64_t *)p = (uint64_t)k->def_int;
                        break;
                case HULL_CONFIG_FLOAT:
                        *(double *)p = k->def_float;
                        break;
                case HULL_CONFIG_ARRAY:
                        break;
                case HULL_CONFIG_TABLE: {
                        int r = hull_config_keys_set_defaults(k->sub, p, kind);
                        if (r < 0)
                                return r;
                        break;
                }
                }
        }
        return 0;
}

static void strv_free(char **v)
{
        if (!v)
                return;
        for (char **i = v; *i; i++)
                free(*i);
        free(v);
}

void hull_config_keys_free(const struct hull_config_section *section, void *base)
{
        for (size_t i = 0; i < section->n_keys; i++) {
                const struct hull_config_key *k = &section->keys[i];
                void *p = (char *)base + k->offset;

                if (k->flags & HULL_CONFIG_ALIAS)
                        continue;
                switch (k->type) {
                case HULL_CONFIG_STRING:
                case HULL_CONFIG_PATH:
                        free(*(char **)p);
                        *(char **)p = NULL;
                        break;
                case HULL_CONFIG_STRV:
                case HULL_CONFIG_PATHV:
                        strv_free(*(char ***)p);
                        *(char ***)p = NULL;
                        break;
                case HULL_CONFIG_TABLE:
                        hull_config_keys_free(k->sub, p);
                        break;
                default:
                        break;
                }
        }
}
