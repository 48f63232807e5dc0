/* `hull spec` (a default config.json, runc's) and `hull features` (what this runtime implements, runc's shape). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "fd.h"
#include "oci.h"

static struct json_object *strings(const char *const *v, size_t n)
{
        struct json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < n; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

#define STRINGS(...)                                             \
        ({                                                       \
                static const char *const _v[] = { __VA_ARGS__ }; \
                strings(_v, ARRAY_SIZE(_v));                     \
        })

static struct json_object *mount(const char *dest, const char *type, const char *source, struct json_object *options)
{
        struct json_object *m = json_object_new_object();

        json_object_object_add(m, "destination", json_object_new_string(dest));
        json_object_object_add(m, "type", json_object_new_string(type));
        json_object_object_add(m, "source", json_object_new_string(source));
        if (options)
                json_object_object_add(m, "options", options);
        return m;
}

static struct json_object *id_mapping(unsigned host_id)
{
        struct json_object *a = json_object_new_array(), *m = json_object_new_object();

        json_object_object_add(m, "containerID", json_object_new_int(0));
        json_object_object_add(m, "hostID", json_object_new_int64(host_id));
        json_object_object_add(m, "size", json_object_new_int(1));
        json_object_array_add(a, m);
        return a;
}

/* runc's default spec (libcontainer/specconv.Example), and its rootless variant (ToRootless). No inheritable and no
 * ambient capabilities, as runc since CVE-2022-29162 (ambient ones cannot be raised without inheritable ones). */
static struct json_object *default_spec(bool rootless)
{
        struct json_object *spec = json_object_new_object(), *process = json_object_new_object();
        struct json_object *user = json_object_new_object(), *caps = json_object_new_object();
        struct json_object *rlimit = json_object_new_object(), *rlimits = json_object_new_array();
        struct json_object *root = json_object_new_object(), *mounts = json_object_new_array();
        struct json_object *linux = json_object_new_object(), *namespaces = json_object_new_array();
        static const char *const ns_names[] = { "pid", "network", "ipc", "uts", "mount", "cgroup" };
        static const char *const default_caps[] = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" };

        json_object_object_add(spec, "ociVersion", json_object_new_string(HULL_OCI_VERSION));
        json_object_object_add(process, "terminal", json_object_new_boolean(true));
        json_object_object_add(user, "uid", json_object_new_int(0));
        json_object_object_add(user, "gid", json_object_new_int(0));
        json_object_object_add(process, "user", user);
        json_object_object_add(process, "args", STRINGS("sh"));
        json_object_object_add(
                process, "env",
                STRINGS("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"));
        json_object_object_add(process, "cwd", json_object_new_string("/"));
        json_object_object_add(caps, "bounding", strings(default_caps, ARRAY_SIZE(default_caps)));
        json_object_object_add(caps, "effective", strings(default_caps, ARRAY_SIZE(default_caps)));
        json_object_object_add(caps, "permitted", strings(default_caps, ARRAY_SIZE(default_caps)));
        json_object_object_add(process, "capabilities", caps);
        json_object_object_add(rlimit, "type", json_object_new_string("RLIMIT_NOFILE"));
        json_object_object_add(rlimit, "hard", json_object_new_int(1024));
        json_object_object_add(rlimit, "soft", json_object_new_int(1024));
        json_object_array_add(rlimits, rlimit);
        json_object_object_add(process, "rlimits", rlimits);
        json_object_object_add(process, "noNewPrivileges", json_object_new_boolean(true));
        json_object_object_add(spec, "process", process);

        json_object_object_add(root, "path", json_object_new_string("rootfs"));
        json_object_object_add(root, "readonly", json_object_new_boolean(true));
        json_object_object_add(spec, "root", root);
        json_object_object_add(spec, "hostname", json_object_new_string("hull"));

        json_object_array_add(mounts, mount("/proc", "proc", "proc", NULL));
        json_object_array_add(
                mounts, mount("/dev", "tmpfs", "tmpfs", STRINGS("nosuid", "strictatime", "mode=755", "size=65536k")));
        if (rootless)
                json_object_array_add(mounts,
                                      mount("/dev/pts", "devpts", "devpts",
                                            STRINGS("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")));
        else
                json_object_array_add(
                        mounts,
                        mount("/dev/pts", "devpts", "devpts",
                              STRINGS("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")));
        json_object_array_add(
                mounts,
                mount("/dev/shm", "tmpfs", "shm", STRINGS("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")));
        json_object_array_add(mounts, mount("/dev/mqueue", "mqueue", "mqueue", STRINGS("nosuid", "noexec", "nodev")));
        if (rootless)
                json_object_array_add(
                        mounts, mount("/sys", "none", "/sys", STRINGS("rbind", "nosuid", "noexec", "nodev", "ro")));
        else
                json_object_array_add(mounts,
                                      mount("/sys", "sysfs", "sysfs", STRINGS("nosuid", "noexec", "nodev", "ro")));
        json_object_array_add(
                mounts,
                mount("/sys/fs/cgroup", "cgroup", "cgroup", STRINGS("nosuid", "noexec", "nodev", "relatime", "ro")));
        json_object_object_add(spec, "mounts", mounts);

