/* OCI config.json -> Kata's oci.proto messages: a descriptor-driven copy (json-c in, protobuf-c out), then the
 * changes the guest needs. */
#include <json-c/json.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "fd.h"
#include "sandbox/spec.h"

#define MAX_DEPTH 64

/* One JSON object of at most HULL_SPEC_MAX_SIZE bytes; what names it in errors. */
static int parse_object(const char *what, const char *data, size_t len, struct json_object **ret,
                        struct hull_error **err)
{
        struct json_tokener *tok;
        struct json_object *o;

        if (len > HULL_SPEC_MAX_SIZE)
                return hull_error_set(err, EFBIG, "%s is larger than %u bytes", what, HULL_SPEC_MAX_SIZE);
        tok = json_tokener_new_ex(MAX_DEPTH);
        if (!tok)
                return hull_error_oom(err);
        o = json_tokener_parse_ex(tok, data, (int)len);
        if (!o) {
                enum json_tokener_error je = json_tokener_get_error(tok);
                json_tokener_free(tok);
                return hull_error_set(err, EINVAL, "%s: %s", what, json_tokener_error_desc(je));
        }
        json_tokener_free(tok);
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return hull_error_set(err, EINVAL, "%s: not a JSON object", what);
        }
        *ret = o;
        return 0;
}

int hull_spec_parse(const char *data, size_t len, struct json_object **ret, struct hull_error **err)
{
        return parse_object("config.json", data, len, ret, err);
}

int hull_spec_load(const char *bundle, struct json_object **ret, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t len = 0;
        int r;

        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return hull_error_oom(err);
        r = hull_read_file(path, HULL_SPEC_MAX_SIZE, &data, &len, err);
        if (r < 0)
                return r;
        r = hull_spec_parse(data, len, ret, err);
        if (r < 0)
                return hull_error_prefix(err, "%s", bundle);
        return 0;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d, const char *key)
{
        if (d == &grpc__spec__descriptor && streq(key, "ociVersion"))
                key = "Version";
        for (unsigned i = 0; i < d->n_fields; i++)
                if (strcasecmp(d->fields[i].name, key) == 0)
                        return &d->fields[i];
        return NULL;
}

static int json_to_msg(struct json_object *o, const ProtobufCMessageDescriptor *d, ProtobufCMessage **ret,
                       struct hull_error **err);

/* One scalar or message value into *slot (sized for the field's type). */
static int set_value(const ProtobufCFieldDescriptor *f, struct json_object *v, void *slot, struct hull_error **err)
{
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING: {
                char *s;
                if (!json_object_is_type(v, json_type_string))
                        return hull_error_set(err, EINVAL, "%s: expected a string", f->name);
                s = strdup(json_object_get_string(v));
                if (!s)
                        return hull_error_oom(err);
                *(char **)slot = s;
                return 0;
        }
        case PROTOBUF_C_TYPE_BOOL:
                if (!json_object_is_type(v, json_type_boolean))
                        return hull_error_set(err, EINVAL, "%s: expected a boolean", f->name);
                *(protobuf_c_boolean *)slot = json_object_get_boolean(v);
                return 0;
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64: {
                bool is64 = f->type == PROTOBUF_C_TYPE_INT64 || f->type == PROTOBUF_C_TYPE_SINT64 ||
                        f->type == PROTOBUF_C_TYPE_SFIXED64 || f->type == PROTOBUF_C_TYPE_UINT64 ||
                        f->type == PROTOBUF_C_TYPE_FIXED64;
                bool unsig = f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_FIXED32 ||
                        f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_FIXED64;
                if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
                        return hull_error_set(err, EINVAL, "%s: expected a number", f->name);
                if (unsig) {
                        uint64_t u = json_object_get_uint64(v);
                        if (json_object_get_int64(v) < 0 && !json_object_is_type(v, json_type_double))
                                u = (uint64_t)json_object_get_int64(v); /* -1 as "unlimited" wraps, as in Go */
                        if (is64)
                                *(uint64_t *)slot = u;
                        else
                                *(uint32_t *)slot = (uint32_t)u;
                } else {
                        int64_t i = json_object_get_int64(v);
                        if (is64)
                                *(int64_t *)slot = i;
                        else
                                *(int32_t *)slot = (int32_t)i;
                }
                return 0;
        }
        case PROTOBUF_C_TYPE_MESSAGE: {
                ProtobufCMessage *m = NULL;
                int r;
                if (json_object_is_type(v, json_type_null))
                        return 0;
                r = json_to_msg(v, f->descriptor, &m, err);
                if (r < 0)
                        return r;
                *(ProtobufCMessage **)slot = m;
                return 0;
        }
        default:
                return 0; /* enums, bytes, floats: oci.proto has none */
        }
}

