/* finit_module() of the initramfs's kernel modules, with parameters taken from the kernel command line. */
#include "modules.h"

#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "buf.h"
#include "cmdline.h"
#include "error.h"
#include "fd.h"

int hull_agent_modules_dir(char **ret, struct hull_error **err)
{
        struct utsname u;
        char *dir;

        if (uname(&u) < 0)
                return hull_error_errno(err, errno, "uname");
        if (asprintf(&dir, "/lib/modules/%s", u.release) < 0)
                return hull_error_oom(err);
        *ret = dir;
        return 0;
}

static bool valid_module_name(const char *name)
{
        size_t n = strlen(name);

        if (n == 0 || n > 255)
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                      *p == '-'))
                        return false;
        return true;
}

int hull_agent_module_load(const char *dir, const char *name, const char *params, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;

        if (!valid_module_name(name))
                return hull_error_set(err, EINVAL, "module '%s': invalid name", name);
        if (asprintf(&path, "%s/%s.ko", dir, name) < 0)
                return hull_error_oom(err);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return hull_error_errno(err, errno, "module %s: open %s", name, path);
        if (syscall(SYS_finit_module, fd, params ? params : "", 0) < 0) {
                if (errno == EEXIST)
                        return 0;
                return hull_error_errno(err, errno, "module %s: finit_module", name);
        }
        return 1;
}

int hull_agent_modules_load_list(const char *dir, const char *cmdline, struct hull_buf *loaded, struct hull_buf *failed,
                                 struct hull_error **err)
{
        _cleanup_free_ char *list_path = NULL, *list = NULL;
        char *line, *save = NULL;
        int n_failed = 0, r;

        if (asprintf(&list_path, "%s/%s", dir, HULL_AGENT_MODULES_LIST) < 0)
                return hull_error_oom(err);
        r = hull_read_file(list_path, HULL_AGENT_MODULES_LIST_MAX, &list, NULL, err);
        if (r < 0)
                return hull_error_prefix(err, "module list");
        for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                _cleanup_error_ struct hull_error *e = NULL;
                _cleanup_free_ char *params = NULL;

                line[strcspn(line, "# \t\r")] = '\0';
                if (!*line)
                        continue;
                r = hull_agent_cmdline_module_params(cmdline ? cmdline : "", line, &params, &e);
                if (r >= 0)
                        r = hull_agent_module_load(dir, line, params, &e);
                if (r < 0) {
                        n_failed++;
                        if (hull_buf_printf(failed, "%s%s (%s)", failed->len ? ", " : "", line, hull_error_message(e)) <
                            0)
                                return hull_error_oom(err);
                        continue;
                }
                if (hull_buf_printf(loaded, "%s%s", loaded->len ? " " : "", line) < 0)
                        return hull_error_oom(err);
        }
        return n_failed;
}
