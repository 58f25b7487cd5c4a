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

// The address and port the socket is bound to (the port the kernel chose for port 0); unset
// when the socket cannot say.
Endpoint bound_endpoint(int fd);
Endpoint bound_endpoint(const uv_udp_t* socket);

// A non-blocking UDP socket of the relay's own, watched by the loop for readability
// (level-triggered: unread datagrams bring the callback back on the next turn). The packet path
// reads and writes it with recvmmsg/sendmmsg directly, which libuv's UDP handle cannot do
// without a needless read that fails with EAGAIN after every datagram.
class PolledUdp {
public:
    PolledUdp() = default;
    PolledUdp(const PolledUdp&) = delete;
    PolledUdp& operator=(const PolledUdp&) = delete;
    ~PolledUdp() { reset(); }

    // Binds (IPv6 sockets IPv6-only) and starts watching; the poll handle's data is `data`.
    // Returns 0 or a negative errno (equal to libuv's codes: UV_EADDRINUSE...).
    int open(uv_loop_t* loop, const Endpoint& local, void* data, uv_poll_cb readable);
    // Stops watching and closes the descriptor; the port is free again at once.
    void reset();
    int fd() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }

private:
    int fd_ = -1;
    UvPtr<uv_poll_t> poll_;
};

}  // namespace latch
