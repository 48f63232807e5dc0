/* The vhost-user front end for virtio-fs (QEMU's docs/interop/vhost-user.rst): GET_FEATURES, SET_OWNER at creation;
 * SET_FEATURES, SET_MEM_TABLE (the memfd), and per queue SET_VRING_NUM/BASE/ADDR/KICK/CALL when the guest driver
 * says DRIVER_OK; GET_VRING_BASE to stop the queues on reset. VHOST_USER_F_PROTOCOL_FEATURES is never negotiated,
 * so rings start enabled and no message needs a reply but the GETs. */
#include "vmm/devices/vhost-user-fs.h"

#include <errno.h>
#include <poll.h>
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
#include "vmm/memory.h"
#include "vmm/vmm.h"

#define VIRTIO_ID_FS 26
#define FS_QUEUES 2 /* hiprio + one request queue */
#define FS_QUEUE_SIZE 256
#define TAG_LEN 36
#define CONFIG_SIZE (TAG_LEN + 4)

#define VHOST_USER_GET_FEATURES 1
#define VHOST_USER_SET_FEATURES 2
#define VHOST_USER_SET_OWNER 3
#define VHOST_USER_SET_MEM_TABLE 5
#define VHOST_USER_SET_VRING_NUM 8
#define VHOST_USER_SET_VRING_ADDR 9
#define VHOST_USER_SET_VRING_BASE 10
#define VHOST_USER_GET_VRING_BASE 11
#define VHOST_USER_SET_VRING_KICK 12
#define VHOST_USER_SET_VRING_CALL 13
#define VHOST_USER_VERSION 0x1
#define VHOST_USER_REPLY 0x4
#define VHOST_USER_F_PROTOCOL_FEATURES (1ULL << 30)
/* Ring features the back end implements and the guest may use: INDIRECT_DESC, EVENT_IDX, VERSION_1. */
#define PASSED_FEATURES ((1ULL << 28) | (1ULL << 29) | (1ULL << 32))
#define REPLY_TIMEOUT_MS 5000
#define MAX_PAYLOAD 512

struct vu_hdr {
        uint32_t request, flags, size;
} __attribute__((packed));

struct hull_vhost_user_fs {
        struct hull_vmm *vmm;
        struct hull_virtio_mmio *t;
        struct hull_virtio_ops ops;
        int sock;
        uint64_t backend_features;
        bool started;
        uint8_t config[CONFIG_SIZE];
        int kick_fd[FS_QUEUES], call_fd[FS_QUEUES];
        struct hull_loop_source *call_src[FS_QUEUES];
};

static int vu_send(struct hull_vhost_user_fs *f, uint32_t request, const void *payload, uint32_t size, const int *fds,
                   unsigned n_fds)
{
        struct vu_hdr h = { .request = request, .flags = VHOST_USER_VERSION, .size = size };
        struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
        union {
                char buf[CMSG_SPACE(8 * sizeof(int))];
                struct cmsghdr align;
        } u;
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
        ssize_t n;

        if (n_fds) {
                struct cmsghdr *c;
                memset(&u, 0, sizeof(u));
                msg.msg_control = u.buf;
                msg.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
                memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
        }
        do
                n = sendmsg(f->sock, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return (size_t)n == sizeof(h) + size ? 0 : -EIO;
}

static int read_full(int fd, void *buf, size_t len)
{
        size_t done = 0;

        while (done < len) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, REPLY_TIMEOUT_MS) <= 0)
                        return -ETIMEDOUT;
                n = recv(fd, (uint8_t *)buf + done, len - done, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -ECONNRESET;
                done += (size_t)n;
        }
        return 0;
}

/* A GET request answered with one u64. */
static int vu_get_u64(struct hull_vhost_user_fs *f, uint32_t request, const void *payload, uint32_t size, uint64_t *ret)
{
        struct vu_hdr h;
        uint8_t reply[MAX_PAYLOAD];
        int r = vu_send(f, request, payload, size, NULL, 0);

        if (r < 0 || (r = read_full(f->sock, &h, sizeof(h))) < 0)
                return r;
        if (h.request != request || !(h.flags & VHOST_USER_REPLY) || h.size > sizeof(reply))
                return -EPROTO;
        if ((r = read_full(f->sock, reply, h.size)) < 0)
                return r;
        /* GET_FEATURES: a u64; GET_VRING_BASE: {u32 index, u32 num}, read as the same 8 bytes. */
        if (h.size != 8)
                return -EPROTO;
        memcpy(ret, reply, 8);
        return 0;
}

