/* Kata's networking calls over rtnetlink: UpdateInterface, UpdateRoutes, ListInterfaces, ListRoutes, with
 * Kata's message shapes (types.proto Interface, IPAddress, Route) and semantics (the interface found by its
 * MAC address, its addresses replaced; every non-kernel route of the main table replaced). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "types.pb-c.h"

struct hull_error;
struct hull_nl;

/* Text forms, as Kata writes them ("52:54:00:12:34:56"; "10.0.2.0/24", "" for a default route). The parsers
 * return 0 or -EINVAL. */
int hull_agent_net_parse_hwaddr(const char *s, uint8_t *out, size_t cap, size_t *ret_len);
void hull_agent_net_format_hwaddr(const uint8_t *hw, size_t len, char *out, size_t size);
/* An address with no family given: IPv4 when it parses as one, else IPv6. */
int hull_agent_net_parse_ip(const char *s, int *ret_family, uint8_t out[16]);
/* "24" (or, for IPv4, "255.255.255.0") for family; -EINVAL when out of range or not contiguous. */
int hull_agent_net_parse_mask(const char *s, int family, unsigned int *ret_prefixlen);
/* "ADDR/LEN", "ADDR" (a host route), or "", "default", "0.0.0.0/0", "::/0" (len 0). family_hint decides
 * the family of a default route (AF_INET when unknown). */
int hull_agent_net_parse_prefix(const char *s, int family_hint, int *ret_family, uint8_t out[16],
                                unsigned int *ret_len);

/* The calls. Replies are malloc'd trees; free them with the matching *_free(). */
int hull_agent_net_list_interfaces(struct hull_nl *nl, Grpc__Interfaces **ret, struct hull_error **err);
int hull_agent_net_update_interface(struct hull_nl *nl, const Types__Interface *want, Types__Interface **ret,
                                    struct hull_error **err);
int hull_agent_net_list_routes(struct hull_nl *nl, Grpc__Routes **ret, struct hull_error **err);
int hull_agent_net_update_routes(struct hull_nl *nl, const Grpc__Routes *want, Grpc__Routes **ret,
                                 struct hull_error **err);

/* Brings the loopback link up (the kernel then gives it 127.0.0.1/8 and ::1); at boot, as PID 1. */
int hull_agent_net_loopback_up(struct hull_error **err);

Types__Interface *hull_agent_net_interface_free(Types__Interface *i);
Grpc__Interfaces *hull_agent_net_interfaces_free(Grpc__Interfaces *m);
Grpc__Routes *hull_agent_net_routes_free(Grpc__Routes *m);
