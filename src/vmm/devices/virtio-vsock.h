/* virtio-vsock (device 19) with a hybrid-vsock host side, as Firecracker and Cloud Hypervisor have it: the host
 * reaches guest port P by connecting to a unix socket and sending "CONNECT P\n" (or "connect P\n"); the VMM answers
 * "OK <host port>\n" once the guest accepted, then relays bytes both ways with virtio-vsock's credit flow control.
 * Connections from the guest to the host are refused (RST). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct hull_error;
struct hull_vmm;
struct hull_virtio_vsock;
struct hull_loop;
struct hull_virtq;

/* uds_path: the unix socket to listen on (created; an existing socket file is replaced). guest_cid >= 3. */
int hull_virtio_vsock_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, uint64_t guest_cid, const char *uds_path,
                          struct hull_virtio_vsock **ret, struct hull_error **err);
struct hull_virtio_vsock *hull_virtio_vsock_free(struct hull_virtio_vsock *v);
static inline void hull_virtio_vsockp(struct hull_virtio_vsock **p)
{
        if (*p)
                hull_virtio_vsock_free(*p);
}

/* The seam for driving the device without a VM (fuzz/fuzz_vsock.c, tests/unit/test_vmm.c): no transport, no KVM;
 * the device's sockets and timer run on the caller's loop, and the caller plays the guest driver. It programs the
 * three queues (0 rx, 1 tx, 2 event: num and ring addresses, hull_virtq_activate() on its own guest memory, ready),
 * says DRIVER_OK or reset with _driver(), and notifies queues with _notify(); _retry() does what the retry timer does
 * when it fires (re-send the REQUESTs that wait), without waiting for it. What would end the VM (a malformed
 * queue or packet) leaves the device dead and is reported by _failed() (NULL while it is fine). The packet handling
 * is the same code the transport drives. */
int hull_virtio_vsock_new_detached(struct hull_loop *loop, uint64_t guest_cid, const char *uds_path,
                                   struct hull_virtio_vsock **ret, struct hull_error **err);
struct hull_virtq *hull_virtio_vsock_detached_queue(struct hull_virtio_vsock *v, uint16_t q);
void hull_virtio_vsock_detached_driver(struct hull_virtio_vsock *v, bool ok);
void hull_virtio_vsock_detached_notify(struct hull_virtio_vsock *v, uint16_t q);
void hull_virtio_vsock_detached_retry(struct hull_virtio_vsock *v);
const char *hull_virtio_vsock_detached_failed(const struct hull_virtio_vsock *v);
