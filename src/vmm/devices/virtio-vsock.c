/* virtio-vsock device model and the hybrid-vsock unix socket bridge. Runs on the VMM's event thread; every packet
 * header and length from the guest is checked against the descriptor chain it came in. */
#include "vmm/devices/virtio-vsock.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "loop.h"
#include "vmm/devices/virtio-mmio.h"
#include "vmm/vmm.h"

#define VIRTIO_ID_VSOCK 19
#define Q_RX 0
#define Q_TX 1
#define Q_EVENT 2
#define HOST_CID 2
#define TYPE_STREAM 1
#define OP_REQUEST 1
#define OP_RESPONSE 2
#define OP_RST 3
#define OP_SHUTDOWN 4
#define OP_RW 5
#define OP_CREDIT_UPDATE 6
#define OP_CREDIT_REQUEST 7
#define SHUTDOWN_RCV 1
#define SHUTDOWN_SEND 2
#define HDR_SIZE 44
/* Our receive buffer per connection: what the guest may send before we forward it. */
#define BUF_ALLOC (256u * 1024u)
/* The most payload one packet may carry in either direction. */
#define MAX_PKT (64u * 1024u)
#define MAX_CONNS 256
#define MAX_CTRL 4096
#define LINE_MAX_LEN 32
#define FIRST_HOST_PORT (1u << 30)
/* A CONNECT waits this long for the guest's driver and for a listener on the port (the agent comes up after the
 * kernel), asking again every RETRY_US when the guest resets the request; then the host connection is closed. */
#define CONNECT_WAIT_US (60ULL * 1000 * 1000)
#define RETRY_US (50ULL * 1000)

struct pkt_hdr {
        uint64_t src_cid, dst_cid;
        uint32_t src_port, dst_port, len;
        uint16_t type, op;
        uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct pkt_hdr) == HDR_SIZE, "virtio_vsock_hdr is 44 bytes");

enum conn_state { CONN_HANDSHAKE, CONN_CONNECTING, CONN_ESTABLISHED };

struct conn {
        struct hull_virtio_vsock *v;
        int fd;
        struct hull_loop_source *src;
        enum conn_state state;
        uint32_t local_port, peer_port;
        uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt; /* the guest's receive credit */
        uint32_t fwd_cnt, last_fwd_sent; /* what we forwarded to the socket */
        uint8_t *pending; /* from the guest, not yet written to the socket */
        size_t pending_len;
        bool readable, peer_no_more_send, peer_no_more_recv, closing;
        bool request_pending; /* CONNECTING, the REQUEST not (yet again) sent: no driver yet, or the guest reset it */
        uint64_t connect_deadline;
        struct conn *next;
};

/* The seam for driving the device without a VM (hull_virtio_vsock_new_detached): what the virtio-mmio transport
 * would hold, kept here instead; the caller plays the guest driver. */
struct detached {
        struct hull_virtq queues[3];
        bool active;
        char failed[200]; /* "" while the driver has not broken the protocol */
};

struct hull_virtio_vsock {
        struct hull_loop *loop;
        struct hull_virtio_mmio *t; /* NULL when detached */
        struct detached *d; /* NULL with a transport */
        uint64_t guest_cid;
        char *uds_path;
        int listen_fd, kick_fd;
        struct hull_loop_source *listen_src, *kick_src, *retry_src;
        struct conn *conns;
        unsigned n_conns;
        uint32_t next_port;
        struct pkt_hdr *ctrl;
        size_t ctrl_len, ctrl_cap;
        bool reset_pending;
        uint8_t scratch[MAX_PKT];
};

static void rx_flush(struct hull_virtio_vsock *v);

/* The transport's services, or the detached seam's stand-ins for them (same rules: a failed device is inactive). */
static struct hull_virtq *dev_queue(struct hull_virtio_vsock *v, uint16_t q)
{
        return v->t ? hull_virtio_mmio_queue(v->t, q) : &v->d->queues[q];
}

