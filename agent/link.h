/* Keeps hull-agent reachable from the host: accepts on a vsock or unix listener, or waits for the virtio-serial
 * port to appear and for the host to open it (again after each disconnection), and hands every connected fd to
 * the caller (the ttrpc server). */
#pragma once

#include <stdint.h>

#include "channel.h"

struct hull_error;
struct hull_loop;
struct hull_agent_link;

/* fd is connected and now owned by the callee. A negative return is logged and the fd dropped. */
typedef int (*hull_agent_link_conn_cb)(int fd, void *userdata);
/* The link cannot come up (the port never appeared within the timeout, accept failed for good). */
typedef void (*hull_agent_link_fail_cb)(const struct hull_error *e, void *userdata);

/* port_wait_usec bounds the wait for a serial port to appear. */
int hull_agent_link_start(struct hull_loop *loop, const struct hull_agent_channel_addr *addr, uint64_t port_wait_usec,
                          hull_agent_link_conn_cb on_conn, hull_agent_link_fail_cb on_fail, void *userdata,
                          struct hull_agent_link **ret, struct hull_error **err);
struct hull_agent_link *hull_agent_link_free(struct hull_agent_link *l);

/* The connection handed out last ended: a serial port waits for the host to connect again. */
void hull_agent_link_conn_closed(struct hull_agent_link *l);

/* "serial:vport1p1", "vsock:1024", "unix:/path" once ready; "waiting" before. */
const char *hull_agent_link_describe(const struct hull_agent_link *l);
/* Connections handed out since start. */
unsigned long hull_agent_link_connections(const struct hull_agent_link *l);
