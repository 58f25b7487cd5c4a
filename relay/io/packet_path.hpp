// PacketPath: how a worker's flow sockets are watched, read and sent on; chosen once when the
// worker starts (epoll, io_uring; the kernel path will be a third). The worker keeps its thread,
// inbox, commands and sweep; the path runs the thread's loop and calls admit() for every
// datagram. The owning worker's thread only.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "relay_config.hpp"
#include "relay_types.hpp"
#include "udp_socket.hpp"

namespace latch {

// What a packet path asks of its worker, off the per-datagram path.
class PacketHost {
  public:
    virtual ~PacketHost() = default;
    // After a turn that relayed datagrams: report what they taught (learned sources).
    virtual void after_batch() noexcept = 0;
    // Open the connected sockets the session's flows asked for (Flow::wants_connect).
    virtual void connect_session(SessionId session) noexcept = 0;
    // The worker's sum of its flows' counters, which the path adds to as it counts (see
    // count_drop()); it lives as long as the path.
    virtual FlowCounters& tally() noexcept = 0;
};

class PacketPath : public SocketWatch {
  public:
    // "epoll", "io_uring"
    virtual const char* name() const = 0;
    // Whether flows should get connected sockets on this path (see Flow).
    virtual bool connects_flows() const = 0;
    // The worker's thread from here on: relays datagrams and runs `loop` until the loop has
    // nothing left to run (after close()).
    virtual void run() noexcept = 0;
    // Stops watching; the sockets themselves are their flows'.
    virtual void close() noexcept = 0;
};

// Opens the path `config.packet_io` asks for on the calling thread, on `loop`. Throws
// std::runtime_error when it cannot (io_uring asked for and refused, no epoll set...).
std::unique_ptr<PacketPath> open_packet_path(const RelayConfig& config, unsigned worker,
                                             uv_loop_t* loop, PacketHost& host);

}  // namespace latch
