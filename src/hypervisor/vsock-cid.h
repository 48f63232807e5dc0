/* Guest CIDs for vhost-vsock, reserved race-free across concurrent sandboxes: the kernel itself refuses a CID that
 * another open /dev/vhost-vsock holds (EADDRINUSE), and the reservation lasts as long as hull keeps that fd open. */
#pragma once

#include <stdint.h>

struct hull_error;

#define HULL_VSOCK_DEVICE "/dev/vhost-vsock"
#define HULL_VSOCK_CID_FIRST 3 /* 0-2 are reserved: hypervisor, local, host */
#define HULL_VSOCK_CID_TRIES 65536

/* Open device (HULL_VSOCK_DEVICE when NULL) and claim the first free CID from first on. Returns the open vhost fd
 * (close-on-exec; hand it to QEMU as vhostfd=) holding *ret_cid. -ENOENT/-EACCES/-ENODEV when the host has no
 * usable vhost-vsock, -EADDRINUSE when HULL_VSOCK_CID_TRIES CIDs are all taken. */
int hull_vsock_cid_reserve(const char *device, uint32_t first, uint32_t *ret_cid, struct hull_error **err);
