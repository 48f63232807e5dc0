/* Building a program's argument vector (or any NULL-terminated string vector) piece by piece, with one error check
 * at the end instead of one per argument. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macros.h"

struct hull_error;

struct hull_argv {
        char **v; /* NULL-terminated once anything was added */
        size_t n, cap;
        bool oom; /* an add failed: hull_argv_finish() reports it */
};

void hull_argv_add(struct hull_argv *a, const char *s);
void hull_argv_addf(struct hull_argv *a, const char *fmt, ...) _printf_(2, 3);
/* Add every string of a NULL-terminated vector (NULL is fine). */
void hull_argv_add_strv(struct hull_argv *a, char *const *v);
/* Hand the vector out (never NULL on success) or fail with -ENOMEM; a is empty afterwards. */
int hull_argv_finish(struct hull_argv *a, char ***ret, struct hull_error **err);
void hull_argv_clear(struct hull_argv *a);

size_t hull_strv_length(char *const *v);
/* Deep copy; NULL gives NULL. */
int hull_strv_copy(char *const *v, char ***ret);
void hull_strv_free(char **v);
static inline void hull_strv_freep(char ***v)
{
        hull_strv_free(*v);
}
#define _cleanup_strv_ _cleanup_(hull_strv_freep)
static inline void hull_argv_clearp(struct hull_argv *a)
{
        hull_argv_clear(a);
}
#define _cleanup_argv_ _cleanup_(hull_argv_clearp)
