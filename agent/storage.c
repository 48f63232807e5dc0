/* Sandbox storages: mount once per mount point, reference-counted, unmounted in reverse order. */
#include "storage.h"

#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "error.h"
#include "fd.h"
#include "log.h"
#include "spec.h"

#define MAX_STORAGES 4096

struct entry {
        char *mount_point;
        unsigned refs;
};

struct hull_agent_storages {
        struct entry *e;
        size_t n;
};

int hull_agent_storages_new(struct hull_agent_storages **ret, struct hull_error **err)
{
        *ret = calloc(1, sizeof(**ret));
        return *ret ? 0 : hull_error_oom(err);
}

static void unmount_entry(struct entry *e)
{
        if (umount2(e->mount_point, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                log_warn("storage %s: unmount: %s", e->mount_point, strerror(errno));
        free(e->mount_point);
}

struct hull_agent_storages *hull_agent_storages_free(struct hull_agent_storages *s)
{
        if (!s)
                return NULL;
        while (s->n > 0)
                unmount_entry(&s->e[--s->n]);
        free(s->e);
        free(s);
        return NULL;
}

static struct entry *find(struct hull_agent_storages *s, const char *mount_point)
{
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->e[i].mount_point, mount_point))
                        return &s->e[i];
        return NULL;
}

int hull_agent_storage_add(struct hull_agent_storages *s, const Grpc__Storage *st, struct hull_error **err)
{
        const char *driver = st->driver ? st->driver : "", *mp = st->mount_point, *source = st->source;
        const char *fstype = st->fstype && *st->fstype ? st->fstype : NULL;
        struct hull_agent_mount_opts o;
        struct entry *e, *grown;
        int r;

        if (!mp || mp[0] != '/' || strstr(mp, "/../") || strlen(mp) > 4096)
                return hull_error_set(err, EINVAL, "storage: bad mount point '%s'", mp ? mp : "");
        e = find(s, mp);
        if (e) {
                e->refs++;
                return 0;
        }
        if (s->n >= MAX_STORAGES)
                return hull_error_set(err, EMFILE, "storage %s: more than %d storages", mp, MAX_STORAGES);
        if (streq(driver, "virtio-fs") || streq(driver, "virtiofs")) {
                fstype = "virtiofs"; /* source is the device's mount tag */
        } else if (streq(driver, "local") || streq(driver, "ephemeral")) {
                fstype = "tmpfs";
                source = "tmpfs";
        } else if (streq(driver, "bind")) {
                fstype = NULL;
        } else if (!streq(driver, "blk") && !streq(driver, "virtio-blk") && !streq(driver, "scsi") && *driver) {
                return hull_error_set(err, ENOTSUP, "storage %s: unknown driver '%s'", mp, driver);
        }
        if (!source || !*source)
                return hull_error_set(err, EINVAL, "storage %s: no source", mp);
        r = hull_mkdir_p(mp, 0755, err);
        if (r < 0)
                return hull_error_prefix(err, "storage %s", mp);
        r = hull_agent_mount_opts_parse(st->options, st->n_options, &o, err);
        if (r < 0)
                return hull_error_prefix(err, "storage %s", mp);
        if (streq(driver, "bind"))
                o.flags |= MS_BIND | MS_REC;
        if (mount(source, mp, fstype, o.flags, *o.data ? o.data : NULL) < 0) {
                r = hull_error_errno(err, errno, "storage %s: mount %s (%s, driver %s)", mp, source,
                                     fstype ? fstype : "bind", *driver ? driver : "none");
                hull_agent_mount_opts_clear(&o);
                return r;
        }
        hull_agent_mount_opts_clear(&o);
        grown = reallocarray(s->e, s->n + 1, sizeof(*grown));
        if (!grown) {
                (void)umount2(mp, MNT_DETACH);
                return hull_error_oom(err);
        }
        s->e = grown;
        s->e[s->n] = (struct entry){ .mount_point = strdup(mp), .refs = 1 };
        if (!s->e[s->n].mount_point) {
                (void)umount2(mp, MNT_DETACH);
                return hull_error_oom(err);
        }
        s->n++;
        log_info("storage %s: mounted %s (%s)", mp, source, fstype ? fstype : "bind");
        return 0;
}

void hull_agent_storage_release(struct hull_agent_storages *s, const char *mount_point)
{
        struct entry *e = find(s, mount_point);

        if (!e || --e->refs > 0)
                return;
        unmount_entry(e);
        *e = s->e[--s->n];
}

size_t hull_agent_storages_count(const struct hull_agent_storages *s)
{
        return s->n;
}
