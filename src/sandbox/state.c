/* state.json: json-c in and out, every field optional on read, atomic writes; flock() locks. */
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "error.h"
#include "fd.h"
#include "sandbox/state.h"

void hull_state_init(struct hull_state *st)
{
        memset(st, 0, sizeof(*st));
        st->exit_status = -1;
}

void hull_state_clear(struct hull_state *st)
{
        free(st->id);
        free(st->bundle);
        free(st->config);
        free(st->created);
        free(st->status);
        free(st->netns);
        if (st->annotations)
                json_object_put(st->annotations);
        hull_state_init(st);
}

int hull_state_set(char **field, const char *value)
{
        char *copy = NULL;

        if (value && !(copy = strdup(value)))
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

int hull_state_add_process(struct hull_state *st, const char *what, pid_t pid)
{
        struct hull_state_process *p = NULL;

        if (pid <= 0)
                return 0;
        for (size_t i = 0; i < st->n_processes; i++)
                if (streq(st->processes[i].what, what))
                        p = &st->processes[i];
        if (!p) {
                if (st->n_processes >= HULL_STATE_MAX_PROCESSES)
                        return -E2BIG;
                p = &st->processes[st->n_processes++];
        }
        memset(p, 0, sizeof(*p));
        snprintf(p->what, sizeof(p->what), "%s", what);
        p->pid = pid;
        if (hull_proc_start_time(pid, &p->start_time) < 0)
                p->start_time = 0;
        return 0;
}

void hull_state_remove_process(struct hull_state *st, const char *what)
{
        for (size_t i = 0; i < st->n_processes; i++)
                if (streq(st->processes[i].what, what)) {
                        memmove(&st->processes[i], &st->processes[i + 1],
                                (st->n_processes - i - 1) * sizeof(st->processes[0]));
                        st->n_processes--;
                        return;
                }
}

static int add_str(struct json_object *o, const char *key, const char *v)
{
        struct json_object *s = json_object_new_string(v ? v : "");

        if (!s || json_object_object_add(o, key, s) < 0) {
                json_object_put(s);
                return -ENOMEM;
        }
        return 0;
}

static int add_int(struct json_object *o, const char *key, int64_t v)
{
        struct json_object *i = json_object_new_int64(v);

        if (!i || json_object_object_add(o, key, i) < 0) {
                json_object_put(i);
                return -ENOMEM;
        }
        return 0;
}

static int add_pid(struct json_object *arr_or_obj, const char *key, const char *what, pid_t pid, uint64_t st)
{
        struct json_object *o = json_object_new_object();

        if (!o)
                return -ENOMEM;
        if ((what && add_str(o, "what", what) < 0) || add_int(o, "pid", pid) < 0 ||
            add_int(o, "start_time", (int64_t)st) < 0)
                goto fail;
        if (key ? json_object_object_add(arr_or_obj, key, o) < 0 : json_object_array_add(arr_or_obj, o) < 0)
                goto fail;
        return 0;
fail:
        json_object_put(o);
        return -ENOMEM;
}

/* "network": { "netns": PATH, "interfaces": [ { "veth": .., "tap": .., "own_ingress": bool } ] } */
static int add_network(struct json_object *o, const struct hull_state *st)
{
        struct json_object *net = json_object_new_object(), *ifs = json_object_new_array();

        if (!net || !ifs || add_str(net, "netns", st->netns) < 0)
                goto fail;
        for (size_t i = 0; i < st->n_interfaces; i++) {
                const struct hull_state_interface *si = &st->interfaces[i];
                struct json_object *e = json_object_new_object(), *b = json_object_new_boolean(si->own_ingress);

                if (!e || !b || add_str(e, "veth", si->veth) < 0 || add_str(e, "tap", si->tap) < 0 ||
                    json_object_object_add(e, "own_ingress", b) < 0 || json_object_array_add(ifs, e) < 0) {
                        json_object_put(b);
                        json_object_put(e);
                        goto fail;
                }
        }
        if (json_object_object_add(net, "interfaces", ifs) < 0)
                goto fail;
        ifs = NULL;
        if (json_object_object_add(o, "network", net) < 0)
                goto fail;
        return 0;
fail:
        json_object_put(ifs);
        json_object_put(net);
        return -ENOMEM;
}

int hull_state_to_json(const struct hull_state *st, char **ret, struct hull_error **err)
{
        struct json_object *o = json_object_new_object(), *procs = json_object_new_array();
        int r = -ENOMEM;

        if (!o || !procs)
                goto out;
        if (add_int(o, "version", HULL_STATE_VERSION) < 0 || add_str(o, "id", st->id) < 0 ||
            add_str(o, "bundle", st->bundle) < 0 || add_str(o, "config", st->config) < 0 ||
            add_str(o, "created", st->created) < 0 || add_str(o, "status", st->status ? st->status : "creating") < 0)
                goto out;
        if (st->monitor_pid > 0 && add_pid(o, "monitor", NULL, st->monitor_pid, st->monitor_start_time) < 0)
                goto out;
        if (st->exit_status >= 0 && add_int(o, "exit_status", st->exit_status) < 0)
                goto out;
        if (st->annotations && json_object_object_add(o, "annotations", json_object_get(st->annotations)) < 0)
                goto out;
        for (size_t i = 0; i < st->n_processes; i++)
                if (add_pid(procs, NULL, st->processes[i].what, st->processes[i].pid, st->processes[i].start_time) < 0)
                        goto out;
        if (json_object_object_add(o, "processes", procs) < 0)
                goto out;
        procs = NULL;
        if (st->netns && add_network(o, st) < 0)
                goto out;
        *ret = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        r = *ret ? 0 : -ENOMEM;
out:
        json_object_put(procs);
        json_object_put(o);
        return r < 0 ? hull_error_oom(err) : 0;
}

static const char *get_str(struct json_object *o, const char *key)
{
        struct json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static bool get_int(struct json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret)
{
        struct json_object *v;
        int64_t i;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        i = json_object_get_int64(v);
        if (i < min || i > max)
                return false;
        *ret = i;
        return true;
}

/* An interface name as the kernel allows it: 1..15 bytes, no '/', no whitespace. */
static bool ifname_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n >= HULL_STATE_IFNAME_MAX || streq(s, ".") || streq(s, ".."))
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] == '/' || s[i] == ':' || (unsigned char)s[i] <= ' ')
                        return false;
        return true;
}

