/* Error values: a positive errno plus a message that callers extend with context prefixes. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Returned by hull_error_oom(): a message that needs no allocation. */
static char oom_message[] = "out of memory";
static struct hull_error oom_error = { .code = ENOMEM, .message = oom_message };

static int error_store(struct hull_error **err, int code, char *message)
{
        struct hull_error *e;

        if (code <= 0)
                code = EIO;
        if (!err) {
                free(message);
                return -code;
        }
        *err = hull_error_free(*err);
        if (!message)
                return hull_error_oom(err);
        e = malloc(sizeof(*e));
        if (!e) {
                free(message);
                return hull_error_oom(err);
        }
        e->code = code;
        e->message = message;
        *err = e;
        return -code;
}

int hull_error_set(struct hull_error **err, int code, const char *fmt, ...)
{
        va_list ap;
        char *msg = NULL;

        if (!err)
                return code > 0 ? -code : -EIO;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        return error_store(err, code, msg);
}

int hull_error_errno(struct hull_error **err, int code, const char *fmt, ...)
{
        va_list ap;
        char *head = NULL, *msg = NULL;

        if (code < 0)
                code = -code;
        if (!err)
                return code > 0 ? -code : -EIO;
        va_start(ap, fmt);
        if (vasprintf(&head, fmt, ap) < 0)
                head = NULL;
        va_end(ap);
        if (!head)
                return hull_error_oom(err);
        if (asprintf(&msg, "%s: %s", head, strerror(code ? code : EIO)) < 0)
                msg = NULL;
        free(head);
        return error_store(err, code, msg);
}

int hull_error_oom(struct hull_error **err)
{
        if (err) {
                *err = hull_error_free(*err);
                *err = &oom_error;
        }
        return -ENOMEM;
}

int hull_error_prefix(struct hull_error **err, const char *fmt, ...)
{
        va_list ap;
        char *head = NULL, *msg = NULL;
        int code;

        if (!err)
                return -EIO;
        if (!*err)
                return -EIO;
        code = (*err)->code;
        if (*err == &oom_error)
                return -ENOMEM;
        va_start(ap, fmt);
        if (vasprintf(&head, fmt, ap) < 0)
                head = NULL;
        va_end(ap);
        if (!head)
                return -code; /* keep the original message rather than lose it */
        if (asprintf(&msg, "%s: %s", head, (*err)->message) < 0) {
                free(head);
                return -code;
        }
        free(head);
        free((*err)->message);
        (*err)->message = msg;
        return -code;
}

int hull_error_code(const struct hull_error *err)
{
        return err ? -err->code : -EIO;
}

const char *hull_error_message(const struct hull_error *err)
{
        return err && err->message ? err->message : "unknown error";
}

struct hull_error *hull_error_free(struct hull_error *err)
{
        if (!err || err == &oom_error)
                return NULL;
        free(err->message);
        free(err);
        return NULL;
}
