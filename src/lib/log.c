/* The process-wide logger: text or runc-style JSON lines, to stderr or a file. */
#include "log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "error.h"

static struct {
        pthread_mutex_t lock;
        enum hull_log_level level;
        enum hull_log_format format;
        int fd;
        char program[32];
} logger = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .level = HULL_LOG_WARN,
        .format = HULL_LOG_TEXT,
        .fd = STDERR_FILENO,
        .program = "hull",
};

static const char *const level_names[] = {
        [HULL_LOG_ERROR] = "error",
        [HULL_LOG_WARN] = "warning",
        [HULL_LOG_INFO] = "info",
        [HULL_LOG_DEBUG] = "debug",
};

int hull_log_setup(const char *program, enum hull_log_level level, enum hull_log_format format, const char *path,
                   struct hull_error **err)
{
        int fd = STDERR_FILENO;

        if (path) {
                fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
                if (fd < 0)
                        return hull_error_errno(err, errno, "open log file %s", path);
        }
        pthread_mutex_lock(&logger.lock);
        /* The old fd may have been closed behind our back (a forked child closing what it inherited) and its
         * number given to the file just opened: never close that one. */
        if (logger.fd != STDERR_FILENO && logger.fd != fd)
                close(logger.fd);
        logger.fd = fd;
        logger.level = level;
        logger.format = format;
        if (program)
                snprintf(logger.program, sizeof(logger.program), "%s", program);
        pthread_mutex_unlock(&logger.lock);
        return 0;
}

void hull_log_set_level(enum hull_log_level level)
{
        logger.level = level;
}

enum hull_log_level hull_log_get_level(void)
{
        return logger.level;
}

int hull_log_parse_level(const char *s, enum hull_log_level *ret_level)
{
        for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
                if (streq(s, level_names[i])) {
                        *ret_level = (enum hull_log_level)i;
                        return 0;
                }
        if (streq(s, "warn")) {
                *ret_level = HULL_LOG_WARN;
                return 0;
        }
        return -EINVAL;
}

int hull_log_parse_format(const char *s, enum hull_log_format *ret_format)
{
        if (streq(s, "text")) {
                *ret_format = HULL_LOG_TEXT;
                return 0;
        }
        if (streq(s, "json")) {
                *ret_format = HULL_LOG_JSON;
                return 0;
        }
        return -EINVAL;
}

static void json_escape(struct hull_buf *b, const char *s)
{
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        hull_buf_printf(b, "\\%c", c);
                else if (c == '\n')
                        hull_buf_puts(b, "\\n");
                else if (c == '\t')
                        hull_buf_puts(b, "\\t");
                else if (c < 0x20)
                        hull_buf_printf(b, "\\u%04x", c);
                else
                        hull_buf_putc(b, (char)c);
        }
}

void hull_log(enum hull_log_level level, const char *fmt, ...)
{
        _cleanup_buf_ struct hull_buf line = HULL_BUF_INIT;
        _cleanup_free_ char *msg = NULL;
        struct timespec ts;
        struct tm tm;
        char stamp[96];
        va_list ap;
        int saved = errno;

        if (level > logger.level)
                return;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return;

        /* Wall-clock time with microseconds: the benchmarks split start-up phases from these. */
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);

        if (logger.format == HULL_LOG_JSON) {
                /* The shape runc writes and containerd/podman parse: level, msg, time. */
                hull_buf_printf(&line, "{\"level\":\"%s\",\"msg\":\"",
                                level == HULL_LOG_WARN ? "warning" : level_names[level]);
                json_escape(&line, msg);
                hull_buf_printf(&line, "\",\"time\":\"%s\"}\n", stamp);
        } else if (logger.level >= HULL_LOG_DEBUG) {
                hull_buf_printf(&line, "%s %s[%d] %s: %s\n", stamp, logger.program, (int)getpid(), level_names[level],
                                msg);
        } else {
                hull_buf_printf(&line, "%s: %s%s%s\n", logger.program, level == HULL_LOG_INFO ? "" : level_names[level],
                                level == HULL_LOG_INFO ? "" : ": ", msg);
        }
        if (line.data) {
                pthread_mutex_lock(&logger.lock);
                /* Best effort: a log line that cannot be written is not worth failing the caller for. */
                if (write(logger.fd, line.data, line.len) < 0) {
                }
                pthread_mutex_unlock(&logger.lock);
        }
        errno = saved;
}
