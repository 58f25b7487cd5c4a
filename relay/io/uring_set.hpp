// UringSet: a worker's flow sockets watched through an io_uring instead of epoll. Every socket
// has a multishot recvmsg armed on it that takes its buffers from one ring of buffers provided
// to the kernel; a received datagram leaves again from the very buffer it arrived in, and the
// sends of a batch go to the kernel in one submission.
//
// The ring drives the worker's thread: the thread waits in the ring (wait()), and the libuv
// loop's own descriptor is one of the things the ring watches (watch()), so that the loop runs
// (UV_RUN_NOWAIT) when its mailbox or a timer needs it. A turn with only media costs one
// system call. The kernel receives only when the thread asks for completions (deferred task
// running), so it never fills buffers faster than the thread gives them back.
//
// Built only with liburing (LATCH_HAVE_LIBURING). Needs Linux 6.1 (multishot recvmsg,
// synchronous cancellation, deferred task running); open() fails on older kernels and where
// io_uring is not allowed, and the worker then watches its sockets with a SocketSet. One
// thread only: the one that opened it.
#pragma once

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "endpoint.hpp"
#include "udp_socket.hpp"

namespace latch {

// One datagram as the ring hands it over, valid until it is forwarded or the callback returns.
struct RingPacket {
    void* data = nullptr;  // what its socket was added with
    uint8_t* payload = nullptr;
    std::size_t len = 0;
    const sockaddr* from = nullptr;
    bool truncated = false;  // longer than the set's largest datagram
    uint16_t buffer = 0;
};

class UringSet final : public SocketWatch {
  public:
    // Each buffer holds one datagram up to `max_datagram` bytes, after the headers the kernel
    // writes in front of it.
    explicit UringSet(std::size_t max_datagram);
    UringSet(const UringSet&) = delete;
    UringSet& operator=(const UringSet&) = delete;
    ~UringSet() override { close(); }

    // Sets up the ring and its buffers, for the calling thread alone. Returns 0 or a negative
    // errno; on failure nothing is left open.
    int open();
    void close() noexcept;
    bool is_open() const { return ring_fd_ >= 0; }

    // The socket's receive starts at the next wait().
    int add(int fd, void* data) override;
    void remove(int fd) noexcept override;

    // Watches `fd` for readability, once: the reap() that sees it ready says so through
    // watched_ready(). Watching again while a watch is pending does nothing.
    void watch(int fd) noexcept;
    // Hands the kernel what is queued, lets it receive, and waits up to `timeout_ms` (-1: no
    // limit; 0: no wait) until there is a completion.
    void wait(int timeout_ms) noexcept;

    // Takes up to kReapBatch waiting completions: a received datagram goes to
    // on_packet(RingPacket&), which forwards it with forward() or leaves it (dropped); a failed
    // receive goes to on_error(data); a finished send goes to on_sent(data of the socket it
    // arrived on, data of the sending socket, result, length), either null when that socket
    // has been removed since. Returns how many were taken. Call flush() afterwards.
    template <typename OnPacket, typename OnError, typename OnSent>
    unsigned reap(OnPacket&& on_packet, OnError&& on_error, OnSent&& on_sent) noexcept;
    // Queues the packet's buffer for sending from `fd` to `to`; the buffer returns to the ring
    // when the send completes. From on_packet only, for the packet it was given. False if the
    // kernel took no more requests.
    bool forward(const RingPacket& packet, int fd, const Endpoint& to) noexcept;
    // The same from a connected socket, to the endpoint it is connected to (a plain send).
    bool forward_connected(const RingPacket& packet, int fd) noexcept;
    // Gives the kernel back the buffers freed and queues the receives that ended again.
    void flush() noexcept;
    // Whether the watched descriptor was seen ready since the last call.
    bool watched_ready() noexcept {
        bool ready = watched_ready_;
        watched_ready_ = false;
        return ready;
    }

  private:
    struct Slot {
        void* data = nullptr;     // null: no socket of ours has this descriptor now
        uint32_t generation = 1;  // never 0, so that no key is 0
    };
    struct Send {
        uint64_t owner = 0;     // the sending socket's key; 0 while the buffer is not sent
        uint64_t receiver = 0;  // the key of the socket it arrived on
        std::size_t len = 0;
        msghdr msg{};
        iovec iov{};
        sockaddr_in6 to{};  // a copy: the send may outlive the flow that chose it
    };
    static constexpr uint64_t kSendBit = 1ULL << 63;
    static constexpr uint64_t kWatchKey = ~0ULL;  // no send's key: buffers are below 0xffff
    static constexpr unsigned kBuffers = 1024;    // a power of two
    static constexpr unsigned kQueueDepth = 1024;
    static constexpr unsigned kReapBatch = kQueueDepth / 2;  // completions taken per reap()

