/* Small language helpers shared by every module: cleanup attributes, ownership transfer, sizes. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void hull_freep(void *p)
{
        free(*(void **)p);
}

static inline void hull_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void hull_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_free_ _cleanup_(hull_freep)
#define _cleanup_close_ _cleanup_(hull_closep)
#define _cleanup_fclose_ _cleanup_(hull_fclosep)

/* Hand an owned pointer or fd to someone else, leaving NULL / -1 behind for the cleanup. */
#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _taken_ = (p); \
                (p) = NULL;                  \
                _taken_;                     \
        })
#define TAKE_FD(fd)                    \
        ({                             \
                int _taken_fd_ = (fd); \
                (fd) = -1;             \
                _taken_fd_;            \
        })

/* Define foo_freep() for a destructor foo_free() that accepts NULL. */
#define HULL_DEFINE_FREEP(type, func)        \
        static inline void func##p(type **p) \
        {                                    \
                if (*p)                      \
                        func(*p);            \
        }

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
