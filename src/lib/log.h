/* Logging: human text to stderr or runc-style JSON lines, with levels and an optional log file. */
#pragma once

#include "macros.h"

enum hull_log_level {
        HULL_LOG_ERROR = 0,
        HULL_LOG_WARN,
        HULL_LOG_INFO,
        HULL_LOG_DEBUG,
};

enum hull_log_format {
        HULL_LOG_TEXT = 0,
        HULL_LOG_JSON,
};

struct hull_error;

/* Configure the process-wide logger. path NULL means stderr. Safe to call again. */
int hull_log_setup(const char *program, enum hull_log_level level, enum hull_log_format format, const char *path,
                   struct hull_error **err);
void hull_log_set_level(enum hull_log_level level);
enum hull_log_level hull_log_get_level(void);
int hull_log_parse_level(const char *s, enum hull_log_level *ret_level);
int hull_log_parse_format(const char *s, enum hull_log_format *ret_format);

void hull_log(enum hull_log_level level, const char *fmt, ...) _printf_(2, 3);

#define log_error(...) hull_log(HULL_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) hull_log(HULL_LOG_WARN, __VA_ARGS__)
#define log_info(...) hull_log(HULL_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                         \
        do {                                                   \
                if (hull_log_get_level() >= HULL_LOG_DEBUG)    \
                        hull_log(HULL_LOG_DEBUG, __VA_ARGS__); \
        } while (0)
