// UringPath: the packet path on io_uring (UringSet): the worker's thread waits in the ring, the
// libuv loop runs when its descriptor is ready or a timer is due, and flows that carry media
// are given connected sockets, a few sessions per turn, off the per-datagram path. Built only
// with liburing. The owning worker's thread only.
#pragma once

#include <vector>

#include "flow.hpp"
#include "packet_path.hpp"
#include "uring_set.hpp"

namespace latch {

class UringPath final : public PacketPath {
  public:
    // open() the ring before use; `connect` gives flows connected sockets.
    UringPath(uv_loop_t* loop, PacketHost& host, bool connect);
    ~UringPath() override { close(); }

    // 0 or a negative errno (no io_uring here, or not allowed).
    int open();
    const char* name() const override { return "io_uring"; }
    bool connects_flows() const override { return connect_; }
    int add(int fd, void* data) override { return ring_.add(fd, data); }
    void remove(int fd) noexcept override { ring_.remove(fd); }
    void run() noexcept override;
    void close() noexcept override { ring_.close(); }

  private:
    // Takes a batch of the ring's completions and relays what arrived.
    void relay() noexcept;
    // The packet path's request for a connected socket for `flow`: queues its session, so
    // that the socket is opened off the packet path, a few sessions per turn.
    void want_connect(Flow& flow) noexcept;
    // Has the worker open the connected sockets of the next few queued sessions.
    void connect_queued() noexcept;

    uv_loop_t* loop_;
    PacketHost& host_;
    FlowCounters& tally_;
    bool connect_;
    UringSet ring_{kMaxMediaPacket};
    // Sessions whose flows asked for connected sockets, served from connect_head_ on. Its
    // capacity is reserved; a request that finds it full is made again by a later packet.
    std::vector<SessionId> connect_queue_;
    std::size_t connect_head_ = 0;
    static constexpr std::size_t kConnectQueue = 8192;
    static constexpr std::size_t kConnectsPerTurn =
        4;  // sessions per loop turn (an audio call: 4 flows each)
};

}  // namespace latch
