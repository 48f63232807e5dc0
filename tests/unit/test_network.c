/* Unit tests for the pod networking of src/sandbox (network.c, tc.c) and the netlink message builder of src/lib:
 * tc messages checked attribute by attribute, the spec's network namespace, the state record; then, as root, a pod
 * namespace made here (`ip netns add`, a veth whose peer stays in this test's own namespace): the scan, the taps
 * and tc redirects (frames through them both ways), teardown, a foreign ingress qdisc left alone, and the cleanup
 * after a crash from state.json. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "error.h"
#include "netlink.h"
#include "sandbox/network.h"
#include "sandbox/state.h"
#include "sandbox/tc.h"

/* ---- helpers ---- */

/* The attribute of type in [a, a+len), or NULL. */
static const struct rtattr *find_attr(const struct rtattr *a, int len, unsigned short type)
{
        for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
                if (a->rta_type == type)
                        return a;
        return NULL;
}

static const struct rtattr *nested(const struct rtattr *nest, unsigned short type)
{
        return find_attr(RTA_DATA(nest), (int)RTA_PAYLOAD(nest), type);
}

static const struct tcmsg *tcmsg_of(const void *buf)
{
        return NLMSG_DATA((const struct nlmsghdr *)buf);
}

static const struct rtattr *tc_attr(const void *buf, unsigned short type)
{
        const struct nlmsghdr *h = buf;

        return find_attr((const struct rtattr *)((const uint8_t *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct tcmsg))),
                         (int)(h->nlmsg_len - NLMSG_SPACE(sizeof(struct tcmsg))), type);
}

/* The output of a shell command (stdout and stderr), malloc'd. */
static char *sh(const char *fmt, ...)
{
        char cmd[512], *out = NULL;
        size_t len = 0;
        va_list ap;
        FILE *p, *mem;
        int c;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
        mem = open_memstream(&out, &len);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(mem);
        while ((c = fgetc(p)) != EOF)
                fputc(c, mem);
        pclose(p);
        fclose(mem);
        return out;
}

static bool sh_true(const char *fmt, const char *arg)
{
        char cmd[512];

        snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg);
        if (system(cmd) == 0)
                return true;
        print_message("command failed: %s\n", cmd);
        return false;
}

static void sh_ok(const char *fmt, const char *arg)
{
        if (!sh_true(fmt, arg))
                fail();
}

/* ---- messages ---- */

static void test_nl_msg_nest_covers_its_padded_attributes(void **state)
{
        uint8_t buf[128];
        struct hull_nl_msg m;
        size_t nest;
        const struct rtattr *outer, *inner;

        assert_true(hull_nl_msg_init(&m, buf, sizeof(buf), RTM_NEWLINK, NLM_F_REQUEST, 5));
        assert_non_null(hull_nl_msg_put(&m, sizeof(struct ifinfomsg)));
        nest = hull_nl_msg_nest_begin(&m, 99);
        hull_nl_msg_attr(&m, 1, "abcdefg", 7); /* 11 bytes, padded to 12 */
        hull_nl_msg_nest_end(&m, nest);
        hull_nl_msg_attr_u32(&m, 2, 0x01020304);
        assert_int_equal(hull_nl_msg_end(&m), NLMSG_HDRLEN + sizeof(struct ifinfomsg) + 4 + 12 + 8);
        outer = (const struct rtattr *)(buf + NLMSG_HDRLEN + sizeof(struct ifinfomsg));
        assert_int_equal(outer->rta_type, 99);
        assert_int_equal(outer->rta_len, 4 + 12);
        inner = nested(outer, 1);
        assert_non_null(inner);
        assert_int_equal(inner->rta_len, 11);
        assert_memory_equal(RTA_DATA(inner), "abcdefg", 7);
        assert_int_equal(buf[NLMSG_HDRLEN + sizeof(struct ifinfomsg) + 4 + 11], 0); /* the padding is zero */

        /* Running out of room is reported once, at the end, and nothing is written past cap. */
        memset(buf, 0xaa, sizeof(buf));
        assert_true(hull_nl_msg_init(&m, buf, 40, RTM_NEWLINK, NLM_F_REQUEST, 1));
        nest = hull_nl_msg_nest_begin(&m, 1);
        hull_nl_msg_attr(&m, 2, "0123456789012345678901234567890123456789", 40);
        hull_nl_msg_nest_end(&m, nest);
        assert_int_equal(hull_nl_msg_end(&m), -ENOBUFS);
        assert_int_equal(buf[40], 0xaa);
        assert_false(hull_nl_msg_init(&m, buf, 8, RTM_NEWLINK, NLM_F_REQUEST, 1));
}

