/* The sandbox: configuration -> VM description (annotations where allowed), the VM and its exit events, the
 * shared directory, the agent connection and CreateSandbox. */
#include <fcntl.h>
#include <dirent.h>
#include <json-c/json.h>
#include <regex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent.pb-c.h"
#include "config/config.h"
#include "error.h"
#include "fd.h"
#include "google_protobuf_any.pb-c.h"
#include "hypervisor/hypervisor.h"
#include "log.h"
#include "loop.h"
#include "rpc/pb.h"
#include "sandbox/agent-client.h"
#include "sandbox/network.h"
#include "sandbox/sandbox.h"
#include "sandbox/spec.h"
#include "sandbox/state.h"

struct hull_sandbox {
        struct hull_loop *loop;
        char *id;
        char *state_dir;
        char *shared_dir;
        char *config_path;
        struct hull_config *cfg;
        struct hull_hv_desc desc;
        struct hull_state *state;
        struct hull_hypervisor *hv;
        struct hull_agent *agent;
        struct hull_network *net; /* the pod's interfaces mirrored into the VM; NULL: none */
        bool shared_mounted;
        bool running;
        bool dead;
        hull_sandbox_dead_cb on_dead;
        void *userdata;
        hull_sandbox_ready_cb ready_cb;
        void *ready_userdata;
        uint64_t started_usec;
};

/* ---- configuration ---- */

/* runtimeoptions.v1.Options: field 2 (config_path), a length-delimited string; read by hand, bounded. */
static int runtimeoptions_config_path(const uint8_t *p, size_t len, char **ret)
{
        size_t i = 0;

        *ret = NULL;
        while (i < len) {
                uint64_t key = 0, v = 0;
                unsigned shift = 0;
                do {
                        if (i >= len || shift > 63)
                                return -EBADMSG;
                        key |= (uint64_t)(p[i] & 0x7f) << shift;
                        shift += 7;
                } while (p[i++] & 0x80);
                switch (key & 7) {
                case 0:
                        shift = 0;
                        do {
                                if (i >= len || shift > 63)
                                        return -EBADMSG;
                                shift += 7;
                        } while (p[i++] & 0x80);
                        break;
                case 2:
                        shift = 0;
                        do {
                                if (i >= len || shift > 63)
                                        return -EBADMSG;
                                v |= (uint64_t)(p[i] & 0x7f) << shift;
                                shift += 7;
                        } while (p[i++] & 0x80);
                        if (v > len - i)
                                return -EBADMSG;
                        if ((key >> 3) == 2) {
                                free(*ret);
                                *ret = strndup((const char *)p + i, v);
                                if (!*ret)
                                        return -ENOMEM;
                        }
                        i += v;
                        break;
                case 1:
                        i += 8;
                        break;
                case 5:
                        i += 4;
                        break;
                default:
                        return -EBADMSG;
                }
        }
        return i == len ? 0 : -EBADMSG;
}

int hull_sandbox_resolve_config(const char *explicit_path, const Google__Protobuf__Any *options, char **ret_path,
                                struct hull_error **err)
{
        if (explicit_path) {
                *ret_path = strdup(explicit_path);
                return *ret_path ? 0 : hull_error_oom(err);
        }
        if (options && options->type_url) {
                const char *t = options->type_url;
                size_t lt = strlen(t), lo = strlen(HULL_RUNTIMEOPTIONS_TYPE);
                if (lt >= lo && streq(t + lt - lo, HULL_RUNTIMEOPTIONS_TYPE) && (lt == lo || t[lt - lo - 1] == '/')) {
                        char *path = NULL;
                        int r = runtimeoptions_config_path(options->value.data, options->value.len, &path);
                        if (r == -ENOMEM)
                                return hull_error_oom(err);
                        if (r < 0)
                                return hull_error_set(err, EINVAL, "create options: malformed %s", t);
                        if (path && *path) {
                                *ret_path = path;
                                return 0;
                        }
                        free(path);
                }
        }
        return hull_config_find(NULL, ret_path, err);
}

