/* virtio-fs (device 26) with a vhost-user back end (virtiofsd): the VMM owns the transport and the configuration
 * space (tag, queue count); the back end maps guest RAM (a memfd) and serves the queues itself. Kicks and interrupts
 * pass through the VMM's event thread, since virtio-mmio's interrupt status register lives here. */
#pragma once

#include <stdint.h>

struct hull_error;
struct hull_vmm;
struct hull_vhost_user_fs;

/* socket_path: virtiofsd's vhost-user socket (it listens; we connect). The VM's RAM must be a memfd. */
int hull_vhost_user_fs_new(struct hull_vmm *vmm, uint64_t base, uint32_t gsi, const char *socket_path, const char *tag,
                           struct hull_vhost_user_fs **ret, struct hull_error **err);
struct hull_vhost_user_fs *hull_vhost_user_fs_free(struct hull_vhost_user_fs *f);
