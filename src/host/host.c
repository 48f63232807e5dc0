/* Host facts: CPU, kernel, KVM (through the probe), vhost and tun devices, cgroup v2, user
 * namespaces, and the hypervisor binaries; plus which hypervisors those facts allow. */
#include "host.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "error.h"
#include "fd.h"

/* Bounds for the /proc files read here; a 1024-CPU host's cpuinfo is about 1.5 MiB. */
#define CPUINFO_MAX (8u << 20)
#define PROC_SMALL_MAX (1u << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static const char *const binary_names[HULL_HOST_BIN_COUNT] = {
        [HULL_HOST_BIN_QEMU] = "qemu-system-x86_64", [HULL_HOST_BIN_CLH] = "cloud-hypervisor",
        [HULL_HOST_BIN_FIRECRACKER] = "firecracker", [HULL_HOST_BIN_STRATOVIRT] = "stratovirt",
        [HULL_HOST_BIN_VIRTIOFSD] = "virtiofsd",
};

/* Where distributions put virtiofsd: Debian's qemu package, then the Rust virtiofsd package. */
static const char *const virtiofsd_locations[] = {
        "/usr/libexec/virtiofsd",
        "/usr/lib/qemu/virtiofsd",
};

static const struct hull_host_hv_info hv_infos[HULL_HOST_HV_COUNT] = {
        [HULL_HOST_HV_QEMU_KVM] = { "qemu-kvm", "qemu", "kvm", HULL_HOST_BIN_QEMU, true },
        [HULL_HOST_HV_CLH] = { "clh", "clh", "kvm", HULL_HOST_BIN_CLH, true },
        [HULL_HOST_HV_BUILTIN] = { "builtin", "builtin", "kvm", -1, true },
        [HULL_HOST_HV_STRATOVIRT] = { "stratovirt", "stratovirt", "kvm", HULL_HOST_BIN_STRATOVIRT, true },
        [HULL_HOST_HV_FIRECRACKER] = { "firecracker", "firecracker", "kvm", HULL_HOST_BIN_FIRECRACKER, true },
        [HULL_HOST_HV_QEMU_TCG] = { "qemu-tcg", "qemu", "tcg", HULL_HOST_BIN_QEMU, false },
};

const char *hull_host_binary_name(enum hull_host_binary bin)
{
        return (unsigned)bin < HULL_HOST_BIN_COUNT ? binary_names[bin] : "?";
}

const struct hull_host_hv_info *hull_host_hv_info(enum hull_host_hv hv)
{
        return (unsigned)hv < HULL_HOST_HV_COUNT ? &hv_infos[hv] : NULL;
}

static void fact_set(struct hull_host_fact *f, bool ok, const char *fmt, ...) _printf_(3, 4);
static void fact_set(struct hull_host_fact *f, bool ok, const char *fmt, ...)
{
        va_list ap;

        f->ok = ok;
        va_start(ap, fmt);
        vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
        va_end(ap);
}

/* Copy the value of a "key<TAB>: value" cpuinfo line, trimmed. */
static void copy_value(const char *colon, const char *eol, char *dst, size_t len)
{
        const char *v = colon + 1;
        size_t n;

        while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
        while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t' || eol[-1] == '\r'))
                eol--;
        n = MIN((size_t)(eol - v), len - 1);
        memcpy(dst, v, n);
        dst[n] = '\0';
}

/* Whether the space-separated list [v, eol) holds word. */
static bool has_word(const char *v, const char *eol, const char *word)
{
        size_t wl = strlen(word);

        while (v < eol) {
                const char *end;

                while (v < eol && (*v == ' ' || *v == '\t'))
                        v++;
                end = v;
                while (end < eol && *end != ' ' && *end != '\t' && *end != '\r')
                        end++;
                if ((size_t)(end - v) == wl && memcmp(v, word, wl) == 0)
                        return true;
                v = end;
        }
        return false;
}