        if (rootless) {
                /* runc's ToRootless: no network namespace, a user namespace mapping the caller to root. */
                json_object_object_add(linux, "uidMappings", id_mapping(getuid()));
                json_object_object_add(linux, "gidMappings", id_mapping(getgid()));
        } else {
                struct json_object *resources = json_object_new_object(), *devices = json_object_new_array();
                struct json_object *deny = json_object_new_object();
                json_object_object_add(deny, "allow", json_object_new_boolean(false));
                json_object_object_add(deny, "access", json_object_new_string("rwm"));
                json_object_array_add(devices, deny);
                json_object_object_add(resources, "devices", devices);
                json_object_object_add(linux, "resources", resources);
        }
        for (size_t i = 0; i < ARRAY_SIZE(ns_names); i++) {
                struct json_object *ns;
                if (rootless && streq(ns_names[i], "network"))
                        continue;
                ns = json_object_new_object();
                json_object_object_add(ns, "type", json_object_new_string(ns_names[i]));
                json_object_array_add(namespaces, ns);
        }
        if (rootless) {
                struct json_object *ns = json_object_new_object();
                json_object_object_add(ns, "type", json_object_new_string("user"));
                json_object_array_add(namespaces, ns);
        }
        json_object_object_add(linux, "namespaces", namespaces);
        json_object_object_add(linux, "maskedPaths",
                               STRINGS("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                       "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                                       "/proc/scsi"));
        json_object_object_add(linux, "readonlyPaths",
                               STRINGS("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"));
        json_object_object_add(spec, "linux", linux);
        return spec;
}

static void spec_usage(FILE *out)
{
        fprintf(out,
                "usage: hull spec [--bundle DIR] [--rootless]\n"
                "\n"
                "Write a default config.json (runc's) into the bundle directory (default: the current one).\n"
                "\n"
                "  -b, --bundle DIR   the bundle directory\n"
                "      --rootless     a spec for a rootless container (user namespace, no network namespace)\n");
}

