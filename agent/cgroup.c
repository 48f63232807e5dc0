/* cgroup v2 for containers in the guest: create, limit, freeze, stats, destroy. */
#include "cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "error.h"
#include "fd.h"
#include "loop.h"

bool hull_agent_cgroup_available(const char *root)
{
        struct statfs s;

        return statfs(root, &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

static int write_file(const char *dir, const char *file, const char *value, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        size_t len = strlen(value);

        if (asprintf(&path, "%s/%s", dir, file) < 0)
                return hull_error_oom(err);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return hull_error_errno(err, errno, "cgroup: open %s", path);
        if (write(fd, value, len) != (ssize_t)len)
                return hull_error_errno(err, errno, "cgroup: write '%s' to %s", value, path);
        return 0;
}

static int enable_controllers(const char *dir, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL, *have = NULL;
        char request[256] = "", *w, *save = NULL;
        size_t len = 0;

        if (asprintf(&path, "%s/cgroup.controllers", dir) < 0)
                return hull_error_oom(err);
        if (hull_read_file(path, 4096, &have, NULL, err) < 0)
                return hull_error_prefix(err, "cgroup");
        for (w = strtok_r(have, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
                /* The ones the spec can set; others (rdma, misc, hugetlb) are left as the kernel has them. */
                if (!streq(w, "cpu") && !streq(w, "cpuset") && !streq(w, "memory") && !streq(w, "pids") &&
                    !streq(w, "io"))
                        continue;
                len += (size_t)snprintf(request + len, sizeof(request) - len, "%s+%s", len ? " " : "", w);
        }
        if (!len)
                return 0;
        return write_file(dir, "cgroup.subtree_control", request, err);
}

int hull_agent_cgroup_create(const char *root, const char *rel, char **ret_path, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL, *copy = NULL;
        char *p;
        int r;

        while (*rel == '/')
                rel++;
        if (!*rel || strstr(rel, "..") || strlen(rel) > 1024)
                return hull_error_set(err, EINVAL, "cgroup: bad path '%s'", rel);
        copy = strdup(rel);
        if (asprintf(&path, "%s/%s", root, rel) < 0 || !copy)
                return hull_error_oom(err);
        r = enable_controllers(root, err);
        if (r < 0)
                return r;
        /* Every level above the container's enables the controllers for the level below. */
        for (p = strchr(copy, '/'); p; p = strchr(p + 1, '/')) {
                _cleanup_free_ char *mid = NULL;
                *p = '\0';
                if (asprintf(&mid, "%s/%s", root, copy) < 0)
                        return hull_error_oom(err);
                *p = '/';
                if (mkdir(mid, 0755) < 0 && errno != EEXIST)
                        return hull_error_errno(err, errno, "cgroup: mkdir %s", mid);
                r = enable_controllers(mid, err);
                if (r < 0)
                        return r;
        }
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return hull_error_errno(err, errno, "cgroup: mkdir %s", path);
        *ret_path = TAKE_PTR(path);
        return 0;
}

uint64_t hull_agent_cgroup_shares_to_weight(uint64_t shares)
{
        if (shares == 0)
                return 0;
        if (shares < 2)
                shares = 2;
        if (shares > 262144)
                shares = 262144;
        return 1 + ((shares - 2) * 9999) / 262142;
}

int hull_agent_cgroup_apply(const char *path, const Grpc__LinuxResources *res, struct hull_error **err)
{
        char v[128];
        int r;

        if (!res)
                return 0;
        if (res->memory) {
                const Grpc__LinuxMemory *m = res->memory;
                if (m->limit != 0) { /* -1 (runc update --memory -1): no limit */
                        if (m->limit > 0)
                                snprintf(v, sizeof(v), "%lld", (long long)m->limit);
                        else
                                snprintf(v, sizeof(v), "max");
                        if ((r = write_file(path, "memory.max", v, err)) < 0)
                                return r;
                }
                if (m->reservation > 0) {
                        snprintf(v, sizeof(v), "%lld", (long long)m->reservation);
                        if ((r = write_file(path, "memory.low", v, err)) < 0)
                                return r;
                }
                /* v1's memory+swap limit becomes v2's swap-only limit. */
                if (m->swap > 0 && m->limit > 0 && m->swap >= m->limit) {
                        snprintf(v, sizeof(v), "%lld", (long long)(m->swap - m->limit));
                        /* A guest without swap has no memory.swap.max: nothing to limit. */
                        _cleanup_error_ struct hull_error *ignored = NULL;
                        (void)write_file(path, "memory.swap.max", v, &ignored);
                }
        }
        if (res->cpu) {
                const Grpc__LinuxCPU *c = res->cpu;
                if (c->shares) {
                        snprintf(v, sizeof(v), "%llu",
                                 (unsigned long long)hull_agent_cgroup_shares_to_weight(c->shares));
                        if ((r = write_file(path, "cpu.weight", v, err)) < 0)
                                return r;
                }
                if (c->quota != 0 || c->period != 0) {
                        uint64_t period = c->period ? c->period : 100000;
                        if (c->quota > 0)
                                snprintf(v, sizeof(v), "%lld %llu", (long long)c->quota, (unsigned long long)period);
                        else
                                snprintf(v, sizeof(v), "max %llu", (unsigned long long)period);
                        if ((r = write_file(path, "cpu.max", v, err)) < 0)
                                return r;
                }
                if (c->cpus && *c->cpus && (r = write_file(path, "cpuset.cpus", c->cpus, err)) < 0)
                        return r;
                if (c->mems && *c->mems && (r = write_file(path, "cpuset.mems", c->mems, err)) < 0)
                        return r;
        }
        if (res->pids && res->pids->limit != 0) {
                if (res->pids->limit > 0)
                        snprintf(v, sizeof(v), "%lld", (long long)res->pids->limit);
                else
                        snprintf(v, sizeof(v), "max");
                if ((r = write_file(path, "pids.max", v, err)) < 0)
                        return r;
        }
        return 0;
}

int hull_agent_cgroup_open(const char *path, struct hull_error **err)
{
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return hull_error_errno(err, errno, "cgroup: open %s", path);
        return fd;
}

int hull_agent_cgroup_read_key(const char *path, const char *file, const char *key, uint64_t *ret,
                               struct hull_error **err)
{
        _cleanup_free_ char *p = NULL, *data = NULL;
        size_t klen = strlen(key);
        char *line, *save = NULL;

        *ret = 0;
        if (asprintf(&p, "%s/%s", path, file) < 0)
                return hull_error_oom(err);
        if (hull_read_file(p, 1 << 20, &data, NULL, err) < 0)
                return hull_error_prefix(err, "cgroup");
        for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
                        *ret = strtoull(line + klen + 1, NULL, 10);
                        break;
                }
        return 0;
}

static uint64_t read_u64(const char *path, const char *file)
{
        _cleanup_free_ char *p = NULL, *data = NULL;
        _cleanup_error_ struct hull_error *ignored = NULL;

        if (asprintf(&p, "%s/%s", path, file) < 0 || hull_read_file(p, 4096, &data, NULL, &ignored) < 0)
                return 0;
        if (strneq(data, "max", 3))
                return UINT64_MAX;
        return strtoull(data, NULL, 10);
}

int hull_agent_cgroup_freeze(const char *path, bool frozen, struct hull_error **err)
{
        _cleanup_free_ char *events = NULL;
        _cleanup_close_ int fd = -1;
        uint64_t deadline = hull_now_usec() + 10 * 1000 * 1000, state;
        int r;

        r = write_file(path, "cgroup.freeze", frozen ? "1" : "0", err);
        if (r < 0)
                return r;
        if (asprintf(&events, "%s/cgroup.events", path) < 0)
                return hull_error_oom(err);
        fd = open(events, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return hull_error_errno(err, errno, "cgroup: open %s", events);
        /* The freeze completes asynchronously; cgroup.events signals the change (POLLPRI). */
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLPRI };
                uint64_t now;
                r = hull_agent_cgroup_read_key(path, "cgroup.events", "frozen", &state, err);
                if (r < 0)
                        return r;
                if ((state != 0) == frozen)
                        return 0;
                now = hull_now_usec();
                if (now >= deadline)
                        return hull_error_set(err, ETIMEDOUT, "cgroup: %s did not %s within 10s", path,
                                              frozen ? "freeze" : "thaw");
                if (poll(&p, 1, (int)((deadline - now) / 1000) + 1) < 0 && errno != EINTR)
                        return hull_error_errno(err, errno, "cgroup: poll %s", events);
        }
}

int hull_agent_cgroup_destroy(const char *path, struct hull_error **err)
{
        _cleanup_error_ struct hull_error *ignored = NULL;
        _cleanup_free_ char *events = NULL;
        uint64_t deadline = hull_now_usec() + 10 * 1000 * 1000, populated = 0;

        if (access(path, F_OK) < 0)
                return 0;
        (void)write_file(path, "cgroup.kill", "1", &ignored);
        if (asprintf(&events, "%s/cgroup.events", path) < 0)
                return hull_error_oom(err);
        /* rmdir fails with EBUSY until the killed processes are gone; wait for "populated 0". */
        for (;;) {
                _cleanup_close_ int fd = open(events, O_RDONLY | O_CLOEXEC);
                struct pollfd p = { .fd = fd, .events = POLLPRI };
                uint64_t now;
                if (fd < 0 || hull_agent_cgroup_read_key(path, "cgroup.events", "populated", &populated, &ignored) < 0)
                        break;
                if (!populated)
                        break;
                now = hull_now_usec();
                if (now >= deadline)
                        break;
                (void)poll(&p, 1, (int)((deadline - now) / 1000) + 1);
        }
        if (rmdir(path) < 0 && errno != ENOENT)
                return hull_error_errno(err, errno, "cgroup: rmdir %s", path);
        return 0;
}

int hull_agent_cgroup_stats(const char *path, struct hull_agent_cgroup_stats *ret, struct hull_error **err)
{
        struct hull_agent_cgroup_stats s = { 0 };
        int r;

        r = hull_agent_cgroup_read_key(path, "cpu.stat", "usage_usec", &s.cpu_usage_usec, err);
        if (r < 0)
                return r;
        (void)hull_agent_cgroup_read_key(path, "cpu.stat", "user_usec", &s.cpu_user_usec, NULL);
        (void)hull_agent_cgroup_read_key(path, "cpu.stat", "system_usec", &s.cpu_system_usec, NULL);
        (void)hull_agent_cgroup_read_key(path, "memory.events", "oom_kill", &s.oom_kills, NULL);
        s.memory_current = read_u64(path, "memory.current");
        s.memory_max = read_u64(path, "memory.max");
        s.memory_peak = read_u64(path, "memory.peak");
        s.pids_current = read_u64(path, "pids.current");
        s.pids_max = read_u64(path, "pids.max");
        *ret = s;
        return 0;
}