static void test_tc_ingress_qdisc_message_is_what_tc_sends(void **state)
{
        uint8_t buf[128];
        const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
        const struct rtattr *kind;
        ssize_t n;

        n = hull_tc_build_ingress_qdisc(buf, sizeof(buf), RTM_NEWQDISC, 7);
        assert_true(n > 0);
        assert_int_equal(h->nlmsg_len, n);
        assert_int_equal(h->nlmsg_type, RTM_NEWQDISC);
        assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_int_equal(tcmsg_of(buf)->tcm_ifindex, 7);
        assert_int_equal(tcmsg_of(buf)->tcm_parent, 0xfffffff1u); /* TC_H_INGRESS */
        assert_int_equal(tcmsg_of(buf)->tcm_handle, 0xffff0000u); /* ffff: */
        kind = tc_attr(buf, TCA_KIND);
        assert_non_null(kind);
        assert_string_equal(RTA_DATA(kind), "ingress");

        n = hull_tc_build_ingress_qdisc(buf, sizeof(buf), RTM_DELQDISC, 7);
        assert_true(n > 0);
        assert_int_equal(h->nlmsg_type, RTM_DELQDISC);
        assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_int_equal(hull_tc_build_ingress_qdisc(buf, 20, RTM_NEWQDISC, 7), -ENOBUFS);
}

static void test_tc_redirect_message_nests_like_tc(void **state)
{
        uint8_t buf[512];
        const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
        const struct rtattr *kind, *opts, *acts, *act, *act_opts, *a;
        const struct tc_mirred *mirred;
        const struct tc_u32_sel *sel;
        ssize_t n;

        n = hull_tc_build_redirect(buf, sizeof(buf), 3, 9, HULL_TC_PRIO);
        assert_true(n > 0);
        assert_int_equal(h->nlmsg_len, n);
        assert_int_equal(h->nlmsg_type, RTM_NEWTFILTER);
        assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_int_equal(tcmsg_of(buf)->tcm_ifindex, 3);
        assert_int_equal(tcmsg_of(buf)->tcm_parent, 0xffff0000u);
        assert_int_equal(tcmsg_of(buf)->tcm_handle, 0);
        assert_int_equal(tcmsg_of(buf)->tcm_info >> 16, HULL_TC_PRIO);
        assert_int_equal(tcmsg_of(buf)->tcm_info & 0xffff, htons(ETH_P_ALL));
        kind = tc_attr(buf, TCA_KIND);
        assert_non_null(kind);
        assert_string_equal(RTA_DATA(kind), "u32");
        opts = tc_attr(buf, TCA_OPTIONS);
        assert_non_null(opts);
        /* Everything in the message is inside TCA_OPTIONS after the kind. */
        assert_int_equal((const uint8_t *)opts + opts->rta_len, buf + n);

        a = nested(opts, TCA_U32_SEL);
        assert_non_null(a);
        assert_int_equal(RTA_PAYLOAD(a), sizeof(struct tc_u32_sel) + sizeof(struct tc_u32_key));
        sel = RTA_DATA(a);
        assert_int_equal(sel->nkeys, 1);
        assert_int_equal(sel->flags, TC_U32_TERMINAL);
        assert_int_equal(sel->keys[0].mask, 0); /* match u8 0 0: every frame */
        assert_int_equal(sel->keys[0].val, 0);
        assert_int_equal(sel->keys[0].off, 0);

        acts = nested(opts, TCA_U32_ACT);
        assert_non_null(acts);
        act = nested(acts, 1);
        assert_non_null(act);
        a = nested(act, TCA_ACT_KIND);
        assert_non_null(a);
        assert_string_equal(RTA_DATA(a), "mirred");
        act_opts = nested(act, TCA_ACT_OPTIONS);
        assert_non_null(act_opts);
        a = nested(act_opts, TCA_MIRRED_PARMS);
        assert_non_null(a);
        assert_int_equal(RTA_PAYLOAD(a), sizeof(struct tc_mirred));
        mirred = RTA_DATA(a);
        assert_int_equal(mirred->eaction, TCA_EGRESS_REDIR);
        assert_int_equal(mirred->ifindex, 9);
        assert_int_equal(mirred->action, TC_ACT_STOLEN);

        for (size_t cap = 16; cap < (size_t)n; cap += 8)
                assert_int_equal(hull_tc_build_redirect(buf, cap, 3, 9, HULL_TC_PRIO), -ENOBUFS);
}

