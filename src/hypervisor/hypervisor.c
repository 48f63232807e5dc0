/* The driver registry and the checks every driver shares: the VM description (validation, copy, from the
 * configuration), the lifecycle state machine around the ops, and the event hand-off to the caller. */
#include "hypervisor.h"

#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "argv.h"
#include "driver.h"
#include "error.h"
#include "log.h"

static const struct hull_hypervisor_ops *const drivers[_HULL_CONFIG_HYPERVISOR_MAX] = {
        [HULL_CONFIG_HYPERVISOR_QEMU] = &hull_qemu_ops,
        [HULL_CONFIG_HYPERVISOR_BUILTIN] = &hull_builtin_ops,
};

static const char *const event_names[] = {
        [HULL_HV_EVENT_EXITED] = "exited",
        [HULL_HV_EVENT_SHUTDOWN] = "shutdown",
        [HULL_HV_EVENT_PAUSED] = "paused",
        [HULL_HV_EVENT_RESUMED] = "resumed",
        [HULL_HV_EVENT_DAEMON_EXITED] = "daemon-exited",
};

static const char *const state_names[] = {
        [HULL_HV_STATE_CREATED] = "created", [HULL_HV_STATE_RUNNING] = "running", [HULL_HV_STATE_PAUSED] = "paused",
        [HULL_HV_STATE_STOPPED] = "stopped", [HULL_HV_STATE_EXITED] = "exited",
};

const char *hull_hv_event_kind_to_string(enum hull_hv_event_kind kind)
{
        return (size_t)kind < ARRAY_SIZE(event_names) ? event_names[kind] : "unknown";
}

const char *hull_hv_state_to_string(enum hull_hv_state state)
{
        return (size_t)state < ARRAY_SIZE(state_names) ? state_names[state] : "unknown";
}

/* ---- descriptions ------------------------------------------------------------------------------------------ */

