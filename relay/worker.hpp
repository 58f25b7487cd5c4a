// Worker: one thread, one libuv loop, and every session (with its sockets, latches and
// counters) that lives on it: its inbox, the commands it executes, the idle sweep and the
// reports of what its flows learned. Its packet path (io/) runs the thread's loop. Other threads
// reach it only through post(); its replies go to the control thread's mailbox as values.
#pragma once

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
#include "packet_path.hpp"
#include "port_pool.hpp"
#include "relay_config.hpp"
#include "relay_types.hpp"
#include "session.hpp"
#include "timer.hpp"

namespace latch {

class Worker final : private PacketHost {
  public:
    // `replies` must outlive the worker's thread.
    Worker(unsigned index, const RelayConfig& config, PortRange ports,
           Mailbox<WorkerReply>& replies);
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker();

    // Initialises the loop and its handles on the calling thread, then runs the loop on a new
    // thread. Throws on failure.
    void start();
    // Before start(): the relay's kernel path, into which the worker writes its locked flows.
    void set_kernel_path(KernelPath* kernel) { env_.kernel = kernel; }
    // Its ring of recorded datagrams' copies (the recorder reads it), or null.
    TapRing* tap_ring() { return tap_.get(); }
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
    // After start(): the packet path's name ("io_uring", "epoll").
    const char* packet_path() const { return path_ ? path_->name() : "none"; }

  private:
    // The worker's thread: opens the packet path (telling start() how it went), then runs it.
    void run(std::promise<std::string> opened) noexcept;
    void handle_commands(std::vector<WorkerCommand>& batch) noexcept;
    void execute(WorkerCommand& command);
    void sweep();
    void end_session(SessionId id, ReplyStatus status, uint64_t request, Op op);
    void shut_down();
    WorkerStats stats();
    WorkerReply reply_for(const WorkerCommand& command) const;
    // Sends the control thread a snapshot of every session that learned a source since the
    // last report.
    void report_learned();

    // PacketHost
    void after_batch() noexcept override;
    void connect_session(SessionId session) noexcept override;
    FlowCounters& tally() noexcept override { return tally_; }

    unsigned index_;
    const RelayConfig& config_;
    PortPool pool_;
    Mailbox<WorkerReply>& replies_;
    Mailbox<WorkerCommand> inbox_;

    uv_loop_t loop_{};
    Timer sweep_timer_;
    std::unique_ptr<PacketPath> path_;
    static constexpr uint64_t kStatsHarvestMs = 5000;
    // Each RTP stream is rated every kMosIntervalMs (as often as phones send RTCP reports),
    // at a query if its last rating is older than kQueryMosIntervalMs, and at its end.
    static constexpr uint64_t kMosIntervalMs = 5000;
    static constexpr uint64_t kQueryMosIntervalMs = 1000;
    static constexpr int kShedBatch = 16;  // connected sockets closed to make room for a call
    static constexpr std::size_t kLearnedLog =
        4096;  // sessions reported per turn; the sweep finds more
    std::vector<SessionId> learned_;
    SessionEnv env_;
    std::unordered_map<SessionId, std::unique_ptr<Session>> sessions_;
    // Every flow's counters summed as they count, those of sessions gone included: statistics
    // need no walk over the sessions, which would hold up the packet path as calls grow.
    FlowCounters tally_;
    std::unique_ptr<TapRing> tap_;  // with RelayConfig::tap_slots
    uint64_t tapped_ = 0, tap_drops_ = 0;
    std::size_t streams_ = 0;  // media streams of the sessions up
    uint64_t sessions_created_ = 0;
    uint64_t sessions_timed_out_ = 0;
    bool loop_initialised_ = false;
    bool stopping_ = false;
    std::atomic<bool> closed_cleanly_{false};
    std::thread thread_;
};

}  // namespace latch