static bool dev_active(const struct hull_virtio_vsock *v)
{
        return v->t ? hull_virtio_mmio_active(v->t) : v->d->active && !v->d->failed[0];
}

static void dev_interrupt(struct hull_virtio_vsock *v, uint16_t q)
{
        if (v->t)
                hull_virtio_mmio_interrupt(v->t, q);
}

static void dev_fail(struct hull_virtio_vsock *v, const char *why)
{
        if (v->t)
                hull_virtio_mmio_fail(v->t, why);
        else if (!v->d->failed[0])
                snprintf(v->d->failed, sizeof(v->d->failed), "%s", why[0] ? why : "failed");
}

static void dev_lock(struct hull_virtio_vsock *v)
{
        if (v->t)
                hull_virtio_mmio_lock(v->t);
}

static void dev_unlock(struct hull_virtio_vsock *v)
{
        if (v->t)
                hull_virtio_mmio_unlock(v->t);
}

static struct pkt_hdr make_hdr(const struct hull_virtio_vsock *v, const struct conn *c, uint16_t op, uint32_t flags,
                               uint32_t len)
{
        return (struct pkt_hdr){
                .src_cid = HOST_CID,
                .dst_cid = v->guest_cid,
                .src_port = c->local_port,
                .dst_port = c->peer_port,
                .len = len,
                .type = TYPE_STREAM,
                .op = op,
                .flags = flags,
                .buf_alloc = BUF_ALLOC,
                .fwd_cnt = c->fwd_cnt,
        };
}

static bool queue_hdr(struct hull_virtio_vsock *v, const struct pkt_hdr *h)
{
        if (v->ctrl_len == v->ctrl_cap) {
                size_t cap = v->ctrl_cap ? v->ctrl_cap * 2 : 16;
                struct pkt_hdr *n;

                if (cap > MAX_CTRL)
                        return false;
                n = realloc(v->ctrl, cap * sizeof(*n));
                if (!n)
                        return false;
                v->ctrl = n;
                v->ctrl_cap = cap;
        }
        v->ctrl[v->ctrl_len++] = *h;
        return true;
}

static void queue_ctrl(struct hull_virtio_vsock *v, struct conn *c, uint16_t op, uint32_t flags)
{
        struct pkt_hdr h = make_hdr(v, c, op, flags, 0);

        c->last_fwd_sent = c->fwd_cnt;
        queue_hdr(v, &h);
}

static void conn_update_events(struct conn *c)
{
        uint32_t ev = 0;

        if (!c->src)
                return;
        if (c->state == CONN_HANDSHAKE || (c->state == CONN_ESTABLISHED && !c->readable && !c->peer_no_more_recv))
                ev |= EPOLLIN;
        if (c->pending_len)
                ev |= EPOLLOUT;
        hull_loop_source_set_events(c->src, ev, NULL);
}

static void conn_free(struct hull_virtio_vsock *v, struct conn *c, bool rst)
{
        struct conn **pp;

        if (rst && c->state != CONN_HANDSHAKE)
                queue_ctrl(v, c, OP_RST, 0);
        for (pp = &v->conns; *pp; pp = &(*pp)->next)
                if (*pp == c) {
                        *pp = c->next;
                        break;
                }
        v->n_conns--;
        hull_loop_source_remove(c->src);
        close(c->fd);
        free(c->pending);
        free(c);
}

static struct conn *find_conn(struct hull_virtio_vsock *v, uint32_t local_port, uint32_t peer_port)
{
        for (struct conn *c = v->conns; c; c = c->next)
                if (c->state != CONN_HANDSHAKE && c->local_port == local_port && c->peer_port == peer_port)
                        return c;
        return NULL;
}

static bool port_in_use(struct hull_virtio_vsock *v, uint32_t port)
{
        for (struct conn *c = v->conns; c; c = c->next)
                if (c->state != CONN_HANDSHAKE && c->local_port == port)
                        return true;
        return false;
}

