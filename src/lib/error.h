/* Error values that carry an errno and a message up the stack; only the top level prints them. */
#pragma once

#include "macros.h"

struct hull_error {
        int code; /* positive errno value */
        char *message; /* full text, prefixes included */
};

/* Set *err (when err != NULL) to a formatted message; returns -code. code must be a positive errno. */
int hull_error_set(struct hull_error **err, int code, const char *fmt, ...) _printf_(3, 4);

/* Like hull_error_set() but appends ": strerror(code)". */
int hull_error_errno(struct hull_error **err, int code, const char *fmt, ...) _printf_(3, 4);

/* Out of memory; returns -ENOMEM and never allocates a message it cannot have. */
int hull_error_oom(struct hull_error **err);

/* Prepend "<prefix>: " to the message of *err; returns -code (or -EIO when err holds nothing). */
int hull_error_prefix(struct hull_error **err, const char *fmt, ...) _printf_(2, 3);

/* The code (as a negative value) of an error, -EIO when absent. */
int hull_error_code(const struct hull_error *err);

const char *hull_error_message(const struct hull_error *err);

struct hull_error *hull_error_free(struct hull_error *err);
HULL_DEFINE_FREEP(struct hull_error, hull_error_free)
#define _cleanup_error_ _cleanup_(hull_error_freep)