static int vu_set_u64(struct hull_vhost_user_fs *f, uint32_t request, uint64_t v, int fd)
{
        return vu_send(f, request, &v, sizeof(v), &fd, fd >= 0 ? 1 : 0);
}

static int set_mem_table(struct hull_vhost_user_fs *f)
{
        const struct hull_guest_mem *m = hull_vmm_memory(f->vmm);
        struct {
                uint32_t nregions, padding;
                struct {
                        uint64_t gpa, size, uaddr, offset;
                } r[2];
        } __attribute__((packed)) t = { 0 };
        int fds[2] = { m->memfd, m->memfd };

        t.r[0].gpa = 0;
        t.r[0].size = m->low_size;
        t.r[0].uaddr = (uintptr_t)m->host;
        t.r[0].offset = 0;
        t.nregions = 1;
        if (m->size > m->low_size) {
                t.r[1].gpa = HULL_VMM_HIGH_RAM;
                t.r[1].size = m->size - m->low_size;
                t.r[1].uaddr = (uintptr_t)(m->host + m->low_size);
                t.r[1].offset = m->low_size;
                t.nregions = 2;
        }
        /* The message carries room for 8 regions (VHOST_MEMORY_BASELINE_NREGIONS); the back end reads nregions. */
        {
                uint8_t buf[8 + 8 * 32] = { 0 };
                memcpy(buf, &t, sizeof(t));
                return vu_send(f, VHOST_USER_SET_MEM_TABLE, buf, sizeof(buf), fds, t.nregions);
        }
}

static int start_backend(struct hull_vhost_user_fs *f, uint64_t features)
{
        int r;

        if ((r = vu_set_u64(f, VHOST_USER_SET_FEATURES, features & f->backend_features, -1)) < 0 ||
            (r = set_mem_table(f)) < 0)
                return r;
        for (uint32_t i = 0; i < FS_QUEUES; i++) {
                struct hull_virtq *q = hull_virtio_mmio_queue(f->t, (uint16_t)i);
                struct {
                        uint32_t index, num;
                } __attribute__((packed)) state = { i, 0 };
                struct {
                        uint32_t index, flags;
                        uint64_t desc, used, avail, log;
                } __attribute__((packed)) addr = { .index = i };

                if (!q->ready)
                        continue;
                state.num = q->num;
                if ((r = vu_send(f, VHOST_USER_SET_VRING_NUM, &state, sizeof(state), NULL, 0)) < 0)
                        return r;
                state.num = 0;
                if ((r = vu_send(f, VHOST_USER_SET_VRING_BASE, &state, sizeof(state), NULL, 0)) < 0)
                        return r;
                /* Our addresses: the back end finds them in the memory table it mapped. */
                addr.desc = (uintptr_t)q->desc;
                addr.used = (uintptr_t)q->used;
                addr.avail = (uintptr_t)q->avail;
                if ((r = vu_send(f, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0)) < 0 ||
                    (r = vu_set_u64(f, VHOST_USER_SET_VRING_CALL, i, f->call_fd[i])) < 0 ||
                    (r = vu_set_u64(f, VHOST_USER_SET_VRING_KICK, i, f->kick_fd[i])) < 0)
                        return r;
        }
        f->started = true;
        return 0;
}

static void fs_activate(void *dev, uint64_t features)
{
        struct hull_vhost_user_fs *f = dev;
        int r = start_backend(f, features);

        if (r < 0) {
                char why[128];
                snprintf(why, sizeof(why), "vhost-user back end: %s", strerror(-r));
                hull_virtio_mmio_fail(f->t, why);
        }
}

static void fs_reset(void *dev)
{
        struct hull_vhost_user_fs *f = dev;
        uint64_t base;

        if (!f->started)
                return;
        /* GET_VRING_BASE stops a ring; its answer is where it stopped. */
        for (uint32_t i = 0; i < FS_QUEUES; i++) {
                struct {
                        uint32_t index, num;
                } __attribute__((packed)) state = { i, 0 };
                vu_get_u64(f, VHOST_USER_GET_VRING_BASE, &state, sizeof(state), &base);
        }
        f->started = false;
}

static void fs_notify(void *dev, uint16_t q)
{
        struct hull_vhost_user_fs *f = dev;
        uint64_t one = 1;
        ssize_t n;

        /* The guest's kick reached our ioeventfd: hand it on to the back end. */
        if (q < FS_QUEUES && f->started) {
                n = write(f->kick_fd[q], &one, sizeof(one));
                (void)n;
        }
}