/* Write what the guest sent to the socket; credit the guest for what left. */
static void conn_drain_pending(struct hull_virtio_vsock *v, struct conn *c)
{
        while (c->pending_len) {
                ssize_t n = send(c->fd, c->pending, c->pending_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        break;
                if (n <= 0) {
                        conn_free(v, c, true);
                        return;
                }
                memmove(c->pending, c->pending + n, c->pending_len - (size_t)n);
                c->pending_len -= (size_t)n;
                c->fwd_cnt += (uint32_t)n;
        }
        if (c->fwd_cnt != c->last_fwd_sent && (!c->pending_len || c->fwd_cnt - c->last_fwd_sent >= BUF_ALLOC / 4))
                queue_ctrl(v, c, OP_CREDIT_UPDATE, 0);
        if (!c->pending_len && c->peer_no_more_send)
                shutdown(c->fd, SHUT_WR);
        conn_update_events(c);
}

static uint32_t peer_credit(const struct conn *c)
{
        uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

        return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void tx_packet(struct hull_virtio_vsock *v, const struct pkt_hdr *h, const struct hull_virtq_chain *chain)
{
        struct conn *c;

        c = find_conn(v, h->dst_port, h->src_port);
        if (h->type != TYPE_STREAM || h->dst_cid != HOST_CID || h->src_cid != v->guest_cid || !c) {
                /* Nobody here: refuse, as a host without a listener would (never answer a RST with a RST). */
                if (h->op != OP_RST) {
                        struct pkt_hdr r = {
                                .src_cid = HOST_CID,
                                .dst_cid = v->guest_cid,
                                .src_port = h->dst_port,
                                .dst_port = h->src_port,
                                .type = TYPE_STREAM,
                                .op = OP_RST,
                        };
                        queue_hdr(v, &r);
                }
                return;
        }
        c->peer_buf_alloc = h->buf_alloc;
        c->peer_fwd_cnt = h->fwd_cnt;
        switch (h->op) {
        case OP_RESPONSE: {
                char line[32];
                int n;

                if (c->state != CONN_CONNECTING) {
                        conn_free(v, c, true);
                        return;
                }
                c->state = CONN_ESTABLISHED;
                n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
                if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
                        conn_free(v, c, true);
                        return;
                }
                conn_update_events(c);
                break;
        }
        case OP_RW:
                if (c->state != CONN_ESTABLISHED || h->len > BUF_ALLOC - c->pending_len) {
                        conn_free(v, c, true); /* more than the credit we gave */
                        return;
                }
                if (!c->pending && !(c->pending = malloc(BUF_ALLOC))) {
                        conn_free(v, c, true);
                        return;
                }
                hull_virtq_chain_read(chain, HDR_SIZE, c->pending + c->pending_len, h->len);
                c->pending_len += h->len;
                conn_drain_pending(v, c);
                break;
        case OP_CREDIT_UPDATE:
                conn_update_events(c);
                break;
        case OP_CREDIT_REQUEST:
                queue_ctrl(v, c, OP_CREDIT_UPDATE, 0);
                break;
        case OP_SHUTDOWN:
                if ((h->flags & (SHUTDOWN_RCV | SHUTDOWN_SEND)) == (SHUTDOWN_RCV | SHUTDOWN_SEND)) {
                        conn_drain_pending(v, c);
                        /* drain may have freed it */
                        if (find_conn(v, h->dst_port, h->src_port) == c)
                                conn_free(v, c, true);
                        return;
                }
                c->peer_no_more_send |= (h->flags & SHUTDOWN_SEND) != 0;
                c->peer_no_more_recv |= (h->flags & SHUTDOWN_RCV) != 0;
                conn_drain_pending(v, c);
                break;
        case OP_RST:
                if (c->state == CONN_CONNECTING && hull_now_usec() < c->connect_deadline) {
                        /* Nobody listens on that port yet: ask again shortly. */
                        c->request_pending = true;
                        hull_loop_timer_arm(v->retry_src, RETRY_US, NULL);
                        break;
                }
                conn_free(v, c, false);
                break;
        default:
                conn_free(v, c, true);
                break;
        }
}

static void tx_process(struct hull_virtio_vsock *v)
{
        struct hull_virtq *q = dev_queue(v, Q_TX);
        struct hull_virtq_chain chain;
        char why[160];
        int got, n = 0;

        while ((got = hull_virtq_pop(q, &chain, why, sizeof(why))) > 0) {
                struct pkt_hdr h;

                if (chain.readable < HDR_SIZE || hull_virtq_chain_read(&chain, 0, &h, HDR_SIZE) != HDR_SIZE) {
                        dev_fail(v, "tx packet shorter than its header");
                        return;
                }
                if (h.len > MAX_PKT || h.len > chain.readable - HDR_SIZE) {
                        snprintf(why, sizeof(why), "tx packet claims %u bytes, its chain holds %llu", h.len,
                                 (unsigned long long)(chain.readable - HDR_SIZE));
                        dev_fail(v, why);
                        return;
                }
                tx_packet(v, &h, &chain);
                hull_virtq_push(q, chain.head, 0);
                n++;
        }
        if (got < 0) {
                dev_fail(v, why);
                return;
        }
        if (n)
                dev_interrupt(v, Q_TX);
        rx_flush(v);
}

/* Fill the guest's receive buffers: control packets first, then data from sockets the guest has credit for. */
static void rx_flush(struct hull_virtio_vsock *v)
{
        struct hull_virtq *q = dev_queue(v, Q_RX);
        struct hull_virtq_chain chain;
        char why[160];
        size_t sent_ctrl = 0;
        int n = 0;

        if (!dev_active(v) || !q->ready)
                return;
        for (;;) {
                struct conn *c = NULL;
                struct pkt_hdr h;
                ssize_t k;
                size_t room;
                int got;

                if (sent_ctrl == v->ctrl_len)
                        for (c = v->conns; c; c = c->next)
                                if (c->state == CONN_ESTABLISHED && c->readable && peer_credit(c) > 0)
                                        break;
                if (sent_ctrl == v->ctrl_len && !c)
                        break;
                got = hull_virtq_pop(q, &chain, why, sizeof(why));
                if (got < 0) {
                        dev_fail(v, why);
                        return;
                }
                if (got == 0)
                        break; /* no buffers: the guest's next rx notify brings us back */
                if (chain.writable < HDR_SIZE) {
                        dev_fail(v, "rx buffer shorter than a packet header");
                        return;
                }
                if (sent_ctrl < v->ctrl_len) {
                        hull_virtq_chain_write(&chain, 0, &v->ctrl[sent_ctrl++], HDR_SIZE);
                        hull_virtq_push(q, chain.head, HDR_SIZE);
                        n++;
                        continue;
                }
                room = chain.writable - HDR_SIZE;
                room = room < MAX_PKT ? room : MAX_PKT;
                room = room < peer_credit(c) ? room : peer_credit(c);
                k = room ? recv(c->fd, v->scratch, room, MSG_DONTWAIT) : 0;
                if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                        c->readable = false;
                        conn_update_events(c);
                        hull_virtq_unpop(q); /* not used: give the buffer back */
                        continue;
                }
                if (k <= 0) {
                        /* The host side closed (or failed): reset the guest's end in this very buffer. */
                        h = make_hdr(v, c, OP_RST, 0, 0);
                        hull_virtq_chain_write(&chain, 0, &h, HDR_SIZE);
                        hull_virtq_push(q, chain.head, HDR_SIZE);
                        n++;
                        conn_free(v, c, false);
                        continue;
                }
                h = make_hdr(v, c, OP_RW, 0, (uint32_t)k);
                c->last_fwd_sent = c->fwd_cnt;
                hull_virtq_chain_write(&chain, 0, &h, HDR_SIZE);
                hull_virtq_chain_write(&chain, HDR_SIZE, v->scratch, (size_t)k);
                hull_virtq_push(q, chain.head, HDR_SIZE + (uint32_t)k);
                c->tx_cnt += (uint32_t)k;
                n++;
        }
        if (sent_ctrl) {
                memmove(v->ctrl, v->ctrl + sent_ctrl, (v->ctrl_len - sent_ctrl) * sizeof(*v->ctrl));
                v->ctrl_len -= sent_ctrl;
        }
        if (n)
                dev_interrupt(v, Q_RX);
}

