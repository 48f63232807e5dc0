/* Kata's networking calls on top of src/lib/netlink.c. What Kata's agent does (src/agent/src/netlink.rs), and
 * so what a Kata runtime expects:
 * - UpdateInterface finds the link by its MAC address (hwAddr; hull also takes `device` or `name` when no MAC
 *   is given), takes it down, replaces all its addresses with the requested ones, sets name, MTU and ARP
 *   (raw_flags' IFF_NOARP) and brings it up; the reply is the interface as it is then.
 * - UpdateRoutes deletes the main table's routes except the kernel's own (proto kernel) and those on the
 *   loopback, then adds the requested ones, routes without a gateway first (a gateway must be reachable
 *   when its route is added); a route that exists already is no error. The reply lists the routes then.
 * - ListInterfaces/ListRoutes report links with their addresses and the main table's unicast routes. */
#include "network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "error.h"
#include "netlink.h"

#define NET_MAX_ADDRS 256
#define NET_MAX_ROUTES 1024

/* Hands a local error up (callers may pass err NULL); returns r. */
static int pass_error(struct hull_error **err, struct hull_error **local, int r)
{
        if (err)
                *err = TAKE_PTR(*local);
        return r;
}

/* ---- text forms ---- */

int hull_agent_net_parse_hwaddr(const char *s, uint8_t *out, size_t cap, size_t *ret_len)
{
        size_t n = 0;

        if (!s || !*s)
                return -EINVAL;
        for (;;) {
                char *end;
                unsigned long v;

                if (n == cap ||
                    !((s[0] >= '0' && s[0] <= '9') || (s[0] >= 'a' && s[0] <= 'f') || (s[0] >= 'A' && s[0] <= 'F')))
                        return -EINVAL;
                v = strtoul(s, &end, 16);
                if (end - s > 2 || v > 0xff)
                        return -EINVAL;
                out[n++] = (uint8_t)v;
                if (*end == '\0')
                        break;
                if (*end != ':')
                        return -EINVAL;
                s = end + 1;
        }
        *ret_len = n;
        return 0;
}

void hull_agent_net_format_hwaddr(const uint8_t *hw, size_t len, char *out, size_t size)
{
        size_t at = 0;

        if (size)
                out[0] = '\0';
        for (size_t i = 0; i < len && at + 3 < size + (i == len - 1 ? 1 : 0); i++)
                at += (size_t)snprintf(out + at, size - at, i ? ":%02x" : "%02x", hw[i]);
}

int hull_agent_net_parse_ip(const char *s, int *ret_family, uint8_t out[16])
{
        if (!s)
                return -EINVAL;
        if (inet_pton(AF_INET, s, out) == 1) {
                *ret_family = AF_INET;
                return 0;
        }
        if (inet_pton(AF_INET6, s, out) == 1) {
                *ret_family = AF_INET6;
                return 0;
        }
        return -EINVAL;
}

int hull_agent_net_parse_mask(const char *s, int family, unsigned int *ret_prefixlen)
{
        unsigned int max = family == AF_INET6 ? 128 : 32;
        uint8_t m[4];
        char *end;
        unsigned long v;

        if (!s || !*s)
                return -EINVAL;
        if (family == AF_INET && strchr(s, '.')) {
                uint32_t bits;
                unsigned int len = 0;

                if (inet_pton(AF_INET, s, m) != 1)
                        return -EINVAL;
                bits = ((uint32_t)m[0] << 24) | ((uint32_t)m[1] << 16) | ((uint32_t)m[2] << 8) | m[3];
                while (len < 32 && (bits & (1U << (31 - len))))
                        len++;
                if (len < 32 && (bits << len) != 0)
                        return -EINVAL; /* not contiguous */
                *ret_prefixlen = len;
                return 0;
        }
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || end == s || v > max || s[0] == '-' || s[0] == '+')
                return -EINVAL;
        *ret_prefixlen = (unsigned int)v;
        return 0;
}