static int dup_str(const char *s, char **ret)
{
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

void hull_hv_device_clear(struct hull_hv_device *dev)
{
        if (!dev)
                return;
        free(dev->id);
        free(dev->block.path);
        if (dev->kind == HULL_HV_DEVICE_NET && dev->net.tap_fd >= 0)
                close(dev->net.tap_fd);
        memset(dev, 0, sizeof(*dev));
        dev->net.tap_fd = -1;
}

int hull_hv_device_copy(const struct hull_hv_device *src, struct hull_hv_device *dst, struct hull_error **err)
{
        struct hull_hv_device d = { .kind = src->kind, .block.read_only = src->block.read_only, .net.tap_fd = -1 };

        memcpy(d.net.mac, src->net.mac, sizeof(d.net.mac));
        d.net.mac[sizeof(d.net.mac) - 1] = '\0';
        if (dup_str(src->id, &d.id) < 0 || dup_str(src->block.path, &d.block.path) < 0) {
                hull_hv_device_clear(&d);
                return hull_error_oom(err);
        }
        if (src->kind == HULL_HV_DEVICE_NET && src->net.tap_fd >= 0) {
                d.net.tap_fd = fcntl(src->net.tap_fd, F_DUPFD_CLOEXEC, 3);
                if (d.net.tap_fd < 0) {
                        int e = errno;
                        hull_hv_device_clear(&d);
                        return hull_error_errno(err, e, "device %s: duplicate tap fd", src->id);
                }
        }
        *dst = d;
        return 0;
}

void hull_hv_desc_clear(struct hull_hv_desc *d)
{
        if (!d)
                return;
        free(d->id);
        free(d->binary);
        free(d->kernel);
        free(d->initrd);
        free(d->kernel_params);
        free(d->machine_type);
        free(d->machine_accelerators);
        free(d->cpu_features);
        free(d->state_dir);
        free(d->console_log);
        free(d->shared_dir);
        free(d->shared_tag);
        free(d->fs_daemon);
        free(d->fs_cache);
        hull_strv_free(d->fs_extra_args);
        free(d->netns_path);
        for (size_t i = 0; i < d->n_devices; i++)
                hull_hv_device_clear(&d->devices[i]);
        free(d->devices);
        memset(d, 0, sizeof(*d));
}

int hull_hv_desc_copy(const struct hull_hv_desc *src, struct hull_hv_desc *dst, struct hull_error **err)
{
        struct hull_hv_desc d = *src;
        int r = 0;

        d.devices = NULL;
        d.n_devices = 0;
        d.fs_extra_args = NULL;
        r |= dup_str(src->id, &d.id);
        r |= dup_str(src->binary, &d.binary);
        r |= dup_str(src->kernel, &d.kernel);
        r |= dup_str(src->initrd, &d.initrd);
        r |= dup_str(src->kernel_params, &d.kernel_params);
        r |= dup_str(src->machine_type, &d.machine_type);
        r |= dup_str(src->machine_accelerators, &d.machine_accelerators);
        r |= dup_str(src->cpu_features, &d.cpu_features);
        r |= dup_str(src->state_dir, &d.state_dir);
        r |= dup_str(src->console_log, &d.console_log);
        r |= dup_str(src->shared_dir, &d.shared_dir);
        r |= dup_str(src->shared_tag, &d.shared_tag);
        r |= dup_str(src->fs_daemon, &d.fs_daemon);
        r |= dup_str(src->fs_cache, &d.fs_cache);
        r |= dup_str(src->netns_path, &d.netns_path);
        r |= hull_strv_copy(src->fs_extra_args, &d.fs_extra_args);
        if (r == 0 && src->n_devices > 0) {
                d.devices = calloc(src->n_devices, sizeof(*d.devices));
                r = d.devices ? 0 : -ENOMEM;
        }
        if (r < 0) {
                hull_hv_desc_clear(&d);
                return hull_error_oom(err);
        }
        for (size_t i = 0; i < src->n_devices; i++) {
                r = hull_hv_device_copy(&src->devices[i], &d.devices[i], err);
                if (r < 0) {
                        hull_hv_desc_clear(&d);
                        return r;
                }
                d.n_devices++;
        }
        *dst = d;
        return 0;
}

static const char *nonempty(const char *s)
{
        return s && *s ? s : NULL;
}

int hull_hv_desc_from_config(const struct hull_config *cfg, struct hull_hv_desc *desc, struct hull_error **err)
{
        const struct hull_config_hypervisor *h = &cfg->hypervisor;
        const char *section = hull_config_hypervisor_kind_to_section(cfg->hypervisor_kind);
        struct hull_hv_desc d = { 0 };
        double vcpus = h->default_vcpus;
        int r = 0;

        /* Kata's Dragonball configuration says inline-virtio-fs (a virtio-fs server inside the VMM). The config
         * loader allows it for the built-in VMM only; hull's serves the same virtio-fs device through virtiofsd,
         * so a Kata file works as it is. */
        if (nonempty(h->shared_fs) && streq(h->shared_fs, "inline-virtio-fs") &&
            cfg->hypervisor_kind == HULL_CONFIG_HYPERVISOR_BUILTIN)
                log_info("hypervisor.%s.shared_fs inline-virtio-fs: virtio-fs served through virtiofsd (hull's "
                         "built-in VMM has no in-process virtio-fs server)",
                         section ? section : "?");
        else if (nonempty(h->shared_fs) && !streq(h->shared_fs, "virtio-fs") && !streq(h->shared_fs, "none"))
                return hull_error_set(err, EOPNOTSUPP, "hypervisor.%s.shared_fs '%s': hull supports virtio-fs or none",
                                      section ? section : "?", h->shared_fs);
        r |= dup_str(nonempty(h->path), &d.binary);
        r |= dup_str(nonempty(h->kernel), &d.kernel);
        r |= dup_str(nonempty(h->initrd), &d.initrd);
        r |= dup_str(nonempty(h->kernel_params), &d.kernel_params);
        r |= dup_str(nonempty(h->machine_type), &d.machine_type);
        r |= dup_str(nonempty(h->machine_accelerators), &d.machine_accelerators);
        r |= dup_str(nonempty(h->cpu_features), &d.cpu_features);
        r |= dup_str(nonempty(h->virtio_fs_daemon), &d.fs_daemon);
        r |= dup_str(nonempty(h->virtio_fs_cache), &d.fs_cache);
        r |= hull_strv_copy(h->virtio_fs_extra_args, &d.fs_extra_args);
        if (r < 0) {
                hull_hv_desc_clear(&d);
                return hull_error_oom(err);
        }
        /* Kata: negative means every host CPU, 0 means 1, fractions round up. */
        if (vcpus < 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                vcpus = n > 0 ? (double)n : 1;
        } else if (vcpus == 0)
                vcpus = 1;
        vcpus = ceil(vcpus);
        if (h->default_maxvcpus > 0 && vcpus > h->default_maxvcpus)
                vcpus = h->default_maxvcpus;
        d.vcpus = vcpus > HULL_HV_MAX_VCPUS ? HULL_HV_MAX_VCPUS : (unsigned)vcpus;
        d.memory_mib = h->default_memory ? h->default_memory : 2048;
        d.fs_queue_size = h->virtio_fs_queue_size;
        d.agent_port = cfg->agent.server_port ? cfg->agent.server_port : HULL_HV_AGENT_PORT;
        d.debug = h->enable_debug;
        /* ttyS0 whatever use_legacy_serial says: Debian's kernel has virtio_console as a module, so hvc0 would
         * miss everything before the agent loads it, panics included. */
        d.console = HULL_HV_CONSOLE_SERIAL;
        d.accel = HULL_HV_ACCEL_AUTO;
        d.channel = HULL_HV_CHANNEL_AUTO;
        hull_hv_desc_clear(desc);
        *desc = d;
        return 0;
}

static bool valid_device_id(const char *id)
{
        size_t n = 0;

        if (!id || !*id)
                return false;
        for (; id[n]; n++)
                if (!isalnum((unsigned char)id[n]) && id[n] != '-' && id[n] != '_')
                        return false;
        return n <= 32;
}

static bool valid_mac(const char *mac)
{
        if (!mac[0])
                return true;
        if (strlen(mac) != 17)
                return false;
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? mac[i] != ':' : !isxdigit((unsigned char)mac[i]))
                        return false;
        return true;
}