static void handshake(struct hull_virtio_vsock *v, struct conn *c)
{
        char line[LINE_MAX_LEN + 1];
        char *nl, *end;
        unsigned long port;
        ssize_t n = recv(c->fd, line, LINE_MAX_LEN, MSG_PEEK | MSG_DONTWAIT);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                conn_free(v, c, false);
                return;
        }
        line[n] = 0;
        nl = memchr(line, '\n', (size_t)n);
        if (!nl) {
                if (n == LINE_MAX_LEN)
                        conn_free(v, c, false); /* no command fits in that */
                return;
        }
        /* Consume exactly the line: what follows belongs to the guest, once connected. */
        if (recv(c->fd, line, (size_t)(nl - line + 1), MSG_DONTWAIT) != nl - line + 1) {
                conn_free(v, c, false);
                return;
        }
        *nl = 0;
        if (strncasecmp(line, "CONNECT ", 8) != 0 || !isdigit((unsigned char)line[8])) {
                conn_free(v, c, false);
                return;
        }
        errno = 0;
        port = strtoul(line + 8, &end, 10);
        if (errno || port > UINT32_MAX || (*end && *end != '\r')) {
                conn_free(v, c, false);
                return;
        }
        do
                v->next_port = v->next_port < FIRST_HOST_PORT ? FIRST_HOST_PORT : v->next_port + 1;
        while (port_in_use(v, v->next_port));
        c->local_port = v->next_port;
        c->peer_port = (uint32_t)port;
        c->state = CONN_CONNECTING;
        c->connect_deadline = hull_now_usec() + CONNECT_WAIT_US;
        if (dev_active(v))
                queue_ctrl(v, c, OP_REQUEST, 0);
        else
                c->request_pending = true; /* sent once the guest's driver is up (vsock_activate) */
        hull_loop_timer_arm(v->retry_src, RETRY_US, NULL);
        conn_update_events(c);
        rx_flush(v);
}

