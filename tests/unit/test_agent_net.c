/* Unit tests for hull-agent's networking: rtnetlink messages built and parsed byte by byte, Kata's text forms,
 * and the four calls against the real kernel in a network namespace of the test's own (root; skipped otherwise),
 * cross-checked with iproute2's `ip`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "error.h"
#include "netlink.h"
#include "network.h"

/* ---- the messages ---- */

static const struct rtattr *find_attr(const struct nlmsghdr *h, size_t hdr_len, unsigned short type)
{
        int len = (int)(h->nlmsg_len - NLMSG_SPACE(hdr_len));
        const struct rtattr *a = (const struct rtattr *)((const uint8_t *)NLMSG_DATA(h) + NLMSG_ALIGN(hdr_len));

        for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
                if (a->rta_type == type)
                        return a;
        return NULL;
}

static void test_net_build_addr_layout(void **state)
{
        uint8_t buf[128];
        struct hull_nl_addr a = { .index = 7, .family = AF_INET, .prefixlen = 24 };
        const struct nlmsghdr *h = (const void *)buf;
        const struct ifaddrmsg *ifa = NLMSG_DATA(h);
        const struct rtattr *local, *address;
        ssize_t n;

        assert_int_equal(inet_pton(AF_INET, "10.0.2.15", a.addr), 1);
        n = hull_nl_build_addr(buf, sizeof(buf), RTM_NEWADDR, 42, &a);
        /* header 16 + ifaddrmsg 8 + two 8-byte attributes */
        assert_int_equal(n, 16 + 8 + 8 + 8);
        assert_int_equal(h->nlmsg_len, n);
        assert_int_equal(h->nlmsg_type, RTM_NEWADDR);
        assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_int_equal(h->nlmsg_seq, 42);
        assert_int_equal(ifa->ifa_family, AF_INET);
        assert_int_equal(ifa->ifa_prefixlen, 24);
        assert_int_equal(ifa->ifa_index, 7);
        local = find_attr(h, sizeof(*ifa), IFA_LOCAL);
        address = find_attr(h, sizeof(*ifa), IFA_ADDRESS);
        assert_non_null(local);
        assert_non_null(address);
        assert_int_equal(RTA_PAYLOAD(local), 4);
        assert_memory_equal(RTA_DATA(local), a.addr, 4);
        assert_memory_equal(RTA_DATA(address), a.addr, 4);

        /* a delete carries no create flags; IPv6 carries 16-byte addresses */
        a.family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, "fd00::5", a.addr), 1);
        n = hull_nl_build_addr(buf, sizeof(buf), RTM_DELADDR, 43, &a);
        assert_int_equal(n, 16 + 8 + 20 + 20);
        assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_int_equal(RTA_PAYLOAD(find_attr(h, sizeof(*ifa), IFA_LOCAL)), 16);
}

static void test_net_build_refuses_small_buffers(void **state)
{
        uint8_t buf[40];
        struct hull_nl_addr a = { .index = 1, .family = AF_INET6, .prefixlen = 64 };
        struct hull_nl_route r = { .family = AF_INET6, .dst_len = 64, .oif = 2, .has_gateway = true };
        struct hull_nl_link l = { .index = 1, .name = "eth0", .mtu = 1500 };

        assert_int_equal(hull_nl_build_addr(buf, sizeof(buf), RTM_NEWADDR, 1, &a), -ENOBUFS);
        assert_int_equal(hull_nl_build_route(buf, sizeof(buf), RTM_NEWROUTE, 1, &r), -ENOBUFS);
        assert_int_equal(hull_nl_build_link_set(buf, 20, 1, &l, HULL_NL_SET_NAME), -ENOBUFS);
        assert_int_equal(hull_nl_build_dump(buf, 8, RTM_GETLINK, AF_UNSPEC, 1), -ENOBUFS);
        assert_true(hull_nl_build_dump(buf, sizeof(buf), RTM_GETLINK, AF_UNSPEC, 1) > 0);
}

