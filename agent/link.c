/* The agent's link to the host: listener accept loop, or virtio-serial port discovery, open and reconnection. */
#include "link.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "error.h"
#include "fd.h"
#include "log.h"
#include "loop.h"

struct hull_agent_link {
        struct hull_loop *loop;
        struct hull_agent_channel_addr addr;
        hull_agent_link_conn_cb on_conn;
        hull_agent_link_fail_cb on_fail;
        void *userdata;

        int listen_fd;
        struct hull_loop_source *listen_src;

        /* serial */
        int uevent_fd;
        struct hull_loop_source *uevent_src, *timeout_src, *sigio_src;
        char *dev;
        int port_fd; /* open, waiting for the host; -1 while the server owns it */
        bool conn_active;

        unsigned long connections;
        char describe[160];
};

static void link_fail(struct hull_agent_link *l, struct hull_error *e)
{
        l->on_fail(e, l->userdata);
}

static void hand_out(struct hull_agent_link *l, int fd)
{
        l->connections++;
        if (l->on_conn(fd, l->userdata) < 0)
                log_warn("channel %s: connection dropped", l->describe);
}

static int on_accept(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_agent_link *l = userdata;

        for (;;) {
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (c < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return 0;
                        /* Out of fds or memory: keep serving the connections there are. */
                        log_warn("channel %s: accept: %s", l->describe, strerror(errno));
                        return 0;
                }
                log_debug("channel %s: connection accepted", l->describe);
                hand_out(l, c);
        }
}

static int unix_listen(const char *path, struct hull_error **err)
{
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof(sa.sun_path))
                return hull_error_set(err, ENAMETOOLONG, "unix socket path %s", path);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return hull_error_errno(err, errno, "socket");
        (void)unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return hull_error_errno(err, errno, "bind %s", path);
        if (listen(fd, 16) < 0)
                return hull_error_errno(err, errno, "listen %s", path);
        return TAKE_FD(fd);
}

/* Serial: hand the server a duplicate of the port once the host is there. The port itself stays open for good:
 * virtio_console drops whatever the host sends while the guest has the port closed, so a host that reconnects at
 * once would lose its first request if the agent closed and reopened the port between connections. */
static void serial_check_host(struct hull_agent_link *l)
{
        int fd;

        if (l->port_fd < 0 || l->conn_active)
                return;
        if (!hull_agent_serial_host_connected(l->port_fd))
                return;
        fd = fcntl(l->port_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
                log_warn("channel %s: dup: %s", l->describe, strerror(errno));
                return;
        }
        log_debug("channel %s: host connected", l->describe);
        l->conn_active = true;
        hand_out(l, fd);
}

static int serial_open(struct hull_agent_link *l, struct hull_error **err)
{
        int fd = hull_agent_serial_open(l->dev, err);

        if (fd < 0)
                return fd;
        l->port_fd = fd;
        l->conn_active = false;
        serial_check_host(l);
        return 0;
}

static int on_sigio(struct hull_loop_source *src, int signo, void *userdata)
{
        serial_check_host(userdata);
        return 0;
}

static int serial_found(struct hull_agent_link *l, char *dev, struct hull_error **err)
{
        int r;

        l->dev = dev;
        snprintf(l->describe, sizeof(l->describe), "serial:%s", dev);
        hull_loop_source_remove(TAKE_PTR(l->uevent_src));
        hull_loop_source_remove(TAKE_PTR(l->timeout_src));
        hull_closep(&l->uevent_fd);
        l->uevent_fd = -1;
        r = hull_loop_add_signal(l->loop, SIGIO, on_sigio, l, &l->sigio_src, err);
        if (r < 0)
                return r;
        return serial_open(l, err);
}

/* Returns 1 when found and opened, 0 when not there yet. */
static int serial_scan(struct hull_agent_link *l, struct hull_error **err)
{
        char *dev = NULL;
        int r = hull_agent_serial_find(HULL_AGENT_SYSFS_VIRTIO_PORTS, l->addr.name, &dev, err);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = serial_found(l, dev, err);
        return r < 0 ? r : 1;
}