static int on_conn(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct conn *c = userdata;
        struct hull_virtio_vsock *v = c->v;

        (void)src;
        (void)fd;
        dev_lock(v);
        if (c->state == CONN_HANDSHAKE) {
                if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                        handshake(v, c);
        } else {
                if (events & EPOLLOUT)
                        conn_drain_pending(v, c); /* may free c */
                else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                        c->readable = true;
                        conn_update_events(c);
                }
                rx_flush(v);
        }
        dev_unlock(v);
        return 0;
}

static int on_accept(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_virtio_vsock *v = userdata;
        struct conn *c;
        int cfd;

        (void)src;
        (void)events;
        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;
        dev_lock(v);
        if (v->n_conns >= MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
                close(cfd);
                dev_unlock(v);
                return 0;
        }
        c->v = v;
        c->fd = cfd;
        c->state = CONN_HANDSHAKE;
        if (hull_loop_add_fd(v->loop, cfd, EPOLLIN, on_conn, c, &c->src, NULL) < 0) {
                close(cfd);
                free(c);
        } else {
                c->next = v->conns;
                v->conns = c;
                v->n_conns++;
        }
        dev_unlock(v);
        return 0;
}

static int on_kick(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_virtio_vsock *v = userdata;
        uint64_t n;
        ssize_t r = read(fd, &n, sizeof(n));

        (void)r;
        (void)src;
        (void)events;
        dev_lock(v);
        if (v->reset_pending) {
                struct conn *c, *next;

                /* The guest forgot every connection. Those it had accepted are gone; those still being set up are
                 * asked for again once the driver is back (the driver resets the device when it probes it). */
                v->reset_pending = false;
                v->ctrl_len = 0;
                for (c = v->conns; c; c = next) {
                        next = c->next;
                        if (c->state == CONN_ESTABLISHED)
                                conn_free(v, c, false);
                        else if (c->state == CONN_CONNECTING)
                                c->request_pending = true;
                }
                hull_loop_timer_arm(v->retry_src, RETRY_US, NULL);
        }
        dev_unlock(v);
        return 0;
}