static void test_net_build_route_and_parse_it_back(void **state)
{
        uint8_t buf[192];
        struct hull_nl_route r = { .family = AF_INET,
                                   .dst_len = 16,
                                   .oif = 3,
                                   .has_gateway = true,
                                   .has_prefsrc = true,
                                   .scope = RT_SCOPE_UNIVERSE,
                                   .table = RT_TABLE_MAIN,
                                   .protocol = RTPROT_BOOT,
                                   .type = RTN_UNICAST };
        struct hull_nl_route back;
        struct nlmsghdr *h = (void *)buf;
        const struct rtmsg *rt = NLMSG_DATA(h);
        ssize_t n;

        assert_int_equal(inet_pton(AF_INET, "10.20.0.0", r.dst), 1);
        assert_int_equal(inet_pton(AF_INET, "10.0.2.2", r.gateway), 1);
        assert_int_equal(inet_pton(AF_INET, "10.0.2.15", r.prefsrc), 1);
        n = hull_nl_build_route(buf, sizeof(buf), RTM_NEWROUTE, 9, &r);
        assert_true(n > 0);
        assert_int_equal(rt->rtm_dst_len, 16);
        assert_int_equal(rt->rtm_table, RT_TABLE_MAIN);
        assert_null(find_attr(h, sizeof(*rt), RTA_TABLE));
        assert_int_equal(*(uint32_t *)RTA_DATA(find_attr(h, sizeof(*rt), RTA_OIF)), 3);
        assert_int_equal(hull_nl_parse_route(h, &back), 0);
        assert_int_equal(back.family, AF_INET);
        assert_int_equal(back.dst_len, 16);
        assert_memory_equal(back.dst, r.dst, 4);
        assert_true(back.has_gateway);
        assert_memory_equal(back.gateway, r.gateway, 4);
        assert_true(back.has_prefsrc);
        assert_memory_equal(back.prefsrc, r.prefsrc, 4);
        assert_int_equal(back.oif, 3);
        assert_int_equal(back.table, RT_TABLE_MAIN);
        assert_int_equal(back.protocol, RTPROT_BOOT);

        /* a default route has no RTA_DST; a table past 255 goes in RTA_TABLE */
        r = (struct hull_nl_route){ .family = AF_INET6, .has_gateway = true, .table = 1000, .type = RTN_UNICAST };
        assert_int_equal(inet_pton(AF_INET6, "fe80::1", r.gateway), 1);
        n = hull_nl_build_route(buf, sizeof(buf), RTM_NEWROUTE, 10, &r);
        assert_true(n > 0);
        assert_null(find_attr(h, sizeof(*rt), RTA_DST));
        assert_int_equal(rt->rtm_table, RT_TABLE_UNSPEC);
        assert_int_equal(*(uint32_t *)RTA_DATA(find_attr(h, sizeof(*rt), RTA_TABLE)), 1000);
        assert_int_equal(hull_nl_parse_route(h, &back), 0);
        assert_int_equal(back.table, 1000);
        assert_int_equal(back.dst_len, 0);
}

static void test_net_build_link_set_and_parse_it_back(void **state)
{
        uint8_t buf[256];
        struct hull_nl_link l = { .index = 4,
                                  .name = "eth1",
                                  .mtu = 9000,
                                  .flags = IFF_UP,
                                  .hwaddr = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
                                  .hwaddr_len = 6 };
        struct hull_nl_link back;
        struct nlmsghdr *h = (void *)buf;
        const struct ifinfomsg *ifi = NLMSG_DATA(h);
        const struct rtattr *name;

        assert_true(hull_nl_build_link_set(buf, sizeof(buf), 5, &l,
                                           HULL_NL_SET_NAME | HULL_NL_SET_MTU | HULL_NL_SET_HWADDR | HULL_NL_SET_UP |
                                                   HULL_NL_SET_NOARP) > 0);
        assert_int_equal(ifi->ifi_index, 4);
        assert_int_equal(ifi->ifi_change, IFF_UP | IFF_NOARP);
        assert_int_equal(ifi->ifi_flags, IFF_UP); /* NOARP cleared: ARP on */
        name = find_attr(h, sizeof(*ifi), IFLA_IFNAME);
        assert_int_equal(RTA_PAYLOAD(name), 5); /* "eth1" and its NUL */
        assert_string_equal(RTA_DATA(name), "eth1");
        assert_int_equal(hull_nl_parse_link(h, &back), 0);
        assert_int_equal(back.index, 4);
        assert_string_equal(back.name, "eth1");
        assert_int_equal(back.mtu, 9000);
        assert_int_equal(back.hwaddr_len, 6);
        assert_memory_equal(back.hwaddr, l.hwaddr, 6);

        /* only what is asked for is sent */
        assert_true(hull_nl_build_link_set(buf, sizeof(buf), 6, &l, HULL_NL_SET_MTU) > 0);
        assert_int_equal(ifi->ifi_change, 0);
        assert_null(find_attr(h, sizeof(*ifi), IFLA_IFNAME));
        assert_non_null(find_attr(h, sizeof(*ifi), IFLA_MTU));
}

