/* The google.rpc.Code <-> errno table: one row per code, the first errno in a row is what a code maps to. */
#include "status.h"

#include <errno.h>

static const struct {
        int code;
        const char *name;
        int errnos[4]; /* [0] is the canonical errno for the code; all of them map to the code */
} table[] = {
        { HULL_GRPC_OK, "OK", { 0 } },
        { HULL_GRPC_CANCELLED, "Canceled", { ECANCELED } },
        { HULL_GRPC_UNKNOWN, "Unknown", { EIO } },
        { HULL_GRPC_INVALID_ARGUMENT, "InvalidArgument", { EINVAL, E2BIG, ENAMETOOLONG } },
        { HULL_GRPC_DEADLINE_EXCEEDED, "DeadlineExceeded", { ETIMEDOUT, ETIME } },
        { HULL_GRPC_NOT_FOUND, "NotFound", { ENOENT, ESRCH, ENODEV, ENXIO } },
        { HULL_GRPC_ALREADY_EXISTS, "AlreadyExists", { EEXIST } },
        { HULL_GRPC_PERMISSION_DENIED, "PermissionDenied", { EPERM, EACCES, EROFS } },
        { HULL_GRPC_RESOURCE_EXHAUSTED, "ResourceExhausted", { ENOSPC, ENOMEM, EMSGSIZE, EMFILE } },
        { HULL_GRPC_FAILED_PRECONDITION, "FailedPrecondition", { EBADFD, ENOTEMPTY, EBUSY, ENOTDIR } },
        { HULL_GRPC_ABORTED, "Aborted", { ECONNABORTED } },
        { HULL_GRPC_OUT_OF_RANGE, "OutOfRange", { ERANGE, EOVERFLOW } },
        { HULL_GRPC_UNIMPLEMENTED, "Unimplemented", { EOPNOTSUPP, ENOSYS } },
        { HULL_GRPC_INTERNAL, "Internal", { EPROTO, EBADMSG } },
        { HULL_GRPC_UNAVAILABLE, "Unavailable", { EAGAIN, ECONNREFUSED, ENOTCONN, ECONNRESET } },
        { HULL_GRPC_DATA_LOSS, "DataLoss", { EILSEQ } },
        { HULL_GRPC_UNAUTHENTICATED, "Unauthenticated", { EKEYREJECTED } },
};

int hull_grpc_code_from_errno(int error)
{
        if (error < 0)
                error = -error;
        if (error == 0)
                return HULL_GRPC_OK;
        for (size_t i = 1; i < ARRAY_SIZE(table); i++)
                for (size_t j = 0; j < ARRAY_SIZE(table[i].errnos) && table[i].errnos[j]; j++)
                        if (table[i].errnos[j] == error)
                                return table[i].code;
        return HULL_GRPC_UNKNOWN;
}

int hull_grpc_code_to_errno(int code)
{
        if (code >= 0 && (size_t)code < ARRAY_SIZE(table))
                return table[code].errnos[0];
        return EIO;
}

const char *hull_grpc_code_name(int code)
{
        if (code >= 0 && (size_t)code < ARRAY_SIZE(table))
                return table[code].name;
        return "Code(unknown)";
}