/* Send the REQUESTs that wait, drop the connections that waited too long; re-arm while any waits. */
static void retry_requests(struct hull_virtio_vsock *v)
{
        uint64_t now = hull_now_usec();
        bool waiting = false;
        struct conn *c, *next;

        for (c = v->conns; c; c = next) {
                next = c->next;
                if (c->state != CONN_CONNECTING)
                        continue;
                if (now >= c->connect_deadline) {
                        conn_free(v, c, c->request_pending ? false : true);
                        continue;
                }
                if (c->request_pending && dev_active(v)) {
                        c->request_pending = false;
                        queue_ctrl(v, c, OP_REQUEST, 0);
                }
                waiting = true;
        }
        if (waiting)
                hull_loop_timer_arm(v->retry_src, RETRY_US, NULL);
}

static int on_retry(struct hull_loop_source *src, void *userdata)
{
        struct hull_virtio_vsock *v = userdata;

        (void)src;
        dev_lock(v);
        retry_requests(v);
        rx_flush(v);
        dev_unlock(v);
        return 0;
}

static void vsock_notify(void *dev, uint16_t q)
{
        struct hull_virtio_vsock *v = dev;

        if (q == Q_TX)
                tx_process(v);
        else if (q == Q_RX)
                rx_flush(v);
        /* Q_EVENT: buffers for transport events we never send. */
}

static void vsock_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
        struct hull_virtio_vsock *v = dev;

        memcpy(data, (const uint8_t *)&v->guest_cid + off, len); /* off + len <= 8, checked by the transport */
}

static void vsock_reset(void *dev)
{
        struct hull_virtio_vsock *v = dev;
        uint64_t one = 1;
        ssize_t n;

        /* On a vCPU thread: the connections belong to the event thread, which drops them. */
        v->reset_pending = true;
        n = write(v->kick_fd, &one, sizeof(one));
        (void)n;
}

static const struct hull_virtio_ops vsock_ops = {
        .name = "vsock",
        .device_id = VIRTIO_ID_VSOCK,
        .num_queues = 3,
        .queue_max = 256,
        .config_size = 8,
        .config_read = vsock_config_read,
        .notify = vsock_notify,
        .reset = vsock_reset,
};

/* Everything but the transport: the listening socket, the reset kick and the retry timer on loop. */
static int vsock_new(struct hull_loop *loop, uint64_t guest_cid, const char *uds_path, struct hull_virtio_vsock **ret,
                     struct hull_error **err)
{
        _cleanup_(hull_virtio_vsockp) struct hull_virtio_vsock *v = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r;