static bool annotation_allowed(const struct hull_config *cfg, const char *name)
{
        for (char **p = cfg->hypervisor.enable_annotations; p && *p; p++) {
                _cleanup_free_ char *anchored = NULL;
                regex_t re;
                bool match;
                if (streq(*p, name))
                        return true;
                if (asprintf(&anchored, "^(%s)$", *p) < 0)
                        return false;
                if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
                        continue;
                match = regexec(&re, name, 0, NULL, 0) == 0;
                regfree(&re);
                if (match)
                        return true;
        }
        return false;
}

static int parse_u64(const char *key, const char *v, uint64_t min, uint64_t max, uint64_t *ret, struct hull_error **err)
{
        char *end;
        unsigned long long u;

        errno = 0;
        u = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-' || u < min || u > max)
                return hull_error_set(err, EINVAL, "annotation %s: '%s' is not a number in %llu..%llu", key, v,
                                      (unsigned long long)min, (unsigned long long)max);
        *ret = u;
        return 0;
}

int hull_sandbox_apply_annotations(const struct hull_config *cfg, struct json_object *spec, struct hull_hv_desc *desc,
                                   struct hull_error **err)
{
        struct json_object *a;
        const size_t lp = strlen(HULL_ANNOTATION_HV_PREFIX);

        if (!spec || !json_object_object_get_ex(spec, "annotations", &a) || !json_object_is_type(a, json_type_object))
                return 0;
        json_object_object_foreach(a, key, val)
        {
                const char *name = key + lp, *v;
                uint64_t u;
                if (!strneq(key, HULL_ANNOTATION_HV_PREFIX, lp))
                        continue;
                if (!json_object_is_type(val, json_type_string))
                        return hull_error_set(err, EINVAL, "annotation %s: not a string", key);
                v = json_object_get_string(val);
                if (!annotation_allowed(cfg, name))
                        return hull_error_set(err, EPERM,
                                              "annotation %s is not enabled (hypervisor.enable_annotations)", key);
                if (streq(name, "default_vcpus")) {
                        if (parse_u64(key, v, 1, HULL_HV_MAX_VCPUS, &u, err) < 0)
                                return -EINVAL;
                        desc->vcpus = (unsigned)u;
                } else if (streq(name, "default_memory")) {
                        if (parse_u64(key, v, HULL_HV_MIN_MEMORY_MIB, HULL_HV_MAX_MEMORY_MIB, &u, err) < 0)
                                return -EINVAL;
                        desc->memory_mib = u;
                } else if (streq(name, "kernel_params")) {
                        char *kp;
                        if (strlen(v) > 4096)
                                return hull_error_set(err, EINVAL, "annotation %s: longer than 4096 bytes", key);
                        if (asprintf(&kp, "%s%s%s", desc->kernel_params ? desc->kernel_params : "",
                                     desc->kernel_params && *desc->kernel_params ? " " : "", v) < 0)
                                return hull_error_oom(err);
                        free(desc->kernel_params);
                        desc->kernel_params = kp;
                } else {
                        log_warn("annotation %s: not supported by hull, ignored", key);
                }
        }
        return 0;
}

/* ---- mounts ---- */

int hull_sandbox_private_mounts(struct hull_error **err)
{
        static bool done;

        if (done)
                return 0;
        if (unshare(CLONE_NEWNS) < 0)
                return hull_error_errno(err, errno, "unshare the mount namespace");
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return hull_error_errno(err, errno, "make / a slave mount");
        done = true;
        return 0;
}

