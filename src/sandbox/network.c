/* The pod's network mirrored into the VM: taps and tc redirects in the pod's network namespace (entered by a helper
 * thread: network namespaces are per thread, and sockets and tun devices stay in the namespace they were made in),
 * then the agent's UpdateInterface/UpdateRoutes. See docs/sandbox.md "Networking". */
#include "sandbox/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/if_tun.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "error.h"
#include "hypervisor/hypervisor.h"
#include "log.h"
#include "netlink.h"
#include "sandbox/agent-client.h"
#include "sandbox/state.h"
#include "sandbox/tc.h"

#define NET_MAX_ADDRS 64
#define NET_MAX_ROUTES 256
#define AGENT_CALL_USEC (30ull * 1000000ull)

/* Taps are tapN_hull and devices netN with N one digit. */
_Static_assert(HULL_STATE_MAX_INTERFACES <= 10, "one digit per interface number");

struct net_if {
        struct hull_nl_link link; /* the veth as found */
        char tap[IFNAMSIZ];
        int tap_fd;
        bool own_ingress;
        struct hull_nl_addr addrs[NET_MAX_ADDRS];
        size_t n_addrs;
};

struct hull_network {
        char *netns;
        struct net_if ifs[HULL_STATE_MAX_INTERFACES];
        size_t n_ifs;
        struct hull_nl_route *routes;
        size_t n_routes;
        bool attached;

        /* configure_guest in flight */
        struct hull_agent *agent;
        size_t next_if;
        hull_network_done_cb done_cb;
        void *done_userdata;
};

/* ---- the spec ---- */

int hull_network_spec_mode(struct json_object *spec, enum hull_network_mode *ret_mode, const char **ret_path,
                           struct hull_error **err)
{
        struct json_object *linux_, *nss, *ns, *v;
        size_t n;

        *ret_mode = HULL_NETWORK_HOST;
        *ret_path = NULL;
        if (!spec || !json_object_object_get_ex(spec, "linux", &linux_) ||
            !json_object_object_get_ex(linux_, "namespaces", &nss))
                return 0;
        if (!json_object_is_type(nss, json_type_array))
                return hull_error_set(err, EINVAL, "linux.namespaces is not a list");
        n = json_object_array_length(nss);
        for (size_t i = 0; i < n; i++) {
                const char *type, *path = NULL;

                ns = json_object_array_get_idx(nss, i);
                if (!json_object_is_type(ns, json_type_object) || !json_object_object_get_ex(ns, "type", &v) ||
                    !json_object_is_type(v, json_type_string))
                        return hull_error_set(err, EINVAL, "linux.namespaces[%zu]: no type", i);
                type = json_object_get_string(v);
                if (!streq(type, "network"))
                        continue;
                if (json_object_object_get_ex(ns, "path", &v) && !json_object_is_type(v, json_type_null)) {
                        if (!json_object_is_type(v, json_type_string))
                                return hull_error_set(err, EINVAL, "linux.namespaces[%zu]: path is not a string", i);
                        path = json_object_get_string(v);
                }
                if (!path || !*path) {
                        *ret_mode = HULL_NETWORK_FRESH;
                        return 0;
                }
                if (path[0] != '/')
                        return hull_error_set(err, EINVAL, "network namespace path %s is not absolute", path);
                *ret_mode = HULL_NETWORK_POD;
                *ret_path = path;
                return 0;
        }
        return 0;
}

/* ---- running in the namespace ---- */

struct netns_job {
        int nsfd;
        int (*fn)(void *arg, struct hull_error **err);
        void *arg;
        int r;
        struct hull_error *err;
};

static void *netns_thread(void *p)
{
        struct netns_job *j = p;

        if (setns(j->nsfd, CLONE_NEWNET) < 0)
                j->r = hull_error_errno(&j->err, errno, "enter the network namespace");
        else
                j->r = j->fn(j->arg, &j->err);
        return NULL;
}

/* Run fn in a thread inside the network namespace at path; the thread ends with it, so no thread of the service
 * stays in the namespace. -ENOENT: no such path; -EINVAL: not a network namespace. */