static void test_net_parsers_reject_malformed_messages(void **state)
{
        uint8_t buf[192];
        struct nlmsghdr *h = (void *)buf;
        struct hull_nl_addr a = { .index = 2, .family = AF_INET, .prefixlen = 8 }, pa;
        struct hull_nl_route pr;
        struct hull_nl_link pl;
        struct rtattr *attr;
        ssize_t n;

        n = hull_nl_build_addr(buf, sizeof(buf), RTM_NEWADDR, 1, &a);
        assert_int_equal(hull_nl_parse_addr(h, &pa), 0);
        assert_int_equal(pa.index, 2);
        assert_int_equal(pa.prefixlen, 8);
        /* the wrong message type for each parser */
        assert_int_equal(hull_nl_parse_route(h, &pr), -EBADMSG);
        assert_int_equal(hull_nl_parse_link(h, &pl), -EBADMSG);
        /* an IPv4 address attribute of 3 bytes */
        attr = (struct rtattr *)(buf + NLMSG_SPACE(sizeof(struct ifaddrmsg)));
        attr->rta_len = RTA_LENGTH(3);
        assert_int_equal(hull_nl_parse_addr(h, &pa), -EBADMSG);
        /* shorter than its fixed header */
        h->nlmsg_len = NLMSG_LENGTH(2);
        assert_int_equal(hull_nl_parse_addr(h, &pa), -EBADMSG);
        /* a family that is neither */
        n = hull_nl_build_addr(buf, sizeof(buf), RTM_NEWADDR, 1, &a);
        assert_true(n > 0);
        ((struct ifaddrmsg *)NLMSG_DATA(h))->ifa_family = AF_UNIX;
        assert_int_equal(hull_nl_parse_addr(h, &pa), -EBADMSG);
        /* a route whose prefix is longer than its family's address */
        h->nlmsg_type = RTM_NEWROUTE;
        h->nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
        *(struct rtmsg *)NLMSG_DATA(h) = (struct rtmsg){ .rtm_family = AF_INET, .rtm_dst_len = 33 };
        assert_int_equal(hull_nl_parse_route(h, &pr), -EBADMSG);
}

/* ---- Kata's text forms ---- */

