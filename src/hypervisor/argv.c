/* String vectors for command lines: append with deferred error reporting, copy, free. */
#include "argv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static void push(struct hull_argv *a, char *s)
{
        if (!s) {
                a->oom = true;
                return;
        }
        if (a->n + 2 > a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 32;
                char **v = realloc(a->v, cap * sizeof(*v));
                if (!v) {
                        free(s);
                        a->oom = true;
                        return;
                }
                a->v = v;
                a->cap = cap;
        }
        a->v[a->n++] = s;
        a->v[a->n] = NULL;
}

void hull_argv_add(struct hull_argv *a, const char *s)
{
        push(a, strdup(s));
}

void hull_argv_addf(struct hull_argv *a, const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        push(a, s);
}

void hull_argv_add_strv(struct hull_argv *a, char *const *v)
{
        for (; v && *v; v++)
                hull_argv_add(a, *v);
}

int hull_argv_finish(struct hull_argv *a, char ***ret, struct hull_error **err)
{
        if (!a->oom && !a->v) {
                a->v = calloc(1, sizeof(char *));
                a->oom = !a->v;
        }
        if (a->oom) {
                hull_argv_clear(a);
                return hull_error_oom(err);
        }
        *ret = a->v;
        a->v = NULL;
        a->n = a->cap = 0;
        return 0;
}

void hull_argv_clear(struct hull_argv *a)
{
        hull_strv_free(a->v);
        a->v = NULL;
        a->n = a->cap = 0;
        a->oom = false;
}

size_t hull_strv_length(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

int hull_strv_copy(char *const *v, char ***ret)
{
        struct hull_argv a = { 0 };

        if (!v) {
                *ret = NULL;
                return 0;
        }
        hull_argv_add_strv(&a, v);
        return hull_argv_finish(&a, ret, NULL);
}

void hull_strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}
