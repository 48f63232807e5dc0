/* Loading configuration.toml: which file, which hypervisor section, typed and range-checked values,
 * warnings for unknown and not-yet-supported keys, and the checks Kata makes across keys. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-keys.h"
#include "config.h"
#include "error.h"
#include "fd.h"
#include "hull-build-config.h"
#include "toml/toml.h"

#define HULL_CONFIG_ETC_FILE "/etc/hull/configuration.toml"

static const char *const kind_names[_HULL_CONFIG_HYPERVISOR_MAX] = {
        [HULL_CONFIG_HYPERVISOR_QEMU] = "qemu",
        [HULL_CONFIG_HYPERVISOR_CLH] = "clh",
        [HULL_CONFIG_HYPERVISOR_FIRECRACKER] = "firecracker",
        [HULL_CONFIG_HYPERVISOR_BUILTIN] = "builtin",
        [HULL_CONFIG_HYPERVISOR_STRATOVIRT] = "stratovirt",
};

static const char *const kind_sections[_HULL_CONFIG_HYPERVISOR_MAX] = {
        [HULL_CONFIG_HYPERVISOR_QEMU] = "qemu",
        [HULL_CONFIG_HYPERVISOR_CLH] = "clh",
        [HULL_CONFIG_HYPERVISOR_FIRECRACKER] = "firecracker",
        [HULL_CONFIG_HYPERVISOR_BUILTIN] = "dragonball",
        [HULL_CONFIG_HYPERVISOR_STRATOVIRT] = "stratovirt",
};

const char *hull_config_hypervisor_kind_to_string(enum hull_config_hypervisor_kind kind)
{
        if ((int)kind < 0 || kind >= _HULL_CONFIG_HYPERVISOR_MAX)
                return NULL;
        return kind_names[kind];
}

const char *hull_config_hypervisor_kind_to_section(enum hull_config_hypervisor_kind kind)
{
        if ((int)kind < 0 || kind >= _HULL_CONFIG_HYPERVISOR_MAX)
                return NULL;
        return kind_sections[kind];
}

int hull_config_hypervisor_kind_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int k = 0; k < _HULL_CONFIG_HYPERVISOR_MAX; k++)
                if (streq(s, kind_names[k]) || streq(s, kind_sections[k]))
                        return k;
        if (streq(s, "fc"))
                return HULL_CONFIG_HYPERVISOR_FIRECRACKER;
        return -EINVAL;
}

/* Kata's machine types for QEMU (govmm supportedQemuMachines) and StratoVirt. */
static const char *const qemu_machine_types[] = { "q35", "pc", "microvm", "virt", "pseries", "s390-ccw-virtio", NULL };
static const char *const stratovirt_machine_types[] = { "microvm", "virt", NULL };

struct load_ctx {
        const char *file; /* as named in messages */
        char *dir; /* absolute directory relative paths are taken against */
        struct hull_config *c;
        struct hull_error **err;
};

static const char *toml_type_name(enum hull_toml_type t)
{
        switch (t) {
        case HULL_TOML_STRING:
                return "string";
        case HULL_TOML_INTEGER:
                return "integer";
        case HULL_TOML_FLOAT:
                return "float";
        case HULL_TOML_BOOL:
                return "boolean";
        case HULL_TOML_DATETIME:
        case HULL_TOML_DATETIME_LOCAL:
        case HULL_TOML_DATE_LOCAL:
        case HULL_TOML_TIME_LOCAL:
                return "datetime";
        case HULL_TOML_ARRAY:
                return "array";
        case HULL_TOML_TABLE:
                return "table";
        }
        return "value";
}

static const char *expected_name(enum hull_config_type t)
{
        switch (t) {
        case HULL_CONFIG_BOOL:
                return "boolean";
        case HULL_CONFIG_STRING:
        case HULL_CONFIG_PATH:
                return "string";
        case HULL_CONFIG_STRV:
        case HULL_CONFIG_PATHV:
                return "array of strings";
        case HULL_CONFIG_I32:
        case HULL_CONFIG_U32:
        case HULL_CONFIG_I64:
        case HULL_CONFIG_U64:
                return "integer";
        case HULL_CONFIG_FLOAT:
                return "number";
        case HULL_CONFIG_ARRAY:
                return "array";
        case HULL_CONFIG_TABLE:
                return "table";
        }
        return "value";
}

