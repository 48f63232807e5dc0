/* The effective configuration as TOML (what `hull env` prints): every known key of the active
 * sections with the value hull uses, in a form hull_config_load_file() reads back unchanged. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config-keys.h"
#include "config.h"
#include "error.h"
#include "toml/toml.h"

/* len bytes of s as a TOML basic string (TOML strings and quoted keys may hold U+0000). */
static void write_string_len(FILE *out, const char *s, size_t len)
{
        const unsigned char *end = (const unsigned char *)s + len;

        fputc('"', out);
        for (const unsigned char *p = (const unsigned char *)s; p < end; p++) {
                switch (*p) {
                case '"':
                        fputs("\\\"", out);
                        break;
                case '\\':
                        fputs("\\\\", out);
                        break;
                case '\b':
                        fputs("\\b", out);
                        break;
                case '\t':
                        fputs("\\t", out);
                        break;
                case '\n':
                        fputs("\\n", out);
                        break;
                case '\f':
                        fputs("\\f", out);
                        break;
                case '\r':
                        fputs("\\r", out);
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(out, "\\u%04x", *p);
                        else
                                fputc(*p, out);
                }
        }
        fputc('"', out);
}

static void write_string(FILE *out, const char *s)
{
        write_string_len(out, s, strlen(s));
}

static void write_float(FILE *out, double x)
{
        char buf[64];

        /* Integral values print as integers, as Kata writes default_vcpus = 1; the loader takes both. */
        if (x == floor(x) && fabs(x) < 9007199254740992.0) {
                fprintf(out, "%.0f", x);
                return;
        }
        snprintf(buf, sizeof(buf), "%.17g", x);
        fputs(buf, out);
        if (!strpbrk(buf, ".e"))
                fputs(".0", out);
}

static void write_strv(FILE *out, char **v)
{
        fputc('[', out);
        for (size_t i = 0; v && v[i]; i++) {
                if (i)
                        fputs(", ", out);
                write_string(out, v[i]);
        }
        fputc(']', out);
}

/* Any TOML value, tables inline: used for keys kept as written (runtime.shared_mounts). */
static void write_toml_value(FILE *out, const struct hull_toml_value *v)
{
        switch (v->type) {
        case HULL_TOML_STRING:
                write_string_len(out, v->string.ptr, v->string.len);
                break;
        case HULL_TOML_INTEGER:
                fprintf(out, "%" PRId64, v->integer);
                break;
        case HULL_TOML_FLOAT:
                if (isnan(v->floating))
                        fputs("nan", out);
                else if (isinf(v->floating))
                        fputs(v->floating < 0 ? "-inf" : "inf", out);
                else {
                        char buf[64];
                        snprintf(buf, sizeof(buf), "%.17g", v->floating);
                        fputs(buf, out);
                        if (!strpbrk(buf, ".e"))
                                fputs(".0", out);
                }
                break;
        case HULL_TOML_BOOL:
                fputs(v->boolean ? "true" : "false", out);
                break;
        case HULL_TOML_DATETIME:
        case HULL_TOML_DATETIME_LOCAL:
        case HULL_TOML_DATE_LOCAL:
        case HULL_TOML_TIME_LOCAL:
                fputs(v->datetime, out);
                break;
        case HULL_TOML_ARRAY:
                fputc('[', out);
                for (size_t i = 0; i < v->array.len; i++) {
                        if (i)
                                fputs(", ", out);
                        write_toml_value(out, v->array.items[i]);
                }
                fputc(']', out);
                break;
        case HULL_TOML_TABLE:
                fputc('{', out);
                for (size_t i = 0; i < v->table.len; i++) {
                        fputs(i ? ", " : " ", out);
                        write_string_len(out, v->table.items[i].key, v->table.items[i].key_len);
                        fputs(" = ", out);
                        write_toml_value(out, v->table.items[i].value);
                }
                fputs(v->table.len ? " }" : "}", out);
                break;
        }
}