int hull_agent_net_parse_prefix(const char *s, int family_hint, int *ret_family, uint8_t out[16], unsigned int *ret_len)
{
        char buf[INET6_ADDRSTRLEN + 8];
        const char *slash;
        size_t alen;

        memset(out, 0, 16);
        if (!s || !*s || strcmp(s, "default") == 0) {
                *ret_family = family_hint == AF_INET6 ? AF_INET6 : AF_INET;
                *ret_len = 0;
                return 0;
        }
        slash = strchr(s, '/');
        alen = slash ? (size_t)(slash - s) : strlen(s);
        if (alen >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, alen);
        buf[alen] = '\0';
        if (hull_agent_net_parse_ip(buf, ret_family, out) < 0)
                return -EINVAL;
        if (!slash) {
                *ret_len = *ret_family == AF_INET6 ? 128 : 32;
                return 0;
        }
        if (strchr(slash + 1, '.'))
                return -EINVAL;
        return hull_agent_net_parse_mask(slash + 1, *ret_family, ret_len);
}

static char *format_ip(int family, const uint8_t *a)
{
        char buf[INET6_ADDRSTRLEN];

        if (!inet_ntop(family, a, buf, sizeof(buf)))
                return NULL;
        return strdup(buf);
}

/* ---- reply trees ---- */

static void free_str(char *s)
{
        if (s && s != protobuf_c_empty_string)
                free(s);
}

Types__Interface *hull_agent_net_interface_free(Types__Interface *i)
{
        if (!i)
                return NULL;
        for (size_t k = 0; k < i->n_ipaddresses; k++) {
                if (!i->ipaddresses[k])
                        continue;
                free_str(i->ipaddresses[k]->address);
                free_str(i->ipaddresses[k]->mask);
                free(i->ipaddresses[k]);
        }
        free(i->ipaddresses);
        free_str(i->device);
        free_str(i->name);
        free_str(i->hwaddr);
        free_str(i->type);
        free(i);
        return NULL;
}

Grpc__Interfaces *hull_agent_net_interfaces_free(Grpc__Interfaces *m)
{
        if (!m)
                return NULL;
        for (size_t k = 0; k < m->n_interfaces; k++)
                hull_agent_net_interface_free(m->interfaces[k]);
        free(m->interfaces);
        free(m);
        return NULL;
}

static Types__Route *route_free(Types__Route *r)
{
        if (!r)
                return NULL;
        free_str(r->dest);
        free_str(r->gateway);
        free_str(r->device);
        free_str(r->source);
        free(r);
        return NULL;
}

Grpc__Routes *hull_agent_net_routes_free(Grpc__Routes *m)
{
        if (!m)
                return NULL;
        for (size_t k = 0; k < m->n_routes; k++)
                route_free(m->routes[k]);
        free(m->routes);
        free(m);
        return NULL;
}

HULL_DEFINE_FREEP(Types__Interface, hull_agent_net_interface_free)
HULL_DEFINE_FREEP(Grpc__Interfaces, hull_agent_net_interfaces_free)
HULL_DEFINE_FREEP(Grpc__Routes, hull_agent_net_routes_free)
HULL_DEFINE_FREEP(Types__Route, route_free)

struct net_state {
        struct hull_nl_link *links;
        size_t n_links;
        struct hull_nl_addr *addrs;
        size_t n_addrs;
};

static void net_state_clear(struct net_state *st)
{
        free(st->links);
        free(st->addrs);
        *st = (struct net_state){ 0 };
}

static int net_state_load(struct hull_nl *nl, struct net_state *st, struct hull_error **err)
{
        int r;

        net_state_clear(st);
        r = hull_nl_list_links(nl, &st->links, &st->n_links, err);
        if (r < 0)
                return r;
        return hull_nl_list_addrs(nl, AF_UNSPEC, &st->addrs, &st->n_addrs, err);
}

static const struct hull_nl_link *link_by_index(const struct net_state *st, int index)
{
        for (size_t i = 0; i < st->n_links; i++)
                if (st->links[i].index == index)
                        return &st->links[i];
        return NULL;
}

