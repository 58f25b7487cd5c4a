// EpollPath: the packet path on epoll: every flow socket in one epoll set of the worker's own,
// watched by one uv_poll_t; ready sockets are read with recvmmsg into one block of slots and
// their datagrams sent on from the same slots with sendmmsg. The owning worker's thread only.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>

#include <array>
#include <memory>

#include "flow.hpp"
#include "packet_path.hpp"

namespace latch {

class EpollPath final : public PacketPath {
  public:
    // Throws std::runtime_error when the epoll set cannot be made.
    EpollPath(uv_loop_t* loop, PacketHost& host);
    ~EpollPath() override { close(); }

    const char* name() const override { return "epoll"; }
    bool connects_flows() const override { return false; }
    int add(int fd, void* data) override { return sockets_.add(fd, data); }
    void remove(int fd) noexcept override { sockets_.remove(fd); }
    void run() noexcept override { uv_run(loop_, UV_RUN_DEFAULT); }
    void close() noexcept override { sockets_.close(); }

  private:
    static void on_ready(uv_poll_t* handle, int status, int events) noexcept;
    // Serves every flow socket that is ready, a bounded number of reads each.
    void relay_ready() noexcept;
    // Reads one batch from the flow's socket and relays it; returns how many datagrams it read.
    int relay_batch(Flow& in) noexcept;
    // A socket reported an error instead of datagrams: count it and clear it.
    void take_socket_error(Flow& in) noexcept;

    uv_loop_t* loop_;
    PacketHost& host_;
    FlowCounters& tally_;
    SocketSet sockets_;

    // Datagrams are read into slots of one block (recvmmsg) and sent on from the same slots
    // (sendmmsg). A datagram bigger than a slot is a counted drop.
    static constexpr int kBatch = 16;      // datagrams per read
    static constexpr int kReadRounds = 4;  // reads per socket per loop turn, then the others
    static constexpr std::size_t kSlot = kMaxMediaPacket;
    static constexpr int kMaxReady = 256;  // ready sockets taken per loop turn; the rest next turn
    std::array<epoll_event, kMaxReady> ready_{};
    std::unique_ptr<char[]> buffer_;
    std::array<mmsghdr, kBatch> recv_msgs_{};
    std::array<iovec, kBatch> recv_iov_{};
    std::array<sockaddr_storage, kBatch> recv_from_{};
    std::array<mmsghdr, kBatch> send_msgs_{};
    std::array<iovec, kBatch> send_iov_{};
};

}  // namespace latch
