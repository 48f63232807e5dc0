/* google.rpc.Code values carried in ttrpc replies, and their mapping to and from hull's errno-based errors. */
#pragma once

#include "macros.h"

enum hull_grpc_code {
        HULL_GRPC_OK = 0,
        HULL_GRPC_CANCELLED = 1,
        HULL_GRPC_UNKNOWN = 2,
        HULL_GRPC_INVALID_ARGUMENT = 3,
        HULL_GRPC_DEADLINE_EXCEEDED = 4,
        HULL_GRPC_NOT_FOUND = 5,
        HULL_GRPC_ALREADY_EXISTS = 6,
        HULL_GRPC_PERMISSION_DENIED = 7,
        HULL_GRPC_RESOURCE_EXHAUSTED = 8,
        HULL_GRPC_FAILED_PRECONDITION = 9,
        HULL_GRPC_ABORTED = 10,
        HULL_GRPC_OUT_OF_RANGE = 11,
        HULL_GRPC_UNIMPLEMENTED = 12,
        HULL_GRPC_INTERNAL = 13,
        HULL_GRPC_UNAVAILABLE = 14,
        HULL_GRPC_DATA_LOSS = 15,
        HULL_GRPC_UNAUTHENTICATED = 16,
};

/* errno (positive or negative) -> code. 0 is OK; an errno without a better match is UNKNOWN. */
int hull_grpc_code_from_errno(int error);
/* code -> positive errno; OK is 0, an unknown code is EIO. The pairs in status.c round-trip. */
int hull_grpc_code_to_errno(int code);
/* "NotFound" etc., as Go's codes.Code.String() prints them. */
const char *hull_grpc_code_name(int code);
