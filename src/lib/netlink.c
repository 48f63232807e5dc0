/* rtnetlink requests and replies (rtnetlink(7), netlink(7)): a message is an nlmsghdr, a fixed header
 * (ifinfomsg, ifaddrmsg, rtmsg) and attributes (rtattr: length, type, value, each padded to 4 bytes). */
#include "netlink.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "error.h"
#include "fd.h"

#define NL_RECV_BUF 32768

struct hull_nl {
        int fd;
        uint32_t seq;
        uint32_t portid;
};

/* ---- building ---- */

bool hull_nl_msg_init(struct hull_nl_msg *m, void *buf, size_t cap, uint16_t type, uint16_t flags, uint32_t seq)
{
        *m = (struct hull_nl_msg){ .buf = buf, .cap = cap };
        if (cap < NLMSG_HDRLEN) {
                m->overflow = true;
                return false;
        }
        memset(buf, 0, NLMSG_HDRLEN);
        m->h = buf;
        m->h->nlmsg_len = NLMSG_HDRLEN;
        m->h->nlmsg_type = type;
        m->h->nlmsg_flags = flags;
        m->h->nlmsg_seq = seq;
        return true;
}

void *hull_nl_msg_put(struct hull_nl_msg *m, size_t len)
{
        size_t at;
        void *p;

        if (m->overflow || !m->h) {
                m->overflow = true;
                return NULL;
        }
        at = NLMSG_ALIGN(m->h->nlmsg_len);
        if (at + len > m->cap) {
                m->overflow = true;
                return NULL;
        }
        p = m->buf + at;
        memset(p, 0, NLMSG_ALIGN(len) <= m->cap - at ? NLMSG_ALIGN(len) : len);
        m->h->nlmsg_len = (uint32_t)(at + len);
        return p;
}

void hull_nl_msg_attr(struct hull_nl_msg *m, uint16_t type, const void *data, size_t len)
{
        struct rtattr *a = hull_nl_msg_put(m, RTA_LENGTH(len));

        if (!a)
                return;
        a->rta_type = type;
        a->rta_len = (unsigned short)RTA_LENGTH(len);
        if (len)
                memcpy(RTA_DATA(a), data, len);
}

void hull_nl_msg_attr_u32(struct hull_nl_msg *m, uint16_t type, uint32_t v)
{
        hull_nl_msg_attr(m, type, &v, sizeof(v));
}

void hull_nl_msg_attr_str(struct hull_nl_msg *m, uint16_t type, const char *s)
{
        hull_nl_msg_attr(m, type, s, strlen(s) + 1);
}

size_t hull_nl_msg_nest_begin(struct hull_nl_msg *m, uint16_t type)
{
        struct rtattr *a = hull_nl_msg_put(m, RTA_LENGTH(0));

        if (!a)
                return 0;
        a->rta_type = type;
        return (size_t)((uint8_t *)a - m->buf);
}

void hull_nl_msg_nest_end(struct hull_nl_msg *m, size_t at)
{
        struct rtattr *a;

        if (m->overflow || at == 0)
                return;
        a = (struct rtattr *)(m->buf + at);
        /* The nest covers its attributes with their padding (zeroed by hull_nl_msg_put()); more than 64 KiB
         * cannot be said. */
        if (NLMSG_ALIGN(m->h->nlmsg_len) > m->cap) {
                m->overflow = true;
                return;
        }
        m->h->nlmsg_len = NLMSG_ALIGN(m->h->nlmsg_len);
        if (m->h->nlmsg_len - at > UINT16_MAX) {
                m->overflow = true;
                return;
        }
        a->rta_len = (unsigned short)(m->h->nlmsg_len - at);
}

ssize_t hull_nl_msg_end(struct hull_nl_msg *m)
{
        return m->overflow ? -ENOBUFS : (ssize_t)m->h->nlmsg_len;
}