/* asprintf() that returns NULL on failure (asprintf leaves its pointer undefined then). */
_printf_(1, 2) static char *strdup_printf(const char *fmt, ...)
{
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

static int add_warning(struct load_ctx *ctx, enum hull_config_warning_kind kind, unsigned line, const char *key,
                       const char *what)
{
        struct hull_config *c = ctx->c;
        struct hull_config_warning *w;
        _cleanup_free_ char *k = NULL, *text = NULL;

        k = strdup(key);
        text = strdup_printf("%s:%u: %s: %s", ctx->file, line, key, what);
        if (!k || !text)
                return hull_error_oom(ctx->err);
        w = reallocarray(c->warnings, c->n_warnings + 1, sizeof(*w));
        if (!w)
                return hull_error_oom(ctx->err);
        c->warnings = w;
        c->warnings[c->n_warnings++] = (struct hull_config_warning){
                .kind = kind,
                .line = line,
                .key = TAKE_PTR(k),
                .text = TAKE_PTR(text),
        };
        return 0;
}

/* "/a//b/./c/" -> "/a/b/c"; ".." stays: whether it crosses a symlink is for the user of the path. */
static void path_normalize(char *p)
{
        char *r = p, *w = p;

        while (*r) {
                if (r[0] == '/' && (r[1] == '/' || (r[1] == '.' && (r[2] == '/' || r[2] == '\0')))) {
                        r += r[1] == '/' ? 1 : 2;
                        continue;
                }
                *w++ = *r++;
        }
        *w = '\0';
        if (w > p + 1 && w[-1] == '/')
                w[-1] = '\0';
        if (p[0] == '\0' && r != p) {
                p[0] = '/';
                p[1] = '\0';
        }
}

/* A host path as Kata writes it: empty stays empty (not set), relative is taken against the
 * directory of the configuration file. */
static int path_make(const struct load_ctx *ctx, const char *value, char **ret)
{
        char *p;

        if (value[0] == '\0' || value[0] == '/')
                p = strdup(value);
        else
                p = strdup_printf("%s/%s", ctx->dir, value);
        if (!p)
                return -ENOMEM;
        path_normalize(p);
        *ret = p;
        return 0;
}

static int check_string(struct load_ctx *ctx, const char *section, const char *key, const struct hull_toml_value *v)
{
        if (v->string.len > HULL_CONFIG_MAX_STRING)
                return hull_error_set(ctx->err, EINVAL, "%s:%u: %s.%s: string longer than %d bytes", ctx->file, v->line,
                                      section, key, HULL_CONFIG_MAX_STRING);
        if (strlen(v->string.ptr) != v->string.len)
                return hull_error_set(ctx->err, EINVAL, "%s:%u: %s.%s: string contains a NUL character", ctx->file,
                                      v->line, section, key);
        return 0;
}

static int type_error(struct load_ctx *ctx, const char *section, const struct hull_config_key *k,
                      const struct hull_toml_value *v)
{
        return hull_error_set(ctx->err, EINVAL, "%s:%u: %s.%s: expected %s, got %s", ctx->file, v->line, section,
                              k->name, expected_name(k->type), toml_type_name(v->type));
}

static int choices_error(struct load_ctx *ctx, const char *section, const char *key, unsigned line, const char *value,
                         const char *const *choices)
{
        _cleanup_free_ char *list = NULL;
        size_t n = 0;

        for (const char *const *c = choices; *c; c++)
                n += strlen(*c) + 2;
        list = calloc(1, n + 1);
        if (!list)
                return hull_error_oom(ctx->err);
        for (const char *const *c = choices; *c; c++) {
                if (c != choices)
                        strcat(list, ", ");
                strcat(list, *c);
        }
        return hull_error_set(ctx->err, EINVAL, "%s:%u: %s.%s: invalid value \"%s\", expected one of: %s", ctx->file,
                              line, section, key, value, list);
}

static bool in_list(const char *s, const char *const *list)
{
        for (; *list; list++)
                if (streq(s, *list))
                        return true;
        return false;
}

static void strv_free(char **v)
{
        if (!v)
                return;
        for (char **i = v; *i; i++)
                free(*i);
        free(v);
}

static int set_strv(struct load_ctx *ctx, const char *section, const struct hull_config_key *k,
                    const struct hull_toml_value *v, char ***field)
{
        char **out;
        size_t n = v->array.len;

        if (n > HULL_CONFIG_MAX_ARRAY)
                return hull_error_set(ctx->err, EINVAL, "%s:%u: %s.%s: more than %d items", ctx->file, v->line, section,
                                      k->name, HULL_CONFIG_MAX_ARRAY);
        for (size_t i = 0; i < n; i++) {
                const struct hull_toml_value *e = v->array.items[i];
                int r;

                if (e->type != HULL_TOML_STRING)
                        return hull_error_set(ctx->err, EINVAL, "%s:%u: %s.%s[%zu]: expected string, got %s", ctx->file,
                                              e->line, section, k->name, i, toml_type_name(e->type));
                r = check_string(ctx, section, k->name, e);
                if (r < 0)
                        return r;
        }
        out = calloc(n + 1, sizeof(char *));
        if (!out)
                return hull_error_oom(ctx->err);
        for (size_t i = 0; i < n; i++) {
                const char *s = v->array.items[i]->string.ptr;
                int r;

                if (k->type == HULL_CONFIG_PATHV)
                        r = path_make(ctx, s, &out[i]);
                else
                        r = (out[i] = strdup(s)) ? 0 : -ENOMEM;
                if (r < 0) {
                        strv_free(out);
                        return hull_error_oom(ctx->err);
                }
        }
        strv_free(*field);
        *field = out;
        return 0;
}

/* Store one value; *ret_default tells whether it equals Kata's default (for the warning). */
static int set_value(struct load_ctx *ctx, const char *section, const struct hull_config_key *k,
                     const struct hull_toml_value *v, void *base, bool *ret_default)
{
        void *p = (char *)base + k->offset;
        int r;

        switch (k->type) {
        case HULL_CONFIG_BOOL:
                if (v->type != HULL_TOML_BOOL)
                        return type_error(ctx, section, k, v);
                *(bool *)p = v->boolean;
                *ret_default = v->boolean == (k->def_int != 0);
                return 0;

        case HULL_CONFIG_STRING:
        case HULL_CONFIG_PATH: {
                const char *def = hull_config_key_default_str(k, ctx->c->hypervisor_kind);
                char *s;

                if (v->type != HULL_TOML_STRING)
                        return type_error(ctx, section, k, v);
                r = check_string(ctx, section, k->name, v);
                if (r < 0)
                        return r;
                if (k->choices && v->string.ptr[0] != '\0' && !in_list(v->string.ptr, k->choices))
                        return choices_error(ctx, section, k->name, v->line, v->string.ptr, k->choices);
                if (k->type == HULL_CONFIG_PATH) {
                        if (path_make(ctx, v->string.ptr, &s) < 0)
                                return hull_error_oom(ctx->err);
                } else {
                        /* Kata: an empty value of a key with fixed choices means the default */
                        s = strdup(k->choices && v->string.ptr[0] == '\0' ? def : v->string.ptr);
                        if (!s)
                                return hull_error_oom(ctx->err);
                }
                free(*(char **)p);
                *(char **)p = s;
                *ret_default = streq(s, def);
                return 0;
        }

        case HULL_CONFIG_STRV:
        case HULL_CONFIG_PATHV:
                if (v->type != HULL_TOML_ARRAY)
                        return type_error(ctx, section, k, v);
                r = set_strv(ctx, section, k, v, (char ***)p);
                if (r < 0)
                        return r;
                *ret_default = v->array.len == 0;
                return 0;

        case HULL_CONFIG_I32:
        case HULL_CONFIG_U32:
        case HULL_CONFIG_I64:
        case HULL_CONFIG_U64: {
                int64_t lo, hi, x;

                if (v->type != HULL_TOML_INTEGER)
                        return type_error(ctx, section, k, v);
                x = v->integer;
                hull_config_key_range(k, &lo, &hi);
                if (x < lo || x > hi)
                        return hull_error_set(ctx->err, ERANGE,
                                              "%s:%u: %s.%s: %" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")",
                                              ctx->file, v->line, section, k->name, x, lo, hi);
                if (k->type == HULL_CONFIG_I32)
                        *(int32_t *)p = (int32_t)x;
                else if (k->type == HULL_CONFIG_U32)
                        *(uint32_t *)p = (uint32_t)x;
                else if (k->type == HULL_CONFIG_I64)
                        *(int64_t *)p = x;
                else
                        *(uint64_t *)p = (uint64_t)x;
                *ret_default = x == k->def_int;
                return 0;
        }

        case HULL_CONFIG_FLOAT: {
                double x;

                if (v->type == HULL_TOML_INTEGER)
                        x = (double)v->integer;
                else if (v->type == HULL_TOML_FLOAT)
                        x = v->floating;
                else
                        return type_error(ctx, section, k, v);
                if (!isfinite(x))
                        return hull_error_set(ctx->err, ERANGE, "%s:%u: %s.%s: expected a finite number", ctx->file,
                                              v->line, section, k->name);
                *(double *)p = x;
                *ret_default = x == k->def_float;
                return 0;
        }

        case HULL_CONFIG_ARRAY:
                if (v->type != HULL_TOML_ARRAY)
                        return type_error(ctx, section, k, v);
                *ret_default = v->array.len == 0; /* the value stays in hull_config.toml */
                return 0;

        case HULL_CONFIG_TABLE:
                break; /* handled by apply_section() */
        }
        return hull_error_set(ctx->err, EINVAL, "%s:%u: %s.%s: unhandled key type", ctx->file, v->line, section,
                              k->name);
}

static const struct hull_config_key *find_key(const struct hull_config_section *s, const char *name)
{
        for (size_t i = 0; i < s->n_keys; i++)
                if (streq(s->keys[i].name, name))
                        return &s->keys[i];
        return NULL;
}

/* Whether a TOML key is name: a quoted key may hold U+0000 ("\u0000"), and such a key is no configuration key. */
static bool key_is(const struct hull_toml_kv *kv, const char *name)
{
        return kv->key_len == strlen(name) && memcmp(kv->key, name, kv->key_len) == 0;
}

static bool key_is_plain(const struct hull_toml_kv *kv)
{
        return strlen(kv->key) == kv->key_len;
}

/* "<prefix><key>" for messages, a NUL in the key written as \u0000 so that it is not cut short there. */
static char *key_name(const char *prefix, const struct hull_toml_kv *kv)
{
        size_t n = strlen(prefix), o;
        char *s = malloc(n + kv->key_len * 6 + 1);

        if (!s)
                return NULL;
        memcpy(s, prefix, n);
        o = n;
        for (size_t i = 0; i < kv->key_len; i++) {
                if (kv->key[i] == '\0') {
                        memcpy(s + o, "\\u0000", 6);
                        o += 6;
                } else
                        s[o++] = kv->key[i];
        }
        s[o] = '\0';
        return s;
}

static int apply_section(struct load_ctx *ctx, const struct hull_config_section *s, const char *section,
                         const struct hull_toml_value *table, void *base)
{
        for (size_t i = 0; i < table->table.len; i++) {
                const struct hull_toml_kv *kv = &table->table.items[i];
                const struct hull_config_key *k = key_is_plain(kv) ? find_key(s, kv->key) : NULL;
                _cleanup_free_ char *full = NULL;
                bool is_default = true;
                int r;

                full = strdup_printf("%s.", section);
                if (full) {
                        char *k_full = key_name(full, kv);

                        free(full);
                        full = k_full;
                }
                if (!full)
                        return hull_error_oom(ctx->err);
                if (!k) {
                        bool is_table = kv->value->type == HULL_TOML_TABLE;
                        r = add_warning(
                                ctx, is_table ? HULL_CONFIG_WARNING_UNKNOWN_SECTION : HULL_CONFIG_WARNING_UNKNOWN_KEY,
                                kv->value->line, full, is_table ? "unknown section, ignored" : "unknown key, ignored");
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k->type == HULL_CONFIG_TABLE) {
                        if (kv->value->type != HULL_TOML_TABLE)
                                return type_error(ctx, section, k, kv->value);
                        r = apply_section(ctx, k->sub, full, kv->value, (char *)base + k->offset);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = set_value(ctx, section, k, kv->value, base, &is_default);
                if (r < 0)
                        return r;
                if (!(k->flags & HULL_CONFIG_ACTED) && !is_default) {
                        r = add_warning(ctx, HULL_CONFIG_WARNING_UNSUPPORTED, kv->value->line, full,
                                        "not supported yet, the value is ignored");
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Find the one [hypervisor.X] section; more than one, or one hull has no driver for, is an error. */
static int pick_hypervisor(struct load_ctx *ctx, const struct hull_toml_value *root, const struct hull_toml_kv **ret_kv)
{
        const struct hull_toml_value *hyp = hull_toml_table_get(root, "hypervisor");
        const struct hull_toml_kv *found = NULL;

        *ret_kv = NULL;
        if (!hyp)
                return 0;
        if (hyp->type != HULL_TOML_TABLE)
                return hull_error_set(ctx->err, EINVAL, "%s:%u: hypervisor: expected table, got %s", ctx->file,
                                      hyp->line, toml_type_name(hyp->type));
        for (size_t i = 0; i < hyp->table.len; i++) {
                const struct hull_toml_kv *kv = &hyp->table.items[i];
                int kind;

                if (kv->value->type != HULL_TOML_TABLE)
                        return hull_error_set(ctx->err, EINVAL, "%s:%u: hypervisor.%s: expected table, got %s",
                                              ctx->file, kv->value->line, kv->key, toml_type_name(kv->value->type));
                kind = key_is_plain(kv) ? hull_config_hypervisor_kind_from_string(kv->key) : -1;
                if (kind < 0 || !key_is(kv, kind_sections[kind])) {
                        _cleanup_free_ char *name = key_name("", kv);

                        return hull_error_set(ctx->err, EINVAL,
                                              "%s:%u: [hypervisor.%s]: hypervisor not supported by hull (use one of "
                                              "qemu, clh, firecracker, dragonball, stratovirt)",
                                              ctx->file, kv->value->line, name ? name : "?");
                }
                if (found)
                        return hull_error_set(ctx->err, EINVAL,
                                              "%s:%u: [hypervisor.%s]: more than one hypervisor section "
                                              "([hypervisor.%s] at line %u); a configuration file selects exactly one",
                                              ctx->file, kv->value->line, kv->key, found->key, found->value->line);
                found = kv;
                ctx->c->hypervisor_kind = kind;
                ctx->c->hypervisor_section_present = true;
        }
        *ret_kv = found;
        return 0;
}

static unsigned line_of(const struct hull_toml_value *table, const char *key, unsigned fallback)
{
        const struct hull_toml_value *v = table ? hull_toml_table_get(table, key) : NULL;
        return v ? v->line : fallback;
}

/* Kata's adjustments (0 means "the default") and the checks that span keys. */
static int finish(struct load_ctx *ctx, const struct hull_toml_kv *hyp_kv, const struct hull_toml_value *root)
{
        struct hull_config *c = ctx->c;
        struct hull_config_hypervisor *h = &c->hypervisor;
        const struct hull_toml_value *ht = hyp_kv ? hyp_kv->value : NULL;
        const struct hull_toml_value *rt = hull_toml_table_get(root, "runtime");
        char sec[64];

        snprintf(sec, sizeof(sec), "hypervisor.%s", kind_sections[c->hypervisor_kind]);

        if (h->initrd[0] && h->image[0])
                return hull_error_set(ctx->err, EINVAL,
                                      "%s:%u: %s.image: both initrd and image are set; Kata boots from one of them",
                                      ctx->file, line_of(ht, "image", 0), sec);
        if (!h->initrd[0] && !h->image[0]) {
                char *s = strdup(HULL_DATA_DIR "/" HULL_GUEST_INITRD);
                if (!s)
                        return hull_error_oom(ctx->err);
                free(h->initrd);
                h->initrd = s;
        }

        if (h->default_vcpus == 0)
                h->default_vcpus = 1;
        if (h->default_maxvcpus > 0 && h->default_vcpus > h->default_maxvcpus)
                return hull_error_set(ctx->err, EINVAL,
                                      "%s:%u: %s.default_vcpus: %g is more than default_maxvcpus (%u)", ctx->file,
                                      line_of(ht, "default_vcpus", 0), sec, h->default_vcpus, h->default_maxvcpus);
        if (h->memory_slots == 0)
                h->memory_slots = 10;
        if (h->default_bridges == 0)
                h->default_bridges = 1;
        if (h->default_bridges > 5) /* Kata cold-plugs at most 5 PCI bridges */
                h->default_bridges = 5;
        if (h->pcie_root_port > 16)
                h->pcie_root_port = 16;
        if (h->pcie_switch_port > 16)
                h->pcie_switch_port = 16;
        if (h->msize_9p == 0)
                h->msize_9p = 8192;

        if (c->hypervisor_kind == HULL_CONFIG_HYPERVISOR_QEMU && h->machine_type[0] &&
            !in_list(h->machine_type, qemu_machine_types))
                return choices_error(ctx, sec, "machine_type", line_of(ht, "machine_type", 0), h->machine_type,
                                     qemu_machine_types);
        if (c->hypervisor_kind == HULL_CONFIG_HYPERVISOR_STRATOVIRT && h->machine_type[0] &&
            !in_list(h->machine_type, stratovirt_machine_types))
                return choices_error(ctx, sec, "machine_type", line_of(ht, "machine_type", 0), h->machine_type,
                                     stratovirt_machine_types);
        if (streq(h->shared_fs, "inline-virtio-fs") && c->hypervisor_kind != HULL_CONFIG_HYPERVISOR_BUILTIN)
                return hull_error_set(ctx->err, EINVAL,
                                      "%s:%u: %s.shared_fs: inline-virtio-fs runs in the VMM's own process and needs "
                                      "the built-in VMM ([hypervisor.dragonball])",
                                      ctx->file, line_of(ht, "shared_fs", 0), sec);

        if (c->runtime.hypervisor_name[0] && c->hypervisor_section_present &&
            hull_config_hypervisor_kind_from_string(c->runtime.hypervisor_name) != (int)c->hypervisor_kind)
                return hull_error_set(ctx->err, EINVAL,
                                      "%s:%u: runtime.hypervisor_name: \"%s\" does not match the [%s] section",
                                      ctx->file, line_of(rt, "hypervisor_name", 0), c->runtime.hypervisor_name, sec);
        if (c->runtime.agent_name[0] && !streq(c->runtime.agent_name, "kata"))
                return hull_error_set(ctx->err, EINVAL,
                                      "%s:%u: runtime.agent_name: \"%s\" is not an agent (only \"kata\")", ctx->file,
                                      line_of(rt, "agent_name", 0), c->runtime.agent_name);
        if (c->runtime.disable_new_netns && !streq(c->runtime.internetworking_model, "none"))
                return hull_error_set(
                        ctx->err, EINVAL,
                        "%s:%u: runtime.disable_new_netns: works only with internetworking_model = \"none\"", ctx->file,
                        line_of(rt, "disable_new_netns", 0));
        if (c->agent.dial_timeout == 0)
                c->agent.dial_timeout = 45;
        return 0;
}

static int load_tree(struct load_ctx *ctx, const struct hull_toml_value *root)
{
        struct hull_config *c = ctx->c;
        const struct hull_toml_kv *hyp_kv = NULL;
        int r;

        r = pick_hypervisor(ctx, root, &hyp_kv);
        if (r < 0)
                return r;
        if (hull_config_keys_set_defaults(&hull_config_section_hypervisor, &c->hypervisor, c->hypervisor_kind) < 0 ||
            hull_config_keys_set_defaults(&hull_config_section_agent, &c->agent, c->hypervisor_kind) < 0 ||
            hull_config_keys_set_defaults(&hull_config_section_runtime, &c->runtime, c->hypervisor_kind) < 0 ||
            hull_config_keys_set_defaults(&hull_config_section_factory, &c->factory, c->hypervisor_kind) < 0 ||
            hull_config_keys_set_defaults(&hull_config_section_image, &c->image, c->hypervisor_kind) < 0)
                return hull_error_oom(ctx->err);

        for (size_t i = 0; i < root->table.len; i++) {
                const struct hull_toml_kv *kv = &root->table.items[i];
                const struct hull_toml_value *v = kv->value;
                const struct hull_config_section *s = NULL;
                void *base = NULL;

                if (key_is(kv, "hypervisor")) {
                        char sec[64];
                        if (!hyp_kv)
                                continue; /* an empty [hypervisor] table */
                        snprintf(sec, sizeof(sec), "hypervisor.%s", hyp_kv->key);
                        r = apply_section(ctx, &hull_config_section_hypervisor, sec, hyp_kv->value, &c->hypervisor);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (key_is(kv, "agent")) {
                        if (v->type != HULL_TOML_TABLE)
                                return hull_error_set(ctx->err, EINVAL, "%s:%u: agent: expected table, got %s",
                                                      ctx->file, v->line, toml_type_name(v->type));
                        for (size_t j = 0; j < v->table.len; j++) {
                                const struct hull_toml_kv *a = &v->table.items[j];
                                _cleanup_free_ char *name = NULL;

                                name = key_name("agent.", a);
                                if (!name)
                                        return hull_error_oom(ctx->err);
                                if (!key_is(a, "kata")) {
                                        r = add_warning(ctx, HULL_CONFIG_WARNING_UNKNOWN_SECTION, a->value->line, name,
                                                        "unknown agent (only agent.kata), ignored");
                                        if (r < 0)
                                                return r;
                                        continue;
                                }
                                if (a->value->type != HULL_TOML_TABLE)
                                        return hull_error_set(ctx->err, EINVAL,
                                                              "%s:%u: agent.kata: expected table, got %s", ctx->file,
                                                              a->value->line, toml_type_name(a->value->type));
                                r = apply_section(ctx, &hull_config_section_agent, name, a->value, &c->agent);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                if (key_is(kv, "runtime")) {
                        s = &hull_config_section_runtime;
                        base = &c->runtime;
                } else if (key_is(kv, "factory")) {
                        s = &hull_config_section_factory;
                        base = &c->factory;
                } else if (key_is(kv, "image")) {
                        s = &hull_config_section_image;
                        base = &c->image;
                }
                if (!s) {
                        bool is_table = v->type == HULL_TOML_TABLE;
                        _cleanup_free_ char *name = key_name("", kv);

                        if (!name)
                                return hull_error_oom(ctx->err);
                        r = add_warning(
                                ctx, is_table ? HULL_CONFIG_WARNING_UNKNOWN_SECTION : HULL_CONFIG_WARNING_UNKNOWN_KEY,
                                v->line, name, is_table ? "unknown section, ignored" : "unknown key, ignored");
                        if (r < 0)
                                return r;
                        continue;
                }
                if (v->type != HULL_TOML_TABLE)
                        return hull_error_set(ctx->err, EINVAL, "%s:%u: %s: expected table, got %s", ctx->file, v->line,
                                              kv->key, toml_type_name(v->type));
                r = apply_section(ctx, s, kv->key, v, base);
                if (r < 0)
                        return r;
        }
        return finish(ctx, hyp_kv, root);
}

/* The absolute directory of filename ("." when it has none), lexically normalised. */
static char *base_dir(const char *filename)
{
        _cleanup_free_ char *cwd = NULL, *dir = NULL;
        const char *slash = strrchr(filename, '/');
        char *ret;

        if (slash == filename)
                dir = strdup("/");
        else if (slash)
                dir = strndup(filename, (size_t)(slash - filename));
        else
                dir = strdup(".");
        if (!dir)
                return NULL;
        if (dir[0] == '/')
                ret = TAKE_PTR(dir);
        else {
                cwd = getcwd(NULL, 0);
                ret = cwd ? strdup_printf("%s/%s", cwd, dir) : NULL;
                if (!ret)
                        return NULL;
        }
        path_normalize(ret);
        return ret;
}

static struct hull_config *config_alloc(const char *path)
{
        struct hull_config *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        if (path && !(c->path = strdup(path)))
                return hull_config_free(c);
        return c;
}

int hull_config_new_default(enum hull_config_hypervisor_kind kind, struct hull_config **ret, struct hull_error **err)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        const struct hull_toml_value empty = { .type = HULL_TOML_TABLE };
        struct load_ctx ctx = { .file = "(defaults)", .dir = (char *)"/", .err = err };
        int r;

        if ((int)kind < 0 || kind >= _HULL_CONFIG_HYPERVISOR_MAX)
                return hull_error_set(err, EINVAL, "invalid hypervisor kind %d", (int)kind);
        c = config_alloc(NULL);
        if (!c)
                return hull_error_oom(err);
        c->hypervisor_kind = kind;
        ctx.c = c;
        r = load_tree(&ctx, &empty);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int hull_config_load_data(const char *data, size_t len, const char *filename, struct hull_config **ret,
                          struct hull_error **err)
{
        _cleanup_(hull_config_freep) struct hull_config *c = NULL;
        _cleanup_(hull_toml_freep) struct hull_toml_value *root = NULL;
        _cleanup_free_ char *dir = NULL;
        struct load_ctx ctx = { .file = filename, .err = err };
        int r;

        if (len > HULL_CONFIG_MAX_FILE_SIZE)
                return hull_error_set(err, EFBIG, "%s: larger than %u bytes", filename, HULL_CONFIG_MAX_FILE_SIZE);
        c = config_alloc(filename);
        dir = base_dir(filename);
        if (!c || !dir)
                return hull_error_oom(err);
        r = hull_toml_parse(data, len, filename, &root, err);
        if (r < 0)
                return r;
        if (root->type != HULL_TOML_TABLE)
                return hull_error_set(err, EINVAL, "%s: not a TOML document", filename);
        ctx.c = c;
        ctx.dir = dir;
        r = load_tree(&ctx, root);
        if (r < 0)
                return r;
        c->toml = TAKE_PTR(root);
        *ret = TAKE_PTR(c);
        return 0;
}

int hull_config_load_file(const char *path, struct hull_config **ret, struct hull_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;

        r = hull_read_file(path, HULL_CONFIG_MAX_FILE_SIZE, &data, &len, err);
        if (r < 0)
                return hull_error_prefix(err, "configuration");
        return hull_config_load_data(data, len, path, ret, err);
}

/* True when this program runs from the build tree it was built in (not installed). */
static bool running_uninstalled(void)
{
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        size_t blen = strlen(HULL_BUILD_DIR);

        if (n <= 0)
                return false;
        exe[n] = '\0';
        return strncmp(exe, HULL_BUILD_DIR, blen) == 0 && exe[blen] == '/';
}

static int must_exist(const char *path, const char *origin, char **ret_path, struct hull_error **err)
{
        struct stat st;
        char *p;

        if (stat(path, &st) < 0)
                return hull_error_errno(err, errno, "configuration file %s (from %s)", path, origin);
        if (S_ISDIR(st.st_mode))
                return hull_error_errno(err, EISDIR, "configuration file %s (from %s)", path, origin);
        p = strdup(path);
        if (!p)
                return hull_error_oom(err);
        *ret_path = p;
        return 0;
}

int hull_config_find(const char *explicit_path, char **ret_path, struct hull_error **err)
{
        const char *env = getenv("HULL_CONF_FILE");
        const char *candidates[] = {
                HULL_CONFIG_ETC_FILE,
                HULL_DEFAULTS_DIR "/configuration.toml",
                running_uninstalled() ? HULL_BUILD_DIR "/configs/configuration.toml" : NULL,
        };

        if (explicit_path)
                return must_exist(explicit_path, "--config", ret_path, err);
        if (env && env[0])
                return must_exist(env, "HULL_CONF_FILE", ret_path, err);
        for (size_t i = 0; i < ARRAY_SIZE(candidates); i++) {
                struct stat st;

                if (!candidates[i] || stat(candidates[i], &st) < 0 || S_ISDIR(st.st_mode))
                        continue;
                char *p = strdup(candidates[i]);
                if (!p)
                        return hull_error_oom(err);
                *ret_path = p;
                return 0;
        }
        return hull_error_set(err, ENOENT,
                              "no configuration file: none of " HULL_CONFIG_ETC_FILE ", " HULL_DEFAULTS_DIR
                              "/configuration.toml exists; use --config or HULL_CONF_FILE");
}

int hull_config_load(const char *explicit_path, struct hull_config **ret, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL;
        int r;

        r = hull_config_find(explicit_path, &path, err);
        if (r < 0)
                return r;
        return hull_config_load_file(path, ret, err);
}

size_t hull_config_get_warnings(const struct hull_config *c, const struct hull_config_warning **ret)
{
        if (!c) {
                if (ret)
                        *ret = NULL;
                return 0;
        }
        if (ret)
                *ret = c->warnings;
        return c->n_warnings;
}

struct hull_config *hull_config_free(struct hull_config *c)
{
        if (!c)
                return NULL;
        hull_config_keys_free(&hull_config_section_hypervisor, &c->hypervisor);
        hull_config_keys_free(&hull_config_section_agent, &c->agent);
        hull_config_keys_free(&hull_config_section_runtime, &c->runtime);
        hull_config_keys_free(&hull_config_section_factory, &c->factory);
        hull_config_keys_free(&hull_config_section_image, &c->image);
        for (size_t i = 0; i < c->n_warnings; i++) {
                free(c->warnings[i].key);
                free(c->warnings[i].text);
        }
        free(c->warnings);
        hull_toml_free(c->toml);
        free(c->path);
        free(c);
        return NULL;
}
