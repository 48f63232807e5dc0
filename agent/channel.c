/* Opening hull-agent's channel: vsock listener, virtio-serial port lookup and open, unix socket; uevents. */
#include "channel.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "error.h"
#include "fd.h"

static int parse_u32(const char *s, uint32_t *ret)
{
        char *end;
        unsigned long v;

        if (!*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

int hull_agent_channel_addr_parse(const char *s, struct hull_agent_channel_addr *ret, struct hull_error **err)
{
        struct hull_agent_channel_addr a = { 0 };
        const char *rest;

        if (strneq(s, "vsock://", 8)) {
                const char *colon;
                rest = s + 8;
                colon = strrchr(rest, ':');
                if (!colon)
                        return hull_error_set(err, EINVAL, "channel '%s': expected vsock://CID:PORT", s);
                /* The agent listens; the only CID that makes sense is "any" (-1, as Kata writes it). */
                if (!(colon - rest == 2 && strneq(rest, "-1", 2)) &&
                    !(colon - rest == 10 && strneq(rest, "4294967295", 10)))
                        return hull_error_set(err, EINVAL, "channel '%s': the agent listens on CID -1 (any)", s);
                if (parse_u32(colon + 1, &a.port) < 0 || a.port == 0 || a.port == UINT32_MAX)
                        return hull_error_set(err, EINVAL, "channel '%s': bad port", s);
                a.kind = HULL_AGENT_CHANNEL_VSOCK;
        } else if (strneq(s, "serial://", 9)) {
                rest = s + 9;
                if (!*rest || strlen(rest) >= sizeof(a.name) || strchr(rest, '/'))
                        return hull_error_set(err, EINVAL, "channel '%s': bad port name", s);
                a.kind = HULL_AGENT_CHANNEL_SERIAL;
                strcpy(a.name, rest);
        } else if (strneq(s, "unix://", 7)) {
                rest = s + 7;
                if (rest[0] != '/' || strlen(rest) >= sizeof(a.name))
                        return hull_error_set(err, EINVAL, "channel '%s': expected unix:///absolute/path", s);
                a.kind = HULL_AGENT_CHANNEL_UNIX;
                strcpy(a.name, rest);
        } else {
                return hull_error_set(err, EINVAL, "channel '%s': expected vsock://, serial:// or unix://", s);
        }
        *ret = a;
        return 0;
}

void hull_agent_channel_addr_format(const struct hull_agent_channel_addr *a, char *buf, size_t size)
{
        switch (a->kind) {
        case HULL_AGENT_CHANNEL_VSOCK:
                snprintf(buf, size, "vsock://-1:%u", a->port);
                break;
        case HULL_AGENT_CHANNEL_SERIAL:
                snprintf(buf, size, "serial://%s", a->name);
                break;
        case HULL_AGENT_CHANNEL_UNIX:
                snprintf(buf, size, "unix://%s", a->name);
                break;
        }
}

int hull_agent_vsock_local_cid(uint32_t *ret_cid)
{
        _cleanup_close_ int fd = -1;
        unsigned int cid = VMADDR_CID_ANY;

        fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
                return -errno;
        /* Without a guest-to-host transport the kernel answers VMADDR_CID_ANY. */
        if (cid == VMADDR_CID_ANY || cid <= VMADDR_CID_HOST)
                return -ENODEV;
        *ret_cid = cid;
        return 0;
}

int hull_agent_vsock_listen(uint32_t port, struct hull_error **err)
{
        _cleanup_close_ int fd = -1;
        struct sockaddr_vm sa = {
                .svm_family = AF_VSOCK,
                .svm_cid = VMADDR_CID_ANY,
                .svm_port = port,
        };

        fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return hull_error_errno(err, errno, "vsock socket");
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return hull_error_errno(err, errno, "vsock bind port %u", port);
        if (listen(fd, 16) < 0)
                return hull_error_errno(err, errno, "vsock listen port %u", port);
        return TAKE_FD(fd);
}

int hull_agent_serial_find(const char *class_dir, const char *name, char **ret_dev, struct hull_error **err)
{
        DIR *d;
        struct dirent *de;
        int r = -ENOENT;

        d = opendir(class_dir);
        if (!d)
                return errno == ENOENT ? -ENOENT : hull_error_errno(err, errno, "open %s", class_dir);
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL, *value = NULL;
                _cleanup_error_ struct hull_error *ignored = NULL;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&path, "%s/%s/name", class_dir, de->d_name) < 0) {
                        r = hull_error_oom(err);
                        break;
                }
                /* A port the host did not name has an empty name file; one that vanished is skipped. */
                if (hull_read_file(path, 4096, &value, NULL, &ignored) < 0)
                        continue;
                value[strcspn(value, "\n")] = '\0';
                if (streq(value, name)) {
                        char *dev = strdup(de->d_name);
                        if (!dev) {
                                r = hull_error_oom(err);
                                break;
                        }
                        *ret_dev = dev;
                        r = 0;
                        break;
                }
        }
        closedir(d);
        return r;
}

int hull_agent_serial_open(const char *dev, struct hull_error **err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        int flags;

        if (asprintf(&path, "/dev/%s", dev) < 0)
                return hull_error_oom(err);
        fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return hull_error_errno(err, errno, "open %s", path);
        /* virtio_console signals host (dis)connection only through SIGIO to the fasync owner. */
        if (fcntl(fd, F_SETOWN, getpid()) < 0)
                return hull_error_errno(err, errno, "%s: F_SETOWN", path);
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_ASYNC) < 0)
                return hull_error_errno(err, errno, "%s: O_ASYNC", path);
        return TAKE_FD(fd);
}

bool hull_agent_serial_host_connected(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

        if (poll(&p, 1, 0) < 0)
                return false;
        return !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

int hull_agent_uevent_open(struct hull_error **err)
{
        _cleanup_close_ int fd = -1;
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 /* kernel uevents */ };

        fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
        if (fd < 0)
                return hull_error_errno(err, errno, "uevent socket");
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return hull_error_errno(err, errno, "uevent bind");
        return TAKE_FD(fd);
}

int hull_agent_uevent_drain(int fd)
{
        char buf[8192];
        int n = 0;

        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
                n++;
        return n;
}