static size_t addr_len(int family)
{
        return family == AF_INET6 ? 16 : 4;
}

ssize_t hull_nl_build_dump(void *buf, size_t cap, uint16_t type, int family, uint32_t seq)
{
        struct hull_nl_msg m;
        /* rtgenmsg is enough for every dump; the kernel reads only the family from it. */
        struct rtgenmsg *g;

        if (!hull_nl_msg_init(&m, buf, cap, type, NLM_F_REQUEST | NLM_F_DUMP, seq))
                return -ENOBUFS;
        g = hull_nl_msg_put(&m,
                            type == RTM_GETLINK           ? sizeof(struct ifinfomsg)
                                    : type == RTM_GETADDR ? sizeof(struct ifaddrmsg)
                                                          : sizeof(struct rtmsg));
        if (g)
                g->rtgen_family = (unsigned char)family;
        return hull_nl_msg_end(&m);
}

ssize_t hull_nl_build_link_set(void *buf, size_t cap, uint32_t seq, const struct hull_nl_link *l, unsigned int what)
{
        struct hull_nl_msg m;
        struct ifinfomsg *ifi;

        if (!hull_nl_msg_init(&m, buf, cap, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq))
                return -ENOBUFS;
        ifi = hull_nl_msg_put(&m, sizeof(*ifi));
        if (ifi) {
                ifi->ifi_family = AF_UNSPEC;
                ifi->ifi_index = l->index;
                if (what & HULL_NL_SET_UP) {
                        ifi->ifi_change |= IFF_UP;
                        ifi->ifi_flags |= l->flags & IFF_UP;
                }
                if (what & HULL_NL_SET_NOARP) {
                        ifi->ifi_change |= IFF_NOARP;
                        ifi->ifi_flags |= l->flags & IFF_NOARP;
                }
        }
        if (what & HULL_NL_SET_NAME)
                hull_nl_msg_attr(&m, IFLA_IFNAME, l->name, strnlen(l->name, sizeof(l->name) - 1) + 1);
        if (what & HULL_NL_SET_MTU)
                hull_nl_msg_attr_u32(&m, IFLA_MTU, l->mtu);
        if (what & HULL_NL_SET_HWADDR)
                hull_nl_msg_attr(&m, IFLA_ADDRESS, l->hwaddr, MIN(l->hwaddr_len, sizeof(l->hwaddr)));
        return hull_nl_msg_end(&m);
}

ssize_t hull_nl_build_addr(void *buf, size_t cap, uint16_t type, uint32_t seq, const struct hull_nl_addr *a)
{
        struct hull_nl_msg m;
        struct ifaddrmsg *ifa;
        uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0);

        if (!hull_nl_msg_init(&m, buf, cap, type, flags, seq))
                return -ENOBUFS;
        ifa = hull_nl_msg_put(&m, sizeof(*ifa));
        if (ifa) {
                ifa->ifa_family = (unsigned char)a->family;
                ifa->ifa_prefixlen = (unsigned char)a->prefixlen;
                ifa->ifa_scope = (unsigned char)a->scope;
                ifa->ifa_index = (unsigned int)a->index;
        }
        /* IFA_LOCAL is the interface's address, IFA_ADDRESS the peer's on point-to-point links: both the same
         * here, as `ip addr add` sends them. */
        hull_nl_msg_attr(&m, IFA_LOCAL, a->addr, addr_len(a->family));
        hull_nl_msg_attr(&m, IFA_ADDRESS, a->addr, addr_len(a->family));
        return hull_nl_msg_end(&m);
}