static void read_network(struct json_object *net, struct hull_state *st)
{
        struct json_object *ifs, *b;
        const char *ns = get_str(net, "netns");
        size_t n;

        if (!ns || ns[0] != '/' || hull_state_set(&st->netns, ns) < 0)
                return;
        if (!json_object_object_get_ex(net, "interfaces", &ifs) || !json_object_is_type(ifs, json_type_array))
                return;
        n = json_object_array_length(ifs);
        for (size_t k = 0; k < n && st->n_interfaces < HULL_STATE_MAX_INTERFACES; k++) {
                struct json_object *e = json_object_array_get_idx(ifs, k);
                struct hull_state_interface *si = &st->interfaces[st->n_interfaces];
                const char *veth = json_object_is_type(e, json_type_object) ? get_str(e, "veth") : NULL;
                const char *tap = veth ? get_str(e, "tap") : NULL;

                if (!ifname_ok(veth) || !ifname_ok(tap))
                        continue;
                memset(si, 0, sizeof(*si));
                snprintf(si->veth, sizeof(si->veth), "%s", veth);
                snprintf(si->tap, sizeof(si->tap), "%s", tap);
                si->own_ingress = json_object_object_get_ex(e, "own_ingress", &b) &&
                        json_object_is_type(b, json_type_boolean) && json_object_get_boolean(b);
                st->n_interfaces++;
        }
}

