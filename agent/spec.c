/* OCI spec names to kernel values: capabilities, rlimits, namespaces, mount options; spec validation. */
#include "spec.h"

#include <linux/capability.h>
#include <sched.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "buf.h"
#include "error.h"

/* Bounds on what a spec may carry: generous for real workloads, small enough that a hostile host cannot make the
 * agent spend its memory. */
#define SPEC_MAX_ARGS 4096
#define SPEC_MAX_ENV 4096
#define SPEC_MAX_MOUNTS 1024
#define SPEC_MAX_PATHS 1024
#define SPEC_MAX_STRING 65536

static const char *const cap_names[] = {
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
};

int hull_agent_cap_from_name(const char *name)
{
        if (strncasecmp(name, "CAP_", 4) == 0)
                name += 4;
        for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
                if (strcasecmp(name, cap_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

int hull_agent_caps_mask(char **names, size_t n, uint64_t *ret, struct hull_error **err)
{
        uint64_t mask = 0;

        for (size_t i = 0; i < n; i++) {
                int c = hull_agent_cap_from_name(names[i]);
                if (c < 0)
                        return hull_error_set(err, EINVAL, "unknown capability '%s'", names[i]);
                mask |= UINT64_C(1) << c;
        }
        *ret = mask;
        return 0;
}

static const struct {
        const char *name;
        int resource;
} rlimits[] = {
        { "CPU", RLIMIT_CPU },           { "FSIZE", RLIMIT_FSIZE },
        { "DATA", RLIMIT_DATA },         { "STACK", RLIMIT_STACK },
        { "CORE", RLIMIT_CORE },         { "RSS", RLIMIT_RSS },
        { "NPROC", RLIMIT_NPROC },       { "NOFILE", RLIMIT_NOFILE },
        { "MEMLOCK", RLIMIT_MEMLOCK },   { "AS", RLIMIT_AS },
        { "LOCKS", RLIMIT_LOCKS },       { "SIGPENDING", RLIMIT_SIGPENDING },
        { "MSGQUEUE", RLIMIT_MSGQUEUE }, { "NICE", RLIMIT_NICE },
        { "RTPRIO", RLIMIT_RTPRIO },     { "RTTIME", RLIMIT_RTTIME },
};

int hull_agent_rlimit_from_name(const char *name)
{
        if (strncasecmp(name, "RLIMIT_", 7) == 0)
                name += 7;
        for (size_t i = 0; i < ARRAY_SIZE(rlimits); i++)
                if (strcasecmp(name, rlimits[i].name) == 0)
                        return rlimits[i].resource;
        return -EINVAL;
}

int hull_agent_namespace_flag(const char *type)
{
        static const struct {
                const char *name;
                int flag;
        } ns[] = {
                { "pid", CLONE_NEWPID },       { "network", CLONE_NEWNET },
                { "mount", CLONE_NEWNS },      { "ipc", CLONE_NEWIPC },
                { "uts", CLONE_NEWUTS },       { "user", CLONE_NEWUSER },
                { "cgroup", CLONE_NEWCGROUP }, { "time", 0x80 /* CLONE_NEWTIME */ },
        };

        for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
                if (streq(type, ns[i].name))
                        return ns[i].flag;
        return -EINVAL;
}

static const struct {
        const char *name;
        bool clear;
        unsigned long flag;
} mount_flags[] = {
        { "ro", false, MS_RDONLY },
        { "rw", true, MS_RDONLY },
        { "nosuid", false, MS_NOSUID },
        { "suid", true, MS_NOSUID },
        { "nodev", false, MS_NODEV },
        { "dev", true, MS_NODEV },
        { "noexec", false, MS_NOEXEC },
        { "exec", true, MS_NOEXEC },
        { "sync", false, MS_SYNCHRONOUS },
        { "async", true, MS_SYNCHRONOUS },
        { "dirsync", false, MS_DIRSYNC },
        { "remount", false, MS_REMOUNT },
        { "mand", false, MS_MANDLOCK },
        { "nomand", true, MS_MANDLOCK },
        { "atime", true, MS_NOATIME },
        { "noatime", false, MS_NOATIME },
        { "diratime", true, MS_NODIRATIME },
        { "nodiratime", false, MS_NODIRATIME },
        { "relatime", false, MS_RELATIME },
        { "norelatime", true, MS_RELATIME },
        { "strictatime", false, MS_STRICTATIME },
        { "nostrictatime", true, MS_STRICTATIME },
        { "defaults", false, 0 },
};

static const struct {
        const char *name;
        unsigned long flag;
} propagation_flags[] = {
        { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
        { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
        { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
        { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

int hull_agent_mount_opts_parse(char **options, size_t n, struct hull_agent_mount_opts *ret, struct hull_error **err)
{
        _cleanup_buf_ struct hull_buf data = HULL_BUF_INIT;
        struct hull_agent_mount_opts o = { 0 };

        for (size_t i = 0; i < n; i++) {
                const char *opt = options[i];
                bool known = false;

                if (streq(opt, "bind") || streq(opt, "rbind")) {
                        o.bind = true;
                        o.flags |= MS_BIND | (opt[0] == 'r' ? MS_REC : 0);
                        continue;
                }
                for (size_t j = 0; j < ARRAY_SIZE(mount_flags) && !known; j++)
                        if (streq(opt, mount_flags[j].name)) {
                                known = true;
                                if (mount_flags[j].clear)
                                        o.flags &= ~mount_flags[j].flag;
                                else
                                        o.flags |= mount_flags[j].flag;
                        }
                for (size_t j = 0; j < ARRAY_SIZE(propagation_flags) && !known; j++)
                        if (streq(opt, propagation_flags[j].name)) {
                                known = true;
                                o.propagation |= propagation_flags[j].flag;
                        }
                if (known)
                        continue;
                if (strlen(opt) > 4096)
                        return hull_error_set(err, EINVAL, "mount option longer than 4096 bytes");
                if (hull_buf_printf(&data, "%s%s", data.len ? "," : "", opt) < 0)
                        return hull_error_oom(err);
        }
        o.data = hull_buf_steal(&data);
        if (!o.data)
                return hull_error_oom(err);
        *ret = o;
        return 0;
}

void hull_agent_mount_opts_clear(struct hull_agent_mount_opts *o)
{
        free(o->data);
        *o = (struct hull_agent_mount_opts){ 0 };
}

static int check_string(const char *s, const char *field, struct hull_error **err)
{
        if (s && strnlen(s, SPEC_MAX_STRING + 1) > SPEC_MAX_STRING)
                return hull_error_set(err, EINVAL, "spec: %s longer than %d bytes", field, SPEC_MAX_STRING);
        return 0;
}

static int check_abs_path(const char *s, const char *field, struct hull_error **err)
{
        if (!s || s[0] != '/')
                return hull_error_set(err, EINVAL, "spec: %s '%s' is not an absolute path", field, s ? s : "");
        return check_string(s, field, err);
}

int hull_agent_spec_validate(const Grpc__Spec *spec, struct hull_error **err)
{
        const Grpc__Process *p = spec->process;
        int r;

        if (!p)
                return hull_error_set(err, EINVAL, "spec: no process");
        if (p->n_args == 0 || !p->args[0][0])
                return hull_error_set(err, EINVAL, "spec: process.args is empty");
        if (p->n_args > SPEC_MAX_ARGS || p->n_env > SPEC_MAX_ENV)
                return hull_error_set(err, E2BIG, "spec: more than %d process args or env entries", SPEC_MAX_ARGS);
        if (p->cwd && p->cwd[0] && p->cwd[0] != '/')
                return hull_error_set(err, EINVAL, "spec: process.cwd '%s' is not absolute", p->cwd);
        if (!spec->root || !spec->root->path || !spec->root->path[0])
                return hull_error_set(err, EINVAL, "spec: no root.path");
        if (spec->n_mounts > SPEC_MAX_MOUNTS)
                return hull_error_set(err, E2BIG, "spec: more than %d mounts", SPEC_MAX_MOUNTS);
        for (size_t i = 0; i < spec->n_mounts; i++) {
                r = check_abs_path(spec->mounts[i]->destination, "mounts[].destination", err);
                if (r < 0)
                        return r;
                if (strstr(spec->mounts[i]->destination, "/../") ||
                    (strlen(spec->mounts[i]->destination) >= 3 &&
                     streq(spec->mounts[i]->destination + strlen(spec->mounts[i]->destination) - 3, "/..")))
                        return hull_error_set(err, EINVAL, "spec: mount destination '%s' climbs out with ..",
                                              spec->mounts[i]->destination);
        }
        if (spec->linux) {
                const Grpc__Linux *l = spec->linux;
                if (l->n_maskedpaths > SPEC_MAX_PATHS || l->n_readonlypaths > SPEC_MAX_PATHS)
                        return hull_error_set(err, E2BIG, "spec: more than %d masked or read-only paths",
                                              SPEC_MAX_PATHS);
                for (size_t i = 0; i < l->n_namespaces; i++)
                        if (hull_agent_namespace_flag(l->namespaces[i]->type) < 0)
                                return hull_error_set(err, EINVAL, "spec: unknown namespace type '%s'",
                                                      l->namespaces[i]->type);
        }
        for (size_t i = 0; i < p->n_rlimits; i++)
                if (hull_agent_rlimit_from_name(p->rlimits[i]->type) < 0)
                        return hull_error_set(err, EINVAL, "spec: unknown rlimit '%s'", p->rlimits[i]->type);
        if (p->capabilities) {
                const Grpc__LinuxCapabilities *c = p->capabilities;
                uint64_t m;
                if (hull_agent_caps_mask(c->bounding, c->n_bounding, &m, err) < 0 ||
                    hull_agent_caps_mask(c->effective, c->n_effective, &m, err) < 0 ||
                    hull_agent_caps_mask(c->inheritable, c->n_inheritable, &m, err) < 0 ||
                    hull_agent_caps_mask(c->permitted, c->n_permitted, &m, err) < 0 ||
                    hull_agent_caps_mask(c->ambient, c->n_ambient, &m, err) < 0)
                        return hull_error_prefix(err, "spec: process.capabilities");
        }
        return 0;
}