static int validate_device(const struct hull_hypervisor *hv, const struct hull_hv_device *dev, struct hull_error **err)
{
        if (!valid_device_id(dev->id))
                return hull_error_set(err, EINVAL, "device id '%s': use 1-32 of A-Z a-z 0-9 - _",
                                      dev->id ? dev->id : "");
        for (size_t i = 0; hv && i < hv->desc.n_devices; i++)
                if (streq(hv->desc.devices[i].id, dev->id))
                        return hull_error_set(err, EEXIST, "device %s: already added", dev->id);
        switch (dev->kind) {
        case HULL_HV_DEVICE_BLOCK:
                if (!dev->block.path || dev->block.path[0] != '/')
                        return hull_error_set(err, EINVAL, "device %s: block device needs an absolute path", dev->id);
                return 0;
        case HULL_HV_DEVICE_NET:
                if (dev->net.tap_fd < 0)
                        return hull_error_set(err, EINVAL, "device %s: net device needs a tap fd", dev->id);
                if (!valid_mac(dev->net.mac))
                        return hull_error_set(err, EINVAL, "device %s: MAC '%s' is not aa:bb:cc:dd:ee:ff", dev->id,
                                              dev->net.mac);
                return 0;
        }
        return hull_error_set(err, EINVAL, "device %s: unknown kind %d", dev->id, (int)dev->kind);
}