int hull_state_from_json(const char *data, size_t len, struct hull_state *st, struct hull_error **err)
{
        struct json_tokener *tok = json_tokener_new_ex(32);
        struct json_object *o = NULL, *v;
        int64_t i;

        hull_state_init(st);
        if (!tok)
                return hull_error_oom(err);
        if (len > HULL_STATE_MAX_SIZE)
                len = 0;
        o = len ? json_tokener_parse_ex(tok, data, (int)len) : NULL;
        if (o && json_tokener_get_parse_end(tok) < len) {
                for (size_t k = json_tokener_get_parse_end(tok); k < len; k++)
                        if (!strchr(" \t\r\n", data[k])) {
                                json_object_put(o);
                                o = NULL;
                                break;
                        }
        }
        json_tokener_free(tok);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return hull_error_set(err, EBADMSG, "state.json is not a JSON object");
        }
        if (hull_state_set(&st->id, get_str(o, "id")) < 0 || hull_state_set(&st->bundle, get_str(o, "bundle")) < 0 ||
            hull_state_set(&st->config, get_str(o, "config")) < 0 ||
            hull_state_set(&st->created, get_str(o, "created")) < 0 ||
            hull_state_set(&st->status, get_str(o, "status")) < 0) {
                json_object_put(o);
                hull_state_clear(st);
                return hull_error_oom(err);
        }
        if (json_object_object_get_ex(o, "monitor", &v) && json_object_is_type(v, json_type_object)) {
                if (get_int(v, "pid", 1, INT32_MAX, &i))
                        st->monitor_pid = (pid_t)i;
                if (get_int(v, "start_time", 0, INT64_MAX, &i))
                        st->monitor_start_time = (uint64_t)i;
        }
        if (get_int(o, "exit_status", 0, 255, &i))
                st->exit_status = (int)i;
        if (json_object_object_get_ex(o, "annotations", &v) && json_object_is_type(v, json_type_object))
                st->annotations = json_object_get(v);
        if (json_object_object_get_ex(o, "processes", &v) && json_object_is_type(v, json_type_array)) {
                size_t n = json_object_array_length(v);
                for (size_t k = 0; k < n && st->n_processes < HULL_STATE_MAX_PROCESSES; k++) {
                        struct json_object *p = json_object_array_get_idx(v, k);
                        struct hull_state_process *sp = &st->processes[st->n_processes];
                        const char *what = json_object_is_type(p, json_type_object) ? get_str(p, "what") : NULL;
                        if (!what || !get_int(p, "pid", 1, INT32_MAX, &i))
                                continue;
                        memset(sp, 0, sizeof(*sp));
                        snprintf(sp->what, sizeof(sp->what), "%s", what);
                        sp->pid = (pid_t)i;
                        if (get_int(p, "start_time", 0, INT64_MAX, &i))
                                sp->start_time = (uint64_t)i;
                        st->n_processes++;
                }
        }
        if (json_object_object_get_ex(o, "network", &v) && json_object_is_type(v, json_type_object))
                read_network(v, st);
        json_object_put(o);
        return 0;
}

int hull_state_write(const char *dir, const struct hull_state *st, struct hull_error **err)
{
        _cleanup_free_ char *json = NULL, *path = NULL;
        int r;

        r = hull_state_to_json(st, &json, err);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/" HULL_STATE_FILE, dir) < 0)
                return hull_error_oom(err);
        return hull_write_file_atomic(path, json, strlen(json), 0600, err);
}

int hull_state_read(const char *dir, struct hull_state *st, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t len = 0;
        int r;

        hull_state_init(st);
        if (asprintf(&path, "%s/" HULL_STATE_FILE, dir) < 0)
                return hull_error_oom(err);
        r = hull_read_file(path, HULL_STATE_MAX_SIZE, &data, &len, err);
        if (r < 0)
                return r;
        r = hull_state_from_json(data, len, st, err);
        if (r < 0)
                return hull_error_prefix(err, "%s", path);
        return 0;
}

int hull_state_lock(const char *dir, bool exclusive, bool wait, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;

        if (asprintf(&path, "%s/lock", dir) < 0)
                return hull_error_oom(err);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return hull_error_errno(err, errno, "open %s", path);
        while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB)) < 0) {
                if (errno == EINTR)
                        continue;
                return hull_error_errno(err, errno, "lock %s", path);
        }
        return TAKE_FD(fd);
}

int hull_proc_start_time(pid_t pid, uint64_t *ret)
{
        char path[64], buf[1024], *p;
        _cleanup_close_ int fd = -1;
        ssize_t n;
        unsigned long long v;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -ESRCH;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return -ESRCH;
        buf[n] = '\0';
        /* comm may hold spaces and parentheses: fields start after the last ')'. */
        p = strrchr(buf, ')');
        if (!p)
                return -EBADMSG;
        p++;
        /* After ')' come field 3 (state) ... field 22 (starttime): skip 19 fields. */
        for (int f = 0; f < 20; f++) {
                p = strchr(p, ' ');
                if (!p)
                        return -EBADMSG;
                p++;
        }
        if (sscanf(p, "%llu", &v) != 1)
                return -EBADMSG;
        *ret = v;
        return 0;
}

bool hull_proc_matches(pid_t pid, uint64_t start_time)
{
        uint64_t now;

        return pid > 0 && hull_proc_start_time(pid, &now) == 0 && (start_time == 0 || now == start_time);
}

uint64_t hull_realtime_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hull_state_format_time(uint64_t ns, char buf[static 40])
{
        time_t sec = (time_t)(ns / 1000000000ull);
        struct tm tm;

        gmtime_r(&sec, &tm);
        if (tm.tm_year > 9999 - 1900)
                tm.tm_year = 9999 - 1900;
        snprintf(buf, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
                 tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
                 (unsigned long long)(ns % 1000000000ull));
}