static const struct hull_nl_link *link_by_name(const struct net_state *st, const char *name)
{
        for (size_t i = 0; i < st->n_links; i++)
                if (strcmp(st->links[i].name, name) == 0)
                        return &st->links[i];
        return NULL;
}

static Types__Interface *interface_of(const struct net_state *st, const struct hull_nl_link *l)
{
        _cleanup_(hull_agent_net_interface_freep) Types__Interface *i = calloc(1, sizeof(*i));
        char hw[3 * HULL_NL_HWADDR_MAX + 1];
        size_t n = 0;

        if (!i)
                return NULL;
        types__interface__init(i);
        for (size_t k = 0; k < st->n_addrs; k++)
                n += st->addrs[k].index == l->index;
        i->ipaddresses = calloc(n ? n : 1, sizeof(*i->ipaddresses));
        hull_agent_net_format_hwaddr(l->hwaddr, l->hwaddr_len, hw, sizeof(hw));
        i->device = strdup(l->name);
        i->name = strdup(l->name);
        i->hwaddr = strdup(hw);
        i->type = strdup(l->kind);
        if (!i->ipaddresses || !i->device || !i->name || !i->hwaddr || !i->type)
                return NULL;
        i->mtu = l->mtu;
        i->raw_flags = l->flags;
        for (size_t k = 0; k < st->n_addrs; k++) {
                const struct hull_nl_addr *a = &st->addrs[k];
                Types__IPAddress *ip;
                char mask[8];

                if (a->index != l->index)
                        continue;
                ip = calloc(1, sizeof(*ip));
                if (!ip)
                        return NULL;
                types__ipaddress__init(ip);
                i->ipaddresses[i->n_ipaddresses++] = ip;
                ip->family = a->family == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
                snprintf(mask, sizeof(mask), "%u", a->prefixlen);
                ip->address = format_ip(a->family, a->addr);
                ip->mask = strdup(mask);
                if (!ip->address || !ip->mask)
                        return NULL;
        }
        return TAKE_PTR(i);
}

int hull_agent_net_list_interfaces(struct hull_nl *nl, Grpc__Interfaces **ret, struct hull_error **err)
{
        _cleanup_(hull_agent_net_interfaces_freep) Grpc__Interfaces *m = calloc(1, sizeof(*m));
        _cleanup_(net_state_clear) struct net_state st = { 0 };
        int r;

        if (!m)
                return hull_error_oom(err);
        grpc__interfaces__init(m);
        r = net_state_load(nl, &st, err);
        if (r < 0)
                return r;
        m->interfaces = calloc(st.n_links ? st.n_links : 1, sizeof(*m->interfaces));
        for (size_t k = 0; m->interfaces && k < st.n_links; k++) {
                m->interfaces[m->n_interfaces] = interface_of(&st, &st.links[k]);
                if (!m->interfaces[m->n_interfaces])
                        break;
                m->n_interfaces++;
        }
        if (!m->interfaces || m->n_interfaces < st.n_links)
                return hull_error_oom(err);
        *ret = TAKE_PTR(m);
        return 0;
}

/* The requested addresses, checked before anything changes. */
static int parse_addresses(const Types__Interface *want, struct hull_nl_addr *out, struct hull_error **err)
{
        for (size_t k = 0; k < want->n_ipaddresses; k++) {
                const Types__IPAddress *ip = want->ipaddresses[k];

                out[k] = (struct hull_nl_addr){ 0 };
                if (!ip || hull_agent_net_parse_ip(ip->address, &out[k].family, out[k].addr) < 0)
                        return hull_error_set(err, EINVAL, "bad IP address '%s'", ip && ip->address ? ip->address : "");
                if (hull_agent_net_parse_mask(ip->mask, out[k].family, &out[k].prefixlen) < 0)
                        return hull_error_set(err, EINVAL, "bad mask '%s' for %s", ip->mask ? ip->mask : "",
                                              ip->address);
        }
        return 0;
}

