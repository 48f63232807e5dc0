/* The pod's network on the host side (Kata's `tcfilter` model): the pod's network namespace (made by CNI) holds a
 * veth; hull makes a tap next to it, mirrors the two with tc (ingress qdiscs, u32 match-all + mirred redirect both
 * ways), gives the tap to the VM as virtio-net with the veth's MAC, and tells the agent the addresses and routes.
 * Everything in the namespace is done from a short-lived thread that enters it; the caller's thread never does. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macros.h"

struct hull_agent;
struct hull_error;
struct hull_hypervisor;
struct hull_state;
struct json_object;

/* What config.json's linux.namespaces says about the network. */
enum hull_network_mode {
        HULL_NETWORK_HOST = 0, /* no "network" entry: runc's host network; a VM cannot share it (the guest has lo) */
        HULL_NETWORK_FRESH, /* an entry without a path: a network of the VM's own (the guest has lo), nothing to do */
        HULL_NETWORK_POD, /* an entry with a path: the pod's namespace, mirrored into the VM */
};

/* The mode, and for HULL_NETWORK_POD the path (borrowed from spec). A malformed namespaces list is an error. */
int hull_network_spec_mode(struct json_object *spec, enum hull_network_mode *ret_mode, const char **ret_path,
                           struct hull_error **err);

struct hull_network;

/* Look at the namespace at netns_path: its veth (and macvlan) interfaces with their addresses, the routes through
 * them, whether each already has an ingress qdisc. Nothing is changed yet. */
int hull_network_new(const char *netns_path, struct hull_network **ret, struct hull_error **err);
size_t hull_network_n_interfaces(const struct hull_network *net);
/* Record the namespace and the interfaces (their taps, tap0_hull, tap1_hull, ...) in st: before hull_network_attach()
 * makes them. */
int hull_network_record(const struct hull_network *net, struct hull_state *st);
/* Make the taps (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, MTU of the veth, up) and the tc redirects both ways. On
 * failure what was made is removed again. */
int hull_network_attach(struct hull_network *net, struct hull_error **err);
/* hull's fd of interface i's tap (-1: none); the tap lives while an fd of it is open. */
int hull_network_tap_fd(const struct hull_network *net, size_t i);
/* Hand each tap to hv (before it starts) as a virtio-net device "netN" with the veth's MAC; needs
 * HULL_HV_CAP_NET_DEVICES. */
int hull_network_add_devices(struct hull_network *net, struct hull_hypervisor *hv, struct hull_error **err);
/* UpdateInterface for each interface (name, MAC, MTU, addresses), then UpdateRoutes with the routes; cb gets 0 or
 * the first failure. The agent must outlive the calls (freeing it cancels them: cb with -ECANCELED). */
typedef void (*hull_network_done_cb)(int r, const struct hull_error *err, void *userdata);
int hull_network_configure_guest(struct hull_network *net, struct hull_agent *agent, hull_network_done_cb cb,
                                 void *userdata, struct hull_error **err);
/* Remove the tc filters (and an ingress qdisc hull added) and the taps; close hull's tap fds. Idempotent. */
void hull_network_teardown(struct hull_network *net);
/* Tears down and frees; NULL is accepted. */
struct hull_network *hull_network_free(struct hull_network *net);
HULL_DEFINE_FREEP(struct hull_network, hull_network_free)

/* After a crash: remove what st records (filters, hull's ingress qdiscs, taps) from its namespace. A namespace
 * that is gone (path missing, or no longer a network namespace) leaves nothing to remove: 0. */
int hull_network_cleanup_recorded(const struct hull_state *st, struct hull_error **err);
/* The same for <dir>/state.json (none, or one that does not parse: 0). */
int hull_network_cleanup_state_dir(const char *dir, struct hull_error **err);