static int validate_desc(const struct hull_hv_desc *d, struct hull_error **err)
{
        struct stat st;

        if (!d->kernel || d->kernel[0] != '/')
                return hull_error_set(err, EINVAL, "kernel: an absolute path is required");
        if (d->initrd && *d->initrd && d->initrd[0] != '/')
                return hull_error_set(err, EINVAL, "initrd '%s': an absolute path is required", d->initrd);
        if (d->vcpus < 1 || d->vcpus > HULL_HV_MAX_VCPUS)
                return hull_error_set(err, EINVAL, "vCPUs: %u is not within 1..%d", d->vcpus, HULL_HV_MAX_VCPUS);
        if (d->memory_mib < HULL_HV_MIN_MEMORY_MIB || d->memory_mib > HULL_HV_MAX_MEMORY_MIB)
                return hull_error_set(err, EINVAL, "memory: %llu MiB is not within %d..%llu MiB",
                                      (unsigned long long)d->memory_mib, HULL_HV_MIN_MEMORY_MIB,
                                      (unsigned long long)HULL_HV_MAX_MEMORY_MIB);
        if (!d->state_dir || d->state_dir[0] != '/')
                return hull_error_set(err, EINVAL, "state directory: an absolute path is required");
        if (stat(d->state_dir, &st) < 0)
                return hull_error_errno(err, errno, "state directory %s", d->state_dir);
        if (!S_ISDIR(st.st_mode))
                return hull_error_set(err, ENOTDIR, "state directory %s is not a directory", d->state_dir);
        if (d->shared_dir) {
                if (stat(d->shared_dir, &st) < 0)
                        return hull_error_errno(err, errno, "shared directory %s", d->shared_dir);
                if (!S_ISDIR(st.st_mode))
                        return hull_error_set(err, ENOTDIR, "shared directory %s is not a directory", d->shared_dir);
                if (d->shared_tag && (!*d->shared_tag || strlen(d->shared_tag) > 36))
                        return hull_error_set(err, EINVAL, "shared fs tag '%s': 1-36 bytes", d->shared_tag);
        }
        for (size_t i = 0; i < d->n_devices; i++) {
                int r = validate_device(NULL, &d->devices[i], err);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(d->devices[j].id, d->devices[i].id))
                                return hull_error_set(err, EEXIST, "device %s: listed twice", d->devices[i].id);
        }
        return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------------------------- */

