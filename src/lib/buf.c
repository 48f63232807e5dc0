/* Growable byte buffer used for protocol frames, JSON and text assembly. */
#include "buf.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hull_buf_reserve(struct hull_buf *b, size_t extra)
{
        size_t need, cap;
        char *p;

        if (extra > SIZE_MAX - b->len - 1)
                return -ENOMEM;
        need = b->len + extra + 1;
        if (need <= b->cap)
                return 0;
        cap = b->cap ? b->cap : 64;
        while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        if (!b->data)
                p[0] = '\0';
        b->data = p;
        b->cap = cap;
        return 0;
}

int hull_buf_append(struct hull_buf *b, const void *data, size_t len)
{
        int r = hull_buf_reserve(b, len);

        if (r < 0)
                return r;
        if (len)
                memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
}

int hull_buf_putc(struct hull_buf *b, char c)
{
        return hull_buf_append(b, &c, 1);
}

int hull_buf_puts(struct hull_buf *b, const char *s)
{
        return hull_buf_append(b, s, strlen(s));
}

int hull_buf_printf(struct hull_buf *b, const char *fmt, ...)
{
        va_list ap;
        int n, r;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        r = hull_buf_reserve(b, (size_t)n);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
        return 0;
}

void hull_buf_consume(struct hull_buf *b, size_t n)
{
        if (n >= b->len) {
                hull_buf_clear(b);
                return;
        }
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
        b->data[b->len] = '\0';
}

void hull_buf_clear(struct hull_buf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

char *hull_buf_steal(struct hull_buf *b)
{
        char *p;

        if (!b->data && hull_buf_reserve(b, 0) < 0)
                return NULL;
        p = b->data;
        b->data = NULL;
        b->len = b->cap = 0;
        return p;
}

void hull_buf_free(struct hull_buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

void hull_malloc_stay_lean(void)
{
#ifdef M_MMAP_THRESHOLD
        /* Setting either one fixes both: glibc's dynamic adjustment stops. */
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        mallopt(M_TRIM_THRESHOLD, 128 * 1024);
#endif
}