static void test_tc_filter_delete_and_qdisc_parse(void **state)
{
        uint8_t buf[128];
        struct hull_nl_msg m;
        struct tcmsg *t;
        struct hull_tc_qdisc q;
        struct nlmsghdr *h = (struct nlmsghdr *)buf;

        assert_true(hull_tc_build_filter_del(buf, sizeof(buf), 4, HULL_TC_PRIO) > 0);
        assert_int_equal(h->nlmsg_type, RTM_DELTFILTER);
        assert_int_equal(tcmsg_of(buf)->tcm_ifindex, 4);
        assert_int_equal(tcmsg_of(buf)->tcm_parent, 0xffff0000u);
        assert_int_equal(tcmsg_of(buf)->tcm_info >> 16, HULL_TC_PRIO);
        assert_true(hull_tc_build_qdisc_dump(buf, sizeof(buf)) > 0);
        assert_int_equal(h->nlmsg_type, RTM_GETQDISC);
        assert_true(h->nlmsg_flags & NLM_F_DUMP);

        /* A qdisc as the kernel reports it. */
        assert_true(hull_nl_msg_init(&m, buf, sizeof(buf), RTM_NEWQDISC, 0, 0));
        t = hull_nl_msg_put(&m, sizeof(*t));
        t->tcm_ifindex = 5;
        t->tcm_parent = TC_H_INGRESS;
        t->tcm_handle = 0xffff0000u;
        hull_nl_msg_attr(&m, TCA_KIND, "clsact-and-a-name-too-long", 27); /* not NUL-terminated, truncated */
        assert_true(hull_nl_msg_end(&m) > 0);
        assert_int_equal(hull_tc_parse_qdisc(h, &q), 0);
        assert_int_equal(q.ifindex, 5);
        assert_int_equal(q.parent, TC_H_INGRESS);
        assert_int_equal(strlen(q.kind), HULL_TC_KIND_MAX - 1);
        h->nlmsg_len = NLMSG_LENGTH(4); /* shorter than a tcmsg */
        assert_int_equal(hull_tc_parse_qdisc(h, &q), -EBADMSG);
        h->nlmsg_type = RTM_NEWLINK;
        assert_int_equal(hull_tc_parse_qdisc(h, &q), -EBADMSG);
}

/* ---- the spec and the state ---- */

static void test_network_mode_from_the_spec(void **state)
{
        static const struct {
                const char *json;
                int r;
                enum hull_network_mode mode;
                const char *path;
        } cases[] = {
                { "{}", 0, HULL_NETWORK_HOST, NULL },
                { "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"}]}}", 0, HULL_NETWORK_HOST, NULL },
                { "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"}]}}", 0, HULL_NETWORK_FRESH,
                  NULL },
                { "{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"\"}]}}", 0, HULL_NETWORK_FRESH, NULL },
                { "{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"/var/run/netns/p\"}]}}", 0,
                  HULL_NETWORK_POD, "/var/run/netns/p" },
                { "{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"netns/p\"}]}}", -EINVAL,
                  HULL_NETWORK_HOST, NULL },
                { "{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":7}]}}", -EINVAL, HULL_NETWORK_HOST,
                  NULL },
                { "{\"linux\":{\"namespaces\":{}}}", -EINVAL, HULL_NETWORK_HOST, NULL },
                { "{\"linux\":{\"namespaces\":[3]}}", -EINVAL, HULL_NETWORK_HOST, NULL },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct json_object *spec = json_tokener_parse(cases[i].json);
                enum hull_network_mode mode = 99;
                const char *path = (const char *)1;
                struct hull_error *e = NULL;
                int r;

                assert_non_null(spec);
                r = hull_network_spec_mode(spec, &mode, &path, &e);
                assert_int_equal(r, cases[i].r);
                if (r == 0) {
                        assert_int_equal(mode, cases[i].mode);
                        if (cases[i].path)
                                assert_string_equal(path, cases[i].path);
                        else
                                assert_null(path);
                } else {
                        assert_non_null(e);
                }
                hull_error_free(e);
                json_object_put(spec);
        }
}