int hull_hypervisor_new(enum hull_config_hypervisor_kind kind, const struct hull_hv_desc *desc, struct hull_loop *loop,
                        hull_hv_event_cb cb, void *userdata, struct hull_hypervisor **ret, struct hull_error **err)
{
        _cleanup_(hull_hypervisor_freep) struct hull_hypervisor *hv = NULL;
        const char *name = hull_config_hypervisor_kind_to_string(kind);
        int r;

        if ((unsigned)kind >= _HULL_CONFIG_HYPERVISOR_MAX || !name)
                return hull_error_set(err, EINVAL, "unknown hypervisor kind %d", (int)kind);
        if (!drivers[kind])
                return hull_error_set(err, EOPNOTSUPP, "hypervisor '%s': hull has no driver for it yet", name);
        if (!loop)
                return hull_error_set(err, EINVAL, "%s: an event loop is required", name);
        r = validate_desc(desc, err);
        if (r < 0)
                return hull_error_prefix(err, "%s", name), r;
        hv = calloc(1, sizeof(*hv));
        if (!hv)
                return hull_error_oom(err);
        r = hull_hv_desc_copy(desc, &hv->desc, err);
        if (r < 0)
                return r;
        hv->loop = loop;
        hv->cb = cb;
        hv->userdata = userdata;
        hv->state = HULL_HV_STATE_CREATED;
        hv->ops = drivers[kind]; /* before create: destroy takes whatever a failed create left */
        r = hv->ops->create(hv, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(hv);
        return 0;
}

static int not_in_state(struct hull_hypervisor *hv, const char *what, struct hull_error **err)
{
        return hull_error_set(err, EINVAL, "%s: cannot %s a VM that is %s", hv->ops->name, what,
                              hull_hv_state_to_string(hv->state));
}

int hull_hypervisor_start(struct hull_hypervisor *hv, struct hull_error **err)
{
        int r;

        if (hv->state != HULL_HV_STATE_CREATED)
                return not_in_state(hv, "start", err);
        r = hv->ops->start(hv, err);
        if (r < 0) {
                /* Whatever went away took its resources along; a failed start cannot be retried. */
                hv->state = HULL_HV_STATE_EXITED;
                return r;
        }
        hv->state = HULL_HV_STATE_RUNNING;
        return 0;
}

int hull_hypervisor_stop(struct hull_hypervisor *hv, unsigned timeout_ms, int *ret_status, struct hull_error **err)
{
        int r;

        if (hv->state == HULL_HV_STATE_STOPPED) {
                if (ret_status)
                        *ret_status = 0;
                return 0;
        }
        r = hv->ops->stop(hv, timeout_ms ? timeout_ms : HULL_HV_STOP_TIMEOUT_MS, ret_status, err);
        if (r < 0)
                return r;
        hv->state = HULL_HV_STATE_STOPPED;
        return 0;
}

int hull_hypervisor_pause(struct hull_hypervisor *hv, struct hull_error **err)
{
        int r;

        if (!(hv->ops->capabilities(hv) & HULL_HV_CAP_PAUSE))
                return hull_error_set(err, EOPNOTSUPP, "%s: pause is not supported", hv->ops->name);
        if (hv->state == HULL_HV_STATE_PAUSED)
                return 0;
        if (hv->state != HULL_HV_STATE_RUNNING)
                return not_in_state(hv, "pause", err);
        r = hv->ops->pause(hv, err);
        if (r < 0)
                return r;
        hv->state = HULL_HV_STATE_PAUSED;
        return 0;
}

int hull_hypervisor_resume(struct hull_hypervisor *hv, struct hull_error **err)
{
        int r;

        if (!(hv->ops->capabilities(hv) & HULL_HV_CAP_PAUSE))
                return hull_error_set(err, EOPNOTSUPP, "%s: resume is not supported", hv->ops->name);
        if (hv->state == HULL_HV_STATE_RUNNING)
                return 0;
        if (hv->state != HULL_HV_STATE_PAUSED)
                return not_in_state(hv, "resume", err);
        r = hv->ops->resume(hv, err);
        if (r < 0)
                return r;
        hv->state = HULL_HV_STATE_RUNNING;
        return 0;
}

int hull_hypervisor_add_device(struct hull_hypervisor *hv, const struct hull_hv_device *dev, struct hull_error **err)
{
        struct hull_hv_device *devices;
        int r;

        r = validate_device(hv, dev, err);
        if (r < 0)
                return hull_error_prefix(err, "%s", hv->ops->name), r;
        if (hv->state != HULL_HV_STATE_CREATED) {
                if (!(hv->ops->capabilities(hv) & HULL_HV_CAP_HOTPLUG) || !hv->ops->add_device)
                        return hull_error_set(err, EOPNOTSUPP, "%s: cannot add device %s to a running VM (no hotplug)",
                                              hv->ops->name, dev->id);
                if (hv->state != HULL_HV_STATE_RUNNING && hv->state != HULL_HV_STATE_PAUSED)
                        return not_in_state(hv, "add a device to", err);
                return hv->ops->add_device(hv, dev, err);
        }
        devices = realloc(hv->desc.devices, (hv->desc.n_devices + 1) * sizeof(*devices));
        if (!devices)
                return hull_error_oom(err);
        hv->desc.devices = devices;
        r = hull_hv_device_copy(dev, &devices[hv->desc.n_devices], err);
        if (r < 0)
                return r;
        hv->desc.n_devices++;
        return 0;
}

int hull_hypervisor_remove_device(struct hull_hypervisor *hv, const char *id, struct hull_error **err)
{
        if (hv->state != HULL_HV_STATE_CREATED) {
                if (!(hv->ops->capabilities(hv) & HULL_HV_CAP_HOTPLUG) || !hv->ops->remove_device)
                        return hull_error_set(err, EOPNOTSUPP,
                                              "%s: cannot remove device %s from a running VM (no hotplug)",
                                              hv->ops->name, id);
                return hv->ops->remove_device(hv, id, err);
        }
        for (size_t i = 0; i < hv->desc.n_devices; i++) {
                if (!streq(hv->desc.devices[i].id, id))
                        continue;
                hull_hv_device_clear(&hv->desc.devices[i]);
                memmove(&hv->desc.devices[i], &hv->desc.devices[i + 1],
                        (hv->desc.n_devices - i - 1) * sizeof(hv->desc.devices[0]));
                hv->desc.n_devices--;
                return 0;
        }
        return hull_error_set(err, ENOENT, "%s: no device %s", hv->ops->name, id);
}

int hull_hypervisor_resize_vcpus(struct hull_hypervisor *hv, unsigned vcpus, unsigned *ret_vcpus,
                                 struct hull_error **err)
{
        if (!(hv->ops->capabilities(hv) & HULL_HV_CAP_RESIZE_VCPUS) || !hv->ops->resize_vcpus)
                return hull_error_set(err, EOPNOTSUPP, "%s: changing the number of vCPUs is not supported",
                                      hv->ops->name);
        return hv->ops->resize_vcpus(hv, vcpus, ret_vcpus, err);
}

int hull_hypervisor_resize_memory(struct hull_hypervisor *hv, uint64_t mib, uint64_t *ret_mib, struct hull_error **err)
{
        if (!(hv->ops->capabilities(hv) & HULL_HV_CAP_RESIZE_MEMORY) || !hv->ops->resize_memory)
                return hull_error_set(err, EOPNOTSUPP, "%s: changing the memory size is not supported", hv->ops->name);
        return hv->ops->resize_memory(hv, mib, ret_mib, err);
}

int hull_hypervisor_agent_channel(struct hull_hypervisor *hv, struct hull_hv_channel *ret, struct hull_error **err)
{
        return hv->ops->agent_channel(hv, ret, err);
}

uint32_t hull_hypervisor_capabilities(struct hull_hypervisor *hv)
{
        return hv->ops->capabilities(hv);
}

size_t hull_hypervisor_pids(struct hull_hypervisor *hv, pid_t *ret, size_t max)
{
        return hv->ops->pids(hv, ret, max);
}

enum hull_hv_state hull_hypervisor_state(const struct hull_hypervisor *hv)
{
        return hv->state;
}

const char *hull_hypervisor_name(const struct hull_hypervisor *hv)
{
        return hv->ops->name;
}

const struct hull_hv_desc *hull_hypervisor_desc(const struct hull_hypervisor *hv)
{
        return &hv->desc;
}

void hull_hypervisor_emit(struct hull_hypervisor *hv, const struct hull_hv_event *ev)
{
        switch (ev->kind) {
        case HULL_HV_EVENT_EXITED:
                hv->state = HULL_HV_STATE_EXITED;
                break;
        case HULL_HV_EVENT_PAUSED:
                if (hv->state == HULL_HV_STATE_RUNNING)
                        hv->state = HULL_HV_STATE_PAUSED;
                break;
        case HULL_HV_EVENT_RESUMED:
                if (hv->state == HULL_HV_STATE_PAUSED)
                        hv->state = HULL_HV_STATE_RUNNING;
                break;
        default:
                break;
        }
        if (hv->cb)
                hv->cb(hv, ev, hv->userdata); /* last: for EXITED the callback may free hv */
}

struct hull_hypervisor *hull_hypervisor_free(struct hull_hypervisor *hv)
{
        if (!hv)
                return NULL;
        if (hv->ops)
                hv->ops->destroy(hv);
        hull_hv_desc_clear(&hv->desc);
        free(hv);
        return NULL;
}
