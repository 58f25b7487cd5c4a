// The relay's UDP sockets: the control listeners' libuv handles, and the flows' plain sockets
// in their worker's epoll set. On the thread of the loop the socket belongs to.
#pragma once

#include <sys/epoll.h>
#include <uv.h>

#include "endpoint.hpp"
#include "uv_handle.hpp"

namespace latch {

// Initialises, binds (IPv6 sockets IPv6-only) and starts receiving; handle->data is set to
// `data`. Returns 0, or the libuv error with the socket closed and reset.
// `freebind`: the address may be one this host does not hold yet (a floating address that
// keepalived moves here when this instance takes over): bound all the same, it receives once the
// address arrives.
int open_udp(uv_loop_t* loop, UvPtr<uv_udp_t>& socket, const Endpoint& local, void* data,
             uv_alloc_cb alloc, uv_udp_recv_cb recv, bool freebind = false);
// Lets the socket bind an address this host does not hold (yet). 0 or a negative errno.
int set_freebind(int fd, int family);

// The address and port the socket is bound to (the port the kernel chose for port 0); unset
// when the socket cannot say.
Endpoint bound_endpoint(int fd);
Endpoint bound_endpoint(const uv_udp_t* socket);

// Where a worker's flow sockets are watched for datagrams: an epoll set (SocketSet) or an
// io_uring (UringSet). A socket is added once it is bound, and removed just before it is
// closed. Control path only: the packet path asks the concrete set for its ready sockets.
class SocketWatch {
  public:
    virtual ~SocketWatch() = default;
    // Starts watching `fd`; `data` identifies it to the packet path. 0 or a negative errno.
    virtual int add(int fd, void* data) = 0;
    // Stops watching `fd` and lets go of every reference the set holds to it, so that
    // closing the descriptor frees its port at once.
    virtual void remove(int fd) noexcept = 0;
};

// An epoll set of a worker's own, holding its flows' sockets, watched as a whole by one
// uv_poll_t of the worker's loop. Adding a socket is one epoll_ctl, made at once; closing the
// socket takes it out of the set. Ready sockets are listed by wait(), each with the pointer it
// was added with, so the packet path dispatches without libuv's per-descriptor bookkeeping
// (which costs four more system calls for every socket a call opens).
class SocketSet final : public SocketWatch {
  public:
    SocketSet() = default;
    SocketSet(const SocketSet&) = delete;
    SocketSet& operator=(const SocketSet&) = delete;
    ~SocketSet() override { close(); }

    // Creates the set and starts watching it on `loop`; the poll handle's data is `data`.
    // Returns 0 or a negative errno.
    int open(uv_loop_t* loop, void* data, uv_poll_cb ready);
    // Stops watching and closes the set (the sockets in it stay open).
    void close();
    // Level-triggered: a socket with unread datagrams is listed again by the next wait().
    int add(int fd, void* data) override;
    // Nothing to do: closing a descriptor takes it out of every epoll set.
    void remove(int) noexcept override {}
    // The ready sockets, without blocking: how many entries of `events` were filled.
    int wait(epoll_event* events, int max) const { return ::epoll_wait(fd_, events, max, 0); }
    int fd() const { return fd_; }

  private:
    int fd_ = -1;
    UvPtr<uv_poll_t> poll_;
};

// A non-blocking UDP socket of the relay's own, in a SocketWatch. The packet path reads and
// writes it with recvmmsg/sendmmsg directly, which libuv's UDP handle cannot do without a
// needless read that fails with EAGAIN after every datagram.
class PolledUdp {
  public:
    PolledUdp() = default;
    PolledUdp(const PolledUdp&) = delete;
    PolledUdp& operator=(const PolledUdp&) = delete;
    ~PolledUdp() { reset(); }

    // Binds (IPv6 sockets IPv6-only) and adds the socket to `watch`, known there by `data`.
    // Returns 0 or a negative errno (equal to libuv's codes: UV_EADDRINUSE...).
    int open(SocketWatch& watch, const Endpoint& local, void* data, bool freebind = false);
    // Opens a second socket on the port `listener` is bound to (`local`), connected to
    // `remote`, and adds it to `watch`. The kernel then hands it the datagrams from `remote`
    // (a connected socket is the better match), and sends from it skip the route lookup that
    // an unconnected socket makes for every datagram. Both sockets allow sharing the port only
    // while this one binds, so that no other socket can join them later. Descriptors are
    // handed out lowest first: one numbered `fd_limit` or above means that many are in use,
    // and it is closed again (-EMFILE). 0 or a negative errno.
    int open_connected(SocketWatch& watch, int listener, const Endpoint& local,
                       const Endpoint& remote, void* data, int fd_limit);
    // Takes the socket out of its watch and closes it; the port is free again at once.
    void reset();
    int fd() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }

  private:
    // Takes over `fd` if the opening went well (`rc` 0) and `watch` adds it; else closes it.
    // Returns 0 or the first error.
    int adopt(SocketWatch& watch, int fd, int rc, void* data);

    int fd_ = -1;
    SocketWatch* watch_ = nullptr;
};

}  // namespace latch