static int on_call(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct hull_vhost_user_fs *f = userdata;
        uint64_t n;

        (void)src;
        (void)events;
        if (read(fd, &n, sizeof(n)) != sizeof(n))
                return 0;
        hull_virtio_mmio_lock(f->t);
        if (hull_virtio_mmio_active(f->t))
                hull_virtio_mmio_interrupt_now(f->t);
        hull_virtio_mmio_unlock(f->t);
        return 0;
}

static void fs_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
        struct hull_vhost_user_fs *f = dev;

        memcpy(data, f->config + off, len);
}

static int fs_init(struct hull_vhost_user_fs *f, struct hull_vmm *vmm, uint64_t base, uint32_t gsi,
                   const char *socket_path, const char *tag, struct hull_error **err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint32_t nq = FS_QUEUES - 1;
        int r;

        if (hull_vmm_memory(vmm)->memfd < 0)
                return hull_error_set(err, EINVAL, "virtio-fs: guest memory is not a memfd");
        if (strlen(tag) == 0 || strlen(tag) > TAG_LEN)
                return hull_error_set(err, EINVAL, "virtio-fs: tag '%s' (1..%d bytes)", tag, TAG_LEN);
        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return hull_error_set(err, ENAMETOOLONG, "virtio-fs: socket path %s too long", socket_path);
        memcpy(f->config, tag, strlen(tag));
        memcpy(f->config + TAG_LEN, &nq, 4);
        strcpy(sa.sun_path, socket_path);
        f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (f->sock < 0 || connect(f->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return hull_error_errno(err, errno, "virtio-fs: connect to %s", socket_path);
        if ((r = vu_get_u64(f, VHOST_USER_GET_FEATURES, NULL, 0, &f->backend_features)) < 0 ||
            (r = vu_send(f, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0)) < 0)
                return hull_error_errno(err, -r, "virtio-fs: vhost-user handshake with %s", socket_path);
        for (unsigned i = 0; i < FS_QUEUES; i++) {
                f->kick_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                f->call_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (f->kick_fd[i] < 0 || f->call_fd[i] < 0)
                        return hull_error_errno(err, errno, "virtio-fs: eventfd");
                r = hull_loop_add_fd(hull_vmm_loop(vmm), f->call_fd[i], EPOLLIN, on_call, f, &f->call_src[i], err);
                if (r < 0)
                        return r;
        }
        f->ops = (struct hull_virtio_ops){
                .name = "fs",
                .device_id = VIRTIO_ID_FS,
                .num_queues = FS_QUEUES,
                .queue_max = FS_QUEUE_SIZE,
                .features = f->backend_features & PASSED_FEATURES & ~VHOST_USER_F_PROTOCOL_FEATURES,
                .config_size = CONFIG_SIZE,
                .config_read = fs_config_read,
                .notify = fs_notify,
                .activate = fs_activate,
                .reset = fs_reset,
        };
        return hull_virtio_mmio_new(vmm, base, gsi, &f->ops, f, &f->t, err);
}

int hull_vhost_user_fs_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, const char *socket_path, const char *tag,
                           struct hull_vhost_user_fs **ret, struct hull_error **err)
{
        struct hull_vhost_user_fs *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return hull_error_oom(err);
        f->vmm = vmm;
        f->sock = -1;
        for (unsigned i = 0; i < FS_QUEUES; i++)
                f->kick_fd[i] = f->call_fd[i] = -1;
        r = fs_init(f, vmm, base, gsi, socket_path, tag, err);
        if (r < 0) {
                hull_vhost_user_fs_free(f);
                return r;
        }
        *ret = f;
        return 0;
}

struct hull_vhost_user_fs *hull_vhost_user_fs_free(struct hull_vhost_user_fs *f)
{
        if (!f)
                return NULL;
        hull_virtio_mmio_free(f->t);
        for (unsigned i = 0; i < FS_QUEUES; i++) {
                hull_loop_source_remove(f->call_src[i]);
                if (f->kick_fd[i] >= 0)
                        close(f->kick_fd[i]);
                if (f->call_fd[i] >= 0)
                        close(f->call_fd[i]);
        }
        if (f->sock >= 0)
                close(f->sock); /* virtiofsd exits when its front end goes */
        free(f);
        return NULL;
}
