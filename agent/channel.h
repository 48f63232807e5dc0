/* hull-agent's channel to the host: a vsock listener (port 1024 on any CID), a virtio-serial port found by name
 * through /sys/class/virtio-ports (no udev in the guest), or, outside a VM, a unix socket for development. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hull_error;

#define HULL_AGENT_VSOCK_PORT 1024
#define HULL_AGENT_SERIAL_NAME "agent.channel.0"
#define HULL_AGENT_SYSFS_VIRTIO_PORTS "/sys/class/virtio-ports"

enum hull_agent_channel_kind {
        HULL_AGENT_CHANNEL_VSOCK, /* vsock://-1:PORT (Kata's form; -1 is any CID) */
        HULL_AGENT_CHANNEL_SERIAL, /* serial://NAME (the virtio-serial port name) */
        HULL_AGENT_CHANNEL_UNIX, /* unix:///path (listening socket; development and tests) */
};

struct hull_agent_channel_addr {
        enum hull_agent_channel_kind kind;
        uint32_t port;
        char name[108]; /* serial port name or unix socket path */
};

int hull_agent_channel_addr_parse(const char *s, struct hull_agent_channel_addr *ret, struct hull_error **err);
/* Writes "vsock://-1:1024" and so on into buf. */
void hull_agent_channel_addr_format(const struct hull_agent_channel_addr *a, char *buf, size_t size);

/* The guest's own CID when a guest-to-host vsock transport is registered; -ENODEV when none is. */
int hull_agent_vsock_local_cid(uint32_t *ret_cid);
int hull_agent_vsock_listen(uint32_t port, struct hull_error **err);

/* The device name ("vport1p1") of the virtio-serial port called name under class_dir; -ENOENT when none is
 * (yet: ports appear asynchronously, after the host announces them). */
int hull_agent_serial_find(const char *class_dir, const char *name, char **ret_dev, struct hull_error **err);
/* Open /dev/<dev> non-blocking, with SIGIO sent to this process when the host side connects or disconnects. */
int hull_agent_serial_open(const char *dev, struct hull_error **err);
/* Whether the host end of an open port is connected (a port without a host reads as hung up). */
bool hull_agent_serial_host_connected(int fd);

/* A NETLINK_KOBJECT_UEVENT socket, non-blocking: readable whenever a device comes or goes. */
int hull_agent_uevent_open(struct hull_error **err);
/* Drain it; returns the number of messages read. */
int hull_agent_uevent_drain(int fd);
