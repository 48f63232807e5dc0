/* JSON <-> protobuf-c messages through their descriptors, for `hull agent-ctl`: field names as in the .proto
 * (lowerCamelCase accepted too), bytes as base64, maps as objects, enums by name or number. */
#pragma once

#include <protobuf-c/protobuf-c.h>

struct hull_error;

/* Parse json (NULL or "" means {}) into a new message of desc; free it with protobuf_c_message_free_unpacked(). */
int hull_pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *json, ProtobufCMessage **ret,
                       struct hull_error **err);
/* One line of JSON for msg (fields at their default value left out); free() it. */
int hull_pbjson_encode(const ProtobufCMessage *msg, char **ret, struct hull_error **err);