        if (guest_cid < 3 || guest_cid > UINT32_MAX - 1)
                return hull_error_set(err, EINVAL, "vsock: guest CID %llu (3..2^32-2)", (unsigned long long)guest_cid);
        if (strlen(uds_path) >= sizeof(sa.sun_path))
                return hull_error_set(err, ENAMETOOLONG, "vsock: socket path %s too long", uds_path);
        v = calloc(1, sizeof(*v));
        if (!v)
                return hull_error_oom(err);
        v->loop = loop;
        v->guest_cid = guest_cid;
        v->listen_fd = v->kick_fd = -1;
        v->uds_path = strdup(uds_path);
        if (!v->uds_path)
                return hull_error_oom(err);
        strcpy(sa.sun_path, uds_path);
        v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (v->listen_fd < 0)
                return hull_error_errno(err, errno, "vsock: socket");
        unlink(uds_path);
        if (bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(v->listen_fd, 64) < 0)
                return hull_error_errno(err, errno, "vsock: listen on %s", uds_path);
        v->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (v->kick_fd < 0)
                return hull_error_errno(err, errno, "vsock: eventfd");
        if ((r = hull_loop_add_timer(loop, RETRY_US, on_retry, v, &v->retry_src, err)) < 0 ||
            (r = hull_loop_add_fd(loop, v->listen_fd, EPOLLIN, on_accept, v, &v->listen_src, err)) < 0 ||
            (r = hull_loop_add_fd(loop, v->kick_fd, EPOLLIN, on_kick, v, &v->kick_src, err)) < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

int hull_virtio_vsock_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, uint64_t guest_cid, const char *uds_path,
                          struct hull_virtio_vsock **ret, struct hull_error **err)
{
        _cleanup_(hull_virtio_vsockp) struct hull_virtio_vsock *v = NULL;
        int r;

        r = vsock_new(hull_vmm_loop(vmm), guest_cid, uds_path, &v, err);
        if (r < 0)
                return r;
        r = hull_virtio_mmio_new(vmm, base, gsi, &vsock_ops, v, &v->t, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

int hull_virtio_vsock_new_detached(struct hull_loop *loop, uint64_t guest_cid, const char *uds_path,
                                   struct hull_virtio_vsock **ret, struct hull_error **err)
{
        _cleanup_(hull_virtio_vsockp) struct hull_virtio_vsock *v = NULL;
        int r;

        r = vsock_new(loop, guest_cid, uds_path, &v, err);
        if (r < 0)
                return r;
        v->d = calloc(1, sizeof(*v->d));
        if (!v->d)
                return hull_error_oom(err);
        *ret = TAKE_PTR(v);
        return 0;
}

struct hull_virtq *hull_virtio_vsock_detached_queue(struct hull_virtio_vsock *v, uint16_t q)
{
        return v->d && q < vsock_ops.num_queues ? &v->d->queues[q] : NULL;
}

void hull_virtio_vsock_detached_driver(struct hull_virtio_vsock *v, bool ok)
{
        if (!v->d)
                return;
        if (ok) {
                /* DRIVER_OK (a failed device stays dead, as with the transport). */
                v->d->active = !v->d->failed[0];
                return;
        }
        /* The transport's reset: the queues forgotten, then the device's reset op. */
        v->d->active = false;
        for (unsigned i = 0; i < vsock_ops.num_queues; i++)
                hull_virtq_reset(&v->d->queues[i]);
        vsock_reset(v);
}

void hull_virtio_vsock_detached_notify(struct hull_virtio_vsock *v, uint16_t q)
{
        /* As the transport's notify: only for a live device and a ready queue. */
        if (v->d && q < vsock_ops.num_queues && dev_active(v) && v->d->queues[q].ready)
                vsock_notify(v, q);
}

void hull_virtio_vsock_detached_retry(struct hull_virtio_vsock *v)
{
        if (v->d)
                on_retry(v->retry_src, v);
}

const char *hull_virtio_vsock_detached_failed(const struct hull_virtio_vsock *v)
{
        return v->d && v->d->failed[0] ? v->d->failed : NULL;
}

struct hull_virtio_vsock *hull_virtio_vsock_free(struct hull_virtio_vsock *v)
{
        if (!v)
                return NULL;
        while (v->conns)
                conn_free(v, v->conns, false);
        hull_loop_source_remove(v->listen_src);
        hull_loop_source_remove(v->kick_src);
        hull_loop_source_remove(v->retry_src);
        hull_virtio_mmio_free(v->t);
        if (v->listen_fd >= 0) {
                close(v->listen_fd);
                unlink(v->uds_path);
        }
        if (v->kick_fd >= 0)
                close(v->kick_fd);
        free(v->uds_path);
        free(v->ctrl);
        free(v->d);
        free(v);
        return NULL;
}