static void test_state_records_the_network(void **state)
{
        struct hull_state st, back;
        char *json = NULL;
        static const char odd[] =
                "{\"network\":{\"netns\":\"/run/netns/x\",\"interfaces\":[{\"veth\":\"eth0\",\"tap\":\"tap0_hull\","
                "\"own_ingress\":true},{\"veth\":\"../x\",\"tap\":\"t\"},{\"veth\":\"a/b\",\"tap\":\"t\"},"
                "{\"veth\":\"sixteen-chars-xx\",\"tap\":\"t\"},{\"veth\":\"e1\"},7,{\"veth\":\"e2\",\"tap\":\"t2\","
                "\"own_ingress\":\"yes\"}]}}";

        hull_state_init(&st);
        assert_int_equal(hull_state_set(&st.id, "c1"), 0);
        assert_int_equal(hull_state_set(&st.netns, "/var/run/netns/pod"), 0);
        st.n_interfaces = 2;
        strcpy(st.interfaces[0].veth, "eth0");
        strcpy(st.interfaces[0].tap, "tap0_hull");
        st.interfaces[0].own_ingress = true;
        strcpy(st.interfaces[1].veth, "eth1");
        strcpy(st.interfaces[1].tap, "tap1_hull");
        assert_int_equal(hull_state_to_json(&st, &json, NULL), 0);
        assert_int_equal(hull_state_from_json(json, strlen(json), &back, NULL), 0);
        assert_string_equal(back.netns, "/var/run/netns/pod");
        assert_int_equal(back.n_interfaces, 2);
        assert_string_equal(back.interfaces[0].veth, "eth0");
        assert_string_equal(back.interfaces[0].tap, "tap0_hull");
        assert_true(back.interfaces[0].own_ingress);
        assert_string_equal(back.interfaces[1].tap, "tap1_hull");
        assert_false(back.interfaces[1].own_ingress);
        free(json);
        hull_state_clear(&back);
        hull_state_clear(&st);

        /* Names the kernel would not have, missing fields, wrong types: skipped, never trusted. */
        assert_int_equal(hull_state_from_json(odd, strlen(odd), &back, NULL), 0);
        assert_string_equal(back.netns, "/run/netns/x");
        assert_int_equal(back.n_interfaces, 2);
        assert_string_equal(back.interfaces[0].veth, "eth0");
        assert_string_equal(back.interfaces[1].veth, "e2");
        assert_false(back.interfaces[1].own_ingress);
        hull_state_clear(&back);
        static const char relative[] =
                "{\"network\":{\"netns\":\"run/x\",\"interfaces\":[{\"veth\":\"a\",\"tap\":\"b\"}]}}";
        assert_int_equal(hull_state_from_json(relative, strlen(relative), &back, NULL), 0);
        assert_null(back.netns);
        assert_int_equal(back.n_interfaces, 0);
        hull_state_clear(&back);
}