ssize_t hull_nl_build_route(void *buf, size_t cap, uint16_t type, uint32_t seq, const struct hull_nl_route *r)
{
        struct hull_nl_msg m;
        struct rtmsg *rt;
        size_t alen = addr_len(r->family);
        uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_EXCL : 0);

        if (!hull_nl_msg_init(&m, buf, cap, type, flags, seq))
                return -ENOBUFS;
        rt = hull_nl_msg_put(&m, sizeof(*rt));
        if (rt) {
                rt->rtm_family = (unsigned char)r->family;
                rt->rtm_dst_len = (unsigned char)r->dst_len;
                rt->rtm_table = r->table < 256 ? (unsigned char)r->table : RT_TABLE_UNSPEC;
                rt->rtm_protocol = (unsigned char)r->protocol;
                rt->rtm_scope = (unsigned char)r->scope;
                rt->rtm_type = (unsigned char)r->type;
        }
        if (r->table >= 256)
                hull_nl_msg_attr_u32(&m, RTA_TABLE, r->table);
        if (r->dst_len)
                hull_nl_msg_attr(&m, RTA_DST, r->dst, alen);
        if (r->has_gateway)
                hull_nl_msg_attr(&m, RTA_GATEWAY, r->gateway, alen);
        if (r->has_prefsrc)
                hull_nl_msg_attr(&m, RTA_PREFSRC, r->prefsrc, alen);
        if (r->oif)
                hull_nl_msg_attr_u32(&m, RTA_OIF, (uint32_t)r->oif);
        return hull_nl_msg_end(&m);
}

/* ---- parsing ---- */

/* The attributes after a fixed header of hdr_len bytes; NULL with *len 0 when the message is too short. */
static struct rtattr *attrs_of(const struct nlmsghdr *h, size_t hdr_len, int *ret_len)
{
        if (h->nlmsg_len < NLMSG_LENGTH(hdr_len)) {
                *ret_len = -1;
                return NULL;
        }
        *ret_len = (int)(h->nlmsg_len - NLMSG_SPACE(hdr_len));
        if (*ret_len < 0)
                *ret_len = 0;
        return (struct rtattr *)((uint8_t *)NLMSG_DATA(h) + NLMSG_ALIGN(hdr_len));
}

static bool copy_addr(const struct rtattr *a, int family, uint8_t out[16])
{
        size_t n = addr_len(family);

        if (RTA_PAYLOAD(a) != n)
                return false;
        memcpy(out, RTA_DATA(a), n);
        return true;
}

static bool get_u32(const struct rtattr *a, uint32_t *out)
{
        if (RTA_PAYLOAD(a) < sizeof(uint32_t))
                return false;
        memcpy(out, RTA_DATA(a), sizeof(*out));
        return true;
}

/* A NUL-terminated (or not) string attribute into out, truncated to fit. */
static void get_str(const struct rtattr *a, char *out, size_t size)
{
        size_t n = strnlen(RTA_DATA(a), RTA_PAYLOAD(a));

        n = MIN(n, size - 1);
        memcpy(out, RTA_DATA(a), n);
        out[n] = '\0';
}

int hull_nl_parse_link(const struct nlmsghdr *h, struct hull_nl_link *ret)
{
        const struct ifinfomsg *ifi = NLMSG_DATA(h);
        int len;
        struct rtattr *a;

        if (h->nlmsg_type != RTM_NEWLINK)
                return -EBADMSG;
        a = attrs_of(h, sizeof(*ifi), &len);
        if (len < 0)
                return -EBADMSG;
        *ret = (struct hull_nl_link){ .index = ifi->ifi_index, .flags = ifi->ifi_flags };
        for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                switch (a->rta_type) {
                case IFLA_IFNAME:
                        get_str(a, ret->name, sizeof(ret->name));
                        break;
                case IFLA_MTU:
                        if (!get_u32(a, &ret->mtu))
                                return -EBADMSG;
                        break;
                case IFLA_ADDRESS:
                        ret->hwaddr_len = MIN(RTA_PAYLOAD(a), sizeof(ret->hwaddr));
                        memcpy(ret->hwaddr, RTA_DATA(a), ret->hwaddr_len);
                        break;
                case IFLA_LINKINFO: {
                        int ilen = (int)RTA_PAYLOAD(a);
                        for (struct rtattr *i = RTA_DATA(a); RTA_OK(i, ilen); i = RTA_NEXT(i, ilen))
                                if (i->rta_type == IFLA_INFO_KIND)
                                        get_str(i, ret->kind, sizeof(ret->kind));
                        break;
                }
                default:
                        break;
                }
        }
        return ret->index > 0 ? 0 : -EBADMSG;
}

