/* Running Debian's virtiofsd (QEMU's C daemon, `--fd=N -o source=DIR -o cache=MODE -o sandbox=namespace`) for one
 * sandbox, on a listening socket hull made, and stopping it again. */
#include "virtiofsd.h"

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "argv.h"
#include "child.h"
#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"

struct hull_virtiofsd {
        struct hull_child child;
        char *socket_path;
        char *log_path;
        struct hull_loop_source *watch;
        hull_virtiofsd_exit_cb cb;
        void *userdata;
};

static const char *const log_prefixes[] = { "virtiofsd", "/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", NULL };

static int cache_mode(const char *cache, const char **ret, struct hull_error **err)
{
        if (!cache || !*cache || streq(cache, "auto"))
                *ret = "auto";
        else if (streq(cache, "always"))
                *ret = "always";
        else if (streq(cache, "none") || streq(cache, "never")) /* Kata (Rust virtiofsd) says never */
                *ret = "none";
        else
                return hull_error_set(err, EINVAL, "virtio-fs cache mode '%s': expected auto, always or never", cache);
        return 0;
}

int hull_virtiofsd_build_argv(const struct hull_virtiofsd_config *cfg, char ***ret_argv, struct hull_error **err)
{
        _cleanup_argv_ struct hull_argv a = { 0 };
        const char *cache = NULL;
        int r;

        if (!cfg->binary || !cfg->source)
                return hull_error_set(err, EINVAL, "virtiofsd: binary and source directory are required");
        /* fuse option parsing splits -o values at commas and has no escape for them. */
        if (strchr(cfg->source, ','))
                return hull_error_set(err, EINVAL, "virtiofsd: shared directory '%s' contains a comma", cfg->source);
        r = cache_mode(cfg->cache, &cache, err);
        if (r < 0)
                return r;
        hull_argv_add(&a, cfg->binary);
        hull_argv_add(&a, "--fd=3");
        hull_argv_add(&a, "-o");
        hull_argv_addf(&a, "source=%s", cfg->source);
        hull_argv_add(&a, "-o");
        hull_argv_addf(&a, "cache=%s", cache);
        /* namespace (the default, spelled out): mount, pid and net namespaces and pivot_root into the export. */
        hull_argv_add(&a, "-o");
        hull_argv_add(&a, "sandbox=namespace");
        if (cfg->debug) {
                hull_argv_add(&a, "-o");
                hull_argv_add(&a, "log_level=debug");
        }
        hull_argv_add_strv(&a, cfg->extra_args);
        return hull_argv_finish(&a, ret_argv, err);
}

int hull_virtiofsd_start(const struct hull_virtiofsd_config *cfg, struct hull_virtiofsd **ret, struct hull_error **err)
{
        _cleanup_strv_ char **argv = NULL;
        _cleanup_close_ int listen_fd = -1;
        _cleanup_(hull_virtiofsd_freep) struct hull_virtiofsd *v = NULL;
        int r;

        r = hull_virtiofsd_build_argv(cfg, &argv, err);
        if (r < 0)
                return r;
        v = calloc(1, sizeof(*v));
        if (!v)
                return hull_error_oom(err);
        v->child = (struct hull_child)HULL_CHILD_INIT;
        v->socket_path = strdup(cfg->socket_path);
        v->log_path = strdup(cfg->log_path);
        if (!v->socket_path || !v->log_path)
                return hull_error_oom(err);
        if (unlink(cfg->socket_path) < 0 && errno != ENOENT)
                return hull_error_errno(err, errno, "virtiofsd: remove stale %s", cfg->socket_path);
        listen_fd = hull_unix_listen(cfg->socket_path, err);
        if (listen_fd < 0)
                return hull_error_prefix(err, "virtiofsd"), listen_fd;
        r = hull_child_spawn(argv, &listen_fd, 1, cfg->log_path, &v->child, err);
        if (r < 0) {
                unlink(cfg->socket_path);
                return hull_error_prefix(err, "virtiofsd"), r;
        }
        /* Our copy of the listening socket closes here: the daemon holds the only one, so a VMM that connects
         * after the daemon died is refused at once instead of waiting in the backlog. */
        log_debug("virtiofsd: pid %d exports %s on %s", (int)v->child.pid, cfg->source, cfg->socket_path);
        *ret = TAKE_PTR(v);
        return 0;
}

static int on_child_exit(struct hull_loop_source *src, pid_t pid, int status, void *userdata)
{
        struct hull_virtiofsd *v = userdata;
        char msg[640];

        v->watch = NULL;
        hull_child_set_reaped(&v->child, status);
        hull_child_describe_exit("virtiofsd", status, v->log_path, log_prefixes, msg, sizeof(msg));
        if (v->cb)
                v->cb(v, pid, status, msg, v->userdata);
        return 0;
}

int hull_virtiofsd_watch(struct hull_virtiofsd *v, struct hull_loop *loop, hull_virtiofsd_exit_cb cb, void *userdata,
                         struct hull_error **err)
{
        if (v->watch || v->child.reaped)
                return hull_error_set(err, EINVAL, "virtiofsd: already watched or gone");
        v->cb = cb;
        v->userdata = userdata;
        return hull_loop_add_child(loop, v->child.pid, on_child_exit, v, &v->watch, err);
}

pid_t hull_virtiofsd_pid(const struct hull_virtiofsd *v)
{
        return v->child.reaped ? 0 : v->child.pid;
}

int hull_virtiofsd_stop(struct hull_virtiofsd *v, int timeout_ms, int *ret_status)
{
        /* From here on we reap it ourselves. */
        hull_loop_source_remove(v->watch);
        v->watch = NULL;
        if (v->child.pid > 0 && !v->child.reaped && hull_child_wait(&v->child, timeout_ms) != 1)
                hull_child_terminate(&v->child, SIGTERM, 1000);
        if (v->socket_path)
                unlink(v->socket_path);
        if (ret_status)
                *ret_status = v->child.status;
        return 0;
}

struct hull_virtiofsd *hull_virtiofsd_free(struct hull_virtiofsd *v)
{
        if (!v)
                return NULL;
        hull_loop_source_remove(v->watch);
        hull_child_release(&v->child);
        if (v->socket_path)
                unlink(v->socket_path);
        free(v->socket_path);
        free(v->log_path);
        free(v);
        return NULL;
}
