/* The facts containerd gives a shim: its flags (Go flag syntax), the bundle's sandbox annotation and the runtime
 * options (a marshalled Any) on `start`'s stdin. */
#include <string.h>

#include <json-c/json.h>

#include "error.h"
#include "fd.h"
#include "shim.h"

/* A bundle's config.json is bounded like any other input. */
#define BUNDLE_CONFIG_MAX (4u << 20)
#define CONFIG_PATH_MAX 4096

enum flag_kind { FLAG_STRING, FLAG_BOOL };

struct flag {
        const char *name;
        enum flag_kind kind;
        size_t offset;
};

static const struct flag flags[] = {
        { "namespace", FLAG_STRING, offsetof(struct hull_shim_args, namespace_) },
        { "address", FLAG_STRING, offsetof(struct hull_shim_args, address) },
        { "publish-binary", FLAG_STRING, offsetof(struct hull_shim_args, publish_binary) },
        { "id", FLAG_STRING, offsetof(struct hull_shim_args, id) },
        { "bundle", FLAG_STRING, offsetof(struct hull_shim_args, bundle) },
        { "socket", FLAG_STRING, offsetof(struct hull_shim_args, socket) },
        { "debug", FLAG_BOOL, offsetof(struct hull_shim_args, debug) },
        { "v", FLAG_BOOL, offsetof(struct hull_shim_args, version) },
};