static void test_cleanup_of_a_namespace_that_is_gone_is_nothing(void **state)
{
        struct hull_state st;
        char file[] = "/tmp/hull-test-netns-XXXXXX", path[64];
        int fd = mkstemp(file);
        struct hull_error *e = NULL;

        assert_true(fd >= 0);
        close(fd);
        hull_state_init(&st);
        st.n_interfaces = 1;
        strcpy(st.interfaces[0].veth, "eth0");
        strcpy(st.interfaces[0].tap, "tap0_hull");
        assert_int_equal(hull_state_set(&st.netns, "/nonexistent/netns"), 0);
        assert_int_equal(hull_network_cleanup_recorded(&st, &e), 0);
        assert_int_equal(hull_state_set(&st.netns, file), 0); /* an unmounted namespace file: a plain file */
        assert_int_equal(hull_network_cleanup_recorded(&st, &e), 0);
        assert_null(e);
        hull_state_clear(&st);
        unlink(file);
        assert_int_equal(hull_network_cleanup_state_dir("/nonexistent", &e), 0);
        assert_null(e);
        /* a state.json that does not parse records nothing: no error (delete removes any wreck) */
        assert_int_equal(mkdir(file, 0700), 0);
        snprintf(path, sizeof(path), "%s/state.json", file);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{garbage", 8), 8);
        close(fd);
        assert_int_equal(hull_network_cleanup_state_dir(file, &e), 0);
        assert_null(e);
        unlink(path);
        rmdir(file);
}

/* ---- a pod namespace (root) ---- */

#define POD_NET "10.213.9"

static char pod[64], pod_path[128], tmpdir[64];
static bool have_netns;

/* This process gets a network namespace of its own (the veth's peer lives there); the pod's is a named one. */
static int group_setup(void **state)
{
        strcpy(tmpdir, "/tmp/hull-test-network-XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        have_netns = geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0 && system("ip -V >/dev/null") == 0 &&
                system("tc -V >/dev/null") == 0 && unshare(CLONE_NEWNET) == 0;
        snprintf(pod, sizeof(pod), "hull-ut-%d", (int)getpid());
        snprintf(pod_path, sizeof(pod_path), "/var/run/netns/%s", pod);
        return 0;
}

static int group_teardown(void **state)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

/* A pod as CNI leaves it: eth0 (a veth, MTU 1400) with an address and a default route, lo, and a tun device that
 * is not mirrored; the peer (peer0, POD_NET.1) here. */
static int pod_teardown(void **state);

static int pod_setup(void **state)
{
        if (!have_netns)
                return 0;
        if (sh_true("ip netns add %s", pod) && sh_true("ip link add peer0 type veth peer name eth0 netns %s", pod) &&
            sh_true("ip -n %s link set eth0 mtu 1400 up && ip -n %s link set lo up && ip -n %s tuntap add tun9 mode "
                    "tun",
                    pod) &&
            sh_true("ip -n %s addr add " POD_NET ".2/24 dev eth0 && ip -n %s route add default via " POD_NET ".1",
                    pod) &&
            sh_true("ip link set peer0 mtu 1400 up && ip addr add " POD_NET ".1/24 dev peer0 && ip link set lo up",
                    pod))
                return 0;
        pod_teardown(state);
        return -1;
}

static int pod_teardown(void **state)
{
        if (!have_netns)
                return 0;
        sh_ok("ip netns del %s; ip link del peer0 2>/dev/null; true", pod);
        return 0;
}

#define NEED_NETNS()                                                                                         \
        do {                                                                                                 \
                if (!have_netns) {                                                                           \
                        print_message("needs root, /dev/net/tun, ip, tc and network namespaces: skipped\n"); \
                        skip();                                                                              \
                }                                                                                            \
        } while (0)

/* Does the output of the command (fmt with the pod's name) hold needle as expected? Prints it when not. */
static bool shown_as(bool expected, const char *needle, const char *fmt)
{
        char *out = sh(fmt, pod, pod);
        bool found = strstr(out, needle) != NULL;

        if (found != expected)
                print_message("'%s' %s in: %s\n", needle, expected ? "not" : "unexpectedly", out);
        free(out);
        return found == expected;
}

#define assert_shown(needle, fmt) assert_true(shown_as(true, needle, fmt))
#define assert_not_shown(needle, fmt) assert_true(shown_as(false, needle, fmt))

static void test_network_finds_the_pods_veth_and_records_it(void **state)
{
        _cleanup_(hull_network_freep) struct hull_network *net = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        struct hull_state st;

        NEED_NETNS();
        assert_int_equal(hull_network_new(pod_path, &net, &e), 0);
        assert_int_equal(hull_network_n_interfaces(net), 1); /* not lo, not tun9 */
        assert_int_equal(hull_network_tap_fd(net, 0), -1); /* nothing made yet */
        assert_not_shown("tap0_hull", "ip -n %s link");
        hull_state_init(&st);
        assert_int_equal(hull_network_record(net, &st), 0);
        assert_string_equal(st.netns, pod_path);
        assert_int_equal(st.n_interfaces, 1);
        assert_string_equal(st.interfaces[0].veth, "eth0");
        assert_string_equal(st.interfaces[0].tap, "tap0_hull");
        assert_true(st.interfaces[0].own_ingress);
        hull_state_clear(&st);

        assert_int_equal(hull_network_new("/nonexistent/netns", &net, &e), -ENOENT);
        assert_non_null(strstr(hull_error_message(e), "/nonexistent/netns"));
}

/* A frame from the tap fd (after the 10-byte virtio-net header), 0 on timeout. */
static ssize_t read_frame(int fd, uint8_t *buf, size_t cap)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, 5000) != 1)
                return 0;
        n = read(fd, buf, cap);
        if (n <= 10)
                return 0;
        memmove(buf, buf + 10, (size_t)n - 10);
        return n - 10;
}