int hull_nl_parse_addr(const struct nlmsghdr *h, struct hull_nl_addr *ret)
{
        const struct ifaddrmsg *ifa = NLMSG_DATA(h);
        bool have_local = false, have_address = false;
        uint8_t address[16] = { 0 };
        int len;
        struct rtattr *a;

        if (h->nlmsg_type != RTM_NEWADDR)
                return -EBADMSG;
        a = attrs_of(h, sizeof(*ifa), &len);
        if (len < 0 || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
                return -EBADMSG;
        *ret = (struct hull_nl_addr){ .index = (int)ifa->ifa_index,
                                      .family = ifa->ifa_family,
                                      .prefixlen = ifa->ifa_prefixlen,
                                      .scope = ifa->ifa_scope };
        for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                if (a->rta_type == IFA_LOCAL) {
                        if (!copy_addr(a, ret->family, ret->addr))
                                return -EBADMSG;
                        have_local = true;
                } else if (a->rta_type == IFA_ADDRESS) {
                        if (!copy_addr(a, ret->family, address))
                                return -EBADMSG;
                        have_address = true;
                }
        }
        /* IPv4 sends IFA_LOCAL (and IFA_ADDRESS, the peer's on point-to-point links); IPv6 only IFA_ADDRESS. */
        if (!have_local && have_address)
                memcpy(ret->addr, address, sizeof(address));
        return have_local || have_address ? 0 : -EBADMSG;
}

int hull_nl_parse_route(const struct nlmsghdr *h, struct hull_nl_route *ret)
{
        const struct rtmsg *rt = NLMSG_DATA(h);
        int len;
        struct rtattr *a;

        if (h->nlmsg_type != RTM_NEWROUTE)
                return -EBADMSG;
        a = attrs_of(h, sizeof(*rt), &len);
        if (len < 0 || (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) ||
            rt->rtm_dst_len > addr_len(rt->rtm_family) * 8)
                return -EBADMSG;
        *ret = (struct hull_nl_route){ .family = rt->rtm_family,
                                       .dst_len = rt->rtm_dst_len,
                                       .scope = rt->rtm_scope,
                                       .table = rt->rtm_table,
                                       .protocol = rt->rtm_protocol,
                                       .type = rt->rtm_type };
        for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                uint32_t v;

                switch (a->rta_type) {
                case RTA_DST:
                        if (!copy_addr(a, ret->family, ret->dst))
                                return -EBADMSG;
                        break;
                case RTA_GATEWAY:
                        if (!copy_addr(a, ret->family, ret->gateway))
                                return -EBADMSG;
                        ret->has_gateway = true;
                        break;
                case RTA_PREFSRC:
                        if (!copy_addr(a, ret->family, ret->prefsrc))
                                return -EBADMSG;
                        ret->has_prefsrc = true;
                        break;
                case RTA_OIF:
                        if (!get_u32(a, &v))
                                return -EBADMSG;
                        ret->oif = (int)v;
                        break;
                case RTA_TABLE:
                        if (!get_u32(a, &v))
                                return -EBADMSG;
                        ret->table = v;
                        break;
                default:
                        break;
                }
        }
        return 0;
}

/* ---- the socket ---- */