static void test_net_text_forms(void **state)
{
        uint8_t hw[8], ip[16];
        char text[32];
        size_t len;
        int family;
        unsigned int plen;

        assert_int_equal(hull_agent_net_parse_hwaddr("52:54:00:AB:cd:0f", hw, sizeof(hw), &len), 0);
        assert_int_equal(len, 6);
        hull_agent_net_format_hwaddr(hw, len, text, sizeof(text));
        assert_string_equal(text, "52:54:00:ab:cd:0f");
        assert_int_equal(hull_agent_net_parse_hwaddr("52:54:00:ab:cd", hw, 4, &len), -EINVAL); /* too long */
        assert_int_equal(hull_agent_net_parse_hwaddr("52:54::00", hw, sizeof(hw), &len), -EINVAL);
        assert_int_equal(hull_agent_net_parse_hwaddr("523:54", hw, sizeof(hw), &len), -EINVAL);
        assert_int_equal(hull_agent_net_parse_hwaddr("", hw, sizeof(hw), &len), -EINVAL);
        hull_agent_net_format_hwaddr(hw, 0, text, sizeof(text));
        assert_string_equal(text, "");

        assert_int_equal(hull_agent_net_parse_ip("10.0.2.15", &family, ip), 0);
        assert_int_equal(family, AF_INET);
        assert_int_equal(hull_agent_net_parse_ip("fd00::1", &family, ip), 0);
        assert_int_equal(family, AF_INET6);
        assert_int_equal(hull_agent_net_parse_ip("10.0.2", &family, ip), -EINVAL);

        assert_int_equal(hull_agent_net_parse_mask("24", AF_INET, &plen), 0);
        assert_int_equal(plen, 24);
        assert_int_equal(hull_agent_net_parse_mask("255.255.240.0", AF_INET, &plen), 0);
        assert_int_equal(plen, 20);
        assert_int_equal(hull_agent_net_parse_mask("255.0.255.0", AF_INET, &plen), -EINVAL);
        assert_int_equal(hull_agent_net_parse_mask("33", AF_INET, &plen), -EINVAL);
        assert_int_equal(hull_agent_net_parse_mask("128", AF_INET6, &plen), 0);
        assert_int_equal(hull_agent_net_parse_mask("-1", AF_INET, &plen), -EINVAL);
        assert_int_equal(hull_agent_net_parse_mask("", AF_INET, &plen), -EINVAL);
        assert_int_equal(hull_agent_net_parse_mask("24x", AF_INET, &plen), -EINVAL);

        assert_int_equal(hull_agent_net_parse_prefix("10.20.0.0/16", AF_INET, &family, ip, &plen), 0);
        assert_int_equal(plen, 16);
        assert_int_equal(hull_agent_net_parse_prefix("", AF_INET6, &family, ip, &plen), 0);
        assert_int_equal(family, AF_INET6);
        assert_int_equal(plen, 0);
        assert_int_equal(hull_agent_net_parse_prefix("default", AF_INET, &family, ip, &plen), 0);
        assert_int_equal(family, AF_INET);
        assert_int_equal(hull_agent_net_parse_prefix("::/0", AF_INET, &family, ip, &plen), 0);
        assert_int_equal(family, AF_INET6);
        assert_int_equal(hull_agent_net_parse_prefix("192.168.1.1", AF_INET, &family, ip, &plen), 0);
        assert_int_equal(plen, 32);
        assert_int_equal(hull_agent_net_parse_prefix("10.0.0.0/255.0.0.0", AF_INET, &family, ip, &plen), -EINVAL);
        assert_int_equal(hull_agent_net_parse_prefix("10.0.0.0/40", AF_INET, &family, ip, &plen), -EINVAL);
        assert_int_equal(hull_agent_net_parse_prefix("nonsense/8", AF_INET, &family, ip, &plen), -EINVAL);
}

/* ---- against the kernel, in a network namespace of this process's own ---- */

static int own_netns(void **state)
{
        /* Only lo exists in a new namespace, down and without addresses. */
        if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
                *state = NULL;
        else
                *state = (void *)1;
        return 0;
}

#define NEED_NETNS()                                                                    \
        do {                                                                            \
                if (!*state) {                                                          \
                        print_message("needs root and a network namespace: skipped\n"); \
                        skip();                                                         \
                }                                                                       \
        } while (0)

static char *run_ip(const char *args)
{
        char cmd[256], *out = NULL;
        size_t len = 0;
        FILE *p, *mem = open_memstream(&out, &len);
        int c;

        snprintf(cmd, sizeof(cmd), "ip %s 2>&1", args);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(mem);
        while ((c = fgetc(p)) != EOF)
                fputc(c, mem);
        pclose(p);
        fclose(mem);
        return out;
}

static Types__IPAddress *ipaddr(const char *addr, const char *mask)
{
        Types__IPAddress *ip = calloc(1, sizeof(*ip));

        types__ipaddress__init(ip);
        ip->address = (char *)addr;
        ip->mask = (char *)mask;
        return ip;
}

