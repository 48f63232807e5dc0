/* Kernel command line parsing for hull-agent: Kata-compatible agent.* options and per-module parameters. */
#include "cmdline.h"

#include <string.h>

#include "buf.h"
#include "error.h"

int hull_agent_cmdline_foreach(const char *cmdline, int (*cb)(const char *word, void *userdata), void *userdata)
{
        _cleanup_buf_ struct hull_buf word = HULL_BUF_INIT;
        const char *p = cmdline;
        int r;

        if (strlen(cmdline) > HULL_AGENT_CMDLINE_MAX)
                return -E2BIG;
        while (*p) {
                bool quoted = false;

                while (*p == ' ' || *p == '\t' || *p == '\n')
                        p++;
                if (!*p)
                        break;
                hull_buf_clear(&word);
                for (; *p && (quoted || (*p != ' ' && *p != '\t' && *p != '\n')); p++) {
                        if (*p == '"') {
                                quoted = !quoted;
                                continue;
                        }
                        if (hull_buf_putc(&word, *p) < 0)
                                return -ENOMEM;
                }
                if (hull_buf_reserve(&word, 1) < 0)
                        return -ENOMEM;
                r = cb(word.data, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct parse_state {
        struct hull_agent_options *o;
        struct hull_error **err;
};

/* "key=value" -> value when word's key is key, else NULL. */
static const char *option_value(const char *word, const char *key)
{
        size_t n = strlen(key);

        if (strncmp(word, key, n) != 0 || word[n] != '=')
                return NULL;
        return word + n + 1;
}

static int replace_string(char **field, const char *value, struct hull_error **err)
{
        char *copy = strdup(value);

        if (!copy)
                return hull_error_oom(err);
        free(*field);
        *field = copy;
        return 0;
}

static int parse_word(const char *word, void *userdata)
{
        struct parse_state *st = userdata;
        struct hull_agent_options *o = st->o;
        const char *v;

        if (strncmp(word, "agent.", 6) != 0)
                return 0;
        if (streq(word, "agent.debug_console")) {
                o->debug_console = true;
        } else if (streq(word, "agent.devmode")) {
                o->devmode = true;
                o->log_level = HULL_LOG_DEBUG;
        } else if ((v = option_value(word, "agent.log"))) {
                enum hull_log_level level;
                /* Kata takes logrus names; map the ones hull's logger does not have onto the nearest. */
                if (streq(v, "trace"))
                        level = HULL_LOG_DEBUG;
                else if (streq(v, "critical") || streq(v, "fatal") || streq(v, "panic"))
                        level = HULL_LOG_ERROR;
                else if (hull_log_parse_level(v, &level) < 0)
                        return hull_error_set(st->err, EINVAL, "agent.log=%s: unknown log level", v);
                o->log_level = level;
        } else if ((v = option_value(word, "agent.server_addr"))) {
                if (!*v)
                        return hull_error_set(st->err, EINVAL, "agent.server_addr: empty address");
                return replace_string(&o->server_addr, v, st->err);
        } else if ((v = option_value(word, "agent.kernel_modules"))) {
                return replace_string(&o->kernel_modules, v, st->err);
        }
        return 0;
}

int hull_agent_options_parse(const char *cmdline, struct hull_agent_options *ret, struct hull_error **err)
{
        struct hull_agent_options o = { .log_level = HULL_LOG_INFO };
        struct parse_state st = { .o = &o, .err = err };
        int r;

        r = hull_agent_cmdline_foreach(cmdline, parse_word, &st);
        if (r < 0) {
                hull_agent_options_clear(&o);
                if (r == -E2BIG)
                        return hull_error_set(err, E2BIG, "kernel command line longer than %d bytes",
                                              HULL_AGENT_CMDLINE_MAX);
                if (r == -ENOMEM)
                        return hull_error_oom(err);
                return r;
        }
        *ret = o;
        return 0;
}

void hull_agent_options_clear(struct hull_agent_options *o)
{
        free(o->server_addr);
        free(o->kernel_modules);
        *o = (struct hull_agent_options){ 0 };
}

struct params_state {
        const char *module;
        struct hull_buf out;
};

static bool same_module_name(const char *a, const char *b, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                char x = a[i] == '-' ? '_' : a[i], y = b[i] == '-' ? '_' : b[i];
                if (x != y || !y)
                        return false;
        }
        return b[n] == '\0';
}

static int collect_param(const char *word, void *userdata)
{
        struct params_state *st = userdata;
        const char *dot = strchr(word, '.');
        const char *eq = strchr(word, '=');

        /* "mod.param" or "mod.param=value"; a dot inside the value does not count. */
        if (!dot || (eq && eq < dot) || dot == word || !dot[1] || dot[1] == '=')
                return 0;
        if (!same_module_name(word, st->module, (size_t)(dot - word)))
                return 0;
        if (st->out.len > 0 && hull_buf_putc(&st->out, ' ') < 0)
                return -ENOMEM;
        /* A value with spaces was quoted on the command line; finit_module() takes the same quoting. */
        if (eq && strpbrk(eq + 1, " \t")) {
                if (hull_buf_printf(&st->out, "%.*s\"%s\"", (int)(eq + 1 - dot - 1), dot + 1, eq + 1) < 0)
                        return -ENOMEM;
        } else if (hull_buf_puts(&st->out, dot + 1) < 0) {
                return -ENOMEM;
        }
        return 0;
}

int hull_agent_cmdline_module_params(const char *cmdline, const char *module, char **ret, struct hull_error **err)
{
        struct params_state st = { .module = module, .out = HULL_BUF_INIT };
        int r;

        r = hull_agent_cmdline_foreach(cmdline, collect_param, &st);
        if (r >= 0)
                r = hull_buf_reserve(&st.out, 1);
        if (r < 0) {
                hull_buf_free(&st.out);
                return r == -ENOMEM ? hull_error_oom(err) : hull_error_set(err, -r, "module %s: parameters", module);
        }
        *ret = hull_buf_steal(&st.out);
        return *ret ? 0 : hull_error_oom(err);
}