static int on_uevent(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_agent_link *l = userdata;
        _cleanup_error_ struct hull_error *e = NULL;

        hull_agent_uevent_drain(fd);
        if (serial_scan(l, &e) < 0)
                link_fail(l, e);
        return 0;
}

static int on_port_timeout(struct hull_loop_source *src, void *userdata)
{
        struct hull_agent_link *l = userdata;
        _cleanup_error_ struct hull_error *e = NULL;

        hull_error_set(&e, ETIMEDOUT, "no virtio-serial port named %s appeared", l->addr.name);
        link_fail(l, e);
        return 0;
}

int hull_agent_link_start(struct hull_loop *loop, const struct hull_agent_channel_addr *addr, uint64_t port_wait_usec,
                          hull_agent_link_conn_cb on_conn, hull_agent_link_fail_cb on_fail, void *userdata,
                          struct hull_agent_link **ret, struct hull_error **err)
{
        struct hull_agent_link *l = calloc(1, sizeof(*l));
        int r;

        if (!l)
                return hull_error_oom(err);
        *l = (struct hull_agent_link){
                .loop = loop,
                .addr = *addr,
                .on_conn = on_conn,
                .on_fail = on_fail,
                .userdata = userdata,
                .listen_fd = -1,
                .uevent_fd = -1,
                .port_fd = -1,
        };
        snprintf(l->describe, sizeof(l->describe), "waiting");

        switch (addr->kind) {
        case HULL_AGENT_CHANNEL_VSOCK:
        case HULL_AGENT_CHANNEL_UNIX:
                if (addr->kind == HULL_AGENT_CHANNEL_VSOCK) {
                        l->listen_fd = hull_agent_vsock_listen(addr->port, err);
                        snprintf(l->describe, sizeof(l->describe), "vsock:%u", addr->port);
                } else {
                        l->listen_fd = unix_listen(addr->name, err);
                        snprintf(l->describe, sizeof(l->describe), "unix:%s", addr->name);
                }
                if (l->listen_fd < 0) {
                        r = l->listen_fd;
                        goto fail;
                }
                r = hull_loop_add_fd(loop, l->listen_fd, EPOLLIN, on_accept, l, &l->listen_src, err);
                if (r < 0)
                        goto fail;
                break;
        case HULL_AGENT_CHANNEL_SERIAL:
                /* Subscribe before the first scan, so a port announced in between still wakes us. */
                l->uevent_fd = hull_agent_uevent_open(err);
                if (l->uevent_fd < 0) {
                        r = l->uevent_fd;
                        goto fail;
                }
                r = serial_scan(l, err);
                if (r < 0)
                        goto fail;
                if (r == 0) {
                        r = hull_loop_add_fd(loop, l->uevent_fd, EPOLLIN, on_uevent, l, &l->uevent_src, err);
                        if (r >= 0)
                                r = hull_loop_add_timer(loop, port_wait_usec, on_port_timeout, l, &l->timeout_src, err);
                        if (r < 0)
                                goto fail;
                }
                break;
        }
        *ret = l;
        return 0;
fail:
        hull_agent_link_free(l);
        return hull_error_prefix(err, "channel");
}

struct hull_agent_link *hull_agent_link_free(struct hull_agent_link *l)
{
        if (!l)
                return NULL;
        hull_loop_source_remove(l->listen_src);
        hull_loop_source_remove(l->uevent_src);
        hull_loop_source_remove(l->timeout_src);
        hull_loop_source_remove(l->sigio_src);
        hull_closep(&l->listen_fd);
        hull_closep(&l->uevent_fd);
        hull_closep(&l->port_fd);
        free(l->dev);
        free(l);
        return NULL;
}

void hull_agent_link_conn_closed(struct hull_agent_link *l)
{
        if (l->addr.kind != HULL_AGENT_CHANNEL_SERIAL || !l->conn_active)
                return;
        log_debug("channel %s: connection ended; waiting for the host", l->describe);
        l->conn_active = false;
        /* The host may already be back (its SIGIO came while the old connection was still being torn down). */
        serial_check_host(l);
}

const char *hull_agent_link_describe(const struct hull_agent_link *l)
{
        return l->describe;
}

unsigned long hull_agent_link_connections(const struct hull_agent_link *l)
{
        return l->connections;
}