static int setup_shared(struct hull_sandbox *sb, struct hull_error **err)
{
        if (mkdir(sb->shared_dir, 0700) < 0 && errno != EEXIST)
                return hull_error_errno(err, errno, "mkdir %s", sb->shared_dir);
        if (hull_sandbox_private_mounts(err) < 0)
                return -EIO;
        /* shared/ is its own mount and a shared one: binds made later (a pod's second container) propagate into
         * virtiofsd's mount namespace, which is a slave copy of ours. */
        if (mount(sb->shared_dir, sb->shared_dir, NULL, MS_BIND, NULL) < 0)
                return hull_error_errno(err, errno, "bind %s", sb->shared_dir);
        sb->shared_mounted = true;
        if (mount(NULL, sb->shared_dir, NULL, MS_SHARED, NULL) < 0)
                return hull_error_errno(err, errno, "make %s shared", sb->shared_dir);
        return 0;
}

static int mkdir_parents(const char *path)
{
        _cleanup_free_ char *p = strdup(path);
        char *slash;

        if (!p)
                return -ENOMEM;
        slash = strrchr(p, '/');
        if (!slash)
                return 0;
        *slash = '\0';
        return hull_mkdir_p(p, 0700, NULL);
}

int hull_sandbox_share(struct hull_sandbox *sb, const char *src, const char *rel, bool readonly,
                       struct hull_error **err)
{
        _cleanup_free_ char *target = NULL;
        struct stat st;

        if (strstr(rel, "..") || rel[0] == '/')
                return hull_error_set(err, EINVAL, "share %s: bad target %s", src, rel);
        if (asprintf(&target, "%s/%s", sb->shared_dir, rel) < 0)
                return hull_error_oom(err);
        if (stat(src, &st) < 0)
                return hull_error_errno(err, errno, "share %s", src);
        if (mkdir_parents(target) < 0)
                return hull_error_errno(err, errno, "share %s: mkdir for %s", src, target);
        if (S_ISDIR(st.st_mode)) {
                if (mkdir(target, 0700) < 0 && errno != EEXIST)
                        return hull_error_errno(err, errno, "mkdir %s", target);
        } else {
                int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0)
                        return hull_error_errno(err, errno, "create %s", target);
                close(fd);
        }
        if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
                return hull_error_errno(err, errno, "bind %s to %s", src, target);
        if (readonly && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL) < 0)
                return hull_error_errno(err, errno, "make %s read-only", target);
        return 0;
}

/* Mount points at or below prefix, from /proc/self/mountinfo (field 5, octal escapes decoded). */
static size_t mounts_under(const char *prefix, char ***ret)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, n = 0, lp = strlen(prefix);
        char **v = NULL;

        *ret = NULL;
        if (!f)
                return 0;
        while (getline(&line, &cap, f) > 0) {
                char mp[4096], *d = mp, *s;
                char **nv;
                int field = 0;
                for (s = line; *s && field < 4; s++)
                        if (*s == ' ')
                                field++;
                while (*s && *s != ' ' && d < mp + sizeof(mp) - 1) {
                        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
                                *d++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
                                s += 4;
                        } else {
                                *d++ = *s++;
                        }
                }
                *d = '\0';
                if (!strneq(mp, prefix, lp) || (mp[lp] != '\0' && mp[lp] != '/'))
                        continue;
                nv = realloc(v, (n + 1) * sizeof(*v));
                if (!nv)
                        break;
                v = nv;
                if (!(v[n] = strdup(mp)))
                        break;
                n++;
        }
        *ret = v;
        return n;
}

