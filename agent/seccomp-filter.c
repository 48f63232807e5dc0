/* linux.seccomp -> libseccomp: actions, architectures, syscall rules with argument comparisons. */
#include "seccomp-filter.h"

#include <string.h>
#include <strings.h>

#include "error.h"

static int parse_action(const char *name, int has_errno, uint32_t errno_ret, uint32_t *ret)
{
        uint32_t e = has_errno ? errno_ret : EPERM;

        if (!name || !*name)
                return -EINVAL;
        if (streq(name, "SCMP_ACT_ALLOW"))
                *ret = SCMP_ACT_ALLOW;
        else if (streq(name, "SCMP_ACT_ERRNO"))
                *ret = SCMP_ACT_ERRNO(e);
        else if (streq(name, "SCMP_ACT_KILL") || streq(name, "SCMP_ACT_KILL_THREAD"))
                *ret = SCMP_ACT_KILL_THREAD;
        else if (streq(name, "SCMP_ACT_KILL_PROCESS"))
                *ret = SCMP_ACT_KILL_PROCESS;
        else if (streq(name, "SCMP_ACT_TRAP"))
                *ret = SCMP_ACT_TRAP;
        else if (streq(name, "SCMP_ACT_TRACE"))
                *ret = SCMP_ACT_TRACE(has_errno ? errno_ret : 0);
        else if (streq(name, "SCMP_ACT_LOG"))
                *ret = SCMP_ACT_LOG;
        else
                return -EINVAL;
        return 0;
}

static int parse_op(const char *name, enum scmp_compare *ret)
{
        static const struct {
                const char *name;
                enum scmp_compare op;
        } ops[] = {
                { "SCMP_CMP_NE", SCMP_CMP_NE },
                { "SCMP_CMP_LT", SCMP_CMP_LT },
                { "SCMP_CMP_LE", SCMP_CMP_LE },
                { "SCMP_CMP_EQ", SCMP_CMP_EQ },
                { "SCMP_CMP_GE", SCMP_CMP_GE },
                { "SCMP_CMP_GT", SCMP_CMP_GT },
                { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
        };

        for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
                if (name && streq(name, ops[i].name)) {
                        *ret = ops[i].op;
                        return 0;
                }
        return -EINVAL;
}

static int add_arch(scmp_filter_ctx ctx, const char *name, struct hull_error **err)
{
        char lower[64];
        uint32_t arch;
        size_t i;
        int r;

        if (strncmp(name, "SCMP_ARCH_", 10) == 0)
                name += 10;
        for (i = 0; name[i] && i + 1 < sizeof(lower); i++)
                lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
        lower[i] = '\0';
        arch = seccomp_arch_resolve_name(lower);
        if (arch == 0)
                return hull_error_set(err, EINVAL, "seccomp: unknown architecture '%s'", name);
        r = seccomp_arch_add(ctx, arch);
        if (r < 0 && r != -EEXIST)
                return hull_error_errno(err, -r, "seccomp: add architecture '%s'", name);
        return 0;
}

int hull_agent_seccomp_build(const Grpc__LinuxSeccomp *s, scmp_filter_ctx *ret, struct hull_error **err)
{
        scmp_filter_ctx ctx;
        uint32_t def;
        int r;

        *ret = NULL;
        if (!s)
                return 0;
        if (parse_action(s->defaultaction, 0, 0, &def) < 0)
                return hull_error_set(err, EINVAL, "seccomp: unknown default action '%s'",
                                      s->defaultaction ? s->defaultaction : "");
        ctx = seccomp_init(def);
        if (!ctx)
                return hull_error_oom(err);
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r < 0)
                goto fail_errno;
        for (size_t i = 0; i < s->n_flags; i++)
                if (streq(s->flags[i], "SECCOMP_FILTER_FLAG_LOG"))
                        (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
        for (size_t i = 0; i < s->n_architectures; i++) {
                r = add_arch(ctx, s->architectures[i], err);
                if (r < 0) {
                        seccomp_release(ctx);
                        return r;
                }
        }
        for (size_t i = 0; i < s->n_syscalls; i++) {
                const Grpc__LinuxSyscall *sc = s->syscalls[i];
                struct scmp_arg_cmp cmps[6];
                uint32_t action;

                if (parse_action(sc->action, sc->errno_ret_case == GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET,
                                 sc->errnoret, &action) < 0) {
                        seccomp_release(ctx);
                        return hull_error_set(err, EINVAL, "seccomp: unknown action '%s'",
                                              sc->action ? sc->action : "");
                }
                if (sc->n_args > ARRAY_SIZE(cmps)) {
                        seccomp_release(ctx);
                        return hull_error_set(err, EINVAL, "seccomp: more than 6 argument conditions");
                }
                for (size_t j = 0; j < sc->n_args; j++) {
                        enum scmp_compare op;
                        if (parse_op(sc->args[j]->op, &op) < 0 || sc->args[j]->index > 5) {
                                seccomp_release(ctx);
                                return hull_error_set(err, EINVAL, "seccomp: bad argument condition '%s' on %s",
                                                      sc->args[j]->op ? sc->args[j]->op : "",
                                                      sc->n_names ? sc->names[0] : "?");
                        }
                        cmps[j] = (struct scmp_arg_cmp){ .arg = (unsigned int)sc->args[j]->index,
                                                         .op = op,
                                                         .datum_a = sc->args[j]->value,
                                                         .datum_b = sc->args[j]->valuetwo };
                }
                if (action == def)
                        continue; /* libseccomp refuses rules that repeat the default */
                for (size_t j = 0; j < sc->n_names; j++) {
                        int nr = seccomp_syscall_resolve_name(sc->names[j]);
                        if (nr == __NR_SCMP_ERROR)
                                continue; /* as runc: a syscall this kernel/libseccomp does not know is skipped */
                        r = seccomp_rule_add_array(ctx, action, nr, (unsigned int)sc->n_args, cmps);
                        if (r < 0) {
                                seccomp_release(ctx);
                                return hull_error_errno(err, -r, "seccomp: rule for %s", sc->names[j]);
                        }
                }
        }
        *ret = ctx;
        return 0;
fail_errno:
        seccomp_release(ctx);
        return hull_error_errno(err, -r, "seccomp: set attribute");
}