int hull_agent_net_update_interface(struct hull_nl *nl, const Types__Interface *want, Types__Interface **ret,
                                    struct hull_error **err)
{
        _cleanup_free_ struct hull_nl_addr *addrs = NULL;
        _cleanup_(net_state_clear) struct net_state st = { 0 };
        struct hull_nl_link set;
        const struct hull_nl_link *l = NULL;
        uint8_t hw[HULL_NL_HWADDR_MAX];
        size_t hw_len = 0;
        unsigned int what;
        int r;

        if (!want)
                return hull_error_set(err, EINVAL, "no interface");
        if (want->n_ipaddresses > NET_MAX_ADDRS)
                return hull_error_set(err, EINVAL, "%zu addresses, at most %d", want->n_ipaddresses, NET_MAX_ADDRS);
        if (want->name && strlen(want->name) >= IFNAMSIZ)
                return hull_error_set(err, EINVAL, "name '%s' longer than %d bytes", want->name, IFNAMSIZ - 1);
        if (want->mtu > 65535 * 4)
                return hull_error_set(err, EINVAL, "MTU %llu out of range", (unsigned long long)want->mtu);
        if (want->hwaddr && *want->hwaddr && hull_agent_net_parse_hwaddr(want->hwaddr, hw, sizeof(hw), &hw_len) < 0)
                return hull_error_set(err, EINVAL, "bad hwAddr '%s'", want->hwaddr);
        addrs = calloc(want->n_ipaddresses ? want->n_ipaddresses : 1, sizeof(*addrs));
        if (!addrs)
                return hull_error_oom(err);
        r = parse_addresses(want, addrs, err);
        if (r < 0)
                return r;

        r = net_state_load(nl, &st, err);
        if (r < 0)
                return r;
        for (size_t k = 0; k < st.n_links && !l; k++) {
                const struct hull_nl_link *c = &st.links[k];
                if (hw_len ? (c->hwaddr_len == hw_len && memcmp(c->hwaddr, hw, hw_len) == 0)
                           : ((want->device && *want->device && strcmp(c->name, want->device) == 0) ||
                              (want->name && *want->name && strcmp(c->name, want->name) == 0)))
                        l = c;
        }
        if (!l)
                return hull_error_set(err, ENODEV, "no link with %s '%s'", hw_len ? "hwAddr" : "name",
                                      hw_len ? want->hwaddr
                                             : (want->device && *want->device ? want->device : want->name));
        set = *l;

        /* Down first: a link is renamed only while down. */
        set.flags &= ~IFF_UP;
        r = hull_nl_link_set(nl, &set, HULL_NL_SET_UP, err);
        if (r < 0)
                return r;
        for (size_t k = 0; k < st.n_addrs; k++) {
                _cleanup_error_ struct hull_error *e = NULL;

                if (st.addrs[k].index != set.index)
                        continue;
                /* an IPv6 address can go with the link going down: gone already is fine */
                r = hull_nl_addr_change(nl, RTM_DELADDR, &st.addrs[k], &e);
                if (r < 0 && r != -EADDRNOTAVAIL)
                        return pass_error(err, &e, r);
        }
        for (size_t k = 0; k < want->n_ipaddresses; k++) {
                addrs[k].index = set.index;
                r = hull_nl_addr_change(nl, RTM_NEWADDR, &addrs[k], err);
                if (r < 0) {
                        hull_error_prefix(err, "%s/%u", want->ipaddresses[k]->address, addrs[k].prefixlen);
                        return r;
                }
        }
        what = HULL_NL_SET_UP | HULL_NL_SET_NOARP;
        set.flags = IFF_UP | (want->raw_flags & IFF_NOARP);
        if (want->name && *want->name && strcmp(want->name, set.name) != 0) {
                snprintf(set.name, sizeof(set.name), "%s", want->name);
                what |= HULL_NL_SET_NAME;
        }
        if (want->mtu) {
                set.mtu = (unsigned int)want->mtu;
                what |= HULL_NL_SET_MTU;
        }
        r = hull_nl_link_set(nl, &set, what, err);
        if (r < 0)
                return r;