int hull_host_parse_cpuinfo(const char *text, struct hull_host_cpu *ret)
{
        struct hull_host_cpu cpu = { .count = 0 };
        bool have_flags = false;

        for (const char *line = text; line && *line;) {
                const char *eol = strchr(line, '\n');
                const char *colon;

                if (!eol)
                        eol = line + strlen(line);
                colon = memchr(line, ':', (size_t)(eol - line));
                if (colon) {
                        size_t klen = (size_t)(colon - line);

                        while (klen > 0 && (line[klen - 1] == ' ' || line[klen - 1] == '\t'))
                                klen--;
#define KEY_IS(k) (klen == strlen(k) && memcmp(line, k, klen) == 0)
                        if (KEY_IS("processor"))
                                cpu.count++;
                        else if (KEY_IS("vendor_id") && !cpu.vendor[0])
                                copy_value(colon, eol, cpu.vendor, sizeof(cpu.vendor));
                        else if (KEY_IS("model name") && !cpu.model[0])
                                copy_value(colon, eol, cpu.model, sizeof(cpu.model));
                        else if (KEY_IS("flags") && !have_flags) {
                                have_flags = true;
                                cpu.vmx = has_word(colon + 1, eol, "vmx");
                                cpu.svm = has_word(colon + 1, eol, "svm");
                                cpu.hypervisor = has_word(colon + 1, eol, "hypervisor");
                        }
#undef KEY_IS
                }
                line = *eol ? eol + 1 : NULL;
        }
        if (cpu.count == 0)
                return -EINVAL;
        *ret = cpu;
        return 0;
}

bool hull_host_modules_has(const char *proc_modules, const char *name)
{
        size_t nl = strlen(name);

        for (const char *line = proc_modules; line && *line;) {
                const char *eol = strchr(line, '\n');
                size_t i;

                if (!eol)
                        eol = line + strlen(line);
                /* The first field is the module name; the kernel writes it with '_'. */
                for (i = 0; i < nl && line + i < eol; i++) {
                        char a = line[i] == '-' ? '_' : line[i], b = name[i] == '-' ? '_' : name[i];

                        if (a != b)
                                break;
                }
                if (i == nl && line + i < eol && line[i] == ' ')
                        return true;
                line = *eol ? eol + 1 : NULL;
        }
        return false;
}

int hull_host_find_cgroup2(const char *mountinfo, char *ret_path, size_t len)
{
        /* mountinfo: id parent major:minor root mountpoint options [optional...] - fstype source superopts */
        for (const char *line = mountinfo; line && *line;) {
                const char *eol = strchr(line, '\n');
                const char *f = line, *mp = NULL, *mp_end = NULL, *sep;
                int field = 0;

                if (!eol)
                        eol = line + strlen(line);
                while (f < eol && field < 4) {
                        f = memchr(f, ' ', (size_t)(eol - f));
                        if (!f)
                                break;
                        f++;
                        field++;
                }
                if (f && field == 4) {
                        mp = f;
                        mp_end = memchr(mp, ' ', (size_t)(eol - mp));
                }
                sep = mp_end ? strstr(mp_end, " - cgroup2 ") : NULL;
                if (mp_end && sep && sep < eol) {
                        size_t n = (size_t)(mp_end - mp);

                        if (n + 1 > len)
                                return -ENAMETOOLONG;
                        memcpy(ret_path, mp, n);
                        ret_path[n] = '\0';
                        return 0;
                }
                line = *eol ? eol + 1 : NULL;
        }
        return -ENOENT;
}

static int check_executable(const char *path, struct hull_error **err)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return hull_error_errno(err, errno, "%s", path);
        if (!S_ISREG(st.st_mode))
                return hull_error_set(err, EACCES, "%s: not a regular file", path);
        if (access(path, X_OK) < 0)
                return hull_error_errno(err, errno, "%s", path);
        return 0;
}

int hull_host_find_binary(const char *name, const char *path_env, char **ret_path, struct hull_error **err)
{
        _cleanup_free_ char *copy = NULL;
        char *saveptr = NULL;

        if (!name || !*name)
                return hull_error_set(err, EINVAL, "empty binary name");
        if (strchr(name, '/')) {
                char *dup;
                int r;

                r = check_executable(name, err);
                if (r < 0)
                        return r;
                dup = strdup(name);
                if (!dup)
                        return hull_error_oom(err);
                *ret_path = dup;
                return 0;
        }
        if (!path_env)
                path_env = getenv("PATH");
        if (!path_env || !*path_env)
                path_env = DEFAULT_PATH;
        copy = strdup(path_env);
        if (!copy)
                return hull_error_oom(err);
        for (char *dir = strtok_r(copy, ":", &saveptr); dir; dir = strtok_r(NULL, ":", &saveptr)) {
                _cleanup_free_ char *candidate = NULL;

                /* An empty or relative entry would make the result depend on the working directory. */
                if (dir[0] != '/')
                        continue;
                if (asprintf(&candidate, "%s/%s", dir, name) < 0)
                        return hull_error_oom(err);
                if (check_executable(candidate, NULL) == 0) {
                        *ret_path = TAKE_PTR(candidate);
                        return 0;
                }
        }
        return hull_error_set(err, ENOENT, "%s not found in PATH", name);
}