static bool has_address(const Types__Interface *i, const char *addr, const char *mask)
{
        for (size_t k = 0; k < i->n_ipaddresses; k++)
                if (strcmp(i->ipaddresses[k]->address, addr) == 0 && strcmp(i->ipaddresses[k]->mask, mask) == 0)
                        return true;
        return false;
}

static void test_net_update_and_list_interface_in_a_netns(void **state)
{
        _cleanup_(hull_nl_closep) struct hull_nl *nl = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        Types__Interface want = TYPES__INTERFACE__INIT;
        Types__IPAddress *ips[3];
        Types__Interface *got = NULL;
        Grpc__Interfaces *all = NULL;
        _cleanup_free_ char *shown = NULL;
        bool found = false;

        NEED_NETNS();
        assert_int_equal(hull_nl_open(&nl, &e), 0);
        ips[0] = ipaddr("127.0.0.1", "8");
        ips[1] = ipaddr("10.9.8.7", "24");
        ips[2] = ipaddr("fd00:9::7", "64");
        want.device = (char *)"lo"; /* no hwAddr: found by name */
        want.ipaddresses = ips;
        want.n_ipaddresses = 3;
        want.mtu = 1500;
        if (hull_agent_net_update_interface(nl, &want, &got, &e) < 0)
                fail_msg("%s", hull_error_message(e));
        assert_string_equal(got->name, "lo");
        assert_int_equal(got->mtu, 1500);
        assert_true(got->raw_flags & IFF_UP);
        /* the requested ones, and ::1 that the kernel gives lo when it comes up */
        assert_true(has_address(got, "127.0.0.1", "8"));
        assert_true(has_address(got, "10.9.8.7", "24"));
        assert_true(has_address(got, "fd00:9::7", "64"));
        assert_int_equal(got->ipaddresses[0]->family, TYPES__IPFAMILY__v4);

        /* iproute2 sees the same */
        shown = run_ip("-o addr show dev lo");
        assert_non_null(strstr(shown, "inet 10.9.8.7/24"));
        assert_non_null(strstr(shown, "inet6 fd00:9::7/64"));
        free(shown);
        shown = run_ip("-o link show dev lo");
        assert_non_null(strstr(shown, "mtu 1500"));
        assert_non_null(strstr(shown, "UP"));

        /* a second update replaces the addresses */
        want.n_ipaddresses = 2;
        hull_agent_net_interface_free(got);
        got = NULL;
        if (hull_agent_net_update_interface(nl, &want, &got, &e) < 0)
                fail_msg("%s", hull_error_message(e));
        assert_true(has_address(got, "10.9.8.7", "24"));
        assert_false(has_address(got, "fd00:9::7", "64"));

        if (hull_agent_net_list_interfaces(nl, &all, &e) < 0)
                fail_msg("%s", hull_error_message(e));
        for (size_t i = 0; i < all->n_interfaces; i++) {
                if (strcmp(all->interfaces[i]->name, "lo") != 0)
                        continue;
                found = true;
                assert_string_equal(all->interfaces[i]->device, "lo");
                assert_string_equal(all->interfaces[i]->hwaddr, "00:00:00:00:00:00");
                assert_true(has_address(all->interfaces[i], "127.0.0.1", "8"));
                assert_false(has_address(all->interfaces[i], "fd00:9::7", "64"));
        }
        assert_true(found);

        /* what cannot be done is refused before anything changes */
        hull_agent_net_interface_free(got);
        got = NULL;
        ips[1]->mask = (char *)"33";
        assert_int_equal(hull_agent_net_update_interface(nl, &want, &got, &e), -EINVAL);
        assert_non_null(strstr(hull_error_message(e), "bad mask '33'"));
        e = hull_error_free(e);
        ips[1]->mask = (char *)"24";
        want.hwaddr = (char *)"02:00:00:00:00:99"; /* a MAC no link has */
        assert_int_equal(hull_agent_net_update_interface(nl, &want, &got, &e), -ENODEV);
        e = hull_error_free(e);
        assert_null(got);

        for (int i = 0; i < 3; i++)
                free(ips[i]);
        hull_agent_net_interfaces_free(all);
}