static size_t slot_size(const ProtobufCFieldDescriptor *f)
{
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
        case PROTOBUF_C_TYPE_MESSAGE:
                return sizeof(void *);
        case PROTOBUF_C_TYPE_BOOL:
                return sizeof(protobuf_c_boolean);
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_DOUBLE:
                return 8;
        default:
                return 4;
        }
}

/* map<string,string> from a JSON object: repeated entry messages with key and value. */
static int set_map(const ProtobufCFieldDescriptor *f, struct json_object *v, ProtobufCMessage *m,
                   struct hull_error **err)
{
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        size_t *n = (size_t *)((char *)m + f->quantifier_offset);
        void ***arr = (void ***)((char *)m + f->offset);
        size_t count = (size_t)json_object_object_length(v);

        if (!json_object_is_type(v, json_type_object))
                return hull_error_set(err, EINVAL, "%s: expected an object", f->name);
        if (count == 0)
                return 0;
        *arr = calloc(count, sizeof(void *));
        if (!*arr)
                return hull_error_oom(err);
        json_object_object_foreach(v, key, val)
        {
                ProtobufCMessage *e;
                char **kp, **vp;
                if (!json_object_is_type(val, json_type_string))
                        continue;
                e = calloc(1, ed->sizeof_message);
                if (!e)
                        return hull_error_oom(err);
                protobuf_c_message_init(ed, e);
                (*arr)[(*n)++] = e;
                kp = (char **)((char *)e + ed->fields[0].offset);
                vp = (char **)((char *)e + ed->fields[1].offset);
                *kp = strdup(key);
                *vp = strdup(json_object_get_string(val));
                if (!*kp || !*vp)
                        return hull_error_oom(err);
        }
        return 0;
}

static int json_to_msg(struct json_object *o, const ProtobufCMessageDescriptor *d, ProtobufCMessage **ret,
                       struct hull_error **err)
{
        ProtobufCMessage *m;
        int r = 0;

        if (!json_object_is_type(o, json_type_object))
                return hull_error_set(err, EINVAL, "%s: expected an object", d->short_name);
        m = calloc(1, d->sizeof_message);
        if (!m)
                return hull_error_oom(err);
        protobuf_c_message_init(d, m);
        json_object_object_foreach(o, key, v)
        {
                const ProtobufCFieldDescriptor *f = find_field(d, key);
                if (!f || json_object_is_type(v, json_type_null))
                        continue;
                const ProtobufCMessageDescriptor *fd = f->descriptor;
                if (f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE && fd->n_fields == 2 &&
                    strstr(fd->name, "Entry")) {
                        r = set_map(f, v, m, err);
                } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t *n = (size_t *)((char *)m + f->quantifier_offset);
                        char **arr = (char **)((char *)m + f->offset);
                        size_t count, sz = slot_size(f);
                        if (!json_object_is_type(v, json_type_array)) {
                                r = hull_error_set(err, EINVAL, "%s: expected an array", f->name);
                                break;
                        }
                        count = json_object_array_length(v);
                        if (count == 0)
                                continue;
                        *arr = calloc(count, sz);
                        if (!*arr) {
                                r = hull_error_oom(err);
                                break;
                        }
                        for (size_t i = 0; i < count && r >= 0; i++) {
                                r = set_value(f, json_object_array_get_idx(v, i), *arr + i * sz, err);
                                if (r >= 0)
                                        (*n)++;
                        }
                } else {
                        void *slot = (char *)m + f->offset;
                        /* Replacing a default string or a message set twice: free what is there first. */
                        if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage **)slot) {
                                protobuf_c_message_free_unpacked(*(ProtobufCMessage **)slot, NULL);
                                *(ProtobufCMessage **)slot = NULL;
                        }
                        if (f->type == PROTOBUF_C_TYPE_STRING && *(char **)slot != f->default_value &&
                            *(char **)slot != protobuf_c_empty_string) {
                                free(*(char **)slot);
                                *(char **)slot = (char *)protobuf_c_empty_string;
                        }
                        r = set_value(f, v, slot, err);
                }
                if (r < 0)
                        break;
        }
        if (r < 0) {
                protobuf_c_message_free_unpacked(m, NULL);
                return hull_error_prefix(err, "%s", d->short_name);
        }
        *ret = m;
        return 0;
}

int hull_spec_to_agent(struct json_object *spec, Grpc__Spec **ret, struct hull_error **err)
{
        return json_to_msg(spec, &grpc__spec__descriptor, (ProtobufCMessage **)ret, err);
}

int hull_spec_process_to_agent(struct json_object *process, Grpc__Process **ret, struct hull_error **err)
{
        return json_to_msg(process, &grpc__process__descriptor, (ProtobufCMessage **)ret, err);
}

static void drop_device_rules(Grpc__LinuxResources *r)
{
        for (size_t i = 0; i < r->n_devices; i++)
                protobuf_c_message_free_unpacked(&r->devices[i]->base, NULL);
        free(r->devices);
        r->devices = NULL;
        r->n_devices = 0;
}

