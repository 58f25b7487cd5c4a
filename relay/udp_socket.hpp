// Opening a libuv UDP socket bound to an address and receiving: the one way the relay's flows
// and the control listeners do it. On the thread of the loop the socket belongs to.
#pragma once

#include <uv.h>

#include "endpoint.hpp"
#include "uv_handle.hpp"

namespace latch {

// Initialises, binds (IPv6 sockets IPv6-only) and starts receiving; handle->data is set to
// `data`. Returns 0, or the libuv error with the socket closed and reset.
int open_udp(uv_loop_t* loop, UvPtr<uv_udp_t>& socket, const Endpoint& local, void* data,
             uv_alloc_cb alloc, uv_udp_recv_cb recv);

// The address and port the socket is bound to (the port the kernel chose for port 0).
Endpoint bound_endpoint(const uv_udp_t* socket);

}  // namespace latch
