/* virtio-blk: requests are a 16-byte header, data, and a status byte; the data's sector range is checked against the
 * image size before any I/O, and I/O goes straight between the image and guest memory (preadv/pwritev). */
#include "vmm/devices/virtio-blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "error.h"
#include "vmm/devices/virtio-mmio.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_F_RO (1ULL << 5)
#define VIRTIO_BLK_F_FLUSH (1ULL << 9)
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2
#define SECTOR 512ULL
#define REQ_HDR 16
#define CONFIG_SIZE 64

struct hull_virtio_blk {
        struct hull_virtio_mmio *t;
        struct hull_virtio_ops ops; /* per device: the features depend on read_only */
        int fd;
        uint64_t size; /* bytes */
        bool read_only;
        uint8_t config[CONFIG_SIZE];
        char id[20];
        struct iovec iov[HULL_VIRTQ_MAX_SIZE];
};

static bool full_io(ssize_t r, uint64_t want)
{
        return r >= 0 && (uint64_t)r == want;
}

static uint8_t do_request(struct hull_virtio_blk *b, const struct hull_virtq_chain *c, uint32_t *ret_written)
{
        uint32_t type;
        uint64_t sector, len, off;
        int n;

        *ret_written = 0;
        hull_virtq_chain_read(c, 0, &type, 4);
        hull_virtq_chain_read(c, 8, &sector, 8);
        switch (type) {
        case T_IN:
        case T_OUT:
                len = type == T_IN ? c->writable - 1 : c->readable - REQ_HDR;
                if (len % SECTOR || sector > b->size / SECTOR || len > b->size - sector * SECTOR)
                        return S_IOERR;
                if (type == T_OUT && b->read_only)
                        return S_IOERR;
                off = sector * SECTOR;
                n = hull_virtq_chain_iov(c, type == T_IN, type == T_IN ? 0 : REQ_HDR, len, b->iov);
                if (len == 0)
                        return S_OK;
                if (type == T_IN) {
                        if (!full_io(preadv(b->fd, b->iov, n, (off_t)off), len))
                                return S_IOERR;
                        *ret_written = (uint32_t)len;
                } else if (!full_io(pwritev(b->fd, b->iov, n, (off_t)off), len)) {
                        return S_IOERR;
                }
                return S_OK;
        case T_FLUSH:
                return b->read_only || fdatasync(b->fd) == 0 ? S_OK : S_IOERR;
        case T_GET_ID:
                *ret_written = (uint32_t)hull_virtq_chain_write(c, 0, b->id,
                                                                c->writable - 1 < 20 ? c->writable - 1 : 20);
                return S_OK;
        default:
                return S_UNSUPP;
        }
}

static void blk_notify(void *dev, uint16_t qi)
{
        struct hull_virtio_blk *b = dev;
        struct hull_virtq *q = hull_virtio_mmio_queue(b->t, qi);
        struct hull_virtq_chain c;
        char why[160];
        int got, done = 0;

        while ((got = hull_virtq_pop(q, &c, why, sizeof(why))) > 0) {
                uint32_t written;
                uint8_t status;

                /* At least the header to read and the status byte to write. */
                if (c.readable < REQ_HDR || c.writable < 1) {
                        hull_virtio_mmio_fail(b->t, "request without header or status byte");
                        return;
                }
                status = do_request(b, &c, &written);
                hull_virtq_chain_write(&c, c.writable - 1, &status, 1);
                hull_virtq_push(q, c.head, written + 1);
                done++;
        }
        if (got < 0)
                hull_virtio_mmio_fail(b->t, why);
        else if (done)
                hull_virtio_mmio_interrupt(b->t, qi);
}

static void blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
        struct hull_virtio_blk *b = dev;

        memcpy(data, b->config + off, len);
}

int hull_virtio_blk_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, const char *path, bool read_only,
                        struct hull_virtio_blk **ret, struct hull_error **err)
{
        struct hull_virtio_blk *b = calloc(1, sizeof(*b));
        struct stat st;
        uint64_t sectors;
        int r;

        if (!b)
                return hull_error_oom(err);
        b->read_only = read_only;
        b->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (b->fd < 0 || fstat(b->fd, &st) < 0) {
                r = hull_error_errno(err, errno, "virtio-blk: open %s", path);
                hull_virtio_blk_free(b);
                return r;
        }
        if (S_ISBLK(st.st_mode)) {
                if (ioctl(b->fd, BLKGETSIZE64, &b->size) < 0)
                        b->size = 0;
        } else if (S_ISREG(st.st_mode)) {
                b->size = (uint64_t)st.st_size;
        } else {
                hull_virtio_blk_free(b);
                return hull_error_set(err, EINVAL, "virtio-blk: %s is neither a file nor a block device", path);
        }
        sectors = b->size / SECTOR;
        b->size = sectors * SECTOR; /* a partial last sector is not offered */
        memcpy(b->config, &sectors, 8);
        snprintf(b->id, sizeof(b->id), "hull%llx", (unsigned long long)base);
        b->ops = (struct hull_virtio_ops){
                .name = "blk",
                .device_id = VIRTIO_ID_BLOCK,
                .num_queues = 1,
                .queue_max = 256,
                .features = VIRTIO_BLK_F_FLUSH | (read_only ? VIRTIO_BLK_F_RO : 0),
                .config_size = CONFIG_SIZE,
                .config_read = blk_config_read,
                .notify = blk_notify,
        };
        r = hull_virtio_mmio_new(vmm, base, gsi, &b->ops, b, &b->t, err);
        if (r < 0) {
                hull_virtio_blk_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

struct hull_virtio_blk *hull_virtio_blk_free(struct hull_virtio_blk *b)
{
        if (!b)
                return NULL;
        hull_virtio_mmio_free(b->t);
        if (b->fd >= 0)
                close(b->fd);
        free(b);
        return NULL;
}