int hull_nl_open(struct hull_nl **ret, struct hull_error **err)
{
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        socklen_t salen = sizeof(sa);
        struct timeval tv = { .tv_sec = 5 };
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        struct hull_nl *nl;

        if (fd < 0)
                return hull_error_errno(err, errno, "netlink: socket");
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
                return hull_error_errno(err, errno, "netlink: bind");
        /* The kernel answers at once; the bound only keeps a lost answer from blocking the agent for good. */
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        nl = calloc(1, sizeof(*nl));
        if (!nl)
                return hull_error_oom(err);
        nl->fd = TAKE_FD(fd);
        nl->portid = sa.nl_pid;
        *ret = nl;
        return 0;
}

struct hull_nl *hull_nl_close(struct hull_nl *nl)
{
        if (nl) {
                hull_closep(&nl->fd);
                free(nl);
        }
        return NULL;
}

static int nl_send(struct hull_nl *nl, const void *msg, ssize_t len, const char *what, struct hull_error **err)
{
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

        if (len < 0)
                return hull_error_set(err, ENOBUFS, "netlink: %s: request too large", what);
        if (sendto(nl->fd, msg, (size_t)len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) != len)
                return hull_error_errno(err, errno, "netlink: %s: send", what);
        return 0;
}

/* NLMSG_OK and NLMSG_NEXT with a size_t length: the macros compare nlmsg_len (u32) with an int, which clang's
 * -Wsign-compare refuses. */
static bool nlmsg_fits(const struct nlmsghdr *h, size_t len)
{
        return len >= sizeof(*h) && h->nlmsg_len >= sizeof(*h) && h->nlmsg_len <= len;
}

static struct nlmsghdr *nlmsg_next(struct nlmsghdr *h, size_t *len)
{
        size_t step = MIN(*len, (size_t)NLMSG_ALIGN(h->nlmsg_len));

        *len -= step;
        return (struct nlmsghdr *)((uint8_t *)h + step);
}

/* Reads the replies to seq: each RTM_NEW* message goes to on_msg (a dump ends with NLMSG_DONE); an
 * acknowledgement (NLMSG_ERROR with error 0) ends a change; an error comes back as its errno. */
static int nl_receive(struct hull_nl *nl, uint32_t seq, const char *what,
                      int (*on_msg)(const struct nlmsghdr *h, void *userdata), void *userdata, struct hull_error **err)
{
        _cleanup_free_ uint8_t *buf = malloc(NL_RECV_BUF);

        if (!buf)
                return hull_error_oom(err);
        for (;;) {
                struct sockaddr_nl from;
                socklen_t fromlen = sizeof(from);
                ssize_t n = recvfrom(nl->fd, buf, NL_RECV_BUF, 0, (struct sockaddr *)&from, &fromlen);
                size_t len;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return hull_error_errno(err, errno == EAGAIN ? ETIMEDOUT : errno, "netlink: %s: receive", what);
                if (from.nl_pid != 0)
                        continue; /* not from the kernel */
                len = (size_t)n;
                for (struct nlmsghdr *h = (struct nlmsghdr *)buf; nlmsg_fits(h, len); h = nlmsg_next(h, &len)) {
                        if (h->nlmsg_seq != seq || h->nlmsg_pid != nl->portid)
                                continue; /* a late answer to an earlier request */
                        if (h->nlmsg_type == NLMSG_DONE)
                                return 0;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);
                                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                                        return hull_error_set(err, EBADMSG, "netlink: %s: short error message", what);
                                if (e->error == 0)
                                        return 0;
                                return hull_error_errno(err, -e->error, "netlink: %s", what);
                        }
                        if (on_msg) {
                                int r = on_msg(h, userdata);
                                if (r < 0)
                                        return hull_error_errno(err, -r, "netlink: %s", what);
                        }
                }
        }
}

struct collect {
        void *items;
        size_t n, size;
        int (*parse)(const struct nlmsghdr *h, void *out);
};