static int longer_first(const void *a, const void *b)
{
        size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
        return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Lazily unmount everything at or below path (deepest first); false when something stays mounted. */
static bool unmount_tree(const char *path)
{
        for (int pass = 0; pass < 4; pass++) {
                char **v;
                size_t n = mounts_under(path, &v);
                if (n == 0) {
                        free(v);
                        return true;
                }
                qsort(v, n, sizeof(*v), longer_first);
                for (size_t i = 0; i < n; i++) {
                        if (umount2(v[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                                log_warn("unmount %s: %m", v[i]);
                        free(v[i]);
                }
                free(v);
        }
        return false;
}

/* Remove what hull made under a directory with nothing mounted any more: directories and the empty files that
 * served as bind targets. Never follows links, never crosses into another file system, never deletes data. */
static void remove_skeleton_at(int dfd, const char *name, dev_t dev, unsigned depth, bool purge)
{
        struct stat st;
        int fd;
        DIR *d;
        struct dirent *de;

        if (depth > 32 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
                return;
        if (!S_ISDIR(st.st_mode)) {
                if (purge || (S_ISREG(st.st_mode) && st.st_size == 0))
                        unlinkat(dfd, name, 0);
                return;
        }
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        remove_skeleton_at(dirfd(d), de->d_name, dev, depth + 1, purge);
        closedir(d);
        unlinkat(dfd, name, AT_REMOVEDIR);
}

int hull_sandbox_remove_tree(const char *path, bool purge)
{
        struct stat st;

        if (!unmount_tree(path))
                return -EBUSY;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        remove_skeleton_at(AT_FDCWD, path, st.st_dev, 0, purge);
        return 0;
}

void hull_sandbox_unshare(struct hull_sandbox *sb, const char *rel)
{
        _cleanup_free_ char *target = NULL;

        if (!sb->shared_mounted || asprintf(&target, "%s/%s", sb->shared_dir, rel) < 0)
                return;
        if (hull_sandbox_remove_tree(target, false) < 0)
                log_warn("sandbox %s: %s stays mounted", sb->id, target);
}

/* ---- lifecycle ---- */

int hull_sandbox_new(const struct hull_sandbox_opts *o, struct hull_sandbox **ret, struct hull_error **err)
{
        _cleanup_(hull_sandbox_freep) struct hull_sandbox *sb = calloc(1, sizeof(*sb));
        const struct hull_config_warning *w;
        enum hull_network_mode mode;
        const char *netns = NULL;
        size_t nw;
        int r;

        if (!sb)
                return hull_error_oom(err);
        sb->loop = o->loop;
        sb->state = o->state;
        sb->on_dead = o->on_dead;
        sb->userdata = o->userdata;
        if (!(sb->id = strdup(o->id)) || !(sb->state_dir = strdup(o->state_dir)) ||
            !(sb->config_path = strdup(o->config_path)) || asprintf(&sb->shared_dir, "%s/shared", o->state_dir) < 0)
                return hull_error_oom(err);
        r = hull_config_load_file(sb->config_path, &sb->cfg, err);
        if (r < 0)
                return r;
        nw = hull_config_get_warnings(sb->cfg, &w);
        for (size_t i = 0; i < nw; i++)
                log_debug("%s", w[i].text);
        r = hull_hv_desc_from_config(sb->cfg, &sb->desc, err);
        if (r < 0)
                return hull_error_prefix(err, "%s", sb->config_path);
        r = hull_sandbox_apply_annotations(sb->cfg, o->spec, &sb->desc, err);
        if (r < 0)
                return r;
        if (!(sb->desc.id = strdup(o->id)) || !(sb->desc.state_dir = strdup(o->state_dir)) ||
            !(sb->desc.shared_dir = strdup(sb->shared_dir)))
                return hull_error_oom(err);
        sb->desc.debug = sb->desc.debug || o->debug;
        r = hull_network_spec_mode(o->spec, &mode, &netns, err);
        if (r < 0)
                return hull_error_prefix(err, "sandbox %s", sb->id);
        if (mode == HULL_NETWORK_POD && !(sb->desc.netns_path = strdup(netns)))
                return hull_error_oom(err);
        if (mode == HULL_NETWORK_HOST)
                log_info("sandbox %s: the spec has no network namespace (host network): the VM has a network of its "
                         "own with lo only",
                         sb->id);
        if (sb->cfg->agent.server_port)
                sb->desc.agent_port = sb->cfg->agent.server_port;
        *ret = TAKE_PTR(sb);
        return 0;
}

static void sandbox_dead(struct hull_sandbox *sb, const char *reason)
{
        if (sb->dead)
                return;
        sb->dead = true;
        sb->running = false;
        log_warn("sandbox %s: %s", sb->id, reason);
        if (sb->on_dead)
                sb->on_dead(sb, reason, sb->userdata);
}

static void hv_event(struct hull_hypervisor *hv, const struct hull_hv_event *ev, void *userdata)
{
        struct hull_sandbox *sb = userdata;
        _cleanup_free_ char *reason = NULL;

        switch (ev->kind) {
        case HULL_HV_EVENT_EXITED:
        case HULL_HV_EVENT_DAEMON_EXITED:
                if (asprintf(&reason, "%s", ev->message ? ev->message : "the VM exited") < 0)
                        reason = NULL;
                sandbox_dead(sb, reason ? reason : "the VM exited");
                break;
        default:
                log_debug("sandbox %s: hypervisor event %s", sb->id, hull_hv_event_kind_to_string(ev->kind));
                break;
        }
}

static void agent_closed(struct hull_agent *a, const struct hull_error *reason, void *userdata)
{
        struct hull_sandbox *sb = userdata;
        _cleanup_free_ char *msg = NULL;

        if (asprintf(&msg, "agent connection lost: %s", hull_error_message(reason)) < 0)
                msg = NULL;
        sandbox_dead(sb, msg ? msg : "agent connection lost");
}

static void ready_end(struct hull_sandbox *sb, int r, const struct hull_error *e)
{
        hull_sandbox_ready_cb cb = sb->ready_cb;

        sb->ready_cb = NULL;
        if (r >= 0) {
                sb->running = true;
                log_info("sandbox %s: agent ready, %.2f s after the VMM started", sb->id,
                         (double)(hull_now_usec() - sb->started_usec) / 1e6);
        }
        if (cb)
                cb(sb, r, e, sb->ready_userdata);
}

static void create_sandbox_done(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct hull_sandbox *sb = userdata;
        _cleanup_error_ struct hull_error *e = NULL;

        if (r < 0) {
                hull_error_set(&e, -r, "CreateSandbox: %s", hull_error_message(err));
                ready_end(sb, r, e);
                return;
        }
        ready_end(sb, 0, NULL);
}

static void create_sandbox(struct hull_sandbox *sb)
{
        Grpc__CreateSandboxRequest req = GRPC__CREATE_SANDBOX_REQUEST__INIT;
        Grpc__Storage st = GRPC__STORAGE__INIT, *sts[1] = { &st };
        char *opts[] = { (char *)"nodev" };
        _cleanup_error_ struct hull_error *e = NULL;
        int r;

        req.sandbox_id = sb->id;
        req.hostname = sb->id;
        if (sb->desc.shared_dir) {
                st.driver = (char *)"virtio-fs";
                st.source = sb->desc.shared_tag ? sb->desc.shared_tag : (char *)HULL_HV_SHARED_TAG;
                st.fstype = (char *)"virtiofs";
                st.mount_point = (char *)HULL_SPEC_GUEST_SHARED;
                st.options = opts;
                st.n_options = 1;
                req.storages = sts;
                req.n_storages = 1;
        }
        r = hull_agent_call(sb->agent, "CreateSandbox", &req.base, &google__protobuf__empty__descriptor,
                            60ull * 1000000ull, create_sandbox_done, sb, &e);
        if (r < 0)
                ready_end(sb, r, e);
}

/* The guest has the pod's addresses and routes: now the sandbox (Kata's order). */
static void network_ready(int r, const struct hull_error *err, void *userdata)
{
        struct hull_sandbox *sb = userdata;
        _cleanup_error_ struct hull_error *e = NULL;

        if (r < 0) {
                hull_error_set(&e, -r, "network: %s", hull_error_message(err));
                ready_end(sb, r, e);
                return;
        }
        create_sandbox(sb);
}

static void agent_ready(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct hull_sandbox *sb = userdata;
        _cleanup_error_ struct hull_error *e = NULL;

        if (r < 0) {
                hull_error_set(&e, -r, "%s", hull_error_message(err));
                ready_end(sb, r, e);
                return;
        }
        if (sb->net) {
                r = hull_network_configure_guest(sb->net, sb->agent, network_ready, sb, &e);
                if (r < 0)
                        ready_end(sb, r, e);
                return;
        }
        create_sandbox(sb);
}

static void record_processes(struct hull_sandbox *sb)
{
        pid_t pids[8];
        size_t n = hull_hypervisor_pids(sb->hv, pids, ARRAY_SIZE(pids));

        if (!sb->state)
                return;
        for (size_t i = 0; i < n && i < ARRAY_SIZE(pids); i++)
                hull_state_add_process(sb->state, i == 0 ? hull_hypervisor_name(sb->hv) : "virtiofsd", pids[i]);
        if (hull_state_write(sb->state_dir, sb->state, NULL) < 0)
                log_warn("sandbox %s: cannot write state.json", sb->id);
}

/* The pod's interfaces: looked at, recorded in state.json, then the taps and tc redirects made and the taps given to
 * the VM. A namespace with no interface to mirror (podman's --network none) needs nothing but the VMM in it. */
static int setup_network(struct hull_sandbox *sb, struct hull_error **err)
{
        const char *model = sb->cfg->runtime.internetworking_model;
        uint64_t t0 = hull_now_usec();
        int r;

        /* Kata's internetworking_model: "none" leaves the pod's interfaces alone (the VMM still runs in P). */
        if (model && streq(model, "none")) {
                log_info("sandbox %s: internetworking_model none: the pod's interfaces are not given to the VM",
                         sb->id);
                return 0;
        }
        if (model && *model && !streq(model, "tcfilter"))
                return hull_error_set(err, EOPNOTSUPP,
                                      "%s: runtime.internetworking_model \"%s\": hull implements tcfilter and none",
                                      sb->config_path, model);
        r = hull_network_new(sb->desc.netns_path, &sb->net, err);
        if (r < 0)
                return r;
        if (hull_network_n_interfaces(sb->net) == 0) {
                sb->net = hull_network_free(sb->net);
                return 0;
        }
        if (sb->state) {
                if (hull_network_record(sb->net, sb->state) < 0)
                        return hull_error_oom(err);
                if (hull_state_write(sb->state_dir, sb->state, err) < 0)
                        return -EIO;
        }
        r = hull_network_attach(sb->net, err);
        if (r < 0)
                return r;
        r = hull_network_add_devices(sb->net, sb->hv, err);
        if (r < 0)
                return r;
        log_info("sandbox %s: network %s: %zu interface(s) mirrored to taps in %.1f ms", sb->id, sb->desc.netns_path,
                 hull_network_n_interfaces(sb->net), (double)(hull_now_usec() - t0) / 1e3);
        return 0;
}

int hull_sandbox_start(struct hull_sandbox *sb, hull_sandbox_ready_cb cb, void *userdata, struct hull_error **err)
{
        struct hull_hv_channel ch;
        _cleanup_free_ char *name = NULL;
        uint64_t dial;
        int r;

        r = setup_shared(sb, err);
        if (r < 0)
                return hull_error_prefix(err, "sandbox %s", sb->id);
        r = hull_hypervisor_new(sb->cfg->hypervisor_kind, &sb->desc, sb->loop, hv_event, sb, &sb->hv, err);
        if (r < 0)
                return hull_error_prefix(err, "sandbox %s", sb->id);
        if (sb->desc.netns_path) {
                r = setup_network(sb, err);
                if (r < 0)
                        return hull_error_prefix(err, "sandbox %s", sb->id);
        }
        /* Recorded before it is made: a reader finds the VMM's pid once it exists (and start_time guards reuse). */
        if (sb->state && hull_state_write(sb->state_dir, sb->state, err) < 0)
                return -EIO;
        sb->started_usec = hull_now_usec();
        /* A phase mark of the start-time split (docs/performance.md, bench/hullbench/figures.py). */
        log_debug("sandbox %s: starting the VM", sb->id);
        r = hull_hypervisor_start(sb->hv, err);
        if (r < 0)
                return hull_error_prefix(err, "sandbox %s: start VM", sb->id);
        record_processes(sb);
        r = hull_hypervisor_agent_channel(sb->hv, &ch, err);
        if (r < 0)
                return r;
        if (asprintf(&name, "agent/%s", sb->id) < 0)
                return hull_error_oom(err);
        r = hull_agent_connect(sb->loop, &ch, name, &sb->agent, err);
        if (r < 0)
                return hull_error_prefix(err, "sandbox %s", sb->id);
        hull_agent_on_close(sb->agent, agent_closed, sb);
        sb->ready_cb = cb;
        sb->ready_userdata = userdata;
        /* Kata's dial_timeout (seconds) bounds the whole wait; runtime-rs' dial_timeout_ms is one attempt's. */
        dial = (uint64_t)(sb->cfg->agent.dial_timeout ? sb->cfg->agent.dial_timeout : 45) * 1000000ull;
        r = hull_agent_wait_ready(sb->agent, dial, agent_ready, sb, err);
        if (r < 0) {
                sb->ready_cb = NULL;
                return r;
        }
        return 0;
}

struct hull_agent *hull_sandbox_agent(struct hull_sandbox *sb)
{
        return sb->agent;
}

const char *hull_sandbox_shared_dir(const struct hull_sandbox *sb)
{
        return sb->shared_dir;
}

const char *hull_sandbox_id(const struct hull_sandbox *sb)
{
        return sb->id;
}

const char *hull_sandbox_config_path(const struct hull_sandbox *sb)
{
        return sb->config_path;
}

bool hull_sandbox_running(const struct hull_sandbox *sb)
{
        return sb && sb->running && !sb->dead;
}

void hull_sandbox_stop(struct hull_sandbox *sb)
{
        _cleanup_error_ struct hull_error *e = NULL;

        if (!sb)
                return;
        sb->running = false;
        sb->dead = true; /* no death report for a stop we asked for */
        sb->agent = hull_agent_free(sb->agent);
        if (sb->hv) {
                int status = 0;
                /* The guest has nothing to save: a short bound before SIGKILL. */
                if (hull_hypervisor_stop(sb->hv, 2000, &status, &e) < 0)
                        log_warn("sandbox %s: stop VM: %s", sb->id, hull_error_message(e));
                sb->hv = hull_hypervisor_free(sb->hv);
        }
        /* After the VMM: its tap fds are closed, the taps go with hull's removal. */
        if (sb->net) {
                sb->net = hull_network_free(sb->net);
                if (sb->state) {
                        hull_state_set(&sb->state->netns, NULL);
                        sb->state->n_interfaces = 0;
                }
        }
        if (sb->shared_mounted) {
                if (hull_sandbox_remove_tree(sb->shared_dir, false) < 0)
                        log_warn("sandbox %s: %s stays mounted", sb->id, sb->shared_dir);
                sb->shared_mounted = false;
        }
        if (sb->state) {
                hull_state_remove_process(sb->state, "qemu");
                hull_state_remove_process(sb->state, "virtiofsd");
        }
}

struct hull_sandbox *hull_sandbox_free(struct hull_sandbox *sb)
{
        if (!sb)
                return NULL;
        sb->on_dead = NULL;
        hull_sandbox_stop(sb);
        hull_hv_desc_clear(&sb->desc);
        hull_config_free(sb->cfg);
        free(sb->id);
        free(sb->state_dir);
        free(sb->shared_dir);
        free(sb->config_path);
        free(sb);
        return NULL;
}