int hull_spec_resources_to_agent(const char *data, size_t len, Grpc__LinuxResources **ret, struct hull_error **err)
{
        struct json_object *o;
        int r;

        r = parse_object("resources", data, len, &o, err);
        if (r < 0)
                return r;
        r = json_to_msg(o, &grpc__linux_resources__descriptor, (ProtobufCMessage **)ret, err);
        json_object_put(o);
        if (r < 0)
                return hull_error_prefix(err, "resources");
        drop_device_rules(*ret);
        return 0;
}

static void free_str(char **s)
{
        if (*s && *s != protobuf_c_empty_string)
                free(*s);
        *s = (char *)protobuf_c_empty_string;
}

static bool has_option(Grpc__Mount *m, const char *opt)
{
        for (size_t i = 0; i < m->n_options; i++)
                if (streq(m->options[i], opt))
                        return true;
        return false;
}

void hull_spec_binds_free(struct hull_spec_bind *b, size_t n)
{
        for (size_t i = 0; i < n && b; i++) {
                free(b[i].source);
                free(b[i].target);
        }
        free(b);
}

int hull_spec_constrain(Grpc__Spec *s, const char *cid, struct hull_spec_bind **ret_binds, size_t *ret_n,
                        struct hull_error **err)
{
        struct hull_spec_bind *binds = NULL;
        size_t nb = 0, keep = 0;
        char *p;

        if (!s->root || !s->root->path || !*s->root->path)
                return hull_error_set(err, EINVAL, "config.json: root.path is missing");
        if (asprintf(&p, HULL_SPEC_GUEST_SHARED "/%s/rootfs", cid) < 0)
                return hull_error_oom(err);
        free_str(&s->root->path);
        s->root->path = p;

        for (size_t i = 0; i < s->n_mounts; i++) {
                Grpc__Mount *m = s->mounts[i];
                const char *base;
                struct hull_spec_bind *b;
                if (!streq(m->type, "bind") && !has_option(m, "bind") && !has_option(m, "rbind"))
                        continue;
                if (!*m->source || !*m->destination)
                        return hull_error_set(err, EINVAL, "config.json: mount %zu: bind mount without source", i);
                if (nb >= HULL_SPEC_MAX_BINDS) {
                        hull_spec_binds_free(binds, nb);
                        return hull_error_set(err, E2BIG, "config.json: more than %u bind mounts", HULL_SPEC_MAX_BINDS);
                }
                b = realloc(binds, (nb + 1) * sizeof(*binds));
                if (!b) {
                        hull_spec_binds_free(binds, nb);
                        return hull_error_oom(err);
                }
                binds = b;
                b = &binds[nb];
                base = strrchr(m->destination, '/');
                base = base && base[1] ? base + 1 : "root";
                b->readonly = has_option(m, "ro");
                b->source = strdup(m->source);
                if (asprintf(&b->target, "%s/mounts/%zu-%.64s", cid, i, base) < 0)
                        b->target = NULL;
                nb++;
                if (!b->source || !b->target || asprintf(&p, HULL_SPEC_GUEST_SHARED "/%s", b->target) < 0) {
                        hull_spec_binds_free(binds, nb);
                        return hull_error_oom(err);
                }
                free_str(&m->source);
                m->source = p;
                free_str(&m->type);
                m->type = strdup("bind");
                if (!m->type) {
                        hull_spec_binds_free(binds, nb);
                        return hull_error_oom(err);
                }
        }

        if (s->hooks) {
                protobuf_c_message_free_unpacked(&s->hooks->base, NULL);
                s->hooks = NULL;
        }
        if (s->linux) {
                Grpc__Linux *l = s->linux;
                for (size_t i = 0; i < l->n_namespaces; i++) {
                        Grpc__LinuxNamespace *ns = l->namespaces[i];
                        if (streq(ns->type, "network")) {
                                protobuf_c_message_free_unpacked(&ns->base, NULL);
                                continue;
                        }
                        free_str(&ns->path);
                        l->namespaces[keep++] = ns;
                }
                l->n_namespaces = keep;
                for (size_t i = 0; i < l->n_devices; i++)
                        protobuf_c_message_free_unpacked(&l->devices[i]->base, NULL);
                free(l->devices);
                l->devices = NULL;
                l->n_devices = 0;
                if (l->resources)
                        drop_device_rules(l->resources);
                free_str(&l->cgroupspath);
        }
        *ret_binds = binds;
        *ret_n = nb;
        return 0;
}

const char *hull_spec_annotation(struct json_object *spec, const char *key)
{
        struct json_object *a, *v;

        if (!json_object_object_get_ex(spec, "annotations", &a) || !json_object_is_type(a, json_type_object) ||
            !json_object_object_get_ex(a, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}