    static uint64_t key(int fd, uint32_t generation) {
        return (static_cast<uint64_t>(generation & 0x7fffffffU) << 32) | static_cast<uint32_t>(fd);
    }
    // The slot a receive's or a send's key names, if that socket is still the one added.
    void* owner(uint64_t k) const noexcept {
        auto fd = static_cast<uint32_t>(k);
        if (fd >= slots_.size()) return nullptr;
        const Slot& s = slots_[fd];
        return key(static_cast<int>(fd), s.generation) == k ? s.data : nullptr;
    }
    io_uring_sqe* next_sqe() noexcept;
    // A send's request, its buffer's bookkeeping done; the caller prepares and tags it.
    io_uring_sqe* prepare_send(const RingPacket& packet, int fd) noexcept;
    bool arm(int fd) noexcept;
    void give_back(unsigned buffer) noexcept;
    char* buffer_at(unsigned buffer) const {
        return buffers_ + static_cast<std::size_t>(buffer) * buffer_size_;
    }

    std::size_t max_datagram_;
    std::size_t buffer_size_;
    io_uring ring_{};
    int ring_fd_ = -1;
    bool watching_ = false;
    bool watched_ready_ = false;
    io_uring_buf_ring* buf_ring_ = nullptr;
    char* buffers_ = nullptr;
    std::size_t mapped_ = 0;   // bytes mapped for buf_ring_ and buffers_
    unsigned returned_ = 0;    // buffers given back since the last advance
    msghdr recv_template_{};   // the layout multishot recvmsg writes: source address, payload
    std::vector<Slot> slots_;  // by descriptor
    std::vector<int> to_arm_;  // receives that ended, armed again at flush()
    std::vector<Send> sends_;  // by buffer
    std::array<io_uring_cqe*, kReapBatch> batch_{};
};

template <typename OnPacket, typename OnError, typename OnSent>
unsigned UringSet::reap(OnPacket&& on_packet, OnError&& on_error, OnSent&& on_sent) noexcept {
    // A bounded batch of what is there now: completions that arrive while it is served wait
    // for the next reap, and its sends never overfill the submission queue. (Taking all there
    // is, with the queue handed over whenever it fills, let an overloaded worker keep the
    // kernel receiving into buffers it had not yet given back, until every socket's receive
    // ended for want of buffers.)
    unsigned seen = io_uring_peek_batch_cqe(&ring_, batch_.data(), kReapBatch);
    for (unsigned i = 0; i < seen; ++i) {
        const io_uring_cqe* cqe = batch_[i];
        uint64_t k = io_uring_cqe_get_data64(cqe);
        if (k == kWatchKey) {
            watching_ = false;
            watched_ready_ = true;
            continue;
        }
        if (k & kSendBit) {
            auto buffer = static_cast<unsigned>(k & 0xffff);
            const Send& s = sends_[buffer];
            on_sent(owner(s.receiver), owner(s.owner), cqe->res, s.len);
            give_back(buffer);
            continue;
        }
        void* data = owner(k);
        bool has_buffer = cqe->flags & IORING_CQE_F_BUFFER;
        auto buffer = static_cast<unsigned>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        if (data == nullptr) {  // its socket was removed meanwhile
            if (has_buffer) give_back(buffer);
            continue;
        }
        if (!(cqe->flags & IORING_CQE_F_MORE)) {  // ended (out of buffers, say): armed again
            to_arm_.push_back(static_cast<int>(static_cast<uint32_t>(k)));
        }
        if (cqe->res < 0) {
            if (cqe->res != -ENOBUFS && cqe->res != -ECANCELED) on_error(data);
            continue;
        }
        if (!has_buffer) continue;
        io_uring_recvmsg_out* out =
            io_uring_recvmsg_validate(buffer_at(buffer), cqe->res, &recv_template_);
        if (out == nullptr) {
            give_back(buffer);
            continue;
        }
        RingPacket packet;
        packet.data = data;
        packet.payload = static_cast<uint8_t*>(io_uring_recvmsg_payload(out, &recv_template_));
        packet.len = io_uring_recvmsg_payload_length(out, cqe->res, &recv_template_);
        packet.from = static_cast<const sockaddr*>(io_uring_recvmsg_name(out));
        packet.truncated = (out->flags & MSG_TRUNC) || packet.len > max_datagram_;
        packet.buffer = static_cast<uint16_t>(buffer);
        sends_[buffer].owner = 0;
        sends_[buffer].receiver = k;
        on_packet(packet);
        if (sends_[buffer].owner == 0) give_back(buffer);  // not forwarded
    }
    io_uring_cq_advance(&ring_, seen);
    return seen;
}

}  // namespace latch
