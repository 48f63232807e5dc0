/* virtio-net (device 1) over a tap file descriptor opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR: frames pass
 * between the queues and the tap with their 12-byte virtio_net_hdr_v1 untouched (the tap is set to that header
 * size, offloads off). A MAC address and link-up status in the configuration space. */
#pragma once

#include <stdint.h>

struct hull_error;
struct hull_vmm;
struct hull_virtio_net;

/* tap_fd is the caller's (not closed here); mac: 6 bytes. */
int hull_virtio_net_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, int tap_fd, const uint8_t mac[6],
                        struct hull_virtio_net **ret, struct hull_error **err);
struct hull_virtio_net *hull_virtio_net_free(struct hull_virtio_net *n);