static void gather_binary(const struct hull_host_options *opts, enum hull_host_binary bin, struct hull_host_fact *f)
{
        _cleanup_error_ struct hull_error *err = NULL;
        _cleanup_free_ char *path = NULL;
        const char *configured = opts ? opts->binary_paths[bin] : NULL;
        const char *path_env = opts ? opts->path_env : NULL;

        if (configured && *configured) {
                if (hull_host_find_binary(configured, path_env, &path, &err) < 0) {
                        fact_set(f, false, "configured %s", hull_error_message(err));
                        return;
                }
                fact_set(f, true, "%s", path);
                return;
        }
        if (bin == HULL_HOST_BIN_VIRTIOFSD) {
                for (size_t i = 0; i < ARRAY_SIZE(virtiofsd_locations); i++)
                        if (check_executable(virtiofsd_locations[i], NULL) == 0) {
                                fact_set(f, true, "%s", virtiofsd_locations[i]);
                                return;
                        }
        }
        if (hull_host_find_binary(binary_names[bin], path_env, &path, &err) < 0) {
                if (bin == HULL_HOST_BIN_VIRTIOFSD)
                        fact_set(f, false, "not in /usr/libexec, /usr/lib/qemu, or %s", hull_error_message(err));
                else
                        fact_set(f, false, "%s", hull_error_message(err));
                return;
        }
        fact_set(f, true, "%s", path);
}

/* A character device hull must open read-write. */
static void gather_device(const char *path, struct hull_host_fact *f)
{
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (stat(path, &st) < 0) {
                fact_set(f, false, "%s: %s", path, strerror(errno));
                return;
        }
        if (!S_ISCHR(st.st_mode)) {
                fact_set(f, false, "%s: not a character device", path);
                return;
        }
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                fact_set(f, false, "%s: present, but open failed: %s", path, strerror(errno));
                return;
        }
        fact_set(f, true, "%s", path);
}

/* Loaded as a module (/proc/modules) or built in with a sysfs entry (/sys/module/<name>). */
static bool module_loaded(const char *proc_modules, const char *name)
{
        char path[128];
        struct stat st;

        if (proc_modules && hull_host_modules_has(proc_modules, name))
                return true;
        snprintf(path, sizeof(path), "/sys/module/%s", name);
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void gather_modules(struct hull_host_facts *f)
{
        static const char *const vendor_modules[] = { "kvm_intel", "kvm_amd", "kvm_pvm" };
        _cleanup_free_ char *modules = NULL;
        const char *vendor = NULL;

        if (hull_read_file("/proc/modules", PROC_SMALL_MAX, &modules, NULL, NULL) < 0)
                modules = NULL; /* a kernel without module support: sysfs still lists built-ins */
        for (size_t i = 0; i < ARRAY_SIZE(vendor_modules) && !vendor; i++)
                if (module_loaded(modules, vendor_modules[i]))
                        vendor = vendor_modules[i];
        if (module_loaded(modules, "kvm"))
                fact_set(&f->kvm_module, true, "kvm loaded%s%s", vendor ? ", with " : " (no vendor module)",
                         vendor ? vendor : "");
        else
                fact_set(&f->kvm_module, false, "kvm is not loaded (modprobe kvm_intel or kvm_amd)");
        if (module_loaded(modules, "vhost_vsock"))
                fact_set(&f->vhost_vsock_module, true, "vhost_vsock loaded");
        else
                fact_set(&f->vhost_vsock_module, false, "vhost_vsock is not loaded (modprobe vhost_vsock)");
}

static void gather_cpu(struct hull_host_facts *f)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_error_ struct hull_error *err = NULL;

        if (hull_read_file("/proc/cpuinfo", CPUINFO_MAX, &text, NULL, &err) < 0) {
                fact_set(&f->cpu_virt, false, "%s", hull_error_message(err));
                return;
        }
        if (hull_host_parse_cpuinfo(text, &f->cpu) < 0) {
                fact_set(&f->cpu_virt, false, "/proc/cpuinfo lists no processor");
                return;
        }
        if (f->cpu.vmx || f->cpu.svm)
                fact_set(&f->cpu_virt, true, "%s", f->cpu.vmx ? "vmx (Intel VT-x)" : "svm (AMD-V)");
        else
                fact_set(&f->cpu_virt, false, "no vmx or svm flag in /proc/cpuinfo%s",
                         f->cpu.hypervisor ? " (running under a hypervisor without nested virtualisation)" : "");
}