static int parse_bool(const char *v, bool *ret)
{
        /* Go's strconv.ParseBool */
        static const char *const yes[] = { "1", "t", "T", "true", "TRUE", "True" };
        static const char *const no[] = { "0", "f", "F", "false", "FALSE", "False" };

        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (streq(v, yes[i])) {
                        *ret = true;
                        return 0;
                }
                if (streq(v, no[i])) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

int hull_shim_parse_args(int argc, char **argv, struct hull_shim_args *ret, struct hull_error **err)
{
        struct hull_shim_args a = { .publish_binary = "containerd" };
        int i;

        /* Like Go's flag package: flags until the first non-flag argument or "--"; that argument is the action. */
        for (i = 1; i < argc; i++) {
                const char *arg = argv[i];
                const char *name, *eq, *value = NULL;
                const struct flag *f = NULL;
                size_t name_len;

                if (arg[0] != '-' || arg[1] == '\0')
                        break;
                if (streq(arg, "--")) {
                        i++;
                        break;
                }
                name = arg + 1;
                if (name[0] == '-')
                        name++;
                if (name[0] == '-' || name[0] == '=' || name[0] == '\0')
                        return hull_error_set(err, EINVAL, "bad flag syntax: %s", arg);
                eq = strchr(name, '=');
                name_len = eq ? (size_t)(eq - name) : strlen(name);
                if (eq)
                        value = eq + 1;
                for (size_t k = 0; k < ARRAY_SIZE(flags); k++) {
                        if (strlen(flags[k].name) == name_len && strneq(flags[k].name, name, name_len)) {
                                f = &flags[k];
                                break;
                        }
                }
                if (!f)
                        return hull_error_set(err, EINVAL, "flag provided but not defined: -%.*s", (int)name_len, name);
                if (f->kind == FLAG_BOOL) {
                        bool b = true;

                        if (value && parse_bool(value, &b) < 0)
                                return hull_error_set(err, EINVAL, "invalid boolean value \"%s\" for -%s", value,
                                                      f->name);
                        *(bool *)((char *)&a + f->offset) = b;
                        continue;
                }
                if (!value) {
                        if (i + 1 >= argc)
                                return hull_error_set(err, EINVAL, "flag needs an argument: -%s", f->name);
                        value = argv[++i];
                }
                *(const char **)((char *)&a + f->offset) = value;
        }
        if (i < argc)
                a.action = argv[i++];
        if (i < argc)
                return hull_error_set(err, EINVAL, "unexpected argument after %s: %s", a.action, argv[i]);
        *ret = a;
        return 0;
}

bool hull_shim_id_valid(const char *id)
{
        size_t n = 0;
        bool need_alnum = true;

        if (!id)
                return false;
        for (const char *c = id; *c; c++, n++) {
                bool alnum = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');

                if (n >= HULL_SHIM_MAX_ID)
                        return false;
                if (alnum) {
                        need_alnum = false;
                        continue;
                }
                if (need_alnum || (*c != '.' && *c != '_' && *c != '-'))
                        return false;
                need_alnum = true;
        }
        return n > 0 && !need_alnum;
}

int hull_shim_sandbox_id(const char *bundle, const char *id, char **ret_sandbox_id, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        struct json_object *root = NULL, *annotations, *v;
        const char *sandbox = id;
        char *copy;
        int r;

        if (asprintf(&path, "%s/config.json", bundle && *bundle ? bundle : ".") < 0)
                return hull_error_oom(err);
        r = hull_read_file(path, BUNDLE_CONFIG_MAX, &data, NULL, err);
        if (r < 0)
                return hull_error_prefix(err, "read bundle config");
        root = json_tokener_parse(data);
        if (!root || !json_object_is_type(root, json_type_object)) {
                json_object_put(root);
                return hull_error_set(err, EINVAL, "%s: not a JSON object", path);
        }
        if (json_object_object_get_ex(root, "annotations", &annotations) &&
            json_object_is_type(annotations, json_type_object) &&
            json_object_object_get_ex(annotations, HULL_SHIM_SANDBOX_ID_ANNOTATION, &v) &&
            json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0)
                sandbox = json_object_get_string(v);
        if (!hull_shim_id_valid(sandbox)) {
                r = hull_error_set(err, EINVAL, "%s: invalid sandbox id \"%.80s\"", path, sandbox ? sandbox : "");
                json_object_put(root);
                return r;
        }
        copy = strdup(sandbox);
        json_object_put(root);
        if (!copy)
                return hull_error_oom(err);
        *ret_sandbox_id = copy;
        return 0;
}

/* A tiny bounded protobuf reader: the two messages read here (Any, runtimeoptions.v1.Options) have only
 * length-delimited fields worth reading; everything else is skipped by wire type. */
struct pb_reader {
        const uint8_t *p, *end;
};

static int pb_varint(struct pb_reader *r, uint64_t *ret)
{
        uint64_t v = 0;

        for (unsigned shift = 0; shift < 64; shift += 7) {
                if (r->p >= r->end)
                        return -EBADMSG;
                v |= (uint64_t)(*r->p & 0x7f) << shift;
                if (!(*r->p++ & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return -EBADMSG;
}

/* Next field: its number, and for length-delimited fields the bytes. Other wire types are skipped. */
static int pb_next(struct pb_reader *r, uint32_t *ret_field, const uint8_t **ret_data, size_t *ret_len)
{
        uint64_t key, v;

        for (;;) {
                if (r->p >= r->end)
                        return 0;
                if (pb_varint(r, &key) < 0)
                        return -EBADMSG;
                switch (key & 7) {
                case 0:
                        if (pb_varint(r, &v) < 0)
                                return -EBADMSG;
                        break;
                case 1:
                        if (r->end - r->p < 8)
                                return -EBADMSG;
                        r->p += 8;
                        break;
                case 5:
                        if (r->end - r->p < 4)
                                return -EBADMSG;
                        r->p += 4;
                        break;
                case 2:
                        if (pb_varint(r, &v) < 0 || v > (uint64_t)(r->end - r->p))
                                return -EBADMSG;
                        *ret_field = (uint32_t)(key >> 3);
                        *ret_data = r->p;
                        *ret_len = v;
                        r->p += v;
                        return 1;
                default:
                        return -EBADMSG;
                }
        }
}

static bool ends_with(const uint8_t *s, size_t len, const char *suffix)
{
        size_t n = strlen(suffix);

        return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

int hull_shim_options_config_path(const uint8_t *data, size_t len, char **ret, struct hull_error **err)
{
        struct pb_reader any = { data, data + len }, opts = { NULL, NULL };
        const uint8_t *type_url = NULL, *field;
        size_t type_url_len = 0, field_len;
        uint32_t num;
        int r;

        *ret = NULL;
        while ((r = pb_next(&any, &num, &field, &field_len)) > 0) {
                if (num == 1) {
                        type_url = field;
                        type_url_len = field_len;
                } else if (num == 2) {
                        opts.p = field;
                        opts.end = field + field_len;
                }
        }
        if (r < 0)
                return hull_error_set(err, EBADMSG, "runtime options: malformed protobuf Any");
        /* containerd names it "runtimeoptions.v1.Options" (types.containerd.io/... prefixes are possible). */
        if (!type_url || !opts.p || !ends_with(type_url, type_url_len, "runtimeoptions.v1.Options"))
                return 0;
        while ((r = pb_next(&opts, &num, &field, &field_len)) > 0) {
                if (num != 2 || field_len == 0)
                        continue;
                if (field_len >= CONFIG_PATH_MAX || memchr(field, '\0', field_len))
                        return hull_error_set(err, EINVAL, "runtime options: bad config_path");
                free(*ret);
                *ret = strndup((const char *)field, field_len);
                if (!*ret)
                        return hull_error_oom(err);
        }
        if (r < 0) {
                free(*ret);
                *ret = NULL;
                return hull_error_set(err, EBADMSG, "runtime options: malformed runtimeoptions.v1.Options");
        }
        return 0;
}
