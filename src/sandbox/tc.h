/* Traffic control over rtnetlink, the part Kata's `tcfilter` networking needs: an ingress qdisc on a device and a
 * u32 match-all filter whose mirred action redirects every frame to another device's egress; what
 * `tc qdisc add dev D ingress` and `tc filter add dev D parent ffff: protocol all prio P u32 match u8 0 0 action
 * mirred egress redirect dev T` send. Builders and the qdisc parser are public for the unit tests. */
#pragma once

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hull_error;
struct hull_nl;

/* The priority of hull's filters: a high number, so that a filter someone placed at the usual small priorities
 * runs first, and the one hull deletes is its own. */
#define HULL_TC_PRIO 49152
#define HULL_TC_KIND_MAX 16

struct hull_tc_qdisc {
        int ifindex;
        uint32_t handle, parent;
        char kind[HULL_TC_KIND_MAX]; /* "ingress", "clsact", "noqueue", ... */
};

/* type: RTM_NEWQDISC (created, fails with EEXIST if there is one) or RTM_DELQDISC. */
ssize_t hull_tc_build_ingress_qdisc(void *buf, size_t cap, uint16_t type, int ifindex);
/* The match-all redirect from ifindex's ingress to to_ifindex's egress (RTM_NEWTFILTER, fails if the priority is
 * taken). */
ssize_t hull_tc_build_redirect(void *buf, size_t cap, int ifindex, int to_ifindex, uint16_t prio);
/* RTM_DELTFILTER of every u32 filter at prio on ifindex's ingress. */
ssize_t hull_tc_build_filter_del(void *buf, size_t cap, int ifindex, uint16_t prio);
/* RTM_GETQDISC dump of every device's qdiscs. */
ssize_t hull_tc_build_qdisc_dump(void *buf, size_t cap);
/* One RTM_NEWQDISC message of a dump: 0, or -EBADMSG. */
int hull_tc_parse_qdisc(const struct nlmsghdr *h, struct hull_tc_qdisc *ret);

/* The same, against the kernel through nl (in the network namespace nl was opened in). */
int hull_tc_ingress_add(struct hull_nl *nl, int ifindex, struct hull_error **err);
int hull_tc_ingress_del(struct hull_nl *nl, int ifindex, struct hull_error **err);
int hull_tc_redirect_add(struct hull_nl *nl, int ifindex, int to_ifindex, struct hull_error **err);
int hull_tc_redirect_del(struct hull_nl *nl, int ifindex, struct hull_error **err);
/* Has ifindex an ingress-side qdisc (ingress or clsact) now? */
int hull_tc_has_ingress(struct hull_nl *nl, int ifindex, bool *ret, struct hull_error **err);