static void gather_vsock(struct hull_host_fact *f)
{
        _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                fact_set(f, false, "AF_VSOCK socket: %s", strerror(errno));
        else
                fact_set(f, true, "AF_VSOCK sockets available");
}

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static void gather_cgroup2(struct hull_host_fact *f)
{
        _cleanup_free_ char *mountinfo = NULL;
        _cleanup_error_ struct hull_error *err = NULL;
        char path[256];

        if (hull_read_file("/proc/self/mountinfo", PROC_SMALL_MAX * 4, &mountinfo, NULL, &err) < 0) {
                fact_set(f, false, "%s", hull_error_message(err));
                return;
        }
        if (hull_host_find_cgroup2(mountinfo, path, sizeof(path)) < 0) {
                fact_set(f, false, "no cgroup2 mount (cgroup v1 only)");
                return;
        }
        if (streq(path, "/sys/fs/cgroup"))
                fact_set(f, true, "unified hierarchy at %s", path);
        else
                fact_set(f, true, "hybrid: cgroup2 at %s, v1 controllers at /sys/fs/cgroup", path);
}

static void gather_userns(struct hull_host_fact *f)
{
        _cleanup_free_ char *text = NULL;
        long max;

        if (hull_read_file("/proc/sys/user/max_user_namespaces", 64, &text, NULL, NULL) < 0) {
                fact_set(f, false, "/proc/sys/user/max_user_namespaces unreadable (no user namespaces)");
                return;
        }
        max = strtol(text, NULL, 10);
        if (max <= 0)
                fact_set(f, false, "user.max_user_namespaces is %ld", max);
        else
                fact_set(f, true, "user.max_user_namespaces=%ld", max);
}

void hull_host_gather(const struct hull_host_options *opts, struct hull_host_facts *ret)
{
        struct utsname u;

        memset(ret, 0, sizeof(*ret));
        if (uname(&u) == 0) {
                snprintf(ret->kernel_release, sizeof(ret->kernel_release), "%s", u.release);
                snprintf(ret->arch, sizeof(ret->arch), "%s", u.machine);
        }
        gather_cpu(ret);
        hull_kvm_probe(opts ? opts->kvm_device : NULL, opts ? opts->kvm_timeout_ms : 0, &ret->kvm);
        gather_modules(ret);
        gather_device("/dev/vhost-vsock", &ret->vhost_vsock);
        gather_device("/dev/vhost-net", &ret->vhost_net);
        gather_device("/dev/net/tun", &ret->tun);
        gather_vsock(&ret->vsock);
        gather_cgroup2(&ret->cgroup2);
        gather_userns(&ret->userns);
        for (int b = 0; b < HULL_HOST_BIN_COUNT; b++)
                gather_binary(opts, (enum hull_host_binary)b, &ret->binaries[b]);
}

void hull_host_hv_check(const struct hull_host_facts *facts, enum hull_host_hv hv, struct hull_host_fact *ret)
{
        const struct hull_host_hv_info *info = hull_host_hv_info(hv);

        if (!info) {
                fact_set(ret, false, "unknown hypervisor");
                return;
        }
        if (info->needs_kvm && !facts->kvm.usable) {
                fact_set(ret, false, "needs usable KVM: %s",
                         facts->kvm.present ? "/dev/kvm cannot run a standard guest" : "/dev/kvm is missing");
                return;
        }
        if (info->binary >= 0 && !facts->binaries[info->binary].ok) {
                fact_set(ret, false, "%s: %s", binary_names[info->binary], facts->binaries[info->binary].detail);
                return;
        }
        if (info->binary >= 0)
                fact_set(ret, true, "%s with %s", facts->binaries[info->binary].detail,
                         info->needs_kvm ? "KVM" : "TCG (emulation, slow)");
        else
                fact_set(ret, true, "in-process VMM on KVM");
}

int hull_host_recommend(const struct hull_host_facts *facts)
{
        struct hull_host_fact f;

        for (int hv = 0; hv < HULL_HOST_HV_COUNT; hv++) {
                hull_host_hv_check(facts, (enum hull_host_hv)hv, &f);
                if (f.ok)
                        return hv;
        }
        return -ENOENT;
}
