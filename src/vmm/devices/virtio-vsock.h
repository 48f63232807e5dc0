/* virtio-vsock (device 19) with a hybrid-vsock host side, as Firecracker and Cloud Hypervisor have it: the host
 * reaches guest port P by connecting to a unix socket and sending "CONNECT P\n" (or "connect P\n"); the VMM answers
 * "OK <host port>\n" once the guest accepted, then relays bytes both ways with virtio-vsock's credit flow control.
 * Connections from the guest to the host are refused (RST). */
#pragma once

#include <stdint.h>

struct hull_error;
struct hull_vmm;
struct hull_virtio_vsock;
struct hull_virtio_mmio;

/* uds_path: the unix socket to listen on (created; an existing socket file is replaced). guest_cid >= 3. */
int hull_virtio_vsock_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, uint64_t guest_cid, const char *uds_path,
                          struct hull_virtio_vsock **ret, struct hull_error **err);
struct hull_virtio_vsock *hull_virtio_vsock_free(struct hull_virtio_vsock *v);
static inline void hull_virtio_vsockp(struct hull_virtio_vsock **p)
{
        if (*p)
                hull_virtio_vsock_free(*p);
}
const struct hull_virtio_mmio *hull_virtio_vsock_transport(const struct hull_virtio_vsock *v);
