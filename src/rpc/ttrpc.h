/* ttrpc, containerd's lightweight RPC, in C: include this for the client, the server and the status codes. */
#pragma once

#include "rpc/client.h"
#include "rpc/envelope.h"
#include "rpc/frame.h"
#include "rpc/pb.h"
#include "rpc/server.h"
#include "rpc/status.h"
