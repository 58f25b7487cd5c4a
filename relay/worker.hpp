// Worker: one thread, one libuv loop, and every session (with its sockets, latches and
// counters) that lives on it. Other threads reach it only through post(); its replies go to
// the control thread's mailbox as values.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mailbox.hpp"
#include "port_pool.hpp"
#include "relay_config.hpp"
#include "relay_types.hpp"
#include "session.hpp"
#ifdef LATCH_HAVE_LIBURING
#include "uring_set.hpp"
#endif

namespace latch {

class Worker {
public:
    // `replies` must outlive the worker's thread.
    Worker(unsigned index, const RelayConfig& config, PortRange ports, Mailbox<WorkerReply>& replies);
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker();

    // Initialises the loop and its handles on the calling thread, then runs the loop on a new
    // thread. Throws on failure.
    void start();
    // Any thread. False once the worker is stopping.
    bool post(WorkerCommand command) { return inbox_.post(std::move(command)); }
    // Ends every session, closes every handle, joins the thread. Not from the worker itself.
    void stop();

    unsigned index() const { return index_; }
    PortRange ports() const { return pool_.range(); }
    // The running thread (for pinning and CPU accounting by benchmarks and the daemon).
    std::thread::native_handle_type native_thread() { return thread_.native_handle(); }
    // After stop(): whether uv_loop_close() succeeded, i.e. no handle was left open.
    bool closed_cleanly() const { return closed_cleanly_.load(); }
    // After start(): whether the flows' datagrams go through io_uring (else epoll).
    bool uses_io_uring() const { return watch_ != &sockets_; }

private:
    // The worker's thread: opens the packet path's set (telling start() how it went), then
    // runs the loop.
    void run(std::promise<std::string> opened) noexcept;
    void handle_commands(std::vector<WorkerCommand>& batch) noexcept;
    void execute(WorkerCommand& command);
    void sweep();
    void end_session(SessionId id, ReplyStatus status, uint64_t request, Op op);
    void shut_down();
    WorkerStats stats() const;
    WorkerReply reply_for(const WorkerCommand& command) const;

    // Opens where the flows' sockets are watched, as the configuration asks. Throws.
    void open_watch();
    static void on_ready(uv_poll_t* handle, int status, int events) noexcept;
    // Serves every flow socket that is ready, a bounded number of reads each.
    void relay_ready() noexcept;
    // Reads one batch from the flow's socket and relays it; returns how many datagrams it read.
    int relay_batch(Flow& in) noexcept;
    // A socket reported an error instead of datagrams: count it and clear it.
    static void take_socket_error(Flow& in) noexcept;
#ifdef LATCH_HAVE_LIBURING
    // The thread's life on io_uring: waits in the ring, runs the loop when it has work.
    void run_ring() noexcept;
    // Takes a batch of the ring's completions and relays what arrived.
    void relay_ring() noexcept;
    // The packet path's request for a connected socket for `flow` (see Flow): queues its
    // session, so that the socket is opened off the packet path, a few sessions per turn.
    void want_connect(Flow& flow) noexcept;
    // Opens the connected sockets of the next few queued sessions.
    void connect_queued() noexcept;
#endif

    unsigned index_;
    const RelayConfig& config_;
    PortPool pool_;
    Mailbox<WorkerReply>& replies_;
    Mailbox<WorkerCommand> inbox_;

    uv_loop_t loop_{};
    UvPtr<uv_timer_t> sweep_timer_;
    SocketSet sockets_;  // every flow's socket, when watched with epoll
#ifdef LATCH_HAVE_LIBURING
    UringSet uring_{kMaxMediaPacket};  // every flow's socket, when watched with io_uring
#endif
    SocketWatch* watch_ = &sockets_;  // the one of the two in use
    // Sessions whose flows asked for connected sockets, served from connect_head_ on. Its
    // capacity is reserved at start; a request that finds it full is made again by a later packet.
    bool connect_flows_ = false;
    std::vector<SessionId> connect_queue_;
    std::size_t connect_head_ = 0;
    static constexpr std::size_t kConnectQueue = 8192;
    static constexpr std::size_t kConnectsPerTurn = 4;  // sessions per loop turn (an audio call: 4 flows each)
    static constexpr int kShedBatch = 16;  // connected sockets closed to make room for a call
    SessionEnv env_;
    std::unordered_map<SessionId, std::unique_ptr<Session>> sessions_;
    FlowCounters ended_totals_;  // counters of sessions already gone
    uint64_t sessions_created_ = 0;
    uint64_t sessions_timed_out_ = 0;
    bool loop_initialised_ = false;
    bool stopping_ = false;
    std::atomic<bool> closed_cleanly_{false};
    std::thread thread_;

    // The packet path's buffers: datagrams are read into slots of one block (recvmmsg) and
    // sent on from the same slots (sendmmsg). A datagram bigger than a slot is a counted drop.
    static constexpr int kBatch = 16;        // datagrams per read
    static constexpr int kReadRounds = 4;    // reads per socket per loop turn, then the others
    static constexpr std::size_t kSlot = kMaxMediaPacket;
    static constexpr int kMaxReady = 256;    // ready sockets taken per loop turn; the rest next turn
    std::array<epoll_event, kMaxReady> ready_{};
    std::unique_ptr<char[]> buffer_;
    std::array<mmsghdr, kBatch> recv_msgs_{};
    std::array<iovec, kBatch> recv_iov_{};
    std::array<sockaddr_storage, kBatch> recv_from_{};
    std::array<mmsghdr, kBatch> send_msgs_{};
    std::array<iovec, kBatch> send_iov_{};
};

}  // namespace latch
