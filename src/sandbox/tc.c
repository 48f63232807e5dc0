/* tc in rtnetlink (rtnetlink(7), tc(8)): a tcmsg header, TCA_KIND, and the classifier's options. For u32 with a
 * mirred action the nesting is TCA_OPTIONS { TCA_U32_ACT { 1 { TCA_ACT_KIND "mirred", TCA_ACT_OPTIONS
 * { TCA_MIRRED_PARMS } } }, TCA_U32_SEL }, as iproute2's f_u32.c and m_mirred.c lay it out. */
#include "sandbox/tc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <string.h>

#include "error.h"
#include "netlink.h"

#define TC_INGRESS_HANDLE TC_H_MAKE(TC_H_INGRESS, 0) /* ffff: */

static struct tcmsg *tc_header(struct hull_nl_msg *m, int ifindex, uint32_t parent, uint32_t handle, uint32_t info)
{
        struct tcmsg *t = hull_nl_msg_put(m, sizeof(*t));

        if (t) {
                t->tcm_family = AF_UNSPEC;
                t->tcm_ifindex = ifindex;
                t->tcm_parent = parent;
                t->tcm_handle = handle;
                t->tcm_info = info;
        }
        return t;
}

/* tcm_info of a filter: the priority in the upper half, the protocol (network order) in the lower. */
static uint32_t filter_info(uint16_t prio)
{
        return TC_H_MAKE((uint32_t)prio << 16, htons(ETH_P_ALL));
}

ssize_t hull_tc_build_ingress_qdisc(void *buf, size_t cap, uint16_t type, int ifindex)
{
        struct hull_nl_msg m;
        uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (type == RTM_NEWQDISC ? NLM_F_CREATE | NLM_F_EXCL : 0);

        if (!hull_nl_msg_init(&m, buf, cap, type, flags, 0))
                return -ENOBUFS;
        tc_header(&m, ifindex, TC_H_INGRESS, TC_INGRESS_HANDLE, 0);
        hull_nl_msg_attr_str(&m, TCA_KIND, "ingress");
        return hull_nl_msg_end(&m);
}

ssize_t hull_tc_build_redirect(void *buf, size_t cap, int ifindex, int to_ifindex, uint16_t prio)
{
        struct hull_nl_msg m;
        /* The selector and its one key (sel.keys[0], all zero: offset 0, mask 0 matches every frame, "match u8 0
         * 0") as bytes: a struct holding tc_u32_sel before another member is a GNU extension clang refuses. */
        const struct tc_u32_sel head = { .flags = TC_U32_TERMINAL, .nkeys = 1 };
        uint8_t sel[sizeof(struct tc_u32_sel) + sizeof(struct tc_u32_key)] = { 0 };
        struct tc_mirred mirred = { .action = TC_ACT_STOLEN,
                                    .eaction = TCA_EGRESS_REDIR,
                                    .ifindex = (__u32)to_ifindex };
        size_t opts, acts, act, act_opts;

        if (!hull_nl_msg_init(&m, buf, cap, RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 0))
                return -ENOBUFS;
        tc_header(&m, ifindex, TC_INGRESS_HANDLE, 0, filter_info(prio));
        hull_nl_msg_attr_str(&m, TCA_KIND, "u32");
        opts = hull_nl_msg_nest_begin(&m, TCA_OPTIONS);
        acts = hull_nl_msg_nest_begin(&m, TCA_U32_ACT);
        act = hull_nl_msg_nest_begin(&m, 1); /* the first action of the list */
        hull_nl_msg_attr_str(&m, TCA_ACT_KIND, "mirred");
        act_opts = hull_nl_msg_nest_begin(&m, TCA_ACT_OPTIONS);
        hull_nl_msg_attr(&m, TCA_MIRRED_PARMS, &mirred, sizeof(mirred));
        hull_nl_msg_nest_end(&m, act_opts);
        hull_nl_msg_nest_end(&m, act);
        hull_nl_msg_nest_end(&m, acts);
        memcpy(sel, &head, sizeof(head));
        hull_nl_msg_attr(&m, TCA_U32_SEL, sel, sizeof(sel));
        hull_nl_msg_nest_end(&m, opts);
        return hull_nl_msg_end(&m);
}

