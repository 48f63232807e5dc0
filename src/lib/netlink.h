/* rtnetlink: links, addresses and routes over a NETLINK_ROUTE socket, shared by the agent (the guest's network)
 * and the sandbox service (the pod's network namespace on the host). The requests are built and the replies
 * parsed here (no library: the agent is a small static binary, and this file depends on libc and src/lib only);
 * the builders and parsers are public so that the unit tests can check them byte by byte. */
#pragma once

#include <linux/netlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macros.h"

struct hull_error;

#define HULL_NL_HWADDR_MAX 32
#define HULL_NL_KIND_MAX 32
/* Bounds on what one dump may return (a guest has a few links, addresses and routes). */
#define HULL_NL_LIST_MAX 4096

struct hull_nl_link {
        int index;
        char name[IFNAMSIZ];
        unsigned int flags; /* IFF_* (ifi_flags) */
        unsigned int mtu;
        uint8_t hwaddr[HULL_NL_HWADDR_MAX];
        size_t hwaddr_len;
        char kind[HULL_NL_KIND_MAX]; /* IFLA_INFO_KIND ("veth", "dummy"); empty for a plain device */
};

struct hull_nl_addr {
        int index;
        int family; /* AF_INET or AF_INET6 */
        unsigned int prefixlen;
        unsigned int scope; /* RT_SCOPE_* */
        uint8_t addr[16];
};

struct hull_nl_route {
        int family;
        unsigned int dst_len;
        uint8_t dst[16];
        uint8_t gateway[16];
        bool has_gateway;
        uint8_t prefsrc[16];
        bool has_prefsrc;
        int oif; /* 0: none */
        unsigned int scope, table, protocol,
                type; /* rtm_scope, table (RTA_TABLE or rtm_table), rtm_protocol, rtm_type */
};

/* What hull_nl_build_link_set() changes. */
enum {
        HULL_NL_SET_NAME = 1 << 0,
        HULL_NL_SET_MTU = 1 << 1,
        HULL_NL_SET_HWADDR = 1 << 2,
        HULL_NL_SET_UP = 1 << 3, /* flags' IFF_UP: up or down */
        HULL_NL_SET_NOARP = 1 << 4, /* flags' IFF_NOARP */
};

/* A request under construction in a caller's buffer: attributes (nested ones too) are appended; running out of
 * room is remembered and reported once by hull_nl_msg_end(). */
struct hull_nl_msg {
        uint8_t *buf;
        size_t cap;
        struct nlmsghdr *h;
        bool overflow;
};

/* The header (type, flags; seq may be 0 when hull_nl_transact() sets it); false when cap is too small. */
bool hull_nl_msg_init(struct hull_nl_msg *m, void *buf, size_t cap, uint16_t type, uint16_t flags, uint32_t seq);
/* len zeroed bytes at the end (a fixed header such as ifinfomsg or tcmsg); NULL when it does not fit. */
void *hull_nl_msg_put(struct hull_nl_msg *m, size_t len);
void hull_nl_msg_attr(struct hull_nl_msg *m, uint16_t type, const void *data, size_t len);
void hull_nl_msg_attr_u32(struct hull_nl_msg *m, uint16_t type, uint32_t v);
void hull_nl_msg_attr_str(struct hull_nl_msg *m, uint16_t type, const char *s); /* with its NUL */
/* A nested attribute: begin returns its offset in the message, end sets its length. */
size_t hull_nl_msg_nest_begin(struct hull_nl_msg *m, uint16_t type);
void hull_nl_msg_nest_end(struct hull_nl_msg *m, size_t at);
/* The message's length, or -ENOBUFS. */
ssize_t hull_nl_msg_end(struct hull_nl_msg *m);

/* Requests, built into buf (cap bytes); each returns the message's length, or -ENOBUFS. */
ssize_t hull_nl_build_dump(void *buf, size_t cap, uint16_t type, int family, uint32_t seq);
ssize_t hull_nl_build_link_set(void *buf, size_t cap, uint32_t seq, const struct hull_nl_link *l, unsigned int what);
/* type: RTM_NEWADDR or RTM_DELADDR */
ssize_t hull_nl_build_addr(void *buf, size_t cap, uint16_t type, uint32_t seq, const struct hull_nl_addr *a);
/* type: RTM_NEWROUTE (created, fails if it exists) or RTM_DELROUTE */
ssize_t hull_nl_build_route(void *buf, size_t cap, uint16_t type, uint32_t seq, const struct hull_nl_route *r);

/* Replies: 0, or -EBADMSG for a message that is not of that type or does not hold together. */
int hull_nl_parse_link(const struct nlmsghdr *h, struct hull_nl_link *ret);
int hull_nl_parse_addr(const struct nlmsghdr *h, struct hull_nl_addr *ret);
int hull_nl_parse_route(const struct nlmsghdr *h, struct hull_nl_route *ret);

/* The socket (requests answered synchronously by the kernel, 5 s at most each). */
struct hull_nl;
int hull_nl_open(struct hull_nl **ret, struct hull_error **err);
struct hull_nl *hull_nl_close(struct hull_nl *nl);
HULL_DEFINE_FREEP(struct hull_nl, hull_nl_close)

/* Dumps, in the kernel's order; *ret is malloc'd (NULL when empty). family: AF_UNSPEC for both. */
int hull_nl_list_links(struct hull_nl *nl, struct hull_nl_link **ret, size_t *ret_n, struct hull_error **err);
int hull_nl_list_addrs(struct hull_nl *nl, int family, struct hull_nl_addr **ret, size_t *ret_n,
                       struct hull_error **err);
int hull_nl_list_routes(struct hull_nl *nl, int family, struct hull_nl_route **ret, size_t *ret_n,
                        struct hull_error **err);
/* Any request built by the caller (len as from hull_nl_msg_end(), may be negative): its sequence number is set
 * here, then the answer is read. With on_msg (a dump), every message of the reply goes to it until NLMSG_DONE
 * (a negative return ends the dump with that errno); without, the kernel's acknowledgement ends it. The kernel's
 * error comes back as the errno. */
int hull_nl_transact(struct hull_nl *nl, void *req, ssize_t len, const char *what,
                     int (*on_msg)(const struct nlmsghdr *h, void *userdata), void *userdata, struct hull_error **err);

/* Changes, acknowledged by the kernel; its error comes back as the errno. */
int hull_nl_link_set(struct hull_nl *nl, const struct hull_nl_link *l, unsigned int what, struct hull_error **err);
int hull_nl_addr_change(struct hull_nl *nl, uint16_t type, const struct hull_nl_addr *a, struct hull_error **err);
int hull_nl_route_change(struct hull_nl *nl, uint16_t type, const struct hull_nl_route *r, struct hull_error **err);