static int collect_one(const struct nlmsghdr *h, void *userdata)
{
        struct collect *c = userdata;
        void *grown;

        if (c->n >= HULL_NL_LIST_MAX)
                return -E2BIG;
        grown = reallocarray(c->items, c->n + 1, c->size);
        if (!grown)
                return -ENOMEM;
        c->items = grown;
        if (c->parse(h, (uint8_t *)c->items + c->n * c->size) < 0)
                return 0; /* not one of ours (another family or type): skipped */
        c->n++;
        return 0;
}

static int dump(struct hull_nl *nl, uint16_t type, int family, size_t size,
                int (*parse)(const struct nlmsghdr *h, void *out), void **ret, size_t *ret_n, const char *what,
                struct hull_error **err)
{
        uint8_t req[64];
        struct collect c = { .size = size, .parse = parse };
        int r;

        r = hull_nl_transact(nl, req, hull_nl_build_dump(req, sizeof(req), type, family, 0), what, collect_one, &c,
                             err);
        if (r < 0) {
                free(c.items);
                return r;
        }
        *ret = c.items;
        *ret_n = c.n;
        return 0;
}

static int parse_link_cb(const struct nlmsghdr *h, void *out)
{
        return hull_nl_parse_link(h, out);
}

static int parse_addr_cb(const struct nlmsghdr *h, void *out)
{
        return hull_nl_parse_addr(h, out);
}

static int parse_route_cb(const struct nlmsghdr *h, void *out)
{
        return hull_nl_parse_route(h, out);
}

int hull_nl_list_links(struct hull_nl *nl, struct hull_nl_link **ret, size_t *ret_n, struct hull_error **err)
{
        return dump(nl, RTM_GETLINK, AF_UNSPEC, sizeof(**ret), parse_link_cb, (void **)ret, ret_n, "list links", err);
}

int hull_nl_list_addrs(struct hull_nl *nl, int family, struct hull_nl_addr **ret, size_t *ret_n,
                       struct hull_error **err)
{
        return dump(nl, RTM_GETADDR, family, sizeof(**ret), parse_addr_cb, (void **)ret, ret_n, "list addresses", err);
}

int hull_nl_list_routes(struct hull_nl *nl, int family, struct hull_nl_route **ret, size_t *ret_n,
                        struct hull_error **err)
{
        return dump(nl, RTM_GETROUTE, family, sizeof(**ret), parse_route_cb, (void **)ret, ret_n, "list routes", err);
}

int hull_nl_transact(struct hull_nl *nl, void *req, ssize_t len, const char *what,
                     int (*on_msg)(const struct nlmsghdr *h, void *userdata), void *userdata, struct hull_error **err)
{
        uint32_t seq = ++nl->seq;
        int r;

        if (len >= (ssize_t)NLMSG_HDRLEN)
                ((struct nlmsghdr *)req)->nlmsg_seq = seq;
        r = nl_send(nl, req, len, what, err);
        return r < 0 ? r : nl_receive(nl, seq, what, on_msg, userdata, err);
}

int hull_nl_link_set(struct hull_nl *nl, const struct hull_nl_link *l, unsigned int what, struct hull_error **err)
{
        uint8_t req[256];

        return hull_nl_transact(nl, req, hull_nl_build_link_set(req, sizeof(req), 0, l, what), "set link", NULL, NULL,
                                err);
}

int hull_nl_addr_change(struct hull_nl *nl, uint16_t type, const struct hull_nl_addr *a, struct hull_error **err)
{
        uint8_t req[128];

        return hull_nl_transact(nl, req, hull_nl_build_addr(req, sizeof(req), type, 0, a),
                                type == RTM_NEWADDR ? "add address" : "delete address", NULL, NULL, err);
}

int hull_nl_route_change(struct hull_nl *nl, uint16_t type, const struct hull_nl_route *r, struct hull_error **err)
{
        uint8_t req[192];

        return hull_nl_transact(nl, req, hull_nl_build_route(req, sizeof(req), type, 0, r),
                                type == RTM_NEWROUTE ? "add route" : "delete route", NULL, NULL, err);
}