static int in_netns(const char *path, int (*fn)(void *arg, struct hull_error **err), void *arg, struct hull_error **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct netns_job j = { .fn = fn, .arg = arg };
        pthread_t t;
        int r;

        if (fd < 0)
                return hull_error_errno(err, errno, "network namespace %s", path);
        j.nsfd = fd;
        r = pthread_create(&t, NULL, netns_thread, &j);
        if (r != 0)
                return hull_error_errno(err, r, "network namespace %s: thread", path);
        pthread_join(t, NULL);
        if (j.r < 0) {
                if (err)
                        *err = TAKE_PTR(j.err);
                hull_error_free(j.err);
                return hull_error_prefix(err, "network namespace %s", path), j.r;
        }
        return 0;
}

/* Is path (still) a network namespace? A path CNI removed, or a bind mount that went and left its empty file,
 * is not. */
static bool is_netns(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

        return fd >= 0 && ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET;
}

/* ---- looking ---- */

static bool is_ipv6_local(const uint8_t *a)
{
        return (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || a[0] == 0xff; /* fe80::/10, ff00::/8 */
}

static int scan_in_ns(void *arg, struct hull_error **err)
{
        struct hull_network *net = arg;
        _cleanup_(hull_nl_closep) struct hull_nl *nl = NULL;
        _cleanup_free_ struct hull_nl_link *links = NULL;
        _cleanup_free_ struct hull_nl_addr *addrs = NULL;
        _cleanup_free_ struct hull_nl_route *routes = NULL;
        size_t n_links = 0, n_addrs = 0, n_routes = 0;
        int r;

        if (hull_nl_open(&nl, err) < 0 || hull_nl_list_links(nl, &links, &n_links, err) < 0 ||
            hull_nl_list_addrs(nl, AF_UNSPEC, &addrs, &n_addrs, err) < 0 ||
            hull_nl_list_routes(nl, AF_UNSPEC, &routes, &n_routes, err) < 0)
                return -EIO;
        for (size_t i = 0; i < n_links; i++) {
                const struct hull_nl_link *l = &links[i];
                struct net_if *ni;

                if (l->flags & IFF_LOOPBACK)
                        continue;
                /* A veth (CNI's bridge, ptp, ...) or a macvlan: a device whose frames tc can take and give. */
                if ((!streq(l->kind, "veth") && !streq(l->kind, "macvlan")) || l->hwaddr_len != 6) {
                        log_info("network: %s (%s) is not mirrored into the VM", l->name,
                                 l->kind[0] ? l->kind : "device");
                        continue;
                }
                if (net->n_ifs == HULL_STATE_MAX_INTERFACES)
                        return hull_error_set(err, E2BIG, "more than %d interfaces", HULL_STATE_MAX_INTERFACES);
                ni = &net->ifs[net->n_ifs];
                memset(ni, 0, sizeof(*ni));
                ni->link = *l;
                ni->tap_fd = -1;
                snprintf(ni->tap, sizeof(ni->tap), "tap%c_hull", (char)('0' + net->n_ifs)); /* one digit */
                r = hull_tc_has_ingress(nl, l->index, &ni->own_ingress, err);
                if (r < 0)
                        return r;
                ni->own_ingress = !ni->own_ingress;
                for (size_t k = 0; k < n_addrs; k++) {
                        const struct hull_nl_addr *a = &addrs[k];
                        if (a->index != l->index || (a->family == AF_INET6 && is_ipv6_local(a->addr)))
                                continue;
                        if (ni->n_addrs == NET_MAX_ADDRS)
                                return hull_error_set(err, E2BIG, "%s: more than %d addresses", l->name, NET_MAX_ADDRS);
                        ni->addrs[ni->n_addrs++] = *a;
                }
                net->n_ifs++;
        }
        for (size_t k = 0; k < n_routes; k++) {
                const struct hull_nl_route *rt = &routes[k];
                bool ours = false;

                if (rt->table != RT_TABLE_MAIN || rt->type != RTN_UNICAST || rt->oif <= 0 ||
                    (rt->family == AF_INET6 && rt->dst_len && is_ipv6_local(rt->dst)))
                        continue;
                for (size_t i = 0; i < net->n_ifs; i++)
                        ours = ours || net->ifs[i].link.index == rt->oif;
                if (!ours)
                        continue;
                if (net->n_routes == NET_MAX_ROUTES)
                        return hull_error_set(err, E2BIG, "more than %d routes", NET_MAX_ROUTES);
                if (!net->routes) {
                        net->routes = calloc(NET_MAX_ROUTES, sizeof(*net->routes));
                        if (!net->routes)
                                return hull_error_oom(err);
                }
                net->routes[net->n_routes++] = *rt;
        }
        return 0;
}

int hull_network_new(const char *netns_path, struct hull_network **ret, struct hull_error **err)
{
        _cleanup_(hull_network_freep) struct hull_network *net = calloc(1, sizeof(*net));
        int r;

        if (!net || !(net->netns = strdup(netns_path)))
                return hull_error_oom(err);
        r = in_netns(netns_path, scan_in_ns, net, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(net);
        return 0;
}

size_t hull_network_n_interfaces(const struct hull_network *net)
{
        return net ? net->n_ifs : 0;
}

static void net_as_recorded(const struct hull_network *net, struct hull_state_interface *out)
{
        for (size_t i = 0; i < net->n_ifs; i++) {
                memset(&out[i], 0, sizeof(out[i]));
                snprintf(out[i].veth, sizeof(out[i].veth), "%s", net->ifs[i].link.name);
                snprintf(out[i].tap, sizeof(out[i].tap), "%s", net->ifs[i].tap);
                out[i].own_ingress = net->ifs[i].own_ingress;
        }
}

int hull_network_record(const struct hull_network *net, struct hull_state *st)
{
        if (hull_state_set(&st->netns, net->netns) < 0)
                return -ENOMEM;
        net_as_recorded(net, st->interfaces);
        st->n_interfaces = net->n_ifs;
        return 0;
}

/* ---- removing ---- */

static bool gone(int r)
{
        return r == -ENOENT || r == -ENODEV || r == -EINVAL;
}

static int link_del(struct hull_nl *nl, int ifindex, struct hull_error **err)
{
        uint8_t req[64];
        struct hull_nl_msg m;
        struct ifinfomsg *ifi;

        if (hull_nl_msg_init(&m, req, sizeof(req), RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 0) &&
            (ifi = hull_nl_msg_put(&m, sizeof(*ifi)))) {
                ifi->ifi_family = AF_UNSPEC;
                ifi->ifi_index = ifindex;
        }
        return hull_nl_transact(nl, req, hull_nl_msg_end(&m), "delete link", NULL, NULL, err);
}

struct removal {
        const struct hull_state_interface *ifs;
        size_t n;
};

/* Everything hull may have made for these interfaces, each step tolerant of what is not there; the first real
 * failure is reported after all steps were tried. */
static int remove_in_ns(void *arg, struct hull_error **err)
{
        struct removal *rm = arg;
        _cleanup_(hull_nl_closep) struct hull_nl *nl = NULL;
        int r, first = 0;

        r = hull_nl_open(&nl, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < rm->n; i++) {
                const struct hull_state_interface *si = &rm->ifs[i];
                unsigned veth = if_nametoindex(si->veth), tap = si->tap[0] ? if_nametoindex(si->tap) : 0;
                struct hull_error *e = NULL;

                if (veth) {
                        r = hull_tc_redirect_del(nl, (int)veth, &e);
                        if (r < 0 && !gone(r) && !first)
                                first = r, *err = TAKE_PTR(e);
                        e = hull_error_free(e);
                        if (si->own_ingress) {
                                r = hull_tc_ingress_del(nl, (int)veth, &e);
                                if (r < 0 && !gone(r) && !first)
                                        first = r, *err = TAKE_PTR(e);
                                e = hull_error_free(e);
                        }
                }
                if (tap) {
                        r = link_del(nl, (int)tap, &e);
                        if (r < 0 && !gone(r) && !first)
                                first = r, *err = TAKE_PTR(e);
                        e = hull_error_free(e);
                }
        }
        return first;
}

static int remove_recorded(const char *netns, const struct hull_state_interface *ifs, size_t n, struct hull_error **err)
{
        struct removal rm = { .ifs = ifs, .n = n };

        /* A namespace that is gone (CNI deleted it) took the devices with it. */
        if (n == 0 || !is_netns(netns))
                return 0;
        return in_netns(netns, remove_in_ns, &rm, err);
}

void hull_network_teardown(struct hull_network *net)
{
        struct hull_state_interface rec[HULL_STATE_MAX_INTERFACES];
        _cleanup_error_ struct hull_error *e = NULL;

        if (!net)
                return;
        /* A tap name whose device hull never opened is someone else's (IFF_TUN_EXCL refused it): not removed. */
        net_as_recorded(net, rec);
        for (size_t i = 0; i < net->n_ifs; i++) {
                if (net->ifs[i].tap_fd < 0)
                        rec[i].tap[0] = '\0';
                hull_closep(&net->ifs[i].tap_fd);
                net->ifs[i].tap_fd = -1;
        }
        if (!net->attached)
                return;
        net->attached = false;
        if (remove_recorded(net->netns, rec, net->n_ifs, &e) < 0)
                log_warn("network %s: %s", net->netns, hull_error_message(e));
        else
                log_debug("network %s: taps and tc filters removed", net->netns);
}

struct hull_network *hull_network_free(struct hull_network *net)
{
        if (!net)
                return NULL;
        hull_network_teardown(net);
        free(net->routes);
        free(net->netns);
        free(net);
        return NULL;
}

int hull_network_cleanup_recorded(const struct hull_state *st, struct hull_error **err)
{
        if (!st->netns || st->n_interfaces == 0)
                return 0;
        return remove_recorded(st->netns, st->interfaces, MIN(st->n_interfaces, (size_t)HULL_STATE_MAX_INTERFACES),
                               err);
}

int hull_network_cleanup_state_dir(const char *dir, struct hull_error **err)
{
        struct hull_state st;
        int r;

        r = hull_state_read(dir, &st, err);
        /* None, or a wreck that records nothing readable: delete must still be able to remove it. */
        if (r == -ENOENT || r == -EBADMSG) {
                if (err)
                        *err = hull_error_free(*err);
                return 0;
        }
        if (r < 0)
                return r;
        r = hull_network_cleanup_recorded(&st, err);
        hull_state_clear(&st);
        return r;
}

/* ---- making ---- */

static int make_tap(const char *name, struct hull_error **err)
{
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL };
        _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return hull_error_errno(err, errno, "open /dev/net/tun");
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        /* IFF_TUN_EXCL: a device of that name that exists already is not taken over. */
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return hull_error_errno(err, errno, "create tap %s", name);
        return TAKE_FD(fd);
}

static int attach_in_ns(void *arg, struct hull_error **err)
{
        struct hull_network *net = arg;
        _cleanup_(hull_nl_closep) struct hull_nl *nl = NULL;
        int r;

        r = hull_nl_open(&nl, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < net->n_ifs; i++) {
                struct net_if *ni = &net->ifs[i];
                struct hull_nl_link tap = { 0 };
                int veth = ni->link.index;

                /* The tap is non-persistent: it goes when the last fd (hull's, the VMM's) closes. */
                r = ni->tap_fd = make_tap(ni->tap, err);
                if (r < 0)
                        return r;
                tap.index = (int)if_nametoindex(ni->tap);
                if (tap.index <= 0)
                        return hull_error_errno(err, errno, "tap %s", ni->tap);
                tap.mtu = ni->link.mtu;
                tap.flags = IFF_UP;
                r = hull_nl_link_set(nl, &tap, (ni->link.mtu ? HULL_NL_SET_MTU : 0) | HULL_NL_SET_UP, err);
                if (r < 0)
                        return hull_error_prefix(err, "tap %s", ni->tap), r;
                if (ni->own_ingress) {
                        r = hull_tc_ingress_add(nl, veth, err);
                        if (r < 0)
                                return hull_error_prefix(err, "%s", ni->link.name), r;
                }
                r = hull_tc_ingress_add(nl, tap.index, err);
                if (r < 0)
                        return hull_error_prefix(err, "%s", ni->tap), r;
                r = hull_tc_redirect_add(nl, veth, tap.index, err);
                if (r < 0)
                        return hull_error_prefix(err, "%s to %s", ni->link.name, ni->tap), r;
                r = hull_tc_redirect_add(nl, tap.index, veth, err);
                if (r < 0)
                        return hull_error_prefix(err, "%s to %s", ni->tap, ni->link.name), r;
                log_debug("network: %s (index %d) <-> %s (index %d) through tc", ni->link.name, veth, ni->tap,
                          tap.index);
        }
        return 0;
}

static void format_mac(const uint8_t *hw, char out[18])
{
        snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", hw[0], hw[1], hw[2], hw[3], hw[4], hw[5]);
}

int hull_network_attach(struct hull_network *net, struct hull_error **err)
{
        int r;

        if (net->n_ifs == 0 || net->attached)
                return 0;
        net->attached = true; /* from here teardown removes what there is */
        r = in_netns(net->netns, attach_in_ns, net, err);
        if (r < 0)
                hull_network_teardown(net);
        return r;
}

int hull_network_tap_fd(const struct hull_network *net, size_t i)
{
        return net && i < net->n_ifs ? net->ifs[i].tap_fd : -1;
}

int hull_network_add_devices(struct hull_network *net, struct hull_hypervisor *hv, struct hull_error **err)
{
        int r;

        if (net->n_ifs == 0)
                return 0;
        if (!(hull_hypervisor_capabilities(hv) & HULL_HV_CAP_NET_DEVICES))
                return hull_error_set(err, EOPNOTSUPP, "network: %s has no network devices", hull_hypervisor_name(hv));
        for (size_t i = 0; i < net->n_ifs; i++) {
                struct net_if *ni = &net->ifs[i];
                char id[16];
                struct hull_hv_device dev = { .kind = HULL_HV_DEVICE_NET, .id = id, .net.tap_fd = ni->tap_fd };

                if (ni->tap_fd < 0)
                        return hull_error_set(err, EBADF, "network: %s has no tap", ni->link.name);
                snprintf(id, sizeof(id), "net%c", (char)('0' + i));
                format_mac(ni->link.hwaddr, dev.net.mac);
                r = hull_hypervisor_add_device(hv, &dev, err);
                if (r < 0)
                        return hull_error_prefix(err, "network: %s", ni->link.name), r;
        }
        return 0;
}

/* ---- the guest ---- */

static int format_ip(int family, const uint8_t *a, char *out, size_t size)
{
        return inet_ntop(family, a, out, (socklen_t)size) ? 0 : -EINVAL;
}

static void configure_failed(struct hull_network *net, int r, const char *what, const struct hull_error *cause)
{
        _cleanup_error_ struct hull_error *e = NULL;
        hull_network_done_cb cb = net->done_cb;

        hull_error_set(&e, r < 0 ? -r : EIO, "%s: %s", what, hull_error_message(cause));
        net->done_cb = NULL;
        net->agent = NULL;
        if (cb)
                cb(r, e, net->done_userdata);
}

static void send_next(struct hull_network *net);

static void on_reply(int r, const ProtobufCMessage *resp, const struct hull_error *err, void *userdata)
{
        struct hull_network *net = userdata;
        hull_network_done_cb cb;

        if (r < 0) {
                char what[64];
                if (net->next_if <= net->n_ifs)
                        snprintf(what, sizeof(what), "UpdateInterface %s", net->ifs[net->next_if - 1].link.name);
                else
                        snprintf(what, sizeof(what), "UpdateRoutes");
                configure_failed(net, r, what, err);
                return;
        }
        if (net->next_if <= net->n_ifs) {
                send_next(net);
                return;
        }
        cb = net->done_cb;
        net->done_cb = NULL;
        net->agent = NULL;
        log_info("network %s: %zu interface(s) and %zu route(s) given to the guest", net->netns, net->n_ifs,
                 net->n_routes);
        if (cb)
                cb(0, NULL, net->done_userdata);
}

static int send_interface(struct hull_network *net, const struct net_if *ni, struct hull_error **err)
{
        Grpc__UpdateInterfaceRequest req = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
        Types__Interface itf = TYPES__INTERFACE__INIT;
        Types__IPAddress addrs[NET_MAX_ADDRS], *addrp[NET_MAX_ADDRS];
        char ips[NET_MAX_ADDRS][INET6_ADDRSTRLEN], masks[NET_MAX_ADDRS][4], mac[18];

        format_mac(ni->link.hwaddr, mac);
        itf.device = itf.name = (char *)ni->link.name;
        itf.hwaddr = mac;
        itf.mtu = ni->link.mtu;
        itf.raw_flags = ni->link.flags & IFF_NOARP;
        for (size_t k = 0; k < ni->n_addrs; k++) {
                const struct hull_nl_addr *a = &ni->addrs[k];
                addrs[k] = (Types__IPAddress)TYPES__IPADDRESS__INIT;
                if (format_ip(a->family, a->addr, ips[k], sizeof(ips[k])) < 0)
                        return hull_error_set(err, EINVAL, "%s: bad address", ni->link.name);
                snprintf(masks[k], sizeof(masks[k]), "%u", a->prefixlen);
                addrs[k].family = a->family == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
                addrs[k].address = ips[k];
                addrs[k].mask = masks[k];
                addrp[k] = &addrs[k];
        }
        itf.ipaddresses = addrp;
        itf.n_ipaddresses = ni->n_addrs;
        req.interface = &itf;
        return hull_agent_call(net->agent, "UpdateInterface", &req.base, &types__interface__descriptor, AGENT_CALL_USEC,
                               on_reply, net, err);
}

static const char *if_name_of(const struct hull_network *net, int index)
{
        for (size_t i = 0; i < net->n_ifs; i++)
                if (net->ifs[i].link.index == index)
                        return net->ifs[i].link.name;
        return "";
}

static int send_routes(struct hull_network *net, struct hull_error **err)
{
        Grpc__UpdateRoutesRequest req = GRPC__UPDATE_ROUTES_REQUEST__INIT;
        Grpc__Routes routes = GRPC__ROUTES__INIT;
        _cleanup_free_ Types__Route *rs = calloc(net->n_routes ? net->n_routes : 1, sizeof(*rs));
        _cleanup_free_ Types__Route **rp = calloc(net->n_routes ? net->n_routes : 1, sizeof(*rp));
        /* dest with its "/len", gateway, source: one buffer per route */
        _cleanup_free_ char(*text)[3][INET6_ADDRSTRLEN + 4] = calloc(net->n_routes ? net->n_routes : 1, sizeof(*text));

        if (!rs || !rp || !text)
                return hull_error_oom(err);
        for (size_t k = 0; k < net->n_routes; k++) {
                const struct hull_nl_route *r = &net->routes[k];
                char ip[INET6_ADDRSTRLEN];

                rs[k] = (Types__Route)TYPES__ROUTE__INIT;
                rs[k].family = r->family == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
                if (r->dst_len) {
                        if (format_ip(r->family, r->dst, ip, sizeof(ip)) < 0)
                                return hull_error_set(err, EINVAL, "bad route");
                        snprintf(text[k][0], sizeof(text[k][0]), "%s/%u", ip, r->dst_len);
                        rs[k].dest = text[k][0];
                }
                if (r->has_gateway) {
                        if (format_ip(r->family, r->gateway, text[k][1], sizeof(text[k][1])) < 0)
                                return hull_error_set(err, EINVAL, "bad route");
                        rs[k].gateway = text[k][1];
                }
                if (r->has_prefsrc) {
                        if (format_ip(r->family, r->prefsrc, text[k][2], sizeof(text[k][2])) < 0)
                                return hull_error_set(err, EINVAL, "bad route");
                        rs[k].source = text[k][2];
                }
                rs[k].device = (char *)if_name_of(net, r->oif);
                rs[k].scope = r->scope;
                rp[k] = &rs[k];
        }
        routes.routes = rp;
        routes.n_routes = net->n_routes;
        req.routes = &routes;
        return hull_agent_call(net->agent, "UpdateRoutes", &req.base, &grpc__routes__descriptor, AGENT_CALL_USEC,
                               on_reply, net, err);
}

static void send_next(struct hull_network *net)
{
        _cleanup_error_ struct hull_error *e = NULL;
        size_t i = net->next_if++;
        int r;

        r = i < net->n_ifs ? send_interface(net, &net->ifs[i], &e) : send_routes(net, &e);
        if (r < 0)
                configure_failed(net, r, i < net->n_ifs ? "UpdateInterface" : "UpdateRoutes", e);
}

int hull_network_configure_guest(struct hull_network *net, struct hull_agent *agent, hull_network_done_cb cb,
                                 void *userdata, struct hull_error **err)
{
        int r;

        if (net->done_cb)
                return hull_error_set(err, EBUSY, "network: the guest is being configured");
        net->agent = agent;
        net->done_cb = cb;
        net->done_userdata = userdata;
        net->next_if = 1;
        r = net->n_ifs ? send_interface(net, &net->ifs[0], err) : send_routes(net, err);
        if (r < 0) {
                net->done_cb = NULL;
                net->agent = NULL;
        }
        return r;
}