static void write_section(FILE *out, const char *header, const struct hull_config_section *s, const void *base,
                          const struct hull_toml_value *raw)
{
        fprintf(out, "\n[%s]\n", header);
        for (size_t i = 0; i < s->n_keys; i++) {
                const struct hull_config_key *k = &s->keys[i];
                const void *p = (const char *)base + k->offset;

                if ((k->flags & HULL_CONFIG_ALIAS) || k->type == HULL_CONFIG_TABLE)
                        continue;
                fprintf(out, "%s = ", k->name);
                switch (k->type) {
                case HULL_CONFIG_BOOL:
                        fputs(*(const bool *)p ? "true" : "false", out);
                        break;
                case HULL_CONFIG_STRING:
                case HULL_CONFIG_PATH:
                        write_string(out, *(char *const *)p ? *(char *const *)p : "");
                        break;
                case HULL_CONFIG_STRV:
                case HULL_CONFIG_PATHV:
                        write_strv(out, *(char **const *)p);
                        break;
                case HULL_CONFIG_I32:
                        fprintf(out, "%" PRId32, *(const int32_t *)p);
                        break;
                case HULL_CONFIG_U32:
                        fprintf(out, "%" PRIu32, *(const uint32_t *)p);
                        break;
                case HULL_CONFIG_I64:
                        fprintf(out, "%" PRId64, *(const int64_t *)p);
                        break;
                case HULL_CONFIG_U64:
                        fprintf(out, "%" PRIu64, *(const uint64_t *)p);
                        break;
                case HULL_CONFIG_FLOAT:
                        write_float(out, *(const double *)p);
                        break;
                case HULL_CONFIG_ARRAY: {
                        const struct hull_toml_value *v = raw ? hull_toml_table_get(raw, k->name) : NULL;
                        if (v)
                                write_toml_value(out, v);
                        else
                                fputs("[]", out);
                        break;
                }
                case HULL_CONFIG_TABLE:
                        break;
                }
                fputc('\n', out);
        }
        /* nested tables after the keys of their parent, as TOML requires */
        for (size_t i = 0; i < s->n_keys; i++) {
                const struct hull_config_key *k = &s->keys[i];
                char sub[128];

                if (k->type != HULL_CONFIG_TABLE)
                        continue;
                snprintf(sub, sizeof(sub), "%s.%s", header, k->name);
                write_section(out, sub, k->sub, (const char *)base + k->offset,
                              raw ? hull_toml_table_get(raw, k->name) : NULL);
        }
}

static const struct hull_toml_value *raw_table(const struct hull_config *c, const char *a, const char *b)
{
        const struct hull_toml_value *v = c->toml ? hull_toml_table_get(c->toml, a) : NULL;

        if (v && b)
                v = hull_toml_table_get(v, b);
        return v && v->type == HULL_TOML_TABLE ? v : NULL;
}

int hull_config_write_toml(const struct hull_config *c, FILE *out, struct hull_error **err)
{
        const char *section = hull_config_hypervisor_kind_to_section(c->hypervisor_kind);
        char header[64];

        if (!section)
                return hull_error_set(err, EINVAL, "configuration has no valid hypervisor kind");
        fputs("# hull: effective configuration", out);
        if (c->path) {
                fputs(" from ", out);
                for (const char *p = c->path; *p; p++) /* a comment ends at a newline: keep it one line */
                        fputc((unsigned char)*p < 0x20 ? '?' : *p, out);
        }
        fprintf(out, " (hypervisor: %s)\n", hull_config_hypervisor_kind_to_string(c->hypervisor_kind));
        snprintf(header, sizeof(header), "hypervisor.%s", section);
        write_section(out, header, &hull_config_section_hypervisor, &c->hypervisor,
                      raw_table(c, "hypervisor", section));
        write_section(out, "agent.kata", &hull_config_section_agent, &c->agent, raw_table(c, "agent", "kata"));
        write_section(out, "runtime", &hull_config_section_runtime, &c->runtime, raw_table(c, "runtime", NULL));
        write_section(out, "factory", &hull_config_section_factory, &c->factory, raw_table(c, "factory", NULL));
        write_section(out, "image", &hull_config_section_image, &c->image, raw_table(c, "image", NULL));
        if (fflush(out) == EOF || ferror(out))
                return hull_error_errno(err, errno ? errno : EIO, "write configuration");
        return 0;
}