        r = net_state_load(nl, &st, err);
        if (r < 0)
                return r;
        l = link_by_index(&st, set.index);
        if (!l)
                return hull_error_set(err, ENODEV, "link %d gone", set.index);
        *ret = interface_of(&st, l);
        return *ret ? 0 : hull_error_oom(err);
}

static bool route_is_listed(const struct hull_nl_route *r)
{
        return r->table == RT_TABLE_MAIN && r->type == RTN_UNICAST;
}

static Types__Route *route_of(const struct net_state *st, const struct hull_nl_route *nr)
{
        _cleanup_(route_freep) Types__Route *r = calloc(1, sizeof(*r));
        const struct hull_nl_link *l = nr->oif ? link_by_index(st, nr->oif) : NULL;
        char dest[INET6_ADDRSTRLEN + 8] = "";
        char ip[INET6_ADDRSTRLEN];

        if (!r)
                return NULL;
        types__route__init(r);
        if (nr->dst_len) {
                if (!inet_ntop(nr->family, nr->dst, ip, sizeof(ip)))
                        ip[0] = '\0';
                snprintf(dest, sizeof(dest), "%s/%u", ip, nr->dst_len);
        }
        r->dest = strdup(dest); /* "" for a default route, as Kata's runtime sends it */
        r->gateway = nr->has_gateway ? format_ip(nr->family, nr->gateway) : strdup("");
        r->source = nr->has_prefsrc ? format_ip(nr->family, nr->prefsrc) : strdup("");
        r->device = strdup(l ? l->name : "");
        r->scope = nr->scope;
        r->family = nr->family == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
        if (!r->dest || !r->gateway || !r->source || !r->device)
                return NULL;
        return TAKE_PTR(r);
}