ssize_t hull_tc_build_filter_del(void *buf, size_t cap, int ifindex, uint16_t prio)
{
        struct hull_nl_msg m;

        if (!hull_nl_msg_init(&m, buf, cap, RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK, 0))
                return -ENOBUFS;
        tc_header(&m, ifindex, TC_INGRESS_HANDLE, 0, filter_info(prio));
        hull_nl_msg_attr_str(&m, TCA_KIND, "u32");
        return hull_nl_msg_end(&m);
}

ssize_t hull_tc_build_qdisc_dump(void *buf, size_t cap)
{
        struct hull_nl_msg m;

        if (!hull_nl_msg_init(&m, buf, cap, RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, 0))
                return -ENOBUFS;
        tc_header(&m, 0, 0, 0, 0);
        return hull_nl_msg_end(&m);
}

int hull_tc_parse_qdisc(const struct nlmsghdr *h, struct hull_tc_qdisc *ret)
{
        const struct tcmsg *t = NLMSG_DATA(h);
        struct rtattr *a;
        int len;

        if (h->nlmsg_type != RTM_NEWQDISC || h->nlmsg_len < NLMSG_LENGTH(sizeof(*t)))
                return -EBADMSG;
        *ret = (struct hull_tc_qdisc){ .ifindex = t->tcm_ifindex, .handle = t->tcm_handle, .parent = t->tcm_parent };
        len = (int)(h->nlmsg_len - NLMSG_SPACE(sizeof(*t)));
        for (a = (struct rtattr *)((uint8_t *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(*t))); RTA_OK(a, len);
             a = RTA_NEXT(a, len)) {
                if (a->rta_type == TCA_KIND) {
                        size_t n = strnlen(RTA_DATA(a), RTA_PAYLOAD(a));
                        n = MIN(n, sizeof(ret->kind) - 1);
                        memcpy(ret->kind, RTA_DATA(a), n);
                        ret->kind[n] = '\0';
                }
        }
        return 0;
}

/* ---- against the kernel ---- */

int hull_tc_ingress_add(struct hull_nl *nl, int ifindex, struct hull_error **err)
{
        uint8_t req[128];

        return hull_nl_transact(nl, req, hull_tc_build_ingress_qdisc(req, sizeof(req), RTM_NEWQDISC, ifindex),
                                "add ingress qdisc", NULL, NULL, err);
}

int hull_tc_ingress_del(struct hull_nl *nl, int ifindex, struct hull_error **err)
{
        uint8_t req[128];

        return hull_nl_transact(nl, req, hull_tc_build_ingress_qdisc(req, sizeof(req), RTM_DELQDISC, ifindex),
                                "delete ingress qdisc", NULL, NULL, err);
}

int hull_tc_redirect_add(struct hull_nl *nl, int ifindex, int to_ifindex, struct hull_error **err)
{
        uint8_t req[512];

        return hull_nl_transact(nl, req, hull_tc_build_redirect(req, sizeof(req), ifindex, to_ifindex, HULL_TC_PRIO),
                                "add redirect filter", NULL, NULL, err);
}

int hull_tc_redirect_del(struct hull_nl *nl, int ifindex, struct hull_error **err)
{
        uint8_t req[128];

        return hull_nl_transact(nl, req, hull_tc_build_filter_del(req, sizeof(req), ifindex, HULL_TC_PRIO),
                                "delete redirect filter", NULL, NULL, err);
}

struct find_ingress {
        int ifindex;
        bool found;
};

static int on_qdisc(const struct nlmsghdr *h, void *userdata)
{
        struct find_ingress *f = userdata;
        struct hull_tc_qdisc q;

        /* ingress and clsact both sit at parent ffff:fff1 (TC_H_INGRESS == TC_H_CLSACT). */
        if (hull_tc_parse_qdisc(h, &q) == 0 && q.ifindex == f->ifindex && q.parent == TC_H_INGRESS)
                f->found = true;
        return 0;
}

int hull_tc_has_ingress(struct hull_nl *nl, int ifindex, bool *ret, struct hull_error **err)
{
        uint8_t req[64];
        struct find_ingress f = { .ifindex = ifindex };
        int r;

        r = hull_nl_transact(nl, req, hull_tc_build_qdisc_dump(req, sizeof(req)), "list qdiscs", on_qdisc, &f, err);
        if (r < 0)
                return r;
        *ret = f.found;
        return 0;
}
