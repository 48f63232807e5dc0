/* Growable byte buffer, always NUL-terminated so text users can treat data as a string. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macros.h"

struct hull_buf {
        char *data;
        size_t len;
        size_t cap;
};

#define HULL_BUF_INIT      \
        {                  \
                NULL, 0, 0 \
        }

int hull_buf_reserve(struct hull_buf *b, size_t extra); /* -ENOMEM on failure */
int hull_buf_append(struct hull_buf *b, const void *data, size_t len);
int hull_buf_putc(struct hull_buf *b, char c);
int hull_buf_puts(struct hull_buf *b, const char *s);
int hull_buf_printf(struct hull_buf *b, const char *fmt, ...) _printf_(2, 3);
void hull_buf_consume(struct hull_buf *b, size_t n); /* drop n bytes from the front */
void hull_buf_clear(struct hull_buf *b);
char *hull_buf_steal(struct hull_buf *b); /* hand out data (never NULL on success) */
void hull_buf_free(struct hull_buf *b);

static inline void hull_buf_freep(struct hull_buf *b)
{
        hull_buf_free(b);
}
#define _cleanup_buf_ _cleanup_(hull_buf_freep)

/* For the long-lived per-sandbox processes (shim, monitor): blocks of 128 KiB and more come from mmap and go back to
 * the kernel when freed, and a freed heap top over 128 KiB is trimmed. glibc otherwise raises both thresholds after
 * the first large free, and a relay of 1 MiB stdout chunks would leave ~1 MiB resident for the process's life. */
void hull_malloc_stay_lean(void);