static uint16_t ip_checksum(const uint8_t *p, size_t n)
{
        uint32_t sum = 0;

        for (size_t i = 0; i + 1 < n; i += 2)
                sum += (uint32_t)(p[i] << 8 | p[i + 1]);
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t)~sum;
}

static void test_network_mirrors_veth_and_tap_and_removes_them(void **state)
{
        _cleanup_(hull_network_freep) struct hull_network *net = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) }, me = { .sin_family = AF_INET };
        socklen_t melen = sizeof(me);
        struct ifreq ifr = { 0 };
        uint8_t frame[2048], pkt[10 + 14 + 20 + 8 + 2] = { 0 }, *eth = pkt + 10, *ip = eth + 14, *udp = ip + 20;
        char got[8] = { 0 };
        struct pollfd p;
        ssize_t n;
        int s, tap;

        NEED_NETNS();
        assert_int_equal(hull_network_new(pod_path, &net, &e), 0);
        assert_int_equal(hull_network_attach(net, &e), 0);
        tap = hull_network_tap_fd(net, 0);
        assert_true(tap >= 0);
        assert_shown("mtu 1400", "ip -n %s link show tap0_hull");
        assert_shown("UP", "ip -n %s link show tap0_hull");
        assert_shown("ingress ffff:", "tc -n %s qdisc show dev eth0");
        assert_shown("Egress Redirect to device tap0_hull", "tc -n %s filter show dev eth0 ingress");
        assert_shown("Egress Redirect to device eth0", "tc -n %s filter show dev tap0_hull ingress");
        assert_shown("pref 49152 u32", "tc -n %s filter show dev eth0 ingress");

        /* peer0 -> eth0 -> tap: what this namespace sends to the pod's address reaches the tap fd (an ARP request
         * for it first). */
        s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(s >= 0);
        inet_pton(AF_INET, POD_NET ".1", &me.sin_addr);
        assert_int_equal(bind(s, (struct sockaddr *)&me, sizeof(me)), 0);
        assert_int_equal(getsockname(s, (struct sockaddr *)&me, &melen), 0);
        inet_pton(AF_INET, POD_NET ".2", &to.sin_addr);
        assert_int_equal(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
        for (;;) {
                n = read_frame(tap, frame, sizeof(frame));
                assert_true(n >= 14); /* else nothing came through in 5 s */
                if (frame[12] == 0x08 && frame[13] == 0x06)
                        break; /* IPv6 neighbour discovery may come first */
        }
        assert_true(n >= 14 + 28);
        assert_memory_equal(frame + 14 + 24, &to.sin_addr, 4); /* ARP's target protocol address */

        /* tap -> eth0 -> peer0: a UDP datagram the "guest" writes arrives at this namespace's socket. */
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "peer0");
        assert_int_equal(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
        memcpy(eth, ifr.ifr_hwaddr.sa_data, 6);
        memcpy(eth + 6, "\x02\x00\x00\x00\x00\x01", 6);
        eth[12] = 0x08;
        ip[0] = 0x45;
        ip[3] = 20 + 8 + 2;
        ip[8] = 64;
        ip[9] = 17;
        inet_pton(AF_INET, POD_NET ".2", ip + 12);
        inet_pton(AF_INET, POD_NET ".1", ip + 16);
        ip[10] = (uint8_t)(ip_checksum(ip, 20) >> 8);
        ip[11] = (uint8_t)ip_checksum(ip, 20);
        udp[0] = 0x30;
        udp[1] = 0x39;
        memcpy(udp + 2, &me.sin_port, 2);
        udp[5] = 8 + 2;
        memcpy(udp + 8, "hi", 2);
        assert_int_equal(write(tap, pkt, sizeof(pkt)), sizeof(pkt));
        p = (struct pollfd){ .fd = s, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 5000), 1);
        assert_int_equal(recv(s, got, sizeof(got), 0), 2);
        assert_string_equal(got, "hi");
        close(s);

        hull_network_teardown(net);
        assert_int_equal(hull_network_tap_fd(net, 0), -1);
        assert_not_shown("tap0_hull", "ip -n %s link");
        assert_not_shown("ingress", "tc -n %s qdisc show dev eth0");
        assert_not_shown("filter", "tc -n %s filter show dev eth0 ingress");
        hull_network_teardown(net); /* idempotent */
}