int hull_cli_spec(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        static const struct option options[] = {
                { "bundle", required_argument, NULL, 'b' },
                { "rootless", no_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ char *path = NULL;
        const char *bundle = ".", *text;
        struct json_object *spec;
        bool rootless = false;
        struct stat st;
        int c, r;

        while ((c = getopt_long(argc, argv, "+b:h", options, NULL)) != -1) {
                switch (c) {
                case 'b':
                        bundle = optarg;
                        break;
                case 'r':
                        rootless = true;
                        break;
                case 'h':
                        spec_usage(stdout);
                        return 0;
                default:
                        spec_usage(stderr);
                        return hull_error_set(err, EINVAL, "spec: bad option %s", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return hull_error_set(err, EINVAL, "spec: unexpected argument \"%s\"", argv[optind]);
        if (stat(bundle, &st) < 0)
                return hull_error_errno(err, errno, "spec: bundle %s", bundle);
        if (!S_ISDIR(st.st_mode))
                return hull_error_set(err, ENOTDIR, "spec: bundle %s is not a directory", bundle);
        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return hull_error_oom(err);
        if (access(path, F_OK) == 0)
                return hull_error_set(err, EEXIST, "spec: %s exists: remove it first", path);
        spec = default_spec(rootless);
        if (!spec)
                return hull_error_oom(err);
        text = json_object_to_json_string_ext(
                spec, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        r = hull_write_file_atomic(path, text, strlen(text), 0666 & ~0022, err);
        json_object_put(spec);
        if (r < 0)
                return hull_error_prefix(err, "spec");
        (void)ctx;
        return 0;
}

static struct json_object *features(void)
{
        struct json_object *f = json_object_new_object(), *linux = json_object_new_object();
        struct json_object *cgroup = json_object_new_object(), *seccomp = json_object_new_object();
        struct json_object *off = json_object_new_object(), *off2 = json_object_new_object();
        struct json_object *annotations = json_object_new_object(), *caps = json_object_new_array();

        json_object_object_add(f, "ociVersionMin", json_object_new_string("1.0.0"));
        json_object_object_add(f, "ociVersionMax", json_object_new_string(HULL_CLI_OCI_SPEC_VERSION));
        /* Hooks would run on the host, outside the VM the container lives in: hull does not run them. */
        json_object_object_add(f, "hooks", json_object_new_array());
        /* The mount options hull-agent understands (agent/spec.c). */
        json_object_object_add(f, "mountOptions",
                               STRINGS("async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
                                       "mand", "noatime", "nodev", "nodiratime", "noexec", "nomand", "norelatime",
                                       "nostrictatime", "nosuid", "private", "rbind", "relatime", "remount", "ro",
                                       "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave",
                                       "strictatime", "suid", "sync", "unbindable"));
        json_object_object_add(linux, "namespaces", STRINGS("cgroup", "ipc", "mount", "network", "pid", "user", "uts"));
        for (int cap = 0; cap <= 40; cap++) {
                static const char *const names[] = {
                        "CAP_CHOWN",
                        "CAP_DAC_OVERRIDE",
                        "CAP_DAC_READ_SEARCH",
                        "CAP_FOWNER",
                        "CAP_FSETID",
                        "CAP_KILL",
                        "CAP_SETGID",
                        "CAP_SETUID",
                        "CAP_SETPCAP",
                        "CAP_LINUX_IMMUTABLE",
                        "CAP_NET_BIND_SERVICE",
                        "CAP_NET_BROADCAST",
                        "CAP_NET_ADMIN",
                        "CAP_NET_RAW",
                        "CAP_IPC_LOCK",
                        "CAP_IPC_OWNER",
                        "CAP_SYS_MODULE",
                        "CAP_SYS_RAWIO",
                        "CAP_SYS_CHROOT",
                        "CAP_SYS_PTRACE",
                        "CAP_SYS_PACCT",
                        "CAP_SYS_ADMIN",
                        "CAP_SYS_BOOT",
                        "CAP_SYS_NICE",
                        "CAP_SYS_RESOURCE",
                        "CAP_SYS_TIME",
                        "CAP_SYS_TTY_CONFIG",
                        "CAP_MKNOD",
                        "CAP_LEASE",
                        "CAP_AUDIT_WRITE",
                        "CAP_AUDIT_CONTROL",
                        "CAP_SETFCAP",
                        "CAP_MAC_OVERRIDE",
                        "CAP_MAC_ADMIN",
                        "CAP_SYSLOG",
                        "CAP_WAKE_ALARM",
                        "CAP_BLOCK_SUSPEND",
                        "CAP_AUDIT_READ",
                        "CAP_PERFMON",
                        "CAP_BPF",
                        "CAP_CHECKPOINT_RESTORE",
                };
                json_object_array_add(caps, json_object_new_string(names[cap]));
        }
        json_object_object_add(linux, "capabilities", caps);
        /* Inside the guest: cgroup v2, the agent's own (no systemd). */
        json_object_object_add(cgroup, "v1", json_object_new_boolean(false));
        json_object_object_add(cgroup, "v2", json_object_new_boolean(true));
        json_object_object_add(cgroup, "systemd", json_object_new_boolean(false));
        json_object_object_add(cgroup, "systemdUser", json_object_new_boolean(false));
        json_object_object_add(linux, "cgroup", cgroup);
        json_object_object_add(seccomp, "enabled", json_object_new_boolean(true));
        json_object_object_add(seccomp, "actions",
                               STRINGS("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                       "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"));
        json_object_object_add(seccomp, "operators",
                               STRINGS("SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                                       "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"));
        json_object_object_add(seccomp, "archs", STRINGS("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"));
        json_object_object_add(linux, "seccomp", seccomp);
        json_object_object_add(off, "enabled", json_object_new_boolean(false));
        json_object_object_add(linux, "apparmor", off);
        json_object_object_add(off2, "enabled", json_object_new_boolean(false));
        json_object_object_add(linux, "selinux", off2);
        json_object_object_add(f, "linux", linux);
        json_object_object_add(annotations, "io.katacontainers.config.hypervisor",
                               json_object_new_string("honoured where enable_annotations allows"));
        json_object_object_add(annotations, "org.opencontainers.runc.checkpoint.enabled",
                               json_object_new_string("false"));
        json_object_object_add(f, "annotations", annotations);
        return f;
}

int hull_cli_features(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        struct json_object *f;

        if (argc > 1 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
                printf("usage: hull features\n\nPrint, as JSON, what this runtime implements (runc's features "
                       "document).\n");
                return 0;
        }
        if (argc > 1)
                return hull_error_set(err, EINVAL, "features: unexpected argument \"%s\"", argv[1]);
        f = features();
        if (!f)
                return hull_error_oom(err);
        printf("%s\n",
               json_object_to_json_string_ext(
                       f, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(f);
        (void)ctx;
        return 0;
}