static Types__Route *route(const char *dest, const char *gw, const char *dev, uint32_t scope)
{
        Types__Route *r = calloc(1, sizeof(*r));

        types__route__init(r);
        r->dest = (char *)dest;
        r->gateway = (char *)gw;
        r->device = (char *)dev;
        r->scope = scope;
        return r;
}

static void test_net_update_and_list_routes_in_a_netns(void **state)
{
        _cleanup_(hull_nl_closep) struct hull_nl *nl = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        Types__Route *rs[3];
        Grpc__Routes want = GRPC__ROUTES__INIT, *got = NULL, *again = NULL;
        _cleanup_free_ char *shown = NULL;
        bool via = false, link = false;

        NEED_NETNS();
        assert_int_equal(hull_nl_open(&nl, &e), 0);
        /* the previous test left lo up with 10.9.8.7/24 */
        rs[0] = route("10.20.0.0/16", "10.9.8.1", "lo", RT_SCOPE_UNIVERSE);
        rs[1] = route("10.30.0.0/24", "", "lo", RT_SCOPE_LINK); /* added first: no gateway */
        rs[2] = route("10.9.8.0/24", "", "lo", RT_SCOPE_LINK); /* the kernel's own: exists, no error */
        want.routes = rs;
        want.n_routes = 3;
        if (hull_agent_net_update_routes(nl, &want, &got, &e) < 0)
                fail_msg("%s", hull_error_message(e));
        for (size_t i = 0; i < got->n_routes; i++) {
                Types__Route *r = got->routes[i];
                if (strcmp(r->dest, "10.20.0.0/16") == 0) {
                        via = true;
                        assert_string_equal(r->gateway, "10.9.8.1");
                        assert_string_equal(r->device, "lo");
                        assert_int_equal(r->family, TYPES__IPFAMILY__v4);
                }
                if (strcmp(r->dest, "10.30.0.0/24") == 0) {
                        link = true;
                        assert_string_equal(r->gateway, "");
                        assert_int_equal(r->scope, RT_SCOPE_LINK);
                }
        }
        assert_true(via);
        assert_true(link);
        shown = run_ip("-4 route show table main");
        assert_non_null(strstr(shown, "10.20.0.0/16 via 10.9.8.1 dev lo"));
        assert_non_null(strstr(shown, "10.30.0.0/24 dev lo"));

        /* ListRoutes says the same */
        if (hull_agent_net_list_routes(nl, &again, &e) < 0)
                fail_msg("%s", hull_error_message(e));
        assert_int_equal(again->n_routes, got->n_routes);

        /* a bad route is refused before anything changes */
        rs[0]->gateway = (char *)"10.9.8";
        assert_int_equal(hull_agent_net_update_routes(nl, &want, &got, &e), -EINVAL);
        assert_non_null(strstr(hull_error_message(e), "bad gateway"));
        e = hull_error_free(e);
        rs[0]->gateway = (char *)"10.9.8.1";
        rs[0]->device = (char *)"nosuch0";
        assert_int_equal(hull_agent_net_update_routes(nl, &want, &got, &e), -ENODEV);
        e = hull_error_free(e);
        free(shown);
        shown = run_ip("-4 route show table main");
        assert_non_null(strstr(shown, "10.20.0.0/16 via 10.9.8.1 dev lo"));

        for (int i = 0; i < 3; i++)
                free(rs[i]);
        hull_agent_net_routes_free(got);
        hull_agent_net_routes_free(again);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_net_build_addr_layout),
                cmocka_unit_test(test_net_build_refuses_small_buffers),
                cmocka_unit_test(test_net_build_route_and_parse_it_back),
                cmocka_unit_test(test_net_build_link_set_and_parse_it_back),
                cmocka_unit_test(test_net_parsers_reject_malformed_messages),
                cmocka_unit_test(test_net_text_forms),
                cmocka_unit_test(test_net_update_and_list_interface_in_a_netns),
                cmocka_unit_test(test_net_update_and_list_routes_in_a_netns),
        };

        return cmocka_run_group_tests(tests, own_netns, NULL);
}
