/* vhost-vsock guest CID reservation by VHOST_VSOCK_SET_GUEST_CID on our own fd (as Kata does): no lock files,
 * nothing to clean up after a crash, and the kernel arbitrates between hull processes. */
#include "vsock-cid.h"

#include <fcntl.h>
#include <linux/vhost.h>
#include <sys/ioctl.h>

#include "error.h"
#include "macros.h"

int hull_vsock_cid_reserve(const char *device, uint32_t first, uint32_t *ret_cid, struct hull_error **err)
{
        _cleanup_close_ int fd = -1;
        const char *dev = device ? device : HULL_VSOCK_DEVICE;

        if (first < HULL_VSOCK_CID_FIRST)
                first = HULL_VSOCK_CID_FIRST;
        fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return hull_error_errno(err, errno, "open %s", dev);
        for (uint32_t i = 0; i < HULL_VSOCK_CID_TRIES; i++) {
                uint64_t cid = (uint64_t)first + i;

                /* CIDs above UINT32_MAX - 1 are invalid (U32_MAX is VMADDR_CID_ANY). */
                if (cid >= UINT32_MAX)
                        break;
                if (ioctl(fd, VHOST_VSOCK_SET_GUEST_CID, &cid) == 0) {
                        *ret_cid = (uint32_t)cid;
                        return TAKE_FD(fd);
                }
                if (errno != EADDRINUSE)
                        return hull_error_errno(err, errno, "%s: set guest CID %llu", dev, (unsigned long long)cid);
        }
        return hull_error_set(err, EADDRINUSE, "%s: no free guest CID in %u tries from %u", dev, HULL_VSOCK_CID_TRIES,
                              first);
}
