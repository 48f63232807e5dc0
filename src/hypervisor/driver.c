/* What the drivers share beyond the ops table: the id their log lines carry, the once-per-process KVM probe, and
 * the sandbox's virtiofsd (checked at create, started and watched at start, stopped at teardown). */
#include "driver.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "error.h"
#include "host/kvm-probe.h"

#define DAEMON_STOP_TIMEOUT_MS 1000

static pthread_once_t kvm_once = PTHREAD_ONCE_INIT;
static struct hull_kvm_probe_result kvm_result;

const char *hull_hv_id(const struct hull_hypervisor *hv)
{
        return hv->desc.id ? hv->desc.id : "-";
}

static void kvm_probe_once(void)
{
        hull_kvm_probe(NULL, 0, &kvm_result);
}

const struct hull_kvm_probe_result *hull_hv_kvm_probe(void)
{
        pthread_once(&kvm_once, kvm_probe_once);
        return &kvm_result;
}

static const char *fs_daemon(const struct hull_hv_desc *d)
{
        return d->fs_daemon ? d->fs_daemon : HULL_HV_VIRTIOFSD;
}

int hull_hv_check_fs_daemon(const struct hull_hypervisor *hv, struct hull_error **err)
{
        const char *daemon = fs_daemon(&hv->desc);

        if (daemon[0] != '/' || access(daemon, X_OK) < 0)
                return hull_error_errno(err, daemon[0] != '/' ? EINVAL : errno, "virtio-fs daemon %s", daemon);
        return 0;
}

int hull_hv_start_virtiofsd(struct hull_hypervisor *hv, const char *socket_path, const char *log_path,
                            hull_virtiofsd_exit_cb cb, struct hull_virtiofsd **ret, struct hull_error **err)
{
        const struct hull_hv_desc *d = &hv->desc;
        struct hull_virtiofsd_config vc = {
                .binary = fs_daemon(d),
                .source = d->shared_dir,
                .socket_path = socket_path,
                .log_path = log_path,
                .cache = d->fs_cache,
                .extra_args = d->fs_extra_args,
                .debug = d->debug,
        };
        _cleanup_(hull_virtiofsd_freep) struct hull_virtiofsd *v = NULL;
        int r;

        r = hull_virtiofsd_start(&vc, &v, err);
        if (r < 0)
                return r;
        r = hull_virtiofsd_watch(v, hv->loop, cb, hv, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

struct hull_virtiofsd *hull_hv_stop_virtiofsd(struct hull_virtiofsd *v)
{
        if (!v)
                return NULL;
        hull_virtiofsd_stop(v, DAEMON_STOP_TIMEOUT_MS, NULL);
        return hull_virtiofsd_free(v);
}

size_t hull_hv_add_pid(pid_t *ret, size_t max, size_t n, pid_t pid)
{
        if (pid <= 0)
                return n;
        if (n < max)
                ret[n] = pid;
        return n + 1;
}