int hull_agent_net_list_routes(struct hull_nl *nl, Grpc__Routes **ret, struct hull_error **err)
{
        _cleanup_(hull_agent_net_routes_freep) Grpc__Routes *m = calloc(1, sizeof(*m));
        _cleanup_free_ struct hull_nl_route *routes = NULL;
        _cleanup_(net_state_clear) struct net_state st = { 0 };
        size_t n = 0;
        int r;

        if (!m)
                return hull_error_oom(err);
        grpc__routes__init(m);
        r = hull_nl_list_routes(nl, AF_UNSPEC, &routes, &n, err);
        if (r >= 0)
                r = hull_nl_list_links(nl, &st.links, &st.n_links, err);
        if (r < 0)
                return r;
        m->routes = calloc(n ? n : 1, sizeof(*m->routes));
        if (!m->routes)
                return hull_error_oom(err);
        for (size_t k = 0; k < n; k++) {
                if (!route_is_listed(&routes[k]))
                        continue;
                m->routes[m->n_routes] = route_of(&st, &routes[k]);
                if (!m->routes[m->n_routes])
                        return hull_error_oom(err);
                m->n_routes++;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

/* A requested route in netlink form; its device must exist. */
static int parse_route(const struct net_state *st, const Types__Route *want, struct hull_nl_route *out,
                       struct hull_error **err)
{
        int hint = want->family == TYPES__IPFAMILY__v6 ? AF_INET6 : AF_INET, family = AF_UNSPEC;

        *out = (struct hull_nl_route){
                .table = RT_TABLE_MAIN, .protocol = RTPROT_BOOT, .type = RTN_UNICAST, .scope = want->scope
        };
        if (want->scope > 255)
                return hull_error_set(err, EINVAL, "scope %u out of range", want->scope);
        /* a gateway or source decides the family of a default route */
        if (want->gateway && *want->gateway) {
                if (hull_agent_net_parse_ip(want->gateway, &family, out->gateway) < 0)
                        return hull_error_set(err, EINVAL, "bad gateway '%s'", want->gateway);
                out->has_gateway = true;
                hint = family;
        }
        if (hull_agent_net_parse_prefix(want->dest, hint, &out->family, out->dst, &out->dst_len) < 0)
                return hull_error_set(err, EINVAL, "bad destination '%s'", want->dest);
        if (out->has_gateway && family != out->family)
                return hull_error_set(err, EINVAL, "gateway %s is not of %s's family", want->gateway, want->dest);
        if (want->source && *want->source) {
                if (hull_agent_net_parse_ip(want->source, &family, out->prefsrc) < 0 || family != out->family)
                        return hull_error_set(err, EINVAL, "bad source '%s'", want->source);
                out->has_prefsrc = true;
        }
        if (want->device && *want->device) {
                const struct hull_nl_link *l = link_by_name(st, want->device);
                if (!l)
                        return hull_error_set(err, ENODEV, "no link named '%s'", want->device);
                out->oif = l->index;
        }
        if (!out->oif && !out->has_gateway)
                return hull_error_set(err, EINVAL, "route to '%s' has neither device nor gateway", want->dest);
        return 0;
}

int hull_agent_net_update_routes(struct hull_nl *nl, const Grpc__Routes *want, Grpc__Routes **ret,
                                 struct hull_error **err)
{
        _cleanup_free_ struct hull_nl_route *add = NULL, *old = NULL;
        _cleanup_(net_state_clear) struct net_state st = { 0 };
        size_t n_want = want ? want->n_routes : 0, n_old = 0;
        int r;

        if (n_want > NET_MAX_ROUTES)
                return hull_error_set(err, EINVAL, "%zu routes, at most %d", n_want, NET_MAX_ROUTES);
        add = calloc(n_want ? n_want : 1, sizeof(*add));
        if (!add)
                return hull_error_oom(err);
        r = hull_nl_list_links(nl, &st.links, &st.n_links, err);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n_want; k++) {
                if (!want->routes[k])
                        return hull_error_set(err, EINVAL, "route %zu: empty", k);
                r = parse_route(&st, want->routes[k], &add[k], err);
                if (r < 0) {
                        hull_error_prefix(err, "route %zu", k);
                        return r;
                }
        }

        r = hull_nl_list_routes(nl, AF_UNSPEC, &old, &n_old, err);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n_old; k++) {
                const struct hull_nl_link *l = old[k].oif ? link_by_index(&st, old[k].oif) : NULL;
                _cleanup_error_ struct hull_error *e = NULL;

                if (!route_is_listed(&old[k]) || old[k].protocol == RTPROT_KERNEL || (l && (l->flags & IFF_LOOPBACK)))
                        continue;
                r = hull_nl_route_change(nl, RTM_DELROUTE, &old[k], &e);
                if (r < 0 && r != -ESRCH) /* gone with an earlier one: fine */
                        return pass_error(err, &e, r);
        }
        /* link routes before gateway routes: the kernel wants a gateway reachable when its route is added */
        for (int pass = 0; pass < 2; pass++)
                for (size_t k = 0; k < n_want; k++) {
                        _cleanup_error_ struct hull_error *e = NULL;

                        if (add[k].has_gateway != (pass == 1))
                                continue;
                        r = hull_nl_route_change(nl, RTM_NEWROUTE, &add[k], &e);
                        if (r < 0 && r != -EEXIST) { /* e.g. the subnet route the kernel made with the address */
                                hull_error_prefix(&e, "route %zu (%s)", k, want->routes[k]->dest);
                                return pass_error(err, &e, r);
                        }
                }
        return hull_agent_net_list_routes(nl, ret, err);
}

int hull_agent_net_loopback_up(struct hull_error **err)
{
        _cleanup_(hull_nl_closep) struct hull_nl *nl = NULL;
        _cleanup_free_ struct hull_nl_link *links = NULL;
        size_t n = 0;
        int r;

        r = hull_nl_open(&nl, err);
        if (r >= 0)
                r = hull_nl_list_links(nl, &links, &n, err);
        for (size_t k = 0; r >= 0 && k < n; k++) {
                if (!(links[k].flags & IFF_LOOPBACK) || (links[k].flags & IFF_UP))
                        continue;
                links[k].flags |= IFF_UP;
                r = hull_nl_link_set(nl, &links[k], HULL_NL_SET_UP, err);
        }
        return r < 0 ? hull_error_prefix(err, "loopback") : 0;
}