static void test_network_leaves_a_foreign_ingress_qdisc_and_tap(void **state)
{
        _cleanup_(hull_network_freep) struct hull_network *net = NULL;
        _cleanup_error_ struct hull_error *e = NULL;
        struct hull_state st;

        NEED_NETNS();
        sh_ok("tc -n %s qdisc add dev eth0 ingress", pod);
        assert_int_equal(hull_network_new(pod_path, &net, &e), 0);
        hull_state_init(&st);
        assert_int_equal(hull_network_record(net, &st), 0);
        assert_false(st.interfaces[0].own_ingress);
        hull_state_clear(&st);
        assert_int_equal(hull_network_attach(net, &e), 0);
        assert_shown("tap0_hull", "tc -n %s filter show dev eth0 ingress");
        hull_network_teardown(net);
        assert_shown("ingress ffff:", "tc -n %s qdisc show dev eth0");
        assert_not_shown("filter", "tc -n %s filter show dev eth0 ingress");

        /* A device that has hull's tap name already is not taken over, nor removed. */
        net = hull_network_free(net);
        sh_ok("ip -n %s tuntap add tap0_hull mode tap", pod);
        assert_int_equal(hull_network_new(pod_path, &net, &e), 0);
        assert_true(hull_network_attach(net, &e) < 0);
        assert_non_null(strstr(hull_error_message(e), "tap0_hull"));
        assert_shown("tap0_hull", "ip -n %s link");
        assert_not_shown("filter", "tc -n %s filter show dev eth0 ingress");
}

static void test_network_cleanup_after_a_crash_from_state_json(void **state)
{
        _cleanup_error_ struct hull_error *e = NULL;
        int status;
        pid_t pid;

        NEED_NETNS();
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* The service: records, makes, then dies without tearing down. */
                struct hull_network *net = NULL;
                struct hull_state st;

                hull_state_init(&st);
                if (hull_network_new(pod_path, &net, NULL) < 0 || hull_network_record(net, &st) < 0 ||
                    hull_state_write(tmpdir, &st, NULL) < 0 || hull_network_attach(net, NULL) < 0)
                        _exit(1);
                _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        /* The tap went with its last fd; the filter on the veth stays: a leak only state.json can undo. */
        assert_shown("Egress Redirect to device", "tc -n %s filter show dev eth0 ingress");
        assert_int_equal(hull_network_cleanup_state_dir(tmpdir, &e), 0);
        assert_not_shown("filter", "tc -n %s filter show dev eth0 ingress");
        assert_not_shown("ingress", "tc -n %s qdisc show dev eth0");
        assert_not_shown("tap0_hull", "ip -n %s link");
        assert_int_equal(hull_network_cleanup_state_dir(tmpdir, &e), 0); /* again: nothing left, no error */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nl_msg_nest_covers_its_padded_attributes),
                cmocka_unit_test(test_tc_ingress_qdisc_message_is_what_tc_sends),
                cmocka_unit_test(test_tc_redirect_message_nests_like_tc),
                cmocka_unit_test(test_tc_filter_delete_and_qdisc_parse),
                cmocka_unit_test(test_network_mode_from_the_spec),
                cmocka_unit_test(test_state_records_the_network),
                cmocka_unit_test(test_cleanup_of_a_namespace_that_is_gone_is_nothing),
                cmocka_unit_test_setup_teardown(test_network_finds_the_pods_veth_and_records_it, pod_setup,
                                                pod_teardown),
                cmocka_unit_test_setup_teardown(test_network_mirrors_veth_and_tap_and_removes_them, pod_setup,
                                                pod_teardown),
                cmocka_unit_test_setup_teardown(test_network_leaves_a_foreign_ingress_qdisc_and_tap, pod_setup,
                                                pod_teardown),
                cmocka_unit_test_setup_teardown(test_network_cleanup_after_a_crash_from_state_json, pod_setup,
                                                pod_teardown),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
